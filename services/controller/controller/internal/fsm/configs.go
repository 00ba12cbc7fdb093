package fsm

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
)

func (b *batch) alterConfigs(c *stratav1.AlterConfigsCommand) ([]*stratav1.MetadataRecord, *stratav1.CommandResult) {
	resp := &stratav1.IncrementalAlterConfigsResponse{}
	// Each resource is planned against the image before the command, so a
	// resource named twice could combine changes that are invalid together:
	// every copy fails, as in Kafka.
	type key struct {
		typ  stratav1.ConfigResourceType
		name string
	}
	seen := make(map[key]int, len(c.GetResources()))
	for _, res := range c.GetResources() {
		seen[key{res.GetResource().GetType(), res.GetResource().GetName()}]++
	}
	for _, res := range c.GetResources() {
		r := &stratav1.AlterConfigsResult{Resource: res.GetResource()}
		resp.Results = append(resp.Results, r)
		if seen[key{res.GetResource().GetType(), res.GetResource().GetName()}] > 1 {
			r.ErrorCode, r.ErrorMessage = stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "Duplicate resource."
			continue
		}
		recs, code, msg := b.alterResource(res)
		r.ErrorCode, r.ErrorMessage = code, msg
		if code == stratav1.ErrorCode_ERROR_CODE_NONE {
			for _, rec := range recs {
				b.add(rec)
			}
		}
	}
	res := ok()
	res.Result = &stratav1.CommandResult_AlterConfigs{AlterConfigs: resp}
	return b.recs, res
}

// alterResource plans the changes to one resource; all or none apply.
func (b *batch) alterResource(res *stratav1.AlterConfigsResource) ([]*stratav1.MetadataRecord, stratav1.ErrorCode, string) {
	typ, name := res.GetResource().GetType(), res.GetResource().GetName()
	var current, next map[string]string
	switch typ {
	case stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_TOPIC:
		t, found := b.img.Topic(name)
		if !found {
			return nil, stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION, unknownTopicMessage
		}
		current = t.Configs
		var err error
		if next, err = metadata.AlterTopicConfigs(current, res.GetOps(), len(t.Partitions[0].Replicas)); err != nil {
			return nil, stratav1.ErrorCode_ERROR_CODE_INVALID_CONFIG, err.Error()
		}
	case stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_BROKER:
		if name != "" {
			if id, err := strconv.ParseInt(name, 10, 32); err != nil || id < 0 || strconv.FormatInt(id, 10) != name {
				return nil, stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, fmt.Sprintf("broker resource %q is not a broker id", name)
			}
		}
		current = b.img.BrokerConfigs(name)
		var code stratav1.ErrorCode
		var msg string
		if next, code, msg = alterBrokerConfigs(current, res.GetOps()); code != stratav1.ErrorCode_ERROR_CODE_NONE {
			return nil, code, msg
		}
	default:
		return nil, stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, fmt.Sprintf("unsupported config resource type %v", typ)
	}
	touched := make(map[string]bool)
	for k := range current {
		touched[k] = true
	}
	for k := range next {
		touched[k] = true
	}
	var recs []*stratav1.MetadataRecord
	for _, key := range slices.Sorted(maps.Keys(touched)) {
		old, had := current[key]
		v, has := next[key]
		if had == has && old == v {
			continue
		}
		cr := &stratav1.ConfigRecord{ResourceType: typ, ResourceName: name, Name: key}
		if has {
			cr.Value = &v
		}
		recs = append(recs, &stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_Config{Config: cr}})
	}
	return recs, stratav1.ErrorCode_ERROR_CODE_NONE, ""
}

// alterBrokerConfigs applies incremental changes to a broker's dynamic
// configs (none of which are lists).
func alterBrokerConfigs(current map[string]string, ops []*stratav1.AlterConfigOp) (map[string]string, stratav1.ErrorCode, string) {
	next := maps.Clone(current)
	if next == nil {
		next = make(map[string]string)
	}
	seen := make(map[string]bool)
	for _, op := range ops {
		key := op.GetName()
		if seen[key] {
			return nil, stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, fmt.Sprintf("Error due to duplicate config keys: %s", key)
		}
		seen[key] = true
		switch op.GetOp() {
		case stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_SET:
			if err := metadata.ValidateBrokerConfig(key, op.GetValue()); err != nil {
				return nil, stratav1.ErrorCode_ERROR_CODE_INVALID_CONFIG, err.Error()
			}
			next[key] = op.GetValue()
		case stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_DELETE:
			delete(next, key)
		default:
			return nil, stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST,
				fmt.Sprintf("operation %v is not supported for broker config %s", op.GetOp(), key)
		}
	}
	return next, stratav1.ErrorCode_ERROR_CODE_NONE, ""
}
