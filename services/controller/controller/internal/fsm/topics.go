package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
)

const unknownTopicMessage = "This server does not host this topic-partition."

func (b *batch) createTopics(c *stratav1.CreateTopicsCommand) ([]*stratav1.MetadataRecord, *stratav1.CommandResult) {
	resp := &stratav1.CreateTopicsResponse{}
	seen := make(map[string]int, len(c.GetTopics()))
	for _, t := range c.GetTopics() {
		seen[t.GetName()]++
	}
	// unified holds the names created earlier in this command, by their
	// collision key, so two new topics cannot collide either.
	unified := make(map[string]string)
	ids := make(map[metadata.TopicID]bool) // the ids created by this command
	for i, t := range c.GetTopics() {
		r := &stratav1.CreatableTopicResult{Name: t.GetName()}
		resp.Topics = append(resp.Topics, r)
		if seen[t.GetName()] > 1 {
			r.ErrorCode, r.ErrorMessage = stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "Duplicate topic name."
			continue
		}
		var id metadata.TopicID
		if i < len(c.GetTopicIds()) {
			id, _ = metadata.TopicIDFromBytes(c.GetTopicIds()[i])
		}
		if ids[id] {
			r.ErrorCode, r.ErrorMessage = stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "the topic id is already in use"
			continue
		}
		code, msg := b.createTopic(c, t, id, unified, r)
		r.ErrorCode, r.ErrorMessage = code, msg
		if code == stratav1.ErrorCode_ERROR_CODE_NONE {
			ids[id] = true
		}
	}
	res := ok()
	res.Result = &stratav1.CommandResult_CreateTopics{CreateTopics: resp}
	return b.recs, res
}

func (b *batch) createTopic(c *stratav1.CreateTopicsCommand, t *stratav1.CreatableTopic, id metadata.TopicID,
	unified map[string]string, r *stratav1.CreatableTopicResult) (stratav1.ErrorCode, string) {
	name := t.GetName()
	if err := metadata.ValidateTopicName(name); err != nil {
		return stratav1.ErrorCode_ERROR_CODE_INVALID_TOPIC_EXCEPTION, trimSentinel(err)
	}
	if metadata.IsInternalTopic(name) && !c.GetAllowInternal() {
		return stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, fmt.Sprintf("internal topic %s cannot be created or deleted by clients", name)
	}
	if existing, exists := b.img.Topic(name); exists {
		if existing.ID == id && id != metadata.ZeroTopicID {
			// The same command committed before (a proposal retried after
			// a timeout): answer as the first time did.
			describeCreated(existing, r)
			return stratav1.ErrorCode_ERROR_CODE_NONE, ""
		}
		return stratav1.ErrorCode_ERROR_CODE_TOPIC_ALREADY_EXISTS, fmt.Sprintf("Topic '%s' already exists.", name)
	}
	if other, collides := b.img.CollidingTopic(name); collides {
		return stratav1.ErrorCode_ERROR_CODE_INVALID_TOPIC_EXCEPTION,
			fmt.Sprintf("Topic '%s' collides with existing topic: %s", name, other)
	}
	if other, collides := unified[metadata.UnifyTopicName(name)]; collides {
		return stratav1.ErrorCode_ERROR_CODE_INVALID_TOPIC_EXCEPTION,
			fmt.Sprintf("Topic '%s' collides with topic '%s' created in the same request", name, other)
	}
	if id == metadata.ZeroTopicID {
		return stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "the command carries no topic id for this topic"
	}
	if _, taken := b.img.TopicByID(id); taken {
		return stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "the topic id is already in use"
	}

	var assignment [][]int32
	if len(t.GetAssignments()) > 0 {
		if t.GetNumPartitions() != -1 && int(t.GetNumPartitions()) != len(t.GetAssignments()) ||
			t.GetReplicationFactor() != -1 && int(t.GetReplicationFactor()) != len(t.GetAssignments()[0].GetBrokerIds()) {
			return stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST,
				"Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time."
		}
		var err error
		if assignment, err = explicitAssignment(b.img, t.GetAssignments(), 0); err != nil {
			return stratav1.ErrorCode_ERROR_CODE_INVALID_REPLICA_ASSIGNMENT, err.Error()
		}
	} else {
		partitions, rf := t.GetNumPartitions(), t.GetReplicationFactor()
		if partitions == -1 {
			partitions = c.GetDefaultPartitions()
		}
		if rf == -1 {
			rf = c.GetDefaultReplicationFactor()
		}
		if partitions <= 0 {
			return stratav1.ErrorCode_ERROR_CODE_INVALID_PARTITIONS, "Number of partitions was set to an invalid non-positive value."
		}
		if rf <= 0 {
			return stratav1.ErrorCode_ERROR_CODE_INVALID_REPLICATION_FACTOR, "Replication factor must be larger than 0, or -1 to use the default value."
		}
		var err error
		if assignment, err = place(b.img, int(partitions), int(rf), 0, id); err != nil {
			return placementCode(err), err.Error()
		}
	}
	rf := len(assignment[0])

	configs := make(map[string]string, len(t.GetConfigs()))
	for _, e := range t.GetConfigs() {
		if _, dup := configs[e.GetName()]; dup {
			return stratav1.ErrorCode_ERROR_CODE_INVALID_CONFIG, fmt.Sprintf("Config %s is set twice.", e.GetName())
		}
		if err := metadata.ValidateTopicConfig(e.GetName(), e.GetValue()); err != nil {
			return stratav1.ErrorCode_ERROR_CODE_INVALID_CONFIG, trimSentinel(err)
		}
		configs[e.GetName()] = e.GetValue()
	}
	// The rules between configs (min.compaction.lag.ms <= max.compaction.lag.ms);
	// min.insync.replicas against the replication factor is checkMinISR's.
	if err := metadata.ValidateTopicConfigs(configs, 0); err != nil {
		return stratav1.ErrorCode_ERROR_CODE_INVALID_CONFIG, trimSentinel(err)
	}
	if code, msg := checkMinISR(b.img, configs, rf, c.GetDefaultMinInsyncReplicas()); code != stratav1.ErrorCode_ERROR_CODE_NONE {
		return code, msg
	}

	unified[metadata.UnifyTopicName(name)] = name
	b.add(&stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_Topic{Topic: &stratav1.TopicRecord{Name: name, TopicId: id.Bytes()}}})
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		v := configs[k]
		b.add(&stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_Config{Config: &stratav1.ConfigRecord{
			ResourceType: stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_TOPIC, ResourceName: name, Name: k, Value: &v,
		}}})
	}
	for p, replicas := range assignment {
		b.add(newPartition(b.img, id, int32(p), replicas))
	}
	describeCreated(&metadata.Topic{ID: id, Configs: configs, Partitions: make([]*metadata.Partition, len(assignment))}, r)
	r.ReplicationFactor = int32(rf)
	return stratav1.ErrorCode_ERROR_CODE_NONE, ""
}

func describeCreated(t *metadata.Topic, r *stratav1.CreatableTopicResult) {
	r.TopicId = t.ID.Bytes()
	r.NumPartitions = int32(len(t.Partitions))
	if len(t.Partitions) > 0 && t.Partitions[0] != nil {
		r.ReplicationFactor = int32(len(t.Partitions[0].Replicas))
	}
	for _, k := range slices.Sorted(maps.Keys(t.Configs)) {
		r.Configs = append(r.Configs, &stratav1.ConfigEntry{Name: k, Value: t.Configs[k]})
	}
}

// newPartition is the record of a new partition: its ISR is the replicas
// that are live, and its leader the first of them.
func newPartition(img *metadata.Image, topic metadata.TopicID, id int32, replicas []int32) *stratav1.MetadataRecord {
	isr := make([]int32, 0, len(replicas))
	for _, r := range replicas {
		if eligible(img, r) {
			isr = append(isr, r)
		}
	}
	leader := metadata.NoLeader
	if len(isr) > 0 {
		leader = isr[0]
	} else {
		// Nothing live: keep the preferred replica as the ISR so that it
		// leads as soon as it is unfenced.
		isr = replicas[:1:1]
	}
	return &stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_Partition{Partition: &stratav1.PartitionRecord{
		TopicId: topic.Bytes(), PartitionId: id, Replicas: slices.Clone(replicas), Isr: isr, Leader: leader,
	}}}
}

// checkMinISR refuses a min.insync.replicas larger than the replication
// factor: such a topic could never take an acks=all write.
func checkMinISR(img *metadata.Image, configs map[string]string, rf int, defaultMinISR int32) (stratav1.ErrorCode, string) {
	v, set := configs["min.insync.replicas"]
	if !set {
		if d, ok := img.BrokerConfigs("")["min.insync.replicas"]; ok {
			v, set = d, true
		} else if defaultMinISR > 0 {
			v, set = strconv.Itoa(int(defaultMinISR)), true
		}
	}
	if !set {
		return stratav1.ErrorCode_ERROR_CODE_NONE, ""
	}
	n, err := strconv.Atoi(v)
	if err == nil && n > rf {
		return stratav1.ErrorCode_ERROR_CODE_INVALID_CONFIG,
			fmt.Sprintf("Invalid value %s for configuration min.insync.replicas: it must not exceed the replication factor %d", v, rf)
	}
	return stratav1.ErrorCode_ERROR_CODE_NONE, ""
}

// seed derives the placement seed from the topic id, so placement is
// deterministic and still differs between topics.
func seed(id metadata.TopicID) uint64 { return binary.BigEndian.Uint64(id[8:]) }

func (b *batch) deleteTopics(c *stratav1.DeleteTopicsCommand) ([]*stratav1.MetadataRecord, *stratav1.CommandResult) {
	resp := &stratav1.DeleteTopicsResponse{}
	seen := make(map[string]int, len(c.GetNames()))
	for _, name := range c.GetNames() {
		seen[name]++
	}
	for i, name := range c.GetNames() {
		r := &stratav1.DeletableTopicResult{Name: name}
		resp.Topics = append(resp.Topics, r)
		t, found := b.img.Topic(name)
		var seenID metadata.TopicID
		if i < len(c.GetTopicIds()) {
			seenID, _ = metadata.TopicIDFromBytes(c.GetTopicIds()[i])
		}
		switch {
		case metadata.IsInternalTopic(name):
			r.ErrorCode, r.ErrorMessage = stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, fmt.Sprintf("internal topic %s cannot be created or deleted by clients", name)
		case seen[name] > 1:
			r.ErrorCode, r.ErrorMessage = stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "Duplicate topic name."
		case seenID != metadata.ZeroTopicID && (!found || t.ID != seenID):
			// The topic the proposer saw is gone already: this is a retry of
			// a delete that committed (or it was deleted meanwhile). A topic
			// created since under the same name is left alone.
			if _, still := b.img.TopicByID(seenID); !still {
				r.TopicId = seenID.Bytes()
				continue
			}
			r.ErrorCode, r.ErrorMessage = stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION, unknownTopicMessage
		case !found:
			r.ErrorCode, r.ErrorMessage = stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION, unknownTopicMessage
		default:
			r.TopicId = t.ID.Bytes()
			b.add(&stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_RemoveTopic{RemoveTopic: &stratav1.RemoveTopicRecord{TopicId: t.ID.Bytes()}}})
		}
	}
	res := ok()
	res.Result = &stratav1.CommandResult_DeleteTopics{DeleteTopics: resp}
	return b.recs, res
}

func (b *batch) createPartitions(c *stratav1.CreatePartitionsCommand) ([]*stratav1.MetadataRecord, *stratav1.CommandResult) {
	resp := &stratav1.CreatePartitionsResponse{}
	seen := make(map[string]int)
	for _, t := range c.GetTopics() {
		seen[t.GetName()]++
	}
	for _, ct := range c.GetTopics() {
		r := &stratav1.CreatePartitionsTopicResult{Name: ct.GetName()}
		resp.Topics = append(resp.Topics, r)
		if seen[ct.GetName()] > 1 {
			r.ErrorCode, r.ErrorMessage = stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "Duplicate topic name."
			continue
		}
		r.ErrorCode, r.ErrorMessage = b.createPartitionsFor(ct)
	}
	res := ok()
	res.Result = &stratav1.CommandResult_CreatePartitions{CreatePartitions: resp}
	return b.recs, res
}

func (b *batch) createPartitionsFor(ct *stratav1.CreatePartitionsTopic) (stratav1.ErrorCode, string) {
	t, found := b.img.Topic(ct.GetName())
	if !found {
		return stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION, unknownTopicMessage
	}
	current := int32(len(t.Partitions))
	switch {
	case ct.GetCount() < current:
		return stratav1.ErrorCode_ERROR_CODE_INVALID_PARTITIONS,
			fmt.Sprintf("Topic currently has %d partitions, which is higher than the requested %d.", current, ct.GetCount())
	case ct.GetCount() == current:
		return stratav1.ErrorCode_ERROR_CODE_INVALID_PARTITIONS, fmt.Sprintf("Topic already has %d partitions.", current)
	}
	add := int(ct.GetCount() - current)
	rf := len(t.Partitions[0].Replicas)
	var assignment [][]int32
	if len(ct.GetAssignments()) > 0 {
		if len(ct.GetAssignments()) != add {
			return stratav1.ErrorCode_ERROR_CODE_INVALID_REPLICA_ASSIGNMENT,
				fmt.Sprintf("Increasing the number of partitions by %d but %d assignments provided.", add, len(ct.GetAssignments()))
		}
		var err error
		if assignment, err = explicitAssignment(b.img, ct.GetAssignments(), current); err != nil {
			return stratav1.ErrorCode_ERROR_CODE_INVALID_REPLICA_ASSIGNMENT, err.Error()
		}
		if len(assignment[0]) != rf {
			return stratav1.ErrorCode_ERROR_CODE_INVALID_REPLICA_ASSIGNMENT,
				fmt.Sprintf("The manual partition assignment includes a partition with %d replica(s), but this is not consistent with previous partitions, which have %d replica(s).", len(assignment[0]), rf)
		}
	} else {
		var err error
		if assignment, err = place(b.img, add, rf, current, t.ID); err != nil {
			return placementCode(err), err.Error()
		}
	}
	for i, replicas := range assignment {
		b.add(newPartition(b.img, t.ID, current+int32(i), replicas))
	}
	return stratav1.ErrorCode_ERROR_CODE_NONE, ""
}

// trimSentinel drops a sentinel's prefix ("invalid topic name: ") from a
// message meant for users, who see the error code instead.
func trimSentinel(err error) string {
	msg := err.Error()
	for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
		if p := u.Error() + ": "; len(msg) > len(p) && msg[:len(p)] == p {
			return msg[len(p):]
		}
	}
	return msg
}
