package client

import (
	"context"
	"fmt"
	"strconv"

	"github.com/strata-log/strata/pkg/api/stratav1"
)

// ResourceType is the kind of a config resource.
type ResourceType int

const (
	// ResourceTopic is a topic's configs.
	ResourceTopic ResourceType = iota + 1
	// ResourceBroker is a broker's dynamic configs, or with an empty name
	// the cluster-wide broker defaults.
	ResourceBroker
)

// String is Kafka's name of the type ("TOPIC", "BROKER").
func (t ResourceType) String() string {
	switch t {
	case ResourceTopic:
		return "TOPIC"
	case ResourceBroker:
		return "BROKER"
	default:
		return "UNKNOWN(" + strconv.Itoa(int(t)) + ")"
	}
}

func (t ResourceType) proto() stratav1.ConfigResourceType {
	switch t {
	case ResourceTopic:
		return stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_TOPIC
	case ResourceBroker:
		return stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_BROKER
	default:
		return stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_UNSPECIFIED
	}
}

func resourceTypeOf(t stratav1.ConfigResourceType) ResourceType {
	switch t {
	case stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_TOPIC:
		return ResourceTopic
	case stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_BROKER:
		return ResourceBroker
	default:
		return 0
	}
}

// ConfigResource names what configs belong to.
type ConfigResource struct {
	Type ResourceType
	// Name is the topic name, the broker id in decimal, or "" for the
	// cluster-wide broker defaults.
	Name string
}

// TopicResource is a topic's config resource.
func TopicResource(name string) ConfigResource { return ConfigResource{ResourceTopic, name} }

// BrokerResource is a broker's config resource.
func BrokerResource(id int32) ConfigResource {
	return ConfigResource{ResourceBroker, strconv.Itoa(int(id))}
}

// BrokerDefaultResource is the cluster-wide broker defaults.
func BrokerDefaultResource() ConfigResource { return ConfigResource{ResourceBroker, ""} }

func (r ConfigResource) String() string {
	switch {
	case r.Type == ResourceTopic:
		return "topic " + r.Name
	case r.Type == ResourceBroker && r.Name == "":
		return "default broker configs"
	case r.Type == ResourceBroker:
		return "broker " + r.Name
	default:
		return fmt.Sprintf("%v resource %s", r.Type, r.Name)
	}
}

func (r ConfigResource) proto() *stratav1.ConfigResource {
	return &stratav1.ConfigResource{Type: r.Type.proto(), Name: r.Name}
}

func resourceOf(r *stratav1.ConfigResource) ConfigResource {
	return ConfigResource{Type: resourceTypeOf(r.GetType()), Name: r.GetName()}
}

// ConfigSource says where a config's value comes from.
type ConfigSource int

// Config sources, as Kafka's.
const (
	SourceUnknown ConfigSource = iota
	SourceDynamicTopic
	SourceDynamicBroker
	SourceDynamicDefaultBroker
	SourceStaticBroker
	SourceDefault
)

// String is Kafka's name of the source ("DYNAMIC_TOPIC_CONFIG", ...).
func (s ConfigSource) String() string {
	switch s {
	case SourceDynamicTopic:
		return "DYNAMIC_TOPIC_CONFIG"
	case SourceDynamicBroker:
		return "DYNAMIC_BROKER_CONFIG"
	case SourceDynamicDefaultBroker:
		return "DYNAMIC_DEFAULT_BROKER_CONFIG"
	case SourceStaticBroker:
		return "STATIC_BROKER_CONFIG"
	case SourceDefault:
		return "DEFAULT_CONFIG"
	default:
		return "UNKNOWN"
	}
}

func sourceOf(s stratav1.ConfigSource) ConfigSource {
	switch s {
	case stratav1.ConfigSource_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG:
		return SourceDynamicTopic
	case stratav1.ConfigSource_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG:
		return SourceDynamicBroker
	case stratav1.ConfigSource_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG:
		return SourceDynamicDefaultBroker
	case stratav1.ConfigSource_CONFIG_SOURCE_STATIC_BROKER_CONFIG:
		return SourceStaticBroker
	case stratav1.ConfigSource_CONFIG_SOURCE_DEFAULT_CONFIG:
		return SourceDefault
	default:
		return SourceUnknown
	}
}

// ConfigEntry is one config with its value and source.
type ConfigEntry struct {
	Name  string
	Value string
	// Source says where Value comes from; SourceDefault values are the
	// built-in defaults.
	Source    ConfigSource
	ReadOnly  bool
	Sensitive bool
	// Documentation is one line about the config, when the server has it.
	Documentation string
}

// ResourceConfigs is one resource's outcome of DescribeConfigs.
type ResourceConfigs struct {
	Resource ConfigResource
	// Configs are in name order.
	Configs []ConfigEntry
	// Err is nil, or an *Error (UNKNOWN_TOPIC_OR_PARTITION, ...).
	Err error
}

func (r ResourceConfigs) describe() string { return r.Resource.String() }
func (r ResourceConfigs) failure() error   { return r.Err }

// DescribeConfigs describes resources' configs: for a topic every topic
// config with its value and source, for a broker its dynamic configs. With
// names, only those configs.
func (a *Admin) DescribeConfigs(ctx context.Context, resources []ConfigResource, names ...string) (Results[ResourceConfigs], error) {
	req := &stratav1.DescribeConfigsRequest{Names: names}
	for _, r := range resources {
		req.Resources = append(req.Resources, r.proto())
	}
	var resp *stratav1.DescribeConfigsResponse
	err := a.call(ctx, "DescribeConfigs", func(ctx context.Context, c stratav1.AdminServiceClient) (err error) {
		resp, err = c.DescribeConfigs(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(Results[ResourceConfigs], 0, len(resp.GetResults()))
	for _, r := range resp.GetResults() {
		rc := ResourceConfigs{Resource: resourceOf(r.GetResource()), Err: resultError(r.GetErrorCode(), r.GetErrorMessage())}
		for _, c := range r.GetConfigs() {
			rc.Configs = append(rc.Configs, ConfigEntry{
				Name: c.GetName(), Value: c.GetValue(), Source: sourceOf(c.GetSource()),
				ReadOnly: c.GetReadOnly(), Sensitive: c.GetSensitive(), Documentation: c.GetDocumentation(),
			})
		}
		out = append(out, rc)
	}
	return out, nil
}

// AlterOp is the kind of an incremental config change.
type AlterOp int

// Incremental config changes, as Kafka's AlterConfigOp.OpType.
const (
	// OpSet sets the value.
	OpSet AlterOp = iota + 1
	// OpDelete removes the config, so the default applies again.
	OpDelete
	// OpAppend adds the value to a list config.
	OpAppend
	// OpSubtract removes the value from a list config.
	OpSubtract
)

func (o AlterOp) proto() stratav1.AlterConfigOpType {
	switch o {
	case OpSet:
		return stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_SET
	case OpDelete:
		return stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_DELETE
	case OpAppend:
		return stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_APPEND
	case OpSubtract:
		return stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_SUBTRACT
	default:
		return stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_UNSPECIFIED
	}
}

// AlterConfigOp is one change to one config.
type AlterConfigOp struct {
	Op    AlterOp
	Name  string
	Value string
}

// SetConfig sets name to value.
func SetConfig(name, value string) AlterConfigOp { return AlterConfigOp{OpSet, name, value} }

// DeleteConfig removes name, so its default applies again.
func DeleteConfig(name string) AlterConfigOp { return AlterConfigOp{Op: OpDelete, Name: name} }

// AppendConfig adds value to the list config name.
func AppendConfig(name, value string) AlterConfigOp { return AlterConfigOp{OpAppend, name, value} }

// SubtractConfig removes value from the list config name.
func SubtractConfig(name, value string) AlterConfigOp { return AlterConfigOp{OpSubtract, name, value} }

// AlterConfigs is the changes to one resource; they apply all or none.
type AlterConfigs struct {
	Resource ConfigResource
	Ops      []AlterConfigOp
}

// AlterConfigsResult is one resource's outcome of IncrementalAlterConfigs.
type AlterConfigsResult struct {
	Resource ConfigResource
	// Err is nil, or an *Error (INVALID_CONFIG, UNKNOWN_TOPIC_OR_PARTITION,
	// ...).
	Err error
}

func (r AlterConfigsResult) describe() string { return r.Resource.String() }
func (r AlterConfigsResult) failure() error   { return r.Err }

// IncrementalAlterConfigs changes configs of topics and brokers. It takes
// ValidateOnly.
func (a *Admin) IncrementalAlterConfigs(ctx context.Context, changes []AlterConfigs, opts ...RequestOpt) (Results[AlterConfigsResult], error) {
	const op = "IncrementalAlterConfigs"
	rc, err := requestOpts(op, opts, "ValidateOnly")
	if err != nil {
		return nil, err
	}
	req := &stratav1.IncrementalAlterConfigsRequest{ValidateOnly: rc.validateOnly}
	for _, ch := range changes {
		r := &stratav1.AlterConfigsResource{Resource: ch.Resource.proto()}
		for _, o := range ch.Ops {
			r.Ops = append(r.Ops, &stratav1.AlterConfigOp{Name: o.Name, Op: o.Op.proto(), Value: o.Value})
		}
		req.Resources = append(req.Resources, r)
	}
	var resp *stratav1.IncrementalAlterConfigsResponse
	err = a.call(ctx, op, func(ctx context.Context, c stratav1.AdminServiceClient) (err error) {
		resp, err = c.IncrementalAlterConfigs(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(Results[AlterConfigsResult], 0, len(resp.GetResults()))
	for _, r := range resp.GetResults() {
		out = append(out, AlterConfigsResult{Resource: resourceOf(r.GetResource()), Err: resultError(r.GetErrorCode(), r.GetErrorMessage())})
	}
	return out, nil
}
