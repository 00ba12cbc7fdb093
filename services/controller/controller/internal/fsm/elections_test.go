package fsm

import (
	"slices"
	"testing"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
)

const (
	preferred = stratav1.ElectionType_ELECTION_TYPE_PREFERRED
	unclean   = stratav1.ElectionType_ELECTION_TYPE_UNCLEAN
)

// leadsNothing checks that a broker leads no partition and is in no ISR,
// except as the last member of an offline partition's ISR.
func leadsNothing(t *testing.T, h *harness, id int32) {
	t.Helper()
	for tp := range h.img.Topics() {
		for _, p := range tp.Partitions {
			if p.Leader == id {
				t.Errorf("%s-%d is led by %d", tp.Name, p.ID, id)
			}
			lastOfOffline := len(p.ISR) == 1 && p.Leader == -1
			if p.InISR(id) && !lastOfOffline {
				t.Errorf("%s-%d: %d still in ISR %v", tp.Name, p.ID, id, p.ISR)
			}
		}
	}
}

func TestFenceMovesLeadership(t *testing.T) {
	h := fourBrokers(t)
	h.create(assignedTopic("t", []int32{1, 2, 3}, []int32{2, 1, 3}, []int32{3, 2, 1}))
	h.create(assignedTopic("u", []int32{4, 1, 2}))
	h.create(assignedTopic("v", []int32{1, 4}, []int32{3, 4}))

	recs := h.ok(fenceCmd(1, h.epoch(1)))
	wantKinds(t, recs, "FenceBroker", "PartitionChange", "PartitionChange", "PartitionChange", "PartitionChange", "PartitionChange")
	if !h.broker(1).Fenced {
		t.Error("broker 1 not fenced")
	}
	// The leader moves to the next ISR member in replica order; the
	// leader epoch grows only where the leader changed; the partition
	// epoch grows on every change.
	h.wantPartition("t", 0, 2, []int32{2, 3}, 1, 1)
	h.wantPartition("t", 1, 2, []int32{2, 3}, 0, 1)
	h.wantPartition("t", 2, 3, []int32{3, 2}, 0, 1)
	h.wantPartition("v", 0, 4, []int32{4}, 1, 1)
	h.wantPartition("v", 1, 3, []int32{3, 4}, 0, 0)
	h.wantPartition("u", 0, 4, []int32{4, 2}, 0, 1)
	leadsNothing(t, h, 1)
	for _, r := range recs[1:] {
		c := r.GetPartitionChange()
		if c.GetIsr() == nil {
			t.Errorf("change without ISR %v", c)
		}
	}

	// Fencing the last ISR member: the ISR stays [4], v-0 is
	// offline.
	h.fence(4)
	h.wantPartition("v", 0, -1, []int32{4}, 2, 2)
	h.wantPartition("v", 1, 3, []int32{3}, 0, 1)
	h.wantPartition("u", 0, 2, []int32{2}, 1, 2)
	leadsNothing(t, h, 4)

	// Broker 1 comes back: it is not in v-0's ISR and unclean election is
	// off, so v-0 stays offline.
	recs = h.ok(unfenceCmd(1, h.epoch(1)))
	wantKinds(t, recs, "UnfenceBroker")
	h.wantPartition("v", 0, -1, []int32{4}, 2, 2)
	// Broker 4 comes back and leads it again.
	recs = h.ok(unfenceCmd(4, h.epoch(4)))
	wantKinds(t, recs, "UnfenceBroker", "PartitionChange")
	h.wantPartition("v", 0, 4, []int32{4}, 3, 3)
	// Its other partitions wait for AlterPartition to take it back.
	h.wantPartition("u", 0, 2, []int32{2}, 1, 2)
}

func TestUncleanLeaderElectionOnFence(t *testing.T) {
	tests := []struct {
		name       string
		topic      []string // topic configs
		cluster    string   // cluster default for unclean.leader.election.enable, "" for none
		wantLeader int32
		wantISR    []int32
	}{
		{name: "off", wantLeader: -1, wantISR: []int32{1}},
		{name: "on for the topic", topic: []string{"unclean.leader.election.enable=true"}, wantLeader: 2, wantISR: []int32{2}},
		{name: "on for the cluster", cluster: "true", wantLeader: 2, wantISR: []int32{2}},
		{name: "off for the topic, on for the cluster", topic: []string{"unclean.leader.election.enable=false"}, cluster: "true",
			wantLeader: -1, wantISR: []int32{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := fourBrokers(t)
			if tt.cluster != "" {
				h.ok(alterConfigsCmd(brokerResource("", set("unclean.leader.election.enable", tt.cluster))))
			}
			top := assignedTopic("t", []int32{1, 2, 3})
			top.Configs = newTopic("", 0, 0, tt.topic...).GetConfigs()
			h.create(top)
			// The ISR shrinks to the leader alone, then the leader dies.
			h.ok(alterISRCmd(1, h.epoch(1), tid("t"), 0, 0, 0, 1))
			h.fence(1)
			h.wantPartition("t", 0, tt.wantLeader, tt.wantISR, 1, 2)
		})
	}
}

func TestUncleanLeaderElectionOnUnfence(t *testing.T) {
	for _, on := range []bool{false, true} {
		h := fourBrokers(t)
		top := assignedTopic("t", []int32{1, 2})
		if on {
			top.Configs = []*stratav1.ConfigEntry{{Name: "unclean.leader.election.enable", Value: "true"}}
		}
		h.create(top)
		h.fence(2)
		h.wantPartition("t", 0, 1, []int32{1}, 0, 1)
		// Broker 2 is fenced: nobody can take over, even uncleanly.
		h.fence(1)
		h.wantPartition("t", 0, -1, []int32{1}, 1, 2)
		h.unfence(2)
		if on {
			h.wantPartition("t", 0, 2, []int32{2}, 2, 3)
			// Broker 1 is back: it is not in the ISR any more and leads
			// nothing.
			h.unfence(1)
			h.wantPartition("t", 0, 2, []int32{2}, 2, 3)
		} else {
			h.wantPartition("t", 0, -1, []int32{1}, 1, 2)
			h.unfence(1)
			h.wantPartition("t", 0, 1, []int32{1}, 2, 3)
		}
	}
}

func TestControlledShutdownMovesLeadership(t *testing.T) {
	h := fourBrokers(t)
	h.create(newTopic("t", 12, 3))
	var led []int32
	for _, p := range h.topic("t").Partitions {
		if p.Leader == 2 {
			led = append(led, p.ID)
		}
	}
	if len(led) == 0 {
		t.Fatal("broker 2 leads nothing")
	}
	h.shutdown(2)
	leadsNothing(t, h, 2)
	for _, id := range led {
		p := h.partition("t", id)
		var want int32 = -1
		for _, r := range p.Replicas {
			if r != 2 && p.InISR(r) {
				want = r
				break
			}
		}
		if p.Leader != want || p.LeaderEpoch != 1 {
			t.Errorf("partition %d: leader %d epoch %d, want %d epoch 1 (replicas %v)", id, p.Leader, p.LeaderEpoch, want, p.Replicas)
		}
	}
}

// electResult runs an election on one partition and returns its result.
func electResult(t *testing.T, h *harness, typ stratav1.ElectionType, topic string, partition int32) *stratav1.ElectionResult {
	t.Helper()
	_, res := h.run(electCmd(typ, topic, partition))
	rs := res.GetElectLeaders().GetResults()
	if res.GetErrorCode() != codeNone || len(rs) != 1 || rs[0].GetTopic() != topic || rs[0].GetPartitionId() != partition {
		t.Fatalf("election result %v", res)
	}
	return rs[0]
}

func electFails(t *testing.T, h *harness, typ stratav1.ElectionType, topic string, partition int32, code stratav1.ErrorCode, fragment string) {
	t.Helper()
	res := h.unchanged(electCmd(typ, topic, partition))
	rs := res.GetElectLeaders().GetResults()
	if len(rs) != 1 {
		t.Fatalf("results %v", rs)
	}
	checkError(t, "election", rs[0].GetErrorCode(), rs[0].GetErrorMessage(), code, fragment)
}

func TestElectPreferredLeader(t *testing.T) {
	h := fourBrokers(t)
	h.create(assignedTopic("t", []int32{1, 2, 3}))
	h.create(assignedTopic("s", []int32{4}))
	electFails(t, h, preferred, "t", 0, codeElectionNotNeeded, "Leader election not needed for topic partition.")

	h.fence(1)
	h.unfence(1)
	h.wantPartition("t", 0, 2, []int32{2, 3}, 1, 1)
	// Broker 1 is live but not in the ISR yet.
	electFails(t, h, preferred, "t", 0, codePreferredNotAvail, "The preferred leader was not available.")
	// The leader takes it back into the ISR; now it may lead.
	h.ok(alterISRCmd(2, h.epoch(2), tid("t"), 0, 1, 1, 2, 3, 1))
	if r := electResult(t, h, preferred, "t", 0); r.GetErrorCode() != codeNone {
		t.Fatalf("election: %v", r)
	}
	h.wantPartition("t", 0, 1, []int32{2, 3, 1}, 2, 3)
	electFails(t, h, preferred, "t", 0, codeElectionNotNeeded, "Leader election not needed")

	// The preferred replica is the offline partition's last ISR member,
	// but fenced.
	h.fence(4)
	h.wantPartition("s", 0, -1, []int32{4}, 1, 1)
	electFails(t, h, preferred, "s", 0, codePreferredNotAvail, "The preferred leader was not available.")

	electFails(t, h, preferred, "nope", 0, codeUnknownTopic, unknownTopicMsg)
	electFails(t, h, preferred, "t", 7, codeUnknownTopic, unknownTopicMsg)
	electFails(t, h, preferred, "t", -1, codeUnknownTopic, unknownTopicMsg)
	electFails(t, h, stratav1.ElectionType_ELECTION_TYPE_UNSPECIFIED, "t", 0, codeInvalidRequest, "unknown election type")
}

// With no partitions named, an election runs on all of them and reports
// the partitions it changed.
func TestElectLeadersAllPartitions(t *testing.T) {
	h := fourBrokers(t)
	h.create(assignedTopic("a", []int32{1, 2}, []int32{2, 1}, []int32{3, 4}))
	h.create(assignedTopic("b", []int32{1, 3}))
	h.fence(1)
	h.unfence(1)
	// Nothing is back in the ISR yet.
	if res := h.unchanged(electCmd(preferred, "")); len(res.GetElectLeaders().GetResults()) != 0 {
		t.Errorf("results %v", res.GetElectLeaders().GetResults())
	}
	h.ok(alterISRCmd(2, h.epoch(2), tid("a"), 0, 1, 1, 2, 1))
	h.ok(alterISRCmd(3, h.epoch(3), tid("b"), 0, 1, 1, 3, 1))
	recs, res := h.run(electCmd(preferred, ""))
	wantKinds(t, recs, "PartitionChange", "PartitionChange")
	var got []string
	for _, r := range res.GetElectLeaders().GetResults() {
		if r.GetErrorCode() != codeNone {
			t.Errorf("result %v", r)
		}
		got = append(got, r.GetTopic())
	}
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("elected in %v", got)
	}
	h.wantPartition("a", 0, 1, []int32{2, 1}, 2, 3)
	h.wantPartition("b", 0, 1, []int32{3, 1}, 2, 3)
}

func TestElectUncleanLeader(t *testing.T) {
	h := fourBrokers(t)
	h.create(assignedTopic("t", []int32{1, 2, 3}))
	h.create(assignedTopic("s", []int32{4}))
	electFails(t, h, unclean, "t", 0, codeElectionNotNeeded, "Leader election not needed for topic partition.")

	// Only the leader is in the ISR when it dies: the partition is offline
	// (unclean election is off for the topic).
	h.ok(alterISRCmd(1, h.epoch(1), tid("t"), 0, 0, 0, 1))
	h.fence(1)
	h.wantPartition("t", 0, -1, []int32{1}, 1, 2)
	// An operator's unclean election picks the first live replica.
	if r := electResult(t, h, unclean, "t", 0); r.GetErrorCode() != codeNone {
		t.Fatalf("election: %v", r)
	}
	h.wantPartition("t", 0, 2, []int32{2}, 2, 3)

	// No live replica at all.
	h.fence(4)
	electFails(t, h, unclean, "s", 0, codeEligibleNotAvail, "No live replica can lead the partition.")
	// A replica in controlled shutdown is not eligible either.
	h.unfence(4)
	h.shutdown(4)
	electFails(t, h, unclean, "s", 0, codeEligibleNotAvail, "No live replica can lead the partition.")
}
