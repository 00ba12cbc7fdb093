package fsm

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
)

// Error codes, shortened for tables.
const (
	codeNone               = stratav1.ErrorCode_ERROR_CODE_NONE
	codeInvalidRequest     = stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST
	codeInvalidTopic       = stratav1.ErrorCode_ERROR_CODE_INVALID_TOPIC_EXCEPTION
	codeTopicExists        = stratav1.ErrorCode_ERROR_CODE_TOPIC_ALREADY_EXISTS
	codeInvalidPartitions  = stratav1.ErrorCode_ERROR_CODE_INVALID_PARTITIONS
	codeInvalidRF          = stratav1.ErrorCode_ERROR_CODE_INVALID_REPLICATION_FACTOR
	codeInvalidAssignment  = stratav1.ErrorCode_ERROR_CODE_INVALID_REPLICA_ASSIGNMENT
	codeInvalidConfig      = stratav1.ErrorCode_ERROR_CODE_INVALID_CONFIG
	codeUnknownTopic       = stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION
	codeUnknownTopicID     = stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_ID
	codeStaleBrokerEpoch   = stratav1.ErrorCode_ERROR_CODE_STALE_BROKER_EPOCH
	codeDuplicateBroker    = stratav1.ErrorCode_ERROR_CODE_DUPLICATE_BROKER_REGISTRATION
	codeBrokerNotAvailable = stratav1.ErrorCode_ERROR_CODE_BROKER_NOT_AVAILABLE
	codeFencedLeaderEpoch  = stratav1.ErrorCode_ERROR_CODE_FENCED_LEADER_EPOCH
	codeUnknownLeaderEpoch = stratav1.ErrorCode_ERROR_CODE_UNKNOWN_LEADER_EPOCH
	codeInvalidUpdate      = stratav1.ErrorCode_ERROR_CODE_INVALID_UPDATE_VERSION
	codeIneligibleReplica  = stratav1.ErrorCode_ERROR_CODE_INELIGIBLE_REPLICA
	codeNotLeader          = stratav1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER
	codeElectionNotNeeded  = stratav1.ErrorCode_ERROR_CODE_ELECTION_NOT_NEEDED
	codePreferredNotAvail  = stratav1.ErrorCode_ERROR_CODE_PREFERRED_LEADER_NOT_AVAILABLE
	codeEligibleNotAvail   = stratav1.ErrorCode_ERROR_CODE_ELIGIBLE_LEADERS_NOT_AVAILABLE
	codeInternal           = stratav1.ErrorCode_ERROR_CODE_UNKNOWN_SERVER_ERROR
)

const unknownTopicMsg = "This server does not host this topic-partition."

// harness runs commands through Execute on an image it keeps, and checks
// what every command must keep: Plan agrees with Execute, records get
// consecutive offsets, the new image passes Check, and the old image is
// never modified.
type harness struct {
	t   testing.TB
	img *metadata.Image
}

func newHarness(t testing.TB) *harness {
	return &harness{t: t, img: metadata.Empty()}
}

func snapshotBytes(t testing.TB, img *metadata.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := img.WriteSnapshot(&buf); err != nil {
		t.Fatalf("WriteSnapshot: %v", err)
	}
	return buf.Bytes()
}

// run executes cmd on the harness image and moves the harness to the
// image after it.
func (h *harness) run(cmd *stratav1.MetadataCommand) ([]*stratav1.MetadataRecord, *stratav1.CommandResult) {
	h.t.Helper()
	before := h.img
	beforeSnap := snapshotBytes(h.t, before)

	planRecs, planRes := Plan(before, cmd)
	img, recs, res := Execute(before, cmd)

	if res.GetErrorCode() == codeInternal {
		h.t.Fatalf("command %v: internal error: %s", cmd, res.GetErrorMessage())
	}
	if !proto.Equal(planRes, res) {
		h.t.Errorf("Plan result %v, Execute result %v", planRes, res)
	}
	if len(planRecs) != len(recs) {
		h.t.Errorf("Plan gave %d records, Execute %d", len(planRecs), len(recs))
	} else {
		for i := range recs {
			c := proto.CloneOf(recs[i])
			c.Offset = 0
			if !proto.Equal(c, planRecs[i]) {
				h.t.Errorf("record %d: Plan %v, Execute %v", i, planRecs[i], recs[i])
			}
		}
	}
	for i, r := range recs {
		if want := before.Offset() + int64(i) + 1; r.GetOffset() != want {
			h.t.Errorf("record %d has offset %d, want %d", i, r.GetOffset(), want)
		}
	}
	if want := before.Offset() + int64(len(recs)); img.Offset() != want {
		h.t.Errorf("image offset %d after %d records on %d", img.Offset(), len(recs), before.Offset())
	}
	if err := img.Check(); err != nil {
		h.t.Fatalf("image after %v: %v", cmd, err)
	}
	if !bytes.Equal(snapshotBytes(h.t, before), beforeSnap) {
		h.t.Fatalf("Execute modified the image it was given")
	}
	if res.GetErrorCode() != codeNone && (img != before || len(recs) != 0) {
		h.t.Errorf("failed command returned %d records and a new image", len(recs))
	}
	h.img = img
	return recs, res
}

// ok runs a command that must succeed as a whole.
func (h *harness) ok(cmd *stratav1.MetadataCommand) []*stratav1.MetadataRecord {
	h.t.Helper()
	recs, res := h.run(cmd)
	if res.GetErrorCode() != codeNone {
		h.t.Fatalf("command %v: %v %s", cmd, res.GetErrorCode(), res.GetErrorMessage())
	}
	return recs
}

// unchanged runs cmd and asserts it wrote nothing and left the image as it
// was, byte for byte; it returns the result for the caller to inspect.
func (h *harness) unchanged(cmd *stratav1.MetadataCommand) *stratav1.CommandResult {
	h.t.Helper()
	before := h.img
	snap := snapshotBytes(h.t, before)
	recs, res := h.run(cmd)
	if len(recs) != 0 {
		h.t.Errorf("command %v wrote %d records: %v", cmd, len(recs), recs)
	}
	if h.img.Offset() != before.Offset() {
		h.t.Errorf("offset moved from %d to %d", before.Offset(), h.img.Offset())
	}
	if !bytes.Equal(snapshotBytes(h.t, h.img), snap) {
		h.t.Errorf("image changed")
	}
	return res
}

// fails runs a command that must fail as a whole with code and a message
// containing fragment, and change nothing.
func (h *harness) fails(cmd *stratav1.MetadataCommand, code stratav1.ErrorCode, fragment string) {
	h.t.Helper()
	res := h.unchanged(cmd)
	checkError(h.t, "command", res.GetErrorCode(), res.GetErrorMessage(), code, fragment)
}

func checkError(t testing.TB, what string, gotCode stratav1.ErrorCode, gotMsg string, code stratav1.ErrorCode, fragment string) {
	t.Helper()
	if gotCode != code {
		t.Errorf("%s: error code %v (%q), want %v", what, gotCode, gotMsg, code)
		return
	}
	if !strings.Contains(gotMsg, fragment) {
		t.Errorf("%s: message %q does not contain %q", what, gotMsg, fragment)
	}
}

// Commands.

func registerCmd(id int32, incarnation string) *stratav1.MetadataCommand {
	return &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_RegisterBroker{RegisterBroker: &stratav1.RegisterBrokerCommand{
		BrokerId: id, IncarnationId: incarnation, Address: fmt.Sprintf("broker-%d:9092", id), ClusterId: "cluster",
	}}}
}

func unfenceCmd(id int32, epoch int64) *stratav1.MetadataCommand {
	return &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_UnfenceBroker{UnfenceBroker: &stratav1.UnfenceBrokerCommand{BrokerId: id, BrokerEpoch: epoch}}}
}

func fenceCmd(id int32, epoch int64) *stratav1.MetadataCommand {
	return &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_FenceBroker{FenceBroker: &stratav1.FenceBrokerCommand{BrokerId: id, BrokerEpoch: epoch}}}
}

func shutdownCmd(id int32, epoch int64) *stratav1.MetadataCommand {
	return &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_ControlledShutdown{ControlledShutdown: &stratav1.ControlledShutdownCommand{BrokerId: id, BrokerEpoch: epoch}}}
}

func unregisterCmd(id int32) *stratav1.MetadataCommand {
	return &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_UnregisterBroker{UnregisterBroker: &stratav1.UnregisterBrokerCommand{BrokerId: id}}}
}

// tid is a fixed topic id for a name; generation tells apart the ids of a
// name created again.
func tid(name string, generation ...int) metadata.TopicID {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%v", name, generation))
	var id metadata.TopicID
	copy(id[:], sum[:])
	return id
}

func newTopic(name string, partitions, rf int32, configs ...string) *stratav1.CreatableTopic {
	t := &stratav1.CreatableTopic{Name: name, NumPartitions: partitions, ReplicationFactor: rf}
	for _, kv := range configs {
		k, v, _ := strings.Cut(kv, "=")
		t.Configs = append(t.Configs, &stratav1.ConfigEntry{Name: k, Value: v})
	}
	return t
}

// assignedTopic is a topic with explicit replicas for partitions 0, 1, ...
func assignedTopic(name string, replicas ...[]int32) *stratav1.CreatableTopic {
	t := &stratav1.CreatableTopic{Name: name, NumPartitions: -1, ReplicationFactor: -1}
	for i, r := range replicas {
		t.Assignments = append(t.Assignments, &stratav1.ReplicaAssignment{PartitionId: int32(i), BrokerIds: r})
	}
	return t
}

// createCmd creates topics with ids from tid; the defaults are 3
// partitions and replication factor 2.
func createCmd(topics ...*stratav1.CreatableTopic) *stratav1.MetadataCommand {
	c := &stratav1.CreateTopicsCommand{Topics: topics, DefaultPartitions: 3, DefaultReplicationFactor: 2}
	for _, t := range topics {
		c.TopicIds = append(c.TopicIds, tid(t.GetName()).Bytes())
	}
	return &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_CreateTopics{CreateTopics: c}}
}

func deleteCmd(names ...string) *stratav1.MetadataCommand {
	return &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_DeleteTopics{DeleteTopics: &stratav1.DeleteTopicsCommand{Names: names}}}
}

func createPartitionsCmd(topics ...*stratav1.CreatePartitionsTopic) *stratav1.MetadataCommand {
	return &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_CreatePartitions{CreatePartitions: &stratav1.CreatePartitionsCommand{Topics: topics}}}
}

func alterConfigsCmd(resources ...*stratav1.AlterConfigsResource) *stratav1.MetadataCommand {
	return &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_AlterConfigs{AlterConfigs: &stratav1.AlterConfigsCommand{Resources: resources}}}
}

func topicResource(name string, ops ...*stratav1.AlterConfigOp) *stratav1.AlterConfigsResource {
	return &stratav1.AlterConfigsResource{
		Resource: &stratav1.ConfigResource{Type: stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_TOPIC, Name: name}, Ops: ops,
	}
}

func brokerResource(name string, ops ...*stratav1.AlterConfigOp) *stratav1.AlterConfigsResource {
	return &stratav1.AlterConfigsResource{
		Resource: &stratav1.ConfigResource{Type: stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_BROKER, Name: name}, Ops: ops,
	}
}

func set(name, value string) *stratav1.AlterConfigOp {
	return &stratav1.AlterConfigOp{Name: name, Op: stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_SET, Value: value}
}

func del(name string) *stratav1.AlterConfigOp {
	return &stratav1.AlterConfigOp{Name: name, Op: stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_DELETE}
}

func appendOp(name, value string) *stratav1.AlterConfigOp {
	return &stratav1.AlterConfigOp{Name: name, Op: stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_APPEND, Value: value}
}

func subtractOp(name, value string) *stratav1.AlterConfigOp {
	return &stratav1.AlterConfigOp{Name: name, Op: stratav1.AlterConfigOpType_ALTER_CONFIG_OP_TYPE_SUBTRACT, Value: value}
}

func electCmd(typ stratav1.ElectionType, topic string, partitions ...int32) *stratav1.MetadataCommand {
	c := &stratav1.ElectLeadersCommand{ElectionType: typ}
	if topic != "" {
		c.Partitions = []*stratav1.TopicPartitions{{Topic: topic, Partitions: partitions}}
	}
	return &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_ElectLeaders{ElectLeaders: c}}
}

// alterISRCmd is broker's AlterPartition for one partition.
func alterISRCmd(broker int32, brokerEpoch int64, topic metadata.TopicID, partition, leaderEpoch, partitionEpoch int32, isr ...int32) *stratav1.MetadataCommand {
	return &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_AlterPartition{AlterPartition: &stratav1.AlterPartitionCommand{
		Request: &stratav1.AlterPartitionRequest{BrokerId: broker, BrokerEpoch: brokerEpoch, Topics: []*stratav1.AlterPartitionTopic{{
			TopicId: topic.Bytes(), Partitions: []*stratav1.AlterPartitionPartition{{
				PartitionId: partition, LeaderEpoch: leaderEpoch, PartitionEpoch: partitionEpoch, NewIsr: isr,
			}},
		}}},
	}}}
}

// Helpers on the harness.

func (h *harness) broker(id int32) *metadata.Broker {
	h.t.Helper()
	b, ok := h.img.Broker(id)
	if !ok {
		h.t.Fatalf("broker %d is not registered", id)
	}
	return b
}

func (h *harness) epoch(id int32) int64 { h.t.Helper(); return h.broker(id).Epoch }

// addBrokers registers and unfences brokers.
func (h *harness) addBrokers(ids ...int32) {
	h.t.Helper()
	for _, id := range ids {
		_, res := h.run(registerCmd(id, fmt.Sprintf("inc-%d", id)))
		if res.GetErrorCode() != codeNone {
			h.t.Fatalf("register %d: %v", id, res)
		}
		h.ok(unfenceCmd(id, res.GetBrokerEpoch()))
	}
}

func (h *harness) fence(id int32)    { h.t.Helper(); h.ok(fenceCmd(id, h.epoch(id))) }
func (h *harness) unfence(id int32)  { h.t.Helper(); h.ok(unfenceCmd(id, h.epoch(id))) }
func (h *harness) shutdown(id int32) { h.t.Helper(); h.ok(shutdownCmd(id, h.epoch(id))) }

// create creates one topic that must succeed and returns its result.
func (h *harness) create(t *stratav1.CreatableTopic) *stratav1.CreatableTopicResult {
	h.t.Helper()
	_, res := h.run(createCmd(t))
	rs := res.GetCreateTopics().GetTopics()
	if res.GetErrorCode() != codeNone || len(rs) != 1 || rs[0].GetErrorCode() != codeNone {
		h.t.Fatalf("create %s: %v", t.GetName(), res)
	}
	return rs[0]
}

// createFails creates one topic that must fail with code and fragment, and
// change nothing.
func (h *harness) createFails(t *stratav1.CreatableTopic, code stratav1.ErrorCode, fragment string) {
	h.t.Helper()
	h.createCmdFails(createCmd(t), code, fragment)
}

func (h *harness) createCmdFails(cmd *stratav1.MetadataCommand, code stratav1.ErrorCode, fragment string) {
	h.t.Helper()
	res := h.unchanged(cmd)
	if res.GetErrorCode() != codeNone {
		h.t.Fatalf("command failed as a whole: %v", res)
	}
	for _, r := range res.GetCreateTopics().GetTopics() {
		checkError(h.t, "topic "+r.GetName(), r.GetErrorCode(), r.GetErrorMessage(), code, fragment)
		if len(r.GetTopicId()) != 0 || r.GetNumPartitions() != 0 {
			h.t.Errorf("failed topic %s has a result: %v", r.GetName(), r)
		}
	}
}

func (h *harness) topic(name string) *metadata.Topic {
	h.t.Helper()
	t, ok := h.img.Topic(name)
	if !ok {
		h.t.Fatalf("topic %q does not exist", name)
	}
	return t
}

func (h *harness) partition(name string, id int32) *metadata.Partition {
	h.t.Helper()
	p, ok := h.topic(name).Partition(id)
	if !ok {
		h.t.Fatalf("%s-%d does not exist", name, id)
	}
	return p
}

// wantPartition checks a partition's leader, ISR and epochs.
func (h *harness) wantPartition(name string, id int32, leader int32, isr []int32, leaderEpoch, partitionEpoch int32) {
	h.t.Helper()
	p := h.partition(name, id)
	if p.Leader != leader || !slices.Equal(p.ISR, isr) || p.LeaderEpoch != leaderEpoch || p.PartitionEpoch != partitionEpoch {
		h.t.Errorf("%s-%d: leader %d isr %v leader epoch %d partition epoch %d; want leader %d isr %v epochs %d, %d",
			name, id, p.Leader, p.ISR, p.LeaderEpoch, p.PartitionEpoch, leader, isr, leaderEpoch, partitionEpoch)
	}
}

// recordKinds names the records, for compact assertions.
func recordKinds(recs []*stratav1.MetadataRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		switch x := r.GetRecord().(type) {
		case *stratav1.MetadataRecord_RegisterBroker:
			out[i] = "RegisterBroker"
		case *stratav1.MetadataRecord_UnregisterBroker:
			out[i] = "UnregisterBroker"
		case *stratav1.MetadataRecord_FenceBroker:
			out[i] = "FenceBroker"
		case *stratav1.MetadataRecord_UnfenceBroker:
			out[i] = "UnfenceBroker"
		case *stratav1.MetadataRecord_BrokerRegistrationChange:
			out[i] = "BrokerRegistrationChange"
		case *stratav1.MetadataRecord_Topic:
			out[i] = "Topic"
		case *stratav1.MetadataRecord_Partition:
			out[i] = "Partition"
		case *stratav1.MetadataRecord_PartitionChange:
			out[i] = "PartitionChange"
		case *stratav1.MetadataRecord_RemoveTopic:
			out[i] = "RemoveTopic"
		case *stratav1.MetadataRecord_Config:
			out[i] = "Config"
		case *stratav1.MetadataRecord_ControllerRegistration:
			out[i] = "ControllerRegistration"
		case *stratav1.MetadataRecord_ProducerIds:
			out[i] = "ProducerIds"
		case *stratav1.MetadataRecord_NoOp:
			out[i] = "NoOp"
		default:
			out[i] = fmt.Sprintf("%T", x)
		}
	}
	return out
}

func wantKinds(t testing.TB, recs []*stratav1.MetadataRecord, want ...string) {
	t.Helper()
	if got := recordKinds(recs); !slices.Equal(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
}
