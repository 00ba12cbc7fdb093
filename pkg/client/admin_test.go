package client

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
)

func TestCreateTopicsMapsRequestAndResults(t *testing.T) {
	f := startFake(t)
	id := metadata.NewTopicID()
	var got *stratav1.CreateTopicsRequest
	f.createTopics = func(r *stratav1.CreateTopicsRequest) (*stratav1.CreateTopicsResponse, error) {
		got = r
		return &stratav1.CreateTopicsResponse{Topics: []*stratav1.CreatableTopicResult{
			{Name: "orders", TopicId: id.Bytes(), NumPartitions: 3, ReplicationFactor: 2,
				Configs: []*stratav1.ConfigEntry{{Name: "retention.ms", Value: "1000"}}},
			{Name: "dup", ErrorCode: stratav1.ErrorCode_ERROR_CODE_TOPIC_ALREADY_EXISTS, ErrorMessage: "Topic 'dup' already exists."},
		}}, nil
	}
	a := newTestAdmin(t, BootstrapServers(f.addr))
	res, err := a.CreateTopics(ctxT(t), []TopicSpec{
		{Name: "orders", Partitions: 3, ReplicationFactor: 2, Configs: map[string]string{"retention.ms": "1000", "cleanup.policy": "delete"}},
		{Name: "dup", Assignments: [][]int32{{1, 2}, {2, 1}}},
	}, ValidateOnly())
	if err != nil {
		t.Fatal(err)
	}
	want := &stratav1.CreateTopicsRequest{ValidateOnly: true, Topics: []*stratav1.CreatableTopic{
		{Name: "orders", NumPartitions: 3, ReplicationFactor: 2, Configs: []*stratav1.ConfigEntry{
			{Name: "cleanup.policy", Value: "delete"}, {Name: "retention.ms", Value: "1000"}}},
		{Name: "dup", NumPartitions: -1, ReplicationFactor: -1, Assignments: []*stratav1.ReplicaAssignment{
			{PartitionId: 0, BrokerIds: []int32{1, 2}}, {PartitionId: 1, BrokerIds: []int32{2, 1}}}},
	}}
	if !proto.Equal(got, want) {
		t.Fatalf("request\n%v\nwant\n%v", got, want)
	}
	if len(res) != 2 || res[0].ID != id || res[0].Partitions != 3 || res[0].ReplicationFactor != 2 ||
		res[0].Configs["retention.ms"] != "1000" || res[0].Err != nil {
		t.Fatalf("results %+v", res)
	}
	if len(res[0].ID.String()) != 22 {
		t.Fatalf("topic id %q is not Kafka's 22 characters", res[0].ID)
	}
	if !errors.Is(res[1].Err, ErrTopicAlreadyExists) || !errors.Is(res.FirstError(), ErrTopicAlreadyExists) {
		t.Fatalf("dup: %v", res[1].Err)
	}
}

func TestDescribeAndListTopics(t *testing.T) {
	f := startFake(t)
	id := metadata.NewTopicID()
	var describeReq *stratav1.DescribeTopicsRequest
	var listReq *stratav1.ListTopicsRequest
	f.other = func(method string, req any) (any, error) {
		switch method {
		case "DescribeTopics":
			describeReq = req.(*stratav1.DescribeTopicsRequest)
			return &stratav1.DescribeTopicsResponse{Topics: []*stratav1.TopicDescription{
				{Name: "z", TopicId: id.Bytes(), Partitions: []*stratav1.PartitionDescription{
					{PartitionId: 1, Leader: -1, LeaderEpoch: 4, Replicas: []int32{3, 1}, Isr: []int32{3}, OfflineReplicas: []int32{3, 1}},
					{PartitionId: 0, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 5, Replicas: []int32{1, 3}, Isr: []int32{1, 3}},
				}, Configs: []*stratav1.ConfigEntry{{Name: "min.insync.replicas", Value: "2"}}},
				{Name: "a", ErrorCode: stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION, ErrorMessage: "nope"},
			}}, nil
		case "ListTopics":
			listReq = req.(*stratav1.ListTopicsRequest)
			return &stratav1.ListTopicsResponse{Topics: []*stratav1.TopicListing{
				{Name: "z", TopicId: id.Bytes()}, {Name: "__consumer_offsets", Internal: true}, {Name: "b"},
			}}, nil
		}
		return nil, errors.New(method)
	}
	a := newTestAdmin(t, BootstrapServers(f.addr))

	all, err := a.DescribeTopics(ctxT(t), nil, IncludeInternal())
	if err != nil {
		t.Fatal(err)
	}
	if !describeReq.GetIncludeInternal() || len(describeReq.GetNames()) != 0 {
		t.Fatalf("request %v", describeReq)
	}
	// Without names, topics come in name order; partitions always do.
	if all[0].Name != "a" || all[1].Name != "z" {
		t.Fatalf("order %s, %s", all[0].Name, all[1].Name)
	}
	z := all[1]
	if z.ID != id || z.ReplicationFactor() != 2 || z.Configs["min.insync.replicas"] != "2" || z.Err != nil {
		t.Fatalf("topic %+v", z)
	}
	p0, p1 := z.Partitions[0], z.Partitions[1]
	if p0.ID != 0 || p0.Leader != 1 || p0.LeaderEpoch != 2 || p0.PartitionEpoch != 5 || !slices.Equal(p0.ISR, []int32{1, 3}) {
		t.Fatalf("partition 0 %+v", p0)
	}
	if p1.Leader != NoLeader || !slices.Equal(p1.OfflineReplicas, []int32{3, 1}) {
		t.Fatalf("partition 1 %+v", p1)
	}
	if !errors.Is(all[0].Err, ErrUnknownTopicOrPartition) {
		t.Fatalf("a: %v", all[0].Err)
	}

	// With names, the order is the request's.
	named, err := a.DescribeTopics(ctxT(t), []string{"z", "a"})
	if err != nil || named[0].Name != "z" || describeReq.GetIncludeInternal() {
		t.Fatalf("named: %v %v", named, err)
	}

	list, err := a.ListTopics(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range list {
		names = append(names, l.Name)
	}
	if !slices.Equal(names, []string{"__consumer_offsets", "b", "z"}) || list[2].ID != id || !list[0].Internal || listReq.GetIncludeInternal() {
		t.Fatalf("list %v (request %v)", list, listReq)
	}
}

func TestDeleteTopicsAndCreatePartitions(t *testing.T) {
	f := startFake(t)
	id := metadata.NewTopicID()
	var partitionsReq *stratav1.CreatePartitionsRequest
	f.other = func(method string, req any) (any, error) {
		switch method {
		case "DeleteTopics":
			return &stratav1.DeleteTopicsResponse{Topics: []*stratav1.DeletableTopicResult{
				{Name: "a", TopicId: id.Bytes()},
				{Name: "b", ErrorCode: stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION},
			}}, nil
		case "CreatePartitions":
			partitionsReq = req.(*stratav1.CreatePartitionsRequest)
			return &stratav1.CreatePartitionsResponse{Topics: []*stratav1.CreatePartitionsTopicResult{
				{Name: "a", ErrorCode: stratav1.ErrorCode_ERROR_CODE_INVALID_PARTITIONS, ErrorMessage: "Topic already has 3 partitions."},
			}}, nil
		}
		return nil, errors.New(method)
	}
	a := newTestAdmin(t, BootstrapServers(f.addr))
	del, err := a.DeleteTopics(ctxT(t), "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	if del[0].ID != id || del[0].Err != nil || !errors.Is(del.FirstError(), ErrUnknownTopicOrPartition) {
		t.Fatalf("delete %+v", del)
	}
	if got := del.FirstError().Error(); got != "topic b: UNKNOWN_TOPIC_OR_PARTITION: this server does not host this topic-partition" {
		t.Fatalf("message %q", got)
	}
	cp, err := a.CreatePartitions(ctxT(t), []PartitionsSpec{{Topic: "a", Count: 5, Assignments: [][]int32{{1}, {2}}}}, ValidateOnly())
	if err != nil {
		t.Fatal(err)
	}
	want := &stratav1.CreatePartitionsRequest{ValidateOnly: true, Topics: []*stratav1.CreatePartitionsTopic{{
		Name: "a", Count: 5, Assignments: []*stratav1.ReplicaAssignment{{BrokerIds: []int32{1}}, {BrokerIds: []int32{2}}},
	}}}
	if !proto.Equal(partitionsReq, want) {
		t.Fatalf("request %v, want %v", partitionsReq, want)
	}
	if !errors.Is(cp.FirstError(), ErrInvalidPartitions) {
		t.Fatalf("create partitions %v", cp.FirstError())
	}
}

func TestDescribeClusterAndQuorum(t *testing.T) {
	f := startFake(t)
	f.describeCluster = func() (*stratav1.DescribeClusterResponse, error) {
		return &stratav1.DescribeClusterResponse{ClusterId: "cid", ActiveControllerId: 2, MetadataOffset: 9,
			Brokers: []*stratav1.BrokerDescription{{BrokerId: 102, Fenced: true}, {BrokerId: 101, Rack: "r1", BrokerEpoch: 4}},
			Controllers: []*stratav1.ControllerDescription{
				{ControllerId: 2, Address: "h:2", RaftAddress: "h:12"}, {ControllerId: 1, Address: "h:1"},
			}}, nil
	}
	f.other = func(string, any) (any, error) {
		return &stratav1.DescribeQuorumResponse{LeaderId: 2, LeaderEpoch: 7, HighWatermark: 40, MetadataOffset: 9,
			CurrentVoters: []*stratav1.QuorumReplica{
				{ReplicaId: 2, LogEndOffset: 40, LastFetchTimestampMs: 1700000000000, LastCaughtUpTimestampMs: 1700000000000},
				{ReplicaId: 1, LogEndOffset: -1, Lag: -1, LastFetchTimestampMs: -1, LastCaughtUpTimestampMs: -1},
			}}, nil
	}
	a := newTestAdmin(t, BootstrapServers(f.addr))
	c, err := a.DescribeCluster(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "cid" || c.MetadataOffset != 9 || c.Brokers[0].ID != 101 || c.Brokers[0].Rack != "r1" || c.Brokers[0].Epoch != 4 ||
		!c.Brokers[1].Fenced || c.Controllers[0].ID != 1 {
		t.Fatalf("cluster %+v", c)
	}
	if active, ok := c.ActiveController(); !ok || active.Address != "h:2" || active.RaftAddress != "h:12" {
		t.Fatalf("active %+v %v", active, ok)
	}
	q, err := a.DescribeQuorum(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if q.LeaderID != 2 || q.LeaderEpoch != 7 || q.HighWatermark != 40 || len(q.Voters) != 2 || q.Voters[0].ID != 1 {
		t.Fatalf("quorum %+v", q)
	}
	if !q.Voters[0].LastFetch.IsZero() || q.Voters[0].Lag != -1 || !q.Voters[1].LastCaughtUp.Equal(time.UnixMilli(1700000000000)) {
		t.Fatalf("voters %+v", q.Voters)
	}
}

func TestConfigsAndElections(t *testing.T) {
	f := startFake(t)
	var alterReq *stratav1.IncrementalAlterConfigsRequest
	var describeReq *stratav1.DescribeConfigsRequest
	var electReq *stratav1.ElectLeadersRequest
	f.other = func(method string, req any) (any, error) {
		switch method {
		case "DescribeConfigs":
			describeReq = req.(*stratav1.DescribeConfigsRequest)
			return &stratav1.DescribeConfigsResponse{Results: []*stratav1.DescribeConfigsResult{
				{Resource: describeReq.GetResources()[0], Configs: []*stratav1.DescribedConfig{
					{Name: "retention.ms", Value: "1", Source: stratav1.ConfigSource_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG, Documentation: "doc"},
				}},
				{Resource: describeReq.GetResources()[1], ErrorCode: stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST},
			}}, nil
		case "IncrementalAlterConfigs":
			alterReq = req.(*stratav1.IncrementalAlterConfigsRequest)
			return &stratav1.IncrementalAlterConfigsResponse{Results: []*stratav1.AlterConfigsResult{
				{Resource: alterReq.GetResources()[0].GetResource(), ErrorCode: stratav1.ErrorCode_ERROR_CODE_INVALID_CONFIG, ErrorMessage: "Unknown topic config name: x"},
			}}, nil
		case "ElectLeaders":
			electReq = req.(*stratav1.ElectLeadersRequest)
			return &stratav1.ElectLeadersResponse{Results: []*stratav1.ElectionResult{
				{Topic: "a", PartitionId: 1, ErrorCode: stratav1.ErrorCode_ERROR_CODE_ELECTION_NOT_NEEDED},
			}}, nil
		}
		return nil, errors.New(method)
	}
	a := newTestAdmin(t, BootstrapServers(f.addr))

	rc, err := a.DescribeConfigs(ctxT(t), []ConfigResource{TopicResource("a"), BrokerResource(101)}, "retention.ms")
	if err != nil {
		t.Fatal(err)
	}
	if describeReq.GetResources()[1].GetType() != stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_BROKER ||
		describeReq.GetResources()[1].GetName() != "101" || !slices.Equal(describeReq.GetNames(), []string{"retention.ms"}) {
		t.Fatalf("request %v", describeReq)
	}
	if rc[0].Resource != TopicResource("a") || rc[0].Configs[0].Source != SourceDynamicTopic ||
		rc[0].Configs[0].Source.String() != "DYNAMIC_TOPIC_CONFIG" || rc[0].Configs[0].Documentation != "doc" {
		t.Fatalf("configs %+v", rc[0])
	}
	if got := rc.FirstError().Error(); !strings.HasPrefix(got, "broker 101: INVALID_REQUEST") {
		t.Fatalf("first error %q", got)
	}

	ar, err := a.IncrementalAlterConfigs(ctxT(t), []AlterConfigs{{Resource: TopicResource("a"), Ops: []AlterConfigOp{
		SetConfig("retention.ms", "5"), DeleteConfig("x"), AppendConfig("cleanup.policy", "compact"), SubtractConfig("cleanup.policy", "delete"),
	}}}, ValidateOnly())
	if err != nil {
		t.Fatal(err)
	}
	ops := alterReq.GetResources()[0].GetOps()
	if !alterReq.GetValidateOnly() || len(ops) != 4 || ops[0].GetOp() != stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_SET ||
		ops[1].GetOp() != stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_DELETE || ops[2].GetOp() != stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_APPEND ||
		ops[3].GetOp() != stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_SUBTRACT || ops[0].GetValue() != "5" {
		t.Fatalf("ops %v", ops)
	}
	if got := ar.FirstError().Error(); got != "topic a: INVALID_CONFIG: Unknown topic config name: x" {
		t.Fatalf("alter %q", got)
	}

	er, err := a.ElectLeaders(ctxT(t), PreferredElection, map[string][]int32{"b": {0}, "a": {1}})
	if err != nil {
		t.Fatal(err)
	}
	if electReq.GetElectionType() != stratav1.ElectionType_ELECTION_TYPE_PREFERRED || electReq.GetPartitions()[0].GetTopic() != "a" {
		t.Fatalf("request %v", electReq)
	}
	if !errors.Is(er.FirstError(), ErrElectionNotNeeded) || !strings.HasPrefix(er.FirstError().Error(), "partition a-1: ") {
		t.Fatalf("elect %v", er.FirstError())
	}
	if _, err := a.ElectLeaders(ctxT(t), 0, nil); err == nil {
		t.Fatal("an unknown election type was sent")
	}
	if _, err := a.ElectLeaders(ctxT(t), UncleanElection, map[string][]int32{"a": nil}); err == nil {
		t.Fatal("a topic without partition ids was sent")
	}
}
