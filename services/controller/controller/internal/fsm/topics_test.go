package fsm

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
)

// fourBrokers is an image with brokers 1 to 4, registered and unfenced
// through commands.
func fourBrokers(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t)
	h.addBrokers(1, 2, 3, 4)
	return h
}

// checkNewPartitions checks what every partition a command creates must
// be: ISR = the live replicas in replica order, leader = the first of
// them, epochs 0.
func checkNewPartitions(t *testing.T, h *harness, name string, from ...int32) {
	t.Helper()
	first := 0
	if len(from) > 0 {
		first = int(from[0])
	}
	for _, p := range h.topic(name).Partitions[first:] {
		var live []int32
		for _, r := range p.Replicas {
			if eligible(h.img, r) {
				live = append(live, r)
			}
		}
		wantLeader := int32(-1)
		wantISR := live
		if len(live) > 0 {
			wantLeader = live[0]
		} else {
			wantISR = p.Replicas[:1]
		}
		if p.Leader != wantLeader || !slices.Equal(p.ISR, wantISR) || p.LeaderEpoch != 0 || p.PartitionEpoch != 0 {
			t.Errorf("%s-%d: replicas %v isr %v leader %d epochs %d/%d; want isr %v leader %d",
				name, p.ID, p.Replicas, p.ISR, p.Leader, p.LeaderEpoch, p.PartitionEpoch, wantISR, wantLeader)
		}
	}
}

func TestCreateTopicsDefaults(t *testing.T) {
	h := fourBrokers(t)
	before := h.img.Offset()
	recs := h.ok(createCmd(newTopic("orders", -1, -1)))
	wantKinds(t, recs, "Topic", "Partition", "Partition", "Partition")
	tr := recs[0].GetTopic()
	if tr.GetName() != "orders" || !slices.Equal(tr.GetTopicId(), tid("orders").Bytes()) || recs[0].GetOffset() != before+1 {
		t.Errorf("topic record %v", recs[0])
	}
	res := h.topic("orders")
	if res.ID != tid("orders") || len(res.Partitions) != 3 || len(res.Configs) != 0 {
		t.Errorf("topic %+v", res)
	}
	for _, p := range res.Partitions {
		if len(p.Replicas) != 2 {
			t.Errorf("partition %d replicas %v", p.ID, p.Replicas)
		}
	}
	checkNewPartitions(t, h, "orders")
	if h.img.PartitionCount() != 3 || h.img.TopicCount() != 1 {
		t.Errorf("%d topics, %d partitions", h.img.TopicCount(), h.img.PartitionCount())
	}

	// The result describes the topic.
	_, r := Plan(h.img, createCmd(newTopic("other", 5, 3)))
	got := r.GetCreateTopics().GetTopics()[0]
	if got.GetErrorCode() != codeNone || got.GetNumPartitions() != 5 || got.GetReplicationFactor() != 3 ||
		!slices.Equal(got.GetTopicId(), tid("other").Bytes()) || got.GetName() != "other" {
		t.Errorf("result %v", got)
	}
}

func TestCreateTopicsConfigs(t *testing.T) {
	h := fourBrokers(t)
	_, res := h.run(createCmd(newTopic("c", 2, 3, "retention.ms=1000", "cleanup.policy=compact,delete", "min.insync.replicas=2")))
	r := res.GetCreateTopics().GetTopics()[0]
	if r.GetErrorCode() != codeNone {
		t.Fatalf("create: %v", r)
	}
	var names []string
	for _, c := range r.GetConfigs() {
		names = append(names, c.GetName()+"="+c.GetValue())
	}
	want := []string{"cleanup.policy=compact,delete", "min.insync.replicas=2", "retention.ms=1000"}
	if !slices.Equal(names, want) {
		t.Errorf("result configs %v, want %v", names, want)
	}
	if got := h.topic("c").Configs; !maps.Equal(got, map[string]string{
		"cleanup.policy": "compact,delete", "min.insync.replicas": "2", "retention.ms": "1000",
	}) {
		t.Errorf("configs %v", got)
	}

	// The config records come after the topic record, in name order.
	h2 := fourBrokers(t)
	recsOut := h2.ok(createCmd(newTopic("c", 1, 1, "retention.ms=1000", "cleanup.policy=compact")))
	wantKinds(t, recsOut, "Topic", "Config", "Config", "Partition")
	if c := recsOut[1].GetConfig(); c.GetName() != "cleanup.policy" || c.GetResourceName() != "c" ||
		c.GetResourceType() != stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_TOPIC || c.GetValue() != "compact" {
		t.Errorf("config record %v", c)
	}
}

func TestCreateTopicsExplicitAssignment(t *testing.T) {
	h := fourBrokers(t)
	r := h.create(assignedTopic("a", []int32{1, 2, 3}, []int32{2, 3, 4}, []int32{4, 1, 2}))
	if r.GetNumPartitions() != 3 || r.GetReplicationFactor() != 3 {
		t.Errorf("result %v", r)
	}
	for i, want := range [][]int32{{1, 2, 3}, {2, 3, 4}, {4, 1, 2}} {
		if p := h.partition("a", int32(i)); !slices.Equal(p.Replicas, want) {
			t.Errorf("partition %d replicas %v, want %v", i, p.Replicas, want)
		}
	}
	checkNewPartitions(t, h, "a")

	// Partition ids in any order.
	top := &stratav1.CreatableTopic{Name: "b", NumPartitions: -1, ReplicationFactor: -1, Assignments: []*stratav1.ReplicaAssignment{
		{PartitionId: 1, BrokerIds: []int32{3, 4}}, {PartitionId: 0, BrokerIds: []int32{1, 2}},
	}}
	h.create(top)
	if p0, p1 := h.partition("b", 0), h.partition("b", 1); !slices.Equal(p0.Replicas, []int32{1, 2}) || !slices.Equal(p1.Replicas, []int32{3, 4}) {
		t.Errorf("replicas %v %v", p0.Replicas, p1.Replicas)
	}
	// Partition count and replication factor may repeat what the
	// assignment says.
	top = assignedTopic("c", []int32{1, 2})
	top.NumPartitions, top.ReplicationFactor = 1, 2
	h.create(top)

	// Fenced brokers may be assigned (they are registered) but are not in
	// the ISR and do not lead.
	h.fence(1)
	h.fence(2)
	h.create(assignedTopic("f", []int32{1, 3, 2}))
	h.wantPartition("f", 0, 3, []int32{3}, 0, 0)
	checkNewPartitions(t, h, "f")
	// Nobody live: the preferred replica is the ISR, so that it leads once
	// it is unfenced.
	h.create(assignedTopic("g", []int32{2, 1}))
	h.wantPartition("g", 0, -1, []int32{2}, 0, 0)
	checkNewPartitions(t, h, "g")
	h.unfence(2)
	h.wantPartition("g", 0, 2, []int32{2}, 1, 1)
}

func TestCreateTopicsAssignmentErrors(t *testing.T) {
	withCounts := func(top *stratav1.CreatableTopic, partitions, rf int32) *stratav1.CreatableTopic {
		top.NumPartitions, top.ReplicationFactor = partitions, rf
		return top
	}
	tests := []struct {
		name     string
		topic    *stratav1.CreatableTopic
		code     stratav1.ErrorCode
		fragment string
	}{
		{"unregistered broker", assignedTopic("x", []int32{1, 9}), codeInvalidAssignment,
			"The manual partition assignment includes broker 9, but no such broker is registered."},
		{"broker twice", assignedTopic("x", []int32{1, 2, 1}), codeInvalidAssignment,
			"The manual partition assignment includes the broker 1 more than once."},
		{"uneven replication", assignedTopic("x", []int32{1, 2}, []int32{3}), codeInvalidAssignment,
			"includes a partition with 1 replica(s), but this is not consistent with previous partitions, which have 2 replica(s)."},
		{"empty replicas", assignedTopic("x", []int32{}), codeInvalidAssignment, "empty replica list"},
		{"partition ids not consecutive", &stratav1.CreatableTopic{Name: "x", NumPartitions: -1, ReplicationFactor: -1,
			Assignments: []*stratav1.ReplicaAssignment{{PartitionId: 0, BrokerIds: []int32{1}}, {PartitionId: 2, BrokerIds: []int32{2}}}},
			codeInvalidAssignment, "partitions should be a consecutive 0-based integer sequence"},
		{"partition id twice", &stratav1.CreatableTopic{Name: "x", NumPartitions: -1, ReplicationFactor: -1,
			Assignments: []*stratav1.ReplicaAssignment{{PartitionId: 0, BrokerIds: []int32{1}}, {PartitionId: 0, BrokerIds: []int32{2}}}},
			codeInvalidAssignment, "Found multiple manual partition assignments for partition 0"},
		{"partition count too", withCounts(assignedTopic("x", []int32{1}, []int32{2}), 3, -1), codeInvalidRequest,
			"Both numPartitions or replicationFactor and replicasAssignments were set."},
		{"replication factor too", withCounts(assignedTopic("x", []int32{1}, []int32{2}), -1, 2), codeInvalidRequest,
			"Both numPartitions or replicationFactor and replicasAssignments were set."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := fourBrokers(t)
			h.createFails(tt.topic, tt.code, tt.fragment)
		})
	}
}

// TestCreateTopicsBadInputs covers BAD_INPUTS rows 27 to 37 that apply to
// the state machine.
func TestCreateTopicsBadInputs(t *testing.T) {
	illegal := func(name string) string {
		return fmt.Sprintf("Topic name %q is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'", name)
	}
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		row      string
		topic    *stratav1.CreatableTopic
		code     stratav1.ErrorCode
		fragment string
	}{
		{"27 empty name", newTopic("", 1, 1), codeInvalidTopic, "Topic name is illegal, it can't be empty"},
		{"28 dot", newTopic(".", 1, 1), codeInvalidTopic, `Topic name cannot be "." or ".."`},
		{"28 dot dot", newTopic("..", 1, 1), codeInvalidTopic, `Topic name cannot be "." or ".."`},
		{"29 250 characters", newTopic(long(250), 1, 1), codeInvalidTopic,
			"Topic name is illegal, it can't be longer than 249 characters, topic name: " + long(250)},
		{"29 300 characters", newTopic(long(300), 1, 1), codeInvalidTopic, "it can't be longer than 249 characters"},
		{"30 slash", newTopic("a/b", 1, 1), codeInvalidTopic, illegal("a/b")},
		{"30 parent path", newTopic("../x", 1, 1), codeInvalidTopic, illegal("../x")},
		{"30 space", newTopic("a b", 1, 1), codeInvalidTopic, illegal("a b")},
		{"30 non-ASCII", newTopic("ü", 1, 1), codeInvalidTopic, illegal("ü")},
		{"30 NUL", newTopic("a\x00b", 1, 1), codeInvalidTopic, illegal("a\x00b")},
		{"31 dot collides with underscore", newTopic("a.b", 1, 1), codeInvalidTopic, "Topic 'a.b' collides with existing topic: a_b"},
		{"31 underscore collides with dot", newTopic("c_d", 1, 1), codeInvalidTopic, "Topic 'c_d' collides with existing topic: c.d"},
		{"32 existing name", newTopic("a_b", 1, 1), codeTopicExists, "Topic 'a_b' already exists."},
		{"33 zero partitions", newTopic("p", 0, 1), codeInvalidPartitions, "Number of partitions was set to an invalid non-positive value."},
		{"33 partitions below -1", newTopic("p", -2, 1), codeInvalidPartitions, "Number of partitions was set to an invalid non-positive value."},
		{"33 more partitions than one request may create", newTopic("p", 2_000_000, 1), codeInvalidPartitions,
			"2000000 partitions with replication factor 1 make 2000000 replicas, more than the 1048576 one request may create."},
		{"34 zero replication factor", newTopic("r", 1, 0), codeInvalidRF, "Replication factor must be larger than 0, or -1 to use the default value."},
		{"34 replication factor below -1", newTopic("r", 1, -2), codeInvalidRF, "Replication factor must be larger than 0, or -1 to use the default value."},
		{"34 replication factor above brokers", newTopic("r", 1, 5), codeInvalidRF,
			"Unable to replicate the partition 5 time(s): The target replication factor of 5 cannot be reached because only 4 broker(s) are registered."},
		{"36 unknown config", newTopic("c", 1, 1, "no.such.option=1"), codeInvalidConfig, "Unknown topic config name: no.such.option"},
		{"36 min.insync.replicas 0", newTopic("c", 1, 1, "min.insync.replicas=0"), codeInvalidConfig,
			"Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"},
		{"36 non-numeric retention.ms", newTopic("c", 1, 1, "retention.ms=soon"), codeInvalidConfig,
			"Invalid value soon for configuration retention.ms: Not a number of type LONG"},
		{"36 bad cleanup.policy", newTopic("c", 1, 1, "cleanup.policy=forever"), codeInvalidConfig,
			"Invalid value forever for configuration cleanup.policy"},
		{"36 min.insync.replicas above replication factor", newTopic("c", 1, 2, "min.insync.replicas=3"), codeInvalidConfig,
			"Invalid value 3 for configuration min.insync.replicas"},
		{"36 config twice", newTopic("c", 1, 1, "retention.ms=1", "retention.ms=2"), codeInvalidConfig, "Config retention.ms is set twice."},
		{"36 conflicting compaction lags", newTopic("c", 1, 1, "min.compaction.lag.ms=10", "max.compaction.lag.ms=5"), codeInvalidConfig,
			"conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)"},
		{"36 tiered storage", newTopic("c", 1, 1, "remote.storage.enable=true"), codeInvalidConfig, "remote.storage.enable"},
		{"37 internal topic", newTopic(metadata.ConsumerOffsetsTopic, 1, 1), codeInvalidRequest,
			"internal topic __consumer_offsets cannot be created or deleted by clients"},
	}
	for _, tt := range tests {
		t.Run(tt.row, func(t *testing.T) {
			h := fourBrokers(t)
			h.create(newTopic("a_b", 1, 1))
			h.create(newTopic("c.d", 1, 1))
			// An id of its own: with the existing topic's, the command
			// would be a retry.
			cmd := createCmd(tt.topic)
			cmd.GetCreateTopics().TopicIds = [][]byte{tid(tt.topic.GetName(), 1).Bytes()}
			h.createCmdFails(cmd, tt.code, tt.fragment)
		})
	}
}

func TestCreateTopicsLimits(t *testing.T) {
	h := fourBrokers(t)
	// 249 characters is the longest legal name.
	h.create(newTopic(strings.Repeat("n", 249), 1, 1))
	h.create(newTopic("Legal.name_with-all-0123456789", 1, 1))
	// RF = brokers is fine.
	h.create(newTopic("full", 1, 4))
	// min.insync.replicas = RF is fine.
	h.create(newTopic("strict", 1, 3, "min.insync.replicas=3"))
}

func TestCreateTopicsCommandDefaults(t *testing.T) {
	h := fourBrokers(t)
	cmd := func(partitions, rf, minISR int32) *stratav1.MetadataCommand {
		return &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_CreateTopics{CreateTopics: &stratav1.CreateTopicsCommand{
			Topics:                   []*stratav1.CreatableTopic{newTopic("d", -1, -1)},
			TopicIds:                 [][]byte{tid("d").Bytes()},
			DefaultPartitions:        partitions,
			DefaultReplicationFactor: rf,
			DefaultMinInsyncReplicas: minISR,
		}}}
	}
	h.createCmdFails(cmd(0, 1, 0), codeInvalidPartitions, "Number of partitions was set to an invalid non-positive value.")
	h.createCmdFails(cmd(1, 0, 0), codeInvalidRF, "Replication factor must be larger than 0")
	// The proposer's default min.insync.replicas counts as the topic's.
	h.createCmdFails(cmd(1, 2, 3), codeInvalidConfig, "min.insync.replicas: it must not exceed the replication factor 2")
	// A cluster-wide default set through AlterConfigs does too.
	h.ok(alterConfigsCmd(brokerResource("", set("min.insync.replicas", "3"))))
	h.createCmdFails(cmd(1, 2, 0), codeInvalidConfig, "min.insync.replicas: it must not exceed the replication factor 2")
	// The topic's own setting wins over both.
	c := cmd(1, 2, 3)
	c.GetCreateTopics().Topics[0].Configs = []*stratav1.ConfigEntry{{Name: "min.insync.replicas", Value: "1"}}
	h.ok(c)
	if p := h.topic("d").Partitions; len(p) != 1 || len(p[0].Replicas) != 2 {
		t.Errorf("partitions %v", p)
	}
}

func TestCreateTopicsDuplicateNames(t *testing.T) {
	h := fourBrokers(t)
	// Row 35: every copy fails.
	h.createCmdFails(createCmd(newTopic("d", 1, 1), newTopic("d", 2, 1)), codeInvalidRequest, "Duplicate topic name.")

	// The others in the request are created.
	recs, res := h.run(createCmd(newTopic("d", 1, 1), newTopic("ok", 1, 1), newTopic("d", 1, 1)))
	rs := res.GetCreateTopics().GetTopics()
	if len(rs) != 3 || rs[0].GetErrorCode() != codeInvalidRequest || rs[1].GetErrorCode() != codeNone || rs[2].GetErrorCode() != codeInvalidRequest {
		t.Fatalf("results %v", rs)
	}
	wantKinds(t, recs, "Topic", "Partition")
	if _, ok := h.img.Topic("d"); ok {
		t.Error("topic d exists")
	}

	// Two new names that collide on '.' and '_': the first one wins.
	recs, res = h.run(createCmd(newTopic("x.y", 1, 1), newTopic("x_y", 1, 1)))
	rs = res.GetCreateTopics().GetTopics()
	if rs[0].GetErrorCode() != codeNone {
		t.Errorf("x.y: %v", rs[0])
	}
	checkError(t, "x_y", rs[1].GetErrorCode(), rs[1].GetErrorMessage(), codeInvalidTopic,
		"Topic 'x_y' collides with topic 'x.y' created in the same request")
	wantKinds(t, recs, "Topic", "Partition")
}

func TestCreateTopicsTopicIDs(t *testing.T) {
	h := fourBrokers(t)
	noID := createCmd(newTopic("n", 1, 1))
	noID.GetCreateTopics().TopicIds = nil
	h.createCmdFails(noID, codeInvalidRequest, "the command carries no topic id for this topic")

	short := createCmd(newTopic("n", 1, 1))
	short.GetCreateTopics().TopicIds = [][]byte{{1, 2, 3}}
	h.createCmdFails(short, codeInvalidRequest, "the command carries no topic id for this topic")

	zero := createCmd(newTopic("n", 1, 1))
	zero.GetCreateTopics().TopicIds = [][]byte{metadata.ZeroTopicID.Bytes()}
	h.createCmdFails(zero, codeInvalidRequest, "the command carries no topic id for this topic")

	h.create(newTopic("first", 1, 1))
	taken := createCmd(newTopic("n", 1, 1))
	taken.GetCreateTopics().TopicIds = [][]byte{tid("first").Bytes()}
	h.createCmdFails(taken, codeInvalidRequest, "the topic id is already in use")

	// Two topics of one command with the same id: the second fails alone.
	twice := createCmd(newTopic("n1", 1, 1), newTopic("n2", 1, 1))
	twice.GetCreateTopics().TopicIds = [][]byte{tid("n").Bytes(), tid("n").Bytes()}
	recs, res := h.run(twice)
	rs := res.GetCreateTopics().GetTopics()
	if res.GetErrorCode() != codeNone || len(rs) != 2 || rs[0].GetErrorCode() != codeNone {
		t.Fatalf("result %v", res)
	}
	checkError(t, "n2", rs[1].GetErrorCode(), rs[1].GetErrorMessage(), codeInvalidRequest, "the topic id is already in use")
	wantKinds(t, recs, "Topic", "Partition")
	if tp := h.topic("n1"); tp.ID != tid("n") {
		t.Errorf("n1 has id %v", tp.ID)
	}
}

func TestCreateTopicsInternal(t *testing.T) {
	h := fourBrokers(t)
	cmd := createCmd(newTopic(metadata.ConsumerOffsetsTopic, 5, 3))
	cmd.GetCreateTopics().AllowInternal = true
	h.ok(cmd)
	if len(h.topic(metadata.ConsumerOffsetsTopic).Partitions) != 5 {
		t.Error("internal topic not created")
	}
}

// The same command committed twice (a proposal retried after a timeout)
// answers the same both times and writes nothing the second time.
func TestCreateTopicsIdempotentRetry(t *testing.T) {
	h := fourBrokers(t)
	cmd := createCmd(newTopic("r", 2, 3, "retention.ms=100", "cleanup.policy=compact"), newTopic("bad/name", 1, 1), newTopic("s", -1, -1))
	recs, first := h.run(cmd)
	if len(recs) == 0 {
		t.Fatal("first run wrote nothing")
	}
	second := h.unchanged(cmd)
	if !proto.Equal(first, second) {
		t.Errorf("first result %v\nsecond result %v", first, second)
	}
	rs := second.GetCreateTopics().GetTopics()
	if rs[0].GetNumPartitions() != 2 || rs[0].GetReplicationFactor() != 3 || len(rs[0].GetConfigs()) != 2 || rs[2].GetNumPartitions() != 3 {
		t.Errorf("retried results %v", rs)
	}

	// The same name with another id is another topic: it already exists.
	other := createCmd(newTopic("r", 2, 3))
	other.GetCreateTopics().TopicIds = [][]byte{tid("r", 2).Bytes()}
	h.createCmdFails(other, codeTopicExists, "Topic 'r' already exists.")
}

// Placement spreads leaders and replicas evenly.
func TestCreateTopicsPlacementSpreads(t *testing.T) {
	h := fourBrokers(t)
	h.create(newTopic("spread", 8, 3))
	leaders := make(map[int32]int)
	replicas := make(map[int32]int)
	for _, p := range h.topic("spread").Partitions {
		leaders[p.Leader]++
		for _, r := range p.Replicas {
			replicas[r]++
		}
		if p.Leader != p.Replicas[0] {
			t.Errorf("partition %d: leader %d is not the preferred replica %v", p.ID, p.Leader, p.Replicas)
		}
	}
	for b := int32(1); b <= 4; b++ {
		if leaders[b] != 2 || replicas[b] != 6 {
			t.Errorf("broker %d leads %d and holds %d replicas; want 2 and 6", b, leaders[b], replicas[b])
		}
	}
	checkNewPartitions(t, h, "spread")
}

func TestDeleteTopics(t *testing.T) {
	h := fourBrokers(t)
	h.create(newTopic("a_b", 3, 2))
	h.create(newTopic("keep", 2, 2))
	internal := createCmd(newTopic(metadata.ConsumerOffsetsTopic, 1, 1))
	internal.GetCreateTopics().AllowInternal = true
	h.ok(internal)

	deleteFails := func(cmd *stratav1.MetadataCommand, code stratav1.ErrorCode, fragment string) {
		t.Helper()
		res := h.unchanged(cmd)
		for _, r := range res.GetDeleteTopics().GetTopics() {
			checkError(t, "delete "+r.GetName(), r.GetErrorCode(), r.GetErrorMessage(), code, fragment)
		}
	}
	deleteFails(deleteCmd("nope"), codeUnknownTopic, unknownTopicMsg)
	deleteFails(deleteCmd(metadata.ConsumerOffsetsTopic), codeInvalidRequest,
		"internal topic __consumer_offsets cannot be created or deleted by clients")
	// Row 35 for deletions: every copy fails, and nothing is deleted.
	deleteFails(deleteCmd("a_b", "a_b"), codeInvalidRequest, "Duplicate topic name.")

	recs, res := h.run(deleteCmd("a_b", "nope"))
	wantKinds(t, recs, "RemoveTopic")
	rs := res.GetDeleteTopics().GetTopics()
	if rs[0].GetErrorCode() != codeNone || !slices.Equal(rs[0].GetTopicId(), tid("a_b").Bytes()) || rs[1].GetErrorCode() != codeUnknownTopic {
		t.Errorf("results %v", rs)
	}
	if _, ok := h.img.Topic("a_b"); ok {
		t.Error("a_b still exists")
	}
	if _, ok := h.img.TopicByID(tid("a_b")); ok {
		t.Error("a_b still exists by id")
	}
	if h.img.PartitionCount() != 3 {
		t.Errorf("%d partitions left", h.img.PartitionCount())
	}
	// The name, and the names it collided with, are free again.
	h.create(newTopic("a.b", 1, 1))
	again := createCmd(newTopic("a_b", 1, 1))
	h.createCmdFails(again, codeInvalidTopic, "collides with existing topic: a.b")
}

func TestCreatePartitions(t *testing.T) {
	h := fourBrokers(t)
	h.create(newTopic("t", 3, 2))
	cpFails := func(cmd *stratav1.MetadataCommand, code stratav1.ErrorCode, fragment string) {
		t.Helper()
		res := h.unchanged(cmd)
		for _, r := range res.GetCreatePartitions().GetTopics() {
			checkError(t, "create partitions of "+r.GetName(), r.GetErrorCode(), r.GetErrorMessage(), code, fragment)
		}
	}
	count := func(name string, n int32, assignments ...[]int32) *stratav1.CreatePartitionsTopic {
		ct := &stratav1.CreatePartitionsTopic{Name: name, Count: n}
		for _, a := range assignments {
			ct.Assignments = append(ct.Assignments, &stratav1.ReplicaAssignment{BrokerIds: a})
		}
		return ct
	}
	cpFails(createPartitionsCmd(count("nope", 5)), codeUnknownTopic, unknownTopicMsg)
	cpFails(createPartitionsCmd(count("t", 2)), codeInvalidPartitions, "Topic currently has 3 partitions, which is higher than the requested 2.")
	cpFails(createPartitionsCmd(count("t", -1)), codeInvalidPartitions, "which is higher than the requested -1.")
	cpFails(createPartitionsCmd(count("t", 3)), codeInvalidPartitions, "Topic already has 3 partitions.")
	cpFails(createPartitionsCmd(count("t", 5), count("t", 6)), codeInvalidRequest, "Duplicate topic name.")
	cpFails(createPartitionsCmd(count("t", 1<<30)), codeInvalidPartitions, "one request may create")
	cpFails(createPartitionsCmd(count("t", 1<<31-1)), codeInvalidPartitions, "one request may create")
	cpFails(createPartitionsCmd(count("t", 5, []int32{1, 2})), codeInvalidAssignment,
		"Increasing the number of partitions by 2 but 1 assignments provided.")
	cpFails(createPartitionsCmd(count("t", 5, []int32{1, 2, 3}, []int32{2, 3, 4})), codeInvalidAssignment,
		"includes a partition with 3 replica(s), but this is not consistent with previous partitions, which have 2 replica(s).")
	cpFails(createPartitionsCmd(count("t", 5, []int32{1, 2}, []int32{2, 3, 4})), codeInvalidAssignment,
		"includes a partition with 3 replica(s), but this is not consistent with previous partitions, which have 2 replica(s).")
	cpFails(createPartitionsCmd(count("t", 4, []int32{1, 9})), codeInvalidAssignment, "includes broker 9, but no such broker is registered.")
	cpFails(createPartitionsCmd(count("t", 4, []int32{2, 2})), codeInvalidAssignment, "includes the broker 2 more than once.")
	cpFails(createPartitionsCmd(count("t", 4, []int32{})), codeInvalidAssignment, "empty replica list")
	misnumbered := count("t", 4)
	misnumbered.Assignments = []*stratav1.ReplicaAssignment{{PartitionId: 7, BrokerIds: []int32{1, 2}}}
	cpFails(createPartitionsCmd(misnumbered), codeInvalidAssignment, "assignment for partition 7 does not follow the existing 3 partitions in order")

	// Growth: the new partitions are placed like the first ones.
	recs := h.ok(createPartitionsCmd(count("t", 7)))
	wantKinds(t, recs, "Partition", "Partition", "Partition", "Partition")
	if n := len(h.topic("t").Partitions); n != 7 {
		t.Fatalf("%d partitions", n)
	}
	leaders := make(map[int32]int)
	for _, p := range h.topic("t").Partitions {
		if len(p.Replicas) != 2 {
			t.Errorf("partition %d replicas %v", p.ID, p.Replicas)
		}
		leaders[p.Leader]++
	}
	if len(leaders) != 4 {
		t.Errorf("leaders %v", leaders)
	}
	for b, n := range leaders {
		if n < 1 || n > 2 {
			t.Errorf("broker %d leads %d of 7 partitions over 4 brokers", b, n)
		}
	}
	checkNewPartitions(t, h, "t")

	// Explicit assignments, with partition ids given or not; a fenced
	// broker is assigned but not in the ISR.
	h.fence(4)
	explicit := count("t", 9)
	explicit.Assignments = []*stratav1.ReplicaAssignment{{PartitionId: 7, BrokerIds: []int32{4, 1}}, {BrokerIds: []int32{2, 3}}}
	h.ok(createPartitionsCmd(explicit))
	h.wantPartition("t", 7, 1, []int32{1}, 0, 0)
	h.wantPartition("t", 8, 2, []int32{2, 3}, 0, 0)
	if p := h.partition("t", 7); !slices.Equal(p.Replicas, []int32{4, 1}) {
		t.Errorf("replicas %v", p.Replicas)
	}
	checkNewPartitions(t, h, "t", 7)
	if h.img.PartitionCount() != 9 {
		t.Errorf("partition count %d", h.img.PartitionCount())
	}

	// Placement never uses the fenced broker.
	h.ok(createPartitionsCmd(count("t", 20)))
	for _, p := range h.topic("t").Partitions[9:] {
		if slices.Contains(p.Replicas, 4) {
			t.Errorf("partition %d on fenced broker 4: %v", p.ID, p.Replicas)
		}
	}
	// Not enough live brokers for the replication factor.
	h.fence(3)
	h.fence(2)
	cpFails(createPartitionsCmd(count("t", 21)), codeInvalidRF,
		"The target replication factor of 2 cannot be reached because only 1 broker(s) are registered.")
}

// A delete retried after it committed (the proposer saw the topic's id)
// succeeds without records, and never deletes a topic created since under
// the same name.
func TestDeleteTopicsRetryIsIdempotent(t *testing.T) {
	h := newHarness(t)
	h.addBrokers(1, 2, 3)
	first := h.create(newTopic("orders", 1, 1))
	del := &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_DeleteTopics{DeleteTopics: &stratav1.DeleteTopicsCommand{
		Names: []string{"orders"}, TopicIds: [][]byte{first.GetTopicId()},
	}}}
	if recs := h.ok(del); len(recs) != 1 {
		t.Fatalf("delete wrote %d records", len(recs))
	}
	res := h.unchanged(del)
	if r := res.GetDeleteTopics().GetTopics()[0]; r.GetErrorCode() != codeNone {
		t.Fatalf("retried delete: %v %s", r.GetErrorCode(), r.GetErrorMessage())
	}
	// A new topic under the old name, with a new id.
	again := createCmd(newTopic("orders", 1, 1))
	again.GetCreateTopics().TopicIds[0] = tid("orders", 2).Bytes()
	h.ok(again)
	res = h.unchanged(del)
	if r := res.GetDeleteTopics().GetTopics()[0]; r.GetErrorCode() != codeNone {
		t.Fatalf("stale delete: %v %s", r.GetErrorCode(), r.GetErrorMessage())
	}
	if h.topic("orders").ID != tid("orders", 2) {
		t.Fatal("the stale delete touched the new topic")
	}
}
