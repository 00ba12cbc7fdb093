package fsm

import (
	"slices"
	"testing"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
)

// alterOneResult runs an AlterPartition for one partition and returns its
// result.
func alterOneResult(t *testing.T, h *harness, cmd *stratav1.MetadataCommand) ([]*stratav1.MetadataRecord, *stratav1.AlterPartitionPartitionResult) {
	t.Helper()
	recs, res := h.run(cmd)
	if res.GetErrorCode() != codeNone {
		t.Fatalf("command: %v", res)
	}
	ts := res.GetAlterPartition().GetTopics()
	if len(ts) != 1 || len(ts[0].GetPartitions()) != 1 {
		t.Fatalf("result %v", res)
	}
	return recs, ts[0].GetPartitions()[0]
}

func wantState(t *testing.T, r *stratav1.AlterPartitionPartitionResult, leader, leaderEpoch, partitionEpoch int32, isr ...int32) {
	t.Helper()
	if r.GetLeader() != leader || r.GetLeaderEpoch() != leaderEpoch || r.GetPartitionEpoch() != partitionEpoch || !slices.Equal(r.GetIsr(), isr) {
		t.Errorf("result leader %d epochs %d/%d isr %v; want leader %d epochs %d/%d isr %v",
			r.GetLeader(), r.GetLeaderEpoch(), r.GetPartitionEpoch(), r.GetIsr(), leader, leaderEpoch, partitionEpoch, isr)
	}
}

func TestAlterPartitionShrinkAndExpand(t *testing.T) {
	h := fourBrokers(t)
	h.create(assignedTopic("t", []int32{1, 2, 3}))
	recs, r := alterOneResult(t, h, alterISRCmd(1, h.epoch(1), tid("t"), 0, 0, 0, 1, 2))
	if r.GetErrorCode() != codeNone || r.GetPartitionId() != 0 {
		t.Fatalf("shrink: %v", r)
	}
	wantKinds(t, recs, "PartitionChange")
	c := recs[0].GetPartitionChange()
	if c.Leader != nil || !slices.Equal(c.GetIsr().GetIds(), []int32{1, 2}) || !slices.Equal(c.GetTopicId(), tid("t").Bytes()) {
		t.Errorf("record %v", c)
	}
	wantState(t, r, 1, 0, 1, 1, 2)
	h.wantPartition("t", 0, 1, []int32{1, 2}, 0, 1)

	_, r = alterOneResult(t, h, alterISRCmd(1, h.epoch(1), tid("t"), 0, 0, 1, 1, 2, 3))
	if r.GetErrorCode() != codeNone {
		t.Fatalf("expand: %v", r)
	}
	wantState(t, r, 1, 0, 2, 1, 2, 3)
	h.wantPartition("t", 0, 1, []int32{1, 2, 3}, 0, 2)

	// The same ISR again: nothing to write, the answer is the current
	// state.
	res := h.unchanged(alterISRCmd(1, h.epoch(1), tid("t"), 0, 0, 2, 1, 2, 3))
	r = res.GetAlterPartition().GetTopics()[0].GetPartitions()[0]
	if r.GetErrorCode() != codeNone {
		t.Fatalf("same ISR: %v", r)
	}
	wantState(t, r, 1, 0, 2, 1, 2, 3)

	// The leader may drop to itself alone.
	_, r = alterOneResult(t, h, alterISRCmd(1, h.epoch(1), tid("t"), 0, 0, 2, 1))
	wantState(t, r, 1, 0, 3, 1)
}

// TestAlterPartitionErrors covers BAD_INPUTS row 42 and the other ways an
// AlterPartition can be wrong. Every failure leaves the partition as it
// was and answers with its current state.
func TestAlterPartitionErrors(t *testing.T) {
	// Setup: t-0 on [1, 2, 3]; broker 1 lost the leadership to 2 (leader
	// epoch 1) and got it back (leader epoch 2); the ISR is [1, 2] and
	// broker 3 is fenced. Partition epoch 4.
	setup := func(t *testing.T) *harness {
		h := fourBrokers(t)
		h.create(assignedTopic("t", []int32{1, 2, 3}, []int32{4, 2, 1}))
		h.fence(1)
		h.unfence(1)
		h.ok(alterISRCmd(2, h.epoch(2), tid("t"), 0, 1, 1, 2, 3, 1))
		h.ok(electCmd(preferred, "t", 0))
		h.fence(3)
		h.wantPartition("t", 0, 1, []int32{2, 1}, 2, 4)
		return h
	}
	tests := []struct {
		name     string
		cmd      func(h *harness) *stratav1.MetadataCommand
		code     stratav1.ErrorCode
		fragment string
	}{
		{"stale partition epoch", func(h *harness) *stratav1.MetadataCommand {
			return alterISRCmd(1, h.epoch(1), tid("t"), 0, 2, 3, 1)
		}, codeInvalidUpdate, "the partition epoch is not the current one"},
		{"future partition epoch", func(h *harness) *stratav1.MetadataCommand {
			return alterISRCmd(1, h.epoch(1), tid("t"), 0, 2, 5, 1)
		}, codeInvalidUpdate, "the partition epoch is not the current one"},
		{"stale leader epoch", func(h *harness) *stratav1.MetadataCommand {
			return alterISRCmd(1, h.epoch(1), tid("t"), 0, 0, 4, 1)
		}, codeFencedLeaderEpoch, "the leader epoch is older than the current one"},
		{"stale leader epoch from the deposed leader", func(h *harness) *stratav1.MetadataCommand {
			// Broker 2 led at epoch 1 and has not learnt it lost t-0.
			return alterISRCmd(2, h.epoch(2), tid("t"), 0, 1, 2, 2)
		}, codeFencedLeaderEpoch, "the leader epoch is older than the current one"},
		{"future leader epoch", func(h *harness) *stratav1.MetadataCommand {
			return alterISRCmd(1, h.epoch(1), tid("t"), 0, 3, 4, 1)
		}, codeUnknownLeaderEpoch, "the leader epoch is newer than the current one"},
		{"fenced replica added", func(h *harness) *stratav1.MetadataCommand {
			return alterISRCmd(1, h.epoch(1), tid("t"), 0, 2, 4, 1, 2, 3)
		}, codeIneligibleReplica, "the new ISR adds a replica that is fenced or shutting down"},
		{"not the leader", func(h *harness) *stratav1.MetadataCommand {
			return alterISRCmd(2, h.epoch(2), tid("t"), 0, 2, 4, 2, 1)
		}, codeNotLeader, "broker is not the leader of the partition"},
		{"not a replica", func(h *harness) *stratav1.MetadataCommand {
			return alterISRCmd(1, h.epoch(1), tid("t"), 0, 2, 4, 1, 4)
		}, codeInvalidRequest, "the new ISR contains a broker that is not a replica"},
		{"unknown broker in the ISR", func(h *harness) *stratav1.MetadataCommand {
			return alterISRCmd(1, h.epoch(1), tid("t"), 0, 2, 4, 1, 99)
		}, codeInvalidRequest, "the new ISR contains a broker that is not a replica"},
		{"broker twice", func(h *harness) *stratav1.MetadataCommand {
			return alterISRCmd(1, h.epoch(1), tid("t"), 0, 2, 4, 1, 2, 1)
		}, codeInvalidRequest, "the new ISR contains a broker twice"},
		{"ISR without the leader", func(h *harness) *stratav1.MetadataCommand {
			return alterISRCmd(1, h.epoch(1), tid("t"), 0, 2, 4, 2)
		}, codeInvalidRequest, "the new ISR must contain the leader"},
		{"empty ISR", func(h *harness) *stratav1.MetadataCommand {
			return alterISRCmd(1, h.epoch(1), tid("t"), 0, 2, 4)
		}, codeInvalidRequest, "the new ISR must contain the leader"},
		{"unknown topic id", func(h *harness) *stratav1.MetadataCommand {
			return alterISRCmd(1, h.epoch(1), tid("nope"), 0, 2, 4, 1)
		}, codeUnknownTopicID, "unknown topic id"},
		{"zero topic id", func(h *harness) *stratav1.MetadataCommand {
			return alterISRCmd(1, h.epoch(1), metadata.ZeroTopicID, 0, 2, 4, 1)
		}, codeUnknownTopicID, "unknown topic id"},
		{"malformed topic id", func(h *harness) *stratav1.MetadataCommand {
			cmd := alterISRCmd(1, h.epoch(1), tid("t"), 0, 2, 4, 1)
			cmd.GetAlterPartition().GetRequest().GetTopics()[0].TopicId = []byte{1, 2, 3}
			return cmd
		}, codeUnknownTopicID, "unknown topic id"},
		{"unknown partition", func(h *harness) *stratav1.MetadataCommand {
			return alterISRCmd(1, h.epoch(1), tid("t"), 9, 2, 4, 1)
		}, codeUnknownTopic, unknownTopicMsg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t)
			res := h.unchanged(tt.cmd(h))
			if res.GetErrorCode() != codeNone {
				t.Fatalf("command failed as a whole: %v", res)
			}
			r := res.GetAlterPartition().GetTopics()[0].GetPartitions()[0]
			checkError(t, "partition", r.GetErrorCode(), r.GetErrorMessage(), tt.code, tt.fragment)
			if p, ok := h.topic("t").Partition(r.GetPartitionId()); ok && tt.code != codeUnknownTopicID {
				// The answer carries the current state so the leader can
				// catch up.
				wantState(t, r, p.Leader, p.LeaderEpoch, p.PartitionEpoch, p.ISR...)
			}
		})
	}

	t.Run("stale broker epoch", func(t *testing.T) {
		h := setup(t)
		h.fails(alterISRCmd(1, h.epoch(1)-1, tid("t"), 0, 2, 4, 1), codeStaleBrokerEpoch, "is not the current broker epoch")
		h.fails(alterISRCmd(7, 1, tid("t"), 0, 2, 4, 1), codeStaleBrokerEpoch, "broker 7 is not registered")
	})

	t.Run("offline partition", func(t *testing.T) {
		h := setup(t)
		h.fence(2)
		h.fence(1)
		h.wantPartition("t", 0, -1, []int32{1}, 3, 6)
		h.unfence(2)
		// Broker 2 has the current epochs but leads nothing.
		res := h.unchanged(alterISRCmd(2, h.epoch(2), tid("t"), 0, 3, 6, 2))
		r := res.GetAlterPartition().GetTopics()[0].GetPartitions()[0]
		checkError(t, "partition", r.GetErrorCode(), r.GetErrorMessage(), codeNotLeader, "not the leader")
	})
}

// Partitions of one request succeed or fail alone.
func TestAlterPartitionSeveral(t *testing.T) {
	h := fourBrokers(t)
	h.create(assignedTopic("a", []int32{1, 2, 3}, []int32{1, 3, 4}, []int32{2, 1, 3}))
	h.create(assignedTopic("b", []int32{1, 4}))
	cmd := &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_AlterPartition{AlterPartition: &stratav1.AlterPartitionCommand{
		Request: &stratav1.AlterPartitionRequest{BrokerId: 1, BrokerEpoch: h.epoch(1), Topics: []*stratav1.AlterPartitionTopic{
			{TopicId: tid("a").Bytes(), Partitions: []*stratav1.AlterPartitionPartition{
				{PartitionId: 0, NewIsr: []int32{1, 2}},
				{PartitionId: 1, PartitionEpoch: 7, NewIsr: []int32{1}},
				{PartitionId: 2, NewIsr: []int32{1}},
			}},
			{TopicId: tid("nope").Bytes(), Partitions: []*stratav1.AlterPartitionPartition{{PartitionId: 0, NewIsr: []int32{1}}}},
			{TopicId: tid("b").Bytes(), Partitions: []*stratav1.AlterPartitionPartition{{PartitionId: 0, NewIsr: []int32{1}}}},
		}},
	}}}
	recs, res := h.run(cmd)
	wantKinds(t, recs, "PartitionChange", "PartitionChange")
	var codes []stratav1.ErrorCode
	for _, tr := range res.GetAlterPartition().GetTopics() {
		for _, pr := range tr.GetPartitions() {
			codes = append(codes, pr.GetErrorCode())
		}
	}
	want := []stratav1.ErrorCode{codeNone, codeInvalidUpdate, codeNotLeader, codeUnknownTopicID, codeNone}
	if !slices.Equal(codes, want) {
		t.Errorf("codes %v, want %v", codes, want)
	}
	if got := res.GetAlterPartition().GetTopics()[1].GetTopicId(); !slices.Equal(got, tid("nope").Bytes()) {
		t.Errorf("topic id echoed as %v", got)
	}
	h.wantPartition("a", 0, 1, []int32{1, 2}, 0, 1)
	h.wantPartition("a", 1, 1, []int32{1, 3, 4}, 0, 0)
	h.wantPartition("a", 2, 2, []int32{2, 1, 3}, 0, 0)
	h.wantPartition("b", 0, 1, []int32{1}, 0, 1)
}
