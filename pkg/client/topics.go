package client

import (
	"cmp"
	"context"
	"maps"
	"slices"

	"github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
)

// TopicSpec is a topic to create.
type TopicSpec struct {
	Name string
	// Partitions is the partition count; 0 (or -1) takes the cluster's
	// default (num.partitions).
	Partitions int32
	// ReplicationFactor is the number of replicas of each partition; 0 (or
	// -1) takes the cluster's default (default.replication.factor).
	ReplicationFactor int32
	// Configs are topic configs (retention.ms, min.insync.replicas, ...).
	Configs map[string]string
	// Assignments, when set, places the replicas explicitly:
	// Assignments[p] is partition p's replica list, preferred leader first.
	// Partitions and ReplicationFactor must then be 0 or agree with it.
	Assignments [][]int32
}

// CreatedTopic is one topic's outcome of CreateTopics.
type CreatedTopic struct {
	Name string
	// ID is the new topic's id; zero with ValidateOnly and on failure.
	ID                metadata.TopicID
	Partitions        int32
	ReplicationFactor int32
	// Configs are the configs set on the topic.
	Configs map[string]string
	// Err is nil on success, else an *Error (TOPIC_ALREADY_EXISTS,
	// INVALID_REPLICATION_FACTOR, ...).
	Err error
}

func (r CreatedTopic) describe() string { return "topic " + r.Name }
func (r CreatedTopic) failure() error   { return r.Err }

// DeletedTopic is one topic's outcome of DeleteTopics.
type DeletedTopic struct {
	Name string
	// ID is the deleted topic's id; zero on failure.
	ID  metadata.TopicID
	Err error
}

func (r DeletedTopic) describe() string { return "topic " + r.Name }
func (r DeletedTopic) failure() error   { return r.Err }

// PartitionsSpec grows a topic to Count partitions.
type PartitionsSpec struct {
	Topic string
	// Count is the new total number of partitions.
	Count int32
	// Assignments optionally places the new partitions' replicas, in
	// partition order.
	Assignments [][]int32
}

// CreatedPartitions is one topic's outcome of CreatePartitions.
type CreatedPartitions struct {
	Topic string
	Err   error
}

func (r CreatedPartitions) describe() string { return "topic " + r.Topic }
func (r CreatedPartitions) failure() error   { return r.Err }

// TopicListing is a topic's name and id.
type TopicListing struct {
	Name     string
	ID       metadata.TopicID
	Internal bool
}

// TopicDetail describes a topic.
type TopicDetail struct {
	Name     string
	ID       metadata.TopicID
	Internal bool
	// Partitions are in partition order.
	Partitions []PartitionDetail
	// Configs are the configs set on the topic (not the defaults).
	Configs map[string]string
	// Err is nil, or UNKNOWN_TOPIC_OR_PARTITION for a topic that does not
	// exist.
	Err error
}

func (r TopicDetail) describe() string { return "topic " + r.Name }
func (r TopicDetail) failure() error   { return r.Err }

// ReplicationFactor is the replica count of the topic's first partition,
// or 0 for a topic without partitions.
func (r TopicDetail) ReplicationFactor() int {
	if len(r.Partitions) == 0 {
		return 0
	}
	return len(r.Partitions[0].Replicas)
}

// NoLeader is the leader of a partition that has none.
const NoLeader = metadata.NoLeader

// PartitionDetail describes a partition's replicas and leadership.
type PartitionDetail struct {
	ID int32
	// Leader is the leader's broker id, or NoLeader (-1).
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	// Replicas are the assigned replicas, preferred leader first.
	Replicas []int32
	// ISR is the in-sync replicas.
	ISR []int32
	// OfflineReplicas are the replicas whose broker is fenced or gone.
	OfflineReplicas []int32
}

// CreateTopics creates topics. It takes ValidateOnly. The error is for the
// request as a whole; each topic's outcome is in its result
// (Results.FirstError gives the first failure).
func (a *Admin) CreateTopics(ctx context.Context, topics []TopicSpec, opts ...RequestOpt) (Results[CreatedTopic], error) {
	const op = "CreateTopics"
	rc, err := requestOpts(op, opts, "ValidateOnly")
	if err != nil {
		return nil, err
	}
	req := &stratav1.CreateTopicsRequest{ValidateOnly: rc.validateOnly}
	for _, t := range topics {
		ct := &stratav1.CreatableTopic{
			Name: t.Name, NumPartitions: orDefault(t.Partitions), ReplicationFactor: orDefault(t.ReplicationFactor),
			Assignments: assignments(t.Assignments), Configs: configEntries(t.Configs),
		}
		req.Topics = append(req.Topics, ct)
	}
	var resp *stratav1.CreateTopicsResponse
	err = a.call(ctx, op, func(ctx context.Context, c stratav1.AdminServiceClient) (err error) {
		resp, err = c.CreateTopics(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(Results[CreatedTopic], 0, len(resp.GetTopics()))
	for _, r := range resp.GetTopics() {
		id, _ := metadata.TopicIDFromBytes(r.GetTopicId()) // absent with ValidateOnly and on failure
		out = append(out, CreatedTopic{
			Name: r.GetName(), ID: id, Partitions: r.GetNumPartitions(), ReplicationFactor: r.GetReplicationFactor(),
			Configs: configMap(r.GetConfigs()), Err: resultError(r.GetErrorCode(), r.GetErrorMessage()),
		})
	}
	return out, nil
}

// DeleteTopics deletes topics and their data. A topic that does not exist
// fails with UNKNOWN_TOPIC_OR_PARTITION in its result.
func (a *Admin) DeleteTopics(ctx context.Context, names ...string) (Results[DeletedTopic], error) {
	var resp *stratav1.DeleteTopicsResponse
	err := a.call(ctx, "DeleteTopics", func(ctx context.Context, c stratav1.AdminServiceClient) (err error) {
		resp, err = c.DeleteTopics(ctx, &stratav1.DeleteTopicsRequest{Names: names})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(Results[DeletedTopic], 0, len(resp.GetTopics()))
	for _, r := range resp.GetTopics() {
		id, _ := metadata.TopicIDFromBytes(r.GetTopicId())
		out = append(out, DeletedTopic{Name: r.GetName(), ID: id, Err: resultError(r.GetErrorCode(), r.GetErrorMessage())})
	}
	return out, nil
}

// CreatePartitions grows topics' partition counts. It takes ValidateOnly.
func (a *Admin) CreatePartitions(ctx context.Context, topics []PartitionsSpec, opts ...RequestOpt) (Results[CreatedPartitions], error) {
	const op = "CreatePartitions"
	rc, err := requestOpts(op, opts, "ValidateOnly")
	if err != nil {
		return nil, err
	}
	req := &stratav1.CreatePartitionsRequest{ValidateOnly: rc.validateOnly}
	for _, t := range topics {
		req.Topics = append(req.Topics, &stratav1.CreatePartitionsTopic{
			Name: t.Topic, Count: t.Count, Assignments: newPartitionAssignments(t.Assignments),
		})
	}
	var resp *stratav1.CreatePartitionsResponse
	err = a.call(ctx, op, func(ctx context.Context, c stratav1.AdminServiceClient) (err error) {
		resp, err = c.CreatePartitions(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(Results[CreatedPartitions], 0, len(resp.GetTopics()))
	for _, r := range resp.GetTopics() {
		out = append(out, CreatedPartitions{Topic: r.GetName(), Err: resultError(r.GetErrorCode(), r.GetErrorMessage())})
	}
	return out, nil
}

// ListTopics lists topics by name. It takes IncludeInternal.
func (a *Admin) ListTopics(ctx context.Context, opts ...RequestOpt) ([]TopicListing, error) {
	const op = "ListTopics"
	rc, err := requestOpts(op, opts, "IncludeInternal")
	if err != nil {
		return nil, err
	}
	var resp *stratav1.ListTopicsResponse
	err = a.call(ctx, op, func(ctx context.Context, c stratav1.AdminServiceClient) (err error) {
		resp, err = c.ListTopics(ctx, &stratav1.ListTopicsRequest{IncludeInternal: rc.includeInternal})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]TopicListing, 0, len(resp.GetTopics()))
	for _, t := range resp.GetTopics() {
		id, _ := metadata.TopicIDFromBytes(t.GetTopicId())
		out = append(out, TopicListing{Name: t.GetName(), ID: id, Internal: t.GetInternal()})
	}
	slices.SortFunc(out, func(x, y TopicListing) int { return cmp.Compare(x.Name, y.Name) })
	return out, nil
}

// DescribeTopics describes the named topics, in the order given, or every
// topic by name when names is empty. It takes IncludeInternal (for the
// every-topic form; named internal topics are always described). A topic
// that does not exist has Err UNKNOWN_TOPIC_OR_PARTITION.
func (a *Admin) DescribeTopics(ctx context.Context, names []string, opts ...RequestOpt) (Results[TopicDetail], error) {
	const op = "DescribeTopics"
	rc, err := requestOpts(op, opts, "IncludeInternal")
	if err != nil {
		return nil, err
	}
	var resp *stratav1.DescribeTopicsResponse
	err = a.call(ctx, op, func(ctx context.Context, c stratav1.AdminServiceClient) (err error) {
		resp, err = c.DescribeTopics(ctx, &stratav1.DescribeTopicsRequest{Names: names, IncludeInternal: rc.includeInternal})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(Results[TopicDetail], 0, len(resp.GetTopics()))
	for _, t := range resp.GetTopics() {
		out = append(out, topicDetail(t))
	}
	if len(names) == 0 {
		slices.SortFunc(out, func(x, y TopicDetail) int { return cmp.Compare(x.Name, y.Name) })
	}
	return out, nil
}

func topicDetail(t *stratav1.TopicDescription) TopicDetail {
	id, _ := metadata.TopicIDFromBytes(t.GetTopicId())
	d := TopicDetail{
		Name: t.GetName(), ID: id, Internal: t.GetInternal(), Configs: configMap(t.GetConfigs()),
		Err: resultError(t.GetErrorCode(), t.GetErrorMessage()),
	}
	for _, p := range t.GetPartitions() {
		d.Partitions = append(d.Partitions, PartitionDetail{
			ID: p.GetPartitionId(), Leader: p.GetLeader(), LeaderEpoch: p.GetLeaderEpoch(), PartitionEpoch: p.GetPartitionEpoch(),
			Replicas: p.GetReplicas(), ISR: p.GetIsr(), OfflineReplicas: p.GetOfflineReplicas(),
		})
	}
	slices.SortFunc(d.Partitions, func(x, y PartitionDetail) int { return cmp.Compare(x.ID, y.ID) })
	return d
}

// orDefault maps the Go zero value to the protocol's "cluster default".
func orDefault(n int32) int32 {
	if n == 0 {
		return -1
	}
	return n
}

// assignments numbers a new topic's partitions from 0.
func assignments(a [][]int32) []*stratav1.ReplicaAssignment {
	var out []*stratav1.ReplicaAssignment
	for i, replicas := range a {
		out = append(out, &stratav1.ReplicaAssignment{PartitionId: int32(i), BrokerIds: replicas})
	}
	return out
}

// newPartitionAssignments leaves the partition ids of added partitions at
// 0, which the protocol reads as "the next ones, in order" (the client does
// not know the current count).
func newPartitionAssignments(a [][]int32) []*stratav1.ReplicaAssignment {
	var out []*stratav1.ReplicaAssignment
	for _, replicas := range a {
		out = append(out, &stratav1.ReplicaAssignment{BrokerIds: replicas})
	}
	return out
}

// configEntries turns a map into entries in name order, so requests are
// deterministic.
func configEntries(m map[string]string) []*stratav1.ConfigEntry {
	var out []*stratav1.ConfigEntry
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, &stratav1.ConfigEntry{Name: k, Value: m[k]})
	}
	return out
}

func configMap(entries []*stratav1.ConfigEntry) map[string]string {
	if len(entries) == 0 {
		return nil
	}
	m := make(map[string]string, len(entries))
	for _, e := range entries {
		m[e.GetName()] = e.GetValue()
	}
	return m
}
