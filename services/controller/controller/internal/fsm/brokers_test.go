package fsm

import (
	"fmt"
	"slices"
	"testing"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
)

func TestRegisterBroker(t *testing.T) {
	h := newHarness(t)
	cmd := registerCmd(1, "inc-a")
	cmd.GetRegisterBroker().Rack = "rack-1"
	recs, res := h.run(cmd)
	if res.GetErrorCode() != codeNone {
		t.Fatalf("register: %v", res)
	}
	wantKinds(t, recs, "RegisterBroker")
	if res.GetBrokerEpoch() != 1 || recs[0].GetOffset() != 1 {
		t.Errorf("epoch %d, record offset %d; want 1, 1", res.GetBrokerEpoch(), recs[0].GetOffset())
	}
	r := recs[0].GetRegisterBroker()
	if r.GetBrokerEpoch() != 1 || !r.GetFenced() || r.GetIncarnationId() != "inc-a" || r.GetAddress() != "broker-1:9092" || r.GetRack() != "rack-1" {
		t.Errorf("record %v", r)
	}
	b := h.broker(1)
	if b.Epoch != 1 || !b.Fenced || b.InControlledShutdown || b.IncarnationID != "inc-a" || b.Rack != "rack-1" {
		t.Errorf("broker %+v", b)
	}

	// The epoch is the offset of the registration record, wherever it
	// falls.
	h.ok(&stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_NoOp{NoOp: &stratav1.NoOpCommand{}}})
	recs, res = h.run(registerCmd(2, "inc-b"))
	if res.GetBrokerEpoch() != 3 || recs[0].GetOffset() != 3 || h.epoch(2) != 3 {
		t.Errorf("second broker: epoch %d, record offset %d, image epoch %d; want 3", res.GetBrokerEpoch(), recs[0].GetOffset(), h.epoch(2))
	}

	h.fails(registerCmd(-1, "x"), codeInvalidRequest, "broker id -1 is negative")
}

// A broker that registers again while it leads partitions hands them over
// first; its epoch is still the offset of its own record.
func TestRegisterBrokerAgainMovesLeadership(t *testing.T) {
	h := newHarness(t)
	h.addBrokers(1, 2, 3)
	h.create(assignedTopic("t", []int32{1, 2}, []int32{2, 1}))
	h.create(assignedTopic("solo", []int32{1}))
	cmd := registerCmd(1, "inc-new")
	cmd.GetRegisterBroker().PreviousSessionExpired = true
	recs, res := h.run(cmd)
	if res.GetErrorCode() != codeNone {
		t.Fatalf("register: %v", res)
	}
	wantKinds(t, recs, "PartitionChange", "PartitionChange", "PartitionChange", "RegisterBroker")
	last := recs[len(recs)-1]
	if res.GetBrokerEpoch() != last.GetOffset() || h.epoch(1) != last.GetOffset() {
		t.Errorf("epoch %d, image epoch %d, record offset %d", res.GetBrokerEpoch(), h.epoch(1), last.GetOffset())
	}
	if b := h.broker(1); !b.Fenced || b.IncarnationID != "inc-new" {
		t.Errorf("broker %+v", b)
	}
	h.wantPartition("t", 0, 2, []int32{2}, 1, 1)
	h.wantPartition("t", 1, 2, []int32{2}, 0, 1)
	// Broker 1 was the only replica: its ISR stays, the partition is
	// offline until broker 1 is unfenced.
	h.wantPartition("solo", 0, -1, []int32{1}, 1, 1)
	h.unfence(1)
	h.wantPartition("solo", 0, 1, []int32{1}, 2, 2)
}

func TestRegisterBrokerAgain(t *testing.T) {
	tests := []struct {
		name        string
		setup       func(h *harness)
		incarnation string
		expired     bool
		code        stratav1.ErrorCode
		fragment    string
	}{
		{name: "live, other incarnation", incarnation: "other", code: codeDuplicateBroker,
			fragment: "broker 1 is registered by another live incarnation (inc-1)"},
		{name: "live, other incarnation, session expired", incarnation: "other", expired: true},
		{name: "live, same incarnation", incarnation: "inc-1"},
		{name: "fenced, other incarnation", setup: func(h *harness) { h.fence(1) }, incarnation: "other"},
		{name: "registered, never unfenced", setup: func(h *harness) {
			h.ok(registerCmd(1, "inc-1"))
		}, incarnation: "other"},
		{name: "in controlled shutdown, other incarnation", setup: func(h *harness) { h.shutdown(1) }, incarnation: "other",
			code: codeDuplicateBroker, fragment: "another live incarnation"},
		{name: "in controlled shutdown, session expired", setup: func(h *harness) { h.shutdown(1) }, incarnation: "other", expired: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.addBrokers(1, 2)
			if tt.setup != nil {
				tt.setup(h)
			}
			cmd := registerCmd(1, tt.incarnation)
			cmd.GetRegisterBroker().PreviousSessionExpired = tt.expired
			if tt.code != codeNone {
				h.fails(cmd, tt.code, tt.fragment)
				return
			}
			old := h.epoch(1)
			recs, res := h.run(cmd)
			if res.GetErrorCode() != codeNone {
				t.Fatalf("register: %v", res)
			}
			wantKinds(t, recs, "RegisterBroker")
			b := h.broker(1)
			if b.Epoch <= old || b.Epoch != res.GetBrokerEpoch() || b.Epoch != h.img.Offset() || !b.Fenced ||
				b.InControlledShutdown || b.IncarnationID != tt.incarnation {
				t.Errorf("broker after registration %+v (old epoch %d, result %v)", b, old, res)
			}
			// The old epoch is stale now.
			h.fails(unfenceCmd(1, old), codeStaleBrokerEpoch, fmt.Sprintf("broker 1: epoch %d is not the current broker epoch %d", old, b.Epoch))
			h.unfence(1)
		})
	}
}

func TestStaleBrokerEpoch(t *testing.T) {
	commands := []struct {
		name string
		cmd  func(id int32, epoch int64) *stratav1.MetadataCommand
	}{
		{"unfence", unfenceCmd},
		{"fence", fenceCmd},
		{"controlled shutdown", shutdownCmd},
		{"allocate producer ids", allocateCmd},
		{"alter partition", func(id int32, epoch int64) *stratav1.MetadataCommand {
			return alterISRCmd(id, epoch, tid("t"), 0, 0, 0, id)
		}},
	}
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.addBrokers(1, 2)
			old := h.epoch(1)
			h.ok(registerCmd(1, "inc-1")) // a new epoch
			h.unfence(1)
			h.create(assignedTopic("t", []int32{1, 2}))
			cur := h.epoch(1)
			h.fails(c.cmd(1, old), codeStaleBrokerEpoch, fmt.Sprintf("broker 1: epoch %d is not the current broker epoch %d", old, cur))
			h.fails(c.cmd(1, cur+1), codeStaleBrokerEpoch, fmt.Sprintf("epoch %d is not the current broker epoch %d", cur+1, cur))
			h.fails(c.cmd(9, 1), codeStaleBrokerEpoch, "broker 9 is not registered")
		})
	}
}

func TestFenceAndUnfenceAreIdempotent(t *testing.T) {
	h := newHarness(t)
	_, res := h.run(registerCmd(1, "a"))
	e := res.GetBrokerEpoch()
	// Registered brokers start fenced: fencing again writes nothing.
	if res := h.unchanged(fenceCmd(1, e)); res.GetErrorCode() != codeNone {
		t.Fatalf("fence a fenced broker: %v", res)
	}
	wantKinds(t, h.ok(unfenceCmd(1, e)), "UnfenceBroker")
	if h.broker(1).Fenced {
		t.Fatal("still fenced")
	}
	if res := h.unchanged(unfenceCmd(1, e)); res.GetErrorCode() != codeNone {
		t.Fatalf("unfence an unfenced broker: %v", res)
	}
	wantKinds(t, h.ok(fenceCmd(1, e)), "FenceBroker")
	if !h.broker(1).Fenced || h.epoch(1) != e {
		t.Fatalf("broker %+v", h.broker(1))
	}
}

func TestControlledShutdown(t *testing.T) {
	h := newHarness(t)
	h.addBrokers(1, 2, 3)
	h.create(assignedTopic("t", []int32{1, 2, 3}, []int32{2, 1, 3}))
	h.create(assignedTopic("solo", []int32{1}))
	recs := h.ok(shutdownCmd(1, h.epoch(1)))
	wantKinds(t, recs, "BrokerRegistrationChange", "PartitionChange", "PartitionChange", "PartitionChange")
	if b := h.broker(1); !b.InControlledShutdown || b.Fenced {
		t.Errorf("broker %+v", b)
	}
	h.wantPartition("t", 0, 2, []int32{2, 3}, 1, 1)
	h.wantPartition("t", 1, 2, []int32{2, 3}, 0, 1)
	// The only replica cannot hand over: the partition goes offline and
	// keeps broker 1 as its ISR.
	h.wantPartition("solo", 0, -1, []int32{1}, 1, 1)

	// Again (the broker keeps asking while it shuts down): nothing left.
	if res := h.unchanged(shutdownCmd(1, h.epoch(1))); res.GetErrorCode() != codeNone {
		t.Fatalf("second shutdown: %v", res)
	}
	// A broker shutting down takes no new replicas.
	h.createFails(newTopic("big", 1, 3), codeInvalidRF,
		"Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be reached because only 2 broker(s) are registered.")
	// Nor does it join an ISR.
	p := h.partition("t", 0)
	res := h.unchanged(alterISRCmd(2, h.epoch(2), tid("t"), 0, p.LeaderEpoch, p.PartitionEpoch, 2, 3, 1))
	r := res.GetAlterPartition().GetTopics()[0].GetPartitions()[0]
	checkError(t, "alter partition", r.GetErrorCode(), r.GetErrorMessage(), codeIneligibleReplica, "fenced or shutting down")

	// Another incarnation may not take over while the session lives; a new
	// registration of this one ends the shutdown.
	h.fails(registerCmd(1, "inc-1b"), codeDuplicateBroker, "another live incarnation")
	h.ok(registerCmd(1, "inc-1"))
	h.unfence(1)
	if b := h.broker(1); b.InControlledShutdown || b.Fenced {
		t.Errorf("broker after registering again %+v", b)
	}
	h.wantPartition("solo", 0, 1, []int32{1}, 2, 2)
}

// A fenced broker still in controlled shutdown that is unfenced must not
// become the leader of anything: it is on its way out.
func TestUnfenceInControlledShutdownLeadsNothing(t *testing.T) {
	h := newHarness(t)
	h.addBrokers(1, 2)
	h.create(assignedTopic("t", []int32{1}))
	h.shutdown(1)
	h.fence(1)
	h.wantPartition("t", 0, -1, []int32{1}, 1, 1)
	h.unfence(1)
	if b := h.broker(1); b.Fenced || !b.InControlledShutdown {
		t.Fatalf("broker %+v", b)
	}
	h.wantPartition("t", 0, -1, []int32{1}, 1, 1)
}

func TestUnregisterBroker(t *testing.T) {
	h := newHarness(t)
	h.addBrokers(1, 2, 3)
	h.create(assignedTopic("t", []int32{1, 2}, []int32{2, 3}))
	h.fails(unregisterCmd(9), codeBrokerNotAvailable, "broker 9 is not registered")

	// A live broker hands over its leaderships and leaves the ISRs.
	recs := h.ok(unregisterCmd(1))
	wantKinds(t, recs, "PartitionChange", "UnregisterBroker")
	if _, ok := h.img.Broker(1); ok {
		t.Error("broker 1 still registered")
	}
	h.wantPartition("t", 0, 2, []int32{2}, 1, 1)
	h.fails(unfenceCmd(1, 1), codeStaleBrokerEpoch, "broker 1 is not registered")

	// A fenced one has nothing to hand over.
	h.fence(3)
	wantKinds(t, h.ok(unregisterCmd(3)), "UnregisterBroker")
	if h.img.BrokerCount() != 1 {
		t.Errorf("%d brokers left", h.img.BrokerCount())
	}
	// The id may register again.
	_, res := h.run(registerCmd(3, "again"))
	if res.GetErrorCode() != codeNone || res.GetBrokerEpoch() != h.img.Offset() {
		t.Errorf("register again: %v", res)
	}
}

func TestRegisterController(t *testing.T) {
	h := newHarness(t)
	cmd := func(id int32, addr string) *stratav1.MetadataCommand {
		return &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_RegisterController{RegisterController: &stratav1.RegisterControllerCommand{
			Controller: &stratav1.ControllerRegistrationRecord{ControllerId: id, IncarnationId: "i", Address: addr, RaftAddress: addr + "r"},
		}}}
	}
	wantKinds(t, h.ok(cmd(1, "c1")), "ControllerRegistration")
	if c, ok := h.img.Controller(1); !ok || c.Address != "c1" || c.RaftAddress != "c1r" || c.IncarnationID != "i" {
		t.Errorf("controller %+v", c)
	}
	// The same registration again writes nothing.
	if res := h.unchanged(cmd(1, "c1")); res.GetErrorCode() != codeNone {
		t.Errorf("same registration: %v", res)
	}
	wantKinds(t, h.ok(cmd(1, "c1b")), "ControllerRegistration")
	if c, _ := h.img.Controller(1); c.Address != "c1b" {
		t.Errorf("controller %+v", c)
	}
	h.fails(cmd(-1, "x"), codeInvalidRequest, "controller id -1 is negative")
}

func TestNoOpAndUnknownCommand(t *testing.T) {
	h := newHarness(t)
	recs := h.ok(&stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_NoOp{NoOp: &stratav1.NoOpCommand{}}})
	wantKinds(t, recs, "NoOp")
	if h.img.Offset() != 1 {
		t.Errorf("offset %d", h.img.Offset())
	}
	h.fails(&stratav1.MetadataCommand{}, codeInvalidRequest, "unknown command")
}

// Placement only uses brokers that are unfenced and not shutting down.
func TestPlacementCandidates(t *testing.T) {
	h := newHarness(t)
	h.addBrokers(1, 2, 3, 4, 5)
	h.fence(2)
	h.shutdown(4)
	h.create(newTopic("t", 12, 3))
	for _, p := range h.topic("t").Partitions {
		if slices.Contains(p.Replicas, 2) || slices.Contains(p.Replicas, 4) {
			t.Errorf("partition %d on %v", p.ID, p.Replicas)
		}
	}
}
