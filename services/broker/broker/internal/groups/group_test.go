package groups

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// sim drives a group with simulated clients: a client owns exactly the
// partitions of the last answer it took (it gives up revoked ones at once,
// but the coordinator only learns so at its next heartbeat).
type sim struct {
	t      *testing.T
	g      *Group
	now    time.Time
	parts  map[string]int32
	owned  map[string][]TP // what each client owns
	epoch  map[string]int32
	topics []string
}

func newSim(t *testing.T, parts map[string]int32) *sim {
	return &sim{
		t: t, g: NewGroup("g"), now: time.Unix(1000, 0), parts: parts,
		owned: make(map[string][]TP), epoch: make(map[string]int32), topics: []string{"t"},
	}
}

func (s *sim) env() Env {
	return Env{Now: s.now, Partitions: func(t string) int32 { return s.parts[t] }}
}

func (s *sim) spec(id string) Join {
	return Join{MemberID: id, Topics: s.topics, SessionTimeout: 10 * time.Second, RebalanceTimeout: 30 * time.Second}
}

// take makes the client of m own its assignment.
func (s *sim) take(m *Member) {
	s.owned[m.ID] = slices.Clone(m.Assigned)
	s.epoch[m.ID] = m.Epoch
	s.check()
}

func (s *sim) join(id string) Result {
	m, res := s.g.JoinGroup(s.spec(id), s.env())
	s.take(m)
	return res
}

func (s *sim) heartbeat(id string) Result {
	s.t.Helper()
	m, res, err := s.g.Heartbeat(s.spec(id), s.epoch[id], s.owned[id], s.env())
	if err != nil {
		s.t.Fatalf("heartbeat of %s: %v", id, err)
	}
	s.take(m)
	return res
}

func (s *sim) leave(id string) {
	s.t.Helper()
	if _, err := s.g.Leave(id, s.env()); err != nil {
		s.t.Fatal(err)
	}
	delete(s.owned, id)
	delete(s.epoch, id)
	s.check()
}

// check fails if two clients own a partition, or a client owns one the
// coordinator does not count as its.
func (s *sim) check() {
	s.t.Helper()
	seen := make(map[TP]string)
	for id, list := range s.owned {
		for _, tp := range list {
			if other, dup := seen[tp]; dup {
				s.t.Fatalf("%v owned by %s and %s", tp, other, id)
			}
			seen[tp] = id
			if o, ok := s.g.Owner(tp); !ok || o != id {
				s.t.Fatalf("client %s owns %v; the coordinator has it at %q", id, tp, o)
			}
		}
	}
}

// settle heartbeats every member until nothing changes.
func (s *sim) settle() {
	s.t.Helper()
	for range 20 {
		changed := false
		for _, id := range s.g.MemberIDs() {
			before := slices.Clone(s.owned[id])
			s.heartbeat(id)
			changed = changed || !slices.Equal(before, s.owned[id])
		}
		if !changed && s.g.State() == StateStable {
			return
		}
	}
	s.t.Fatalf("the group did not settle: %s", s.g.State())
}

func (s *sim) counts() map[string]int {
	out := make(map[string]int)
	for id, l := range s.owned {
		out[id] = len(l)
	}
	return out
}

// TestThreeMembersSixPartitions: the first member gets everything; each
// join moves partitions one step at a time (revoked first, then given),
// ending two each; a leave gives the leaver's partitions to the others.
func TestThreeMembersSixPartitions(t *testing.T) {
	s := newSim(t, map[string]int32{"t": 6})
	s.join("a")
	if !reflect.DeepEqual(s.owned["a"], tps("t", 0, 1, 2, 3, 4, 5)) || s.g.State() != StateStable {
		t.Fatalf("first member: %v, %s", s.owned["a"], s.g.State())
	}
	res := s.join("b")
	if len(s.owned["b"]) != 0 || !slices.Equal(res.Notify, []string{"a"}) {
		t.Fatalf("b got %v before a gave anything up; notify %v", s.owned["b"], res.Notify)
	}
	if st := s.g.State(); st != StateReconciling {
		t.Fatalf("state %s while a revokes", st)
	}
	// a learns of its revocation, gives up three partitions; b is told.
	res = s.heartbeat("a")
	if len(s.owned["a"]) != 3 || !slices.Equal(res.Notify, nil) {
		t.Fatalf("a after revoking: %v, notify %v", s.owned["a"], res.Notify)
	}
	res = s.heartbeat("a")
	if !slices.Equal(res.Notify, []string{"b"}) {
		t.Fatalf("a's release did not notify b: %v", res.Notify)
	}
	s.heartbeat("b")
	if len(s.owned["b"]) != 3 || s.g.State() != StateStable {
		t.Fatalf("b: %v, state %s", s.owned["b"], s.g.State())
	}
	s.join("c")
	s.settle()
	if c := s.counts(); c["a"] != 2 || c["b"] != 2 || c["c"] != 2 {
		t.Fatalf("three members: %v", c)
	}
	epoch := s.g.Epoch
	s.leave("b")
	s.settle()
	if c := s.counts(); c["a"] != 3 || c["c"] != 3 || s.g.Epoch != epoch+1 {
		t.Fatalf("after b left: %v, epoch %d", c, s.g.Epoch)
	}
}

// TestRandomScheduleNeverDoublesOwnership joins, heartbeats and removes
// members in a random order; no partition is ever owned by two clients, and
// once every member heartbeats the group is stable and balanced.
func TestRandomScheduleNeverDoublesOwnership(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	for round := range 50 {
		s := newSim(t, map[string]int32{"t": 12})
		next := 0
		for range 200 {
			ids := s.g.MemberIDs()
			switch r := rng.IntN(10); {
			case r < 2 || len(ids) == 0:
				s.join(fmt.Sprintf("m%d", next))
				next++
			case r < 3:
				s.leave(ids[rng.IntN(len(ids))])
			case r < 4:
				s.now = s.now.Add(time.Second)
				id := ids[rng.IntN(len(ids))]
				s.g.Members[id].LastSeen = s.now.Add(-time.Minute)
				gone, _ := s.g.Expire(s.env())
				if !slices.Contains(gone, id) {
					t.Fatalf("round %d: expired %v, want %s among them", round, gone, id)
				}
				for _, id := range gone {
					delete(s.owned, id)
					delete(s.epoch, id)
				}
				s.check()
			default:
				s.heartbeat(ids[rng.IntN(len(ids))])
			}
		}
		if len(s.g.Members) == 0 {
			continue
		}
		s.settle()
		lo, hi := 1<<30, 0
		for _, n := range s.counts() {
			lo, hi = min(lo, n), max(hi, n)
		}
		if hi-lo > 1 {
			t.Fatalf("round %d: loads %v", round, s.counts())
		}
	}
}

func TestSessionAndRebalanceTimeouts(t *testing.T) {
	s := newSim(t, map[string]int32{"t": 4})
	s.join("a")
	s.join("b") // a must revoke two
	if len(s.g.Members["a"].Revoking) != 0 {
		t.Fatal("a revokes before it heard of it")
	}
	s.heartbeat("a") // told: two partitions pending revocation
	if len(s.g.Members["a"].Revoking) != 2 {
		t.Fatalf("a revoking %v", s.g.Members["a"].Revoking)
	}
	// a keeps them past its rebalance timeout while heartbeating b only.
	s.now = s.now.Add(9 * time.Second)
	s.heartbeat("b")
	if gone, _ := s.g.Expire(s.env()); gone != nil {
		t.Fatalf("expired %v before any deadline", gone)
	}
	if d := s.g.NextDeadline(); !d.Equal(time.Unix(1010, 0)) {
		t.Fatalf("next deadline %v, want a's session at 1010", d)
	}
	s.now = s.now.Add(2 * time.Second)
	gone, res := s.g.Expire(s.env())
	if !slices.Equal(gone, []string{"a"}) || !res.Changed || !slices.Equal(res.Notify, []string{"b"}) {
		t.Fatalf("expired %v, %+v", gone, res)
	}
	delete(s.owned, "a")
	s.heartbeat("b")
	if len(s.owned["b"]) != 4 {
		t.Fatalf("b after a expired: %v", s.owned["b"])
	}
	// The rebalance timeout: c joins, b is told to revoke and keeps
	// heartbeating with the partitions for longer than 30 s.
	s.join("c")
	held := slices.Clone(s.owned["b"])
	s.heartbeat("b")
	for range 4 {
		s.now = s.now.Add(9 * time.Second)
		if _, _, err := s.g.Heartbeat(s.spec("b"), s.epoch["b"], held, s.env()); err != nil {
			t.Fatal(err)
		}
		s.heartbeat("c")
	}
	gone, _ = s.g.Expire(s.env())
	if !slices.Equal(gone, []string{"b"}) {
		t.Fatalf("the slow revoker was not fenced: %v", gone)
	}
}

func TestFencedEpochAndRejoin(t *testing.T) {
	s := newSim(t, map[string]int32{"t": 4})
	s.join("a")
	s.join("b")
	s.settle()
	a := s.g.Members["a"]
	if _, _, err := s.g.Heartbeat(s.spec("a"), a.Epoch+5, nil, s.env()); !errors.Is(err, ErrFencedEpoch) {
		t.Fatalf("a future epoch: %v", err)
	}
	// The previous epoch is taken when the member owns nothing more than
	// it may (its last answer was lost).
	if _, _, err := s.g.Heartbeat(s.spec("a"), a.PrevEpoch, s.owned["a"], s.env()); err != nil {
		t.Fatalf("previous epoch: %v", err)
	}
	if _, _, err := s.g.Heartbeat(s.spec("a"), a.PrevEpoch, tps("t", 0, 1, 2, 3), s.env()); !errors.Is(err, ErrFencedEpoch) {
		t.Fatalf("previous epoch with b's partitions: %v", err)
	}
	if _, _, err := s.g.Heartbeat(s.spec("zz"), 1, nil, s.env()); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("unknown member: %v", err)
	}
	// Rejoining (epoch 0) gives up what a owned; it gets its target back
	// as it is free.
	before := slices.Clone(s.owned["a"])
	s.join("a")
	s.settle()
	if !reflect.DeepEqual(s.owned["a"], before) {
		t.Fatalf("after rejoining a owns %v, had %v", s.owned["a"], before)
	}
}

func TestValidateCommit(t *testing.T) {
	s := newSim(t, map[string]int32{"t": 2})
	empty := NewGroup("e")
	if err := empty.ValidateCommit("", -1, nil); err != nil {
		t.Fatalf("a tool's commit to an empty group: %v", err)
	}
	s.join("a")
	s.join("b")
	s.settle()
	a := s.g.Members["a"]
	for _, tc := range []struct {
		member string
		epoch  int32
		tps    []TP
		want   error
	}{
		{"a", a.Epoch, nil, nil},
		{"a", a.PrevEpoch, s.owned["a"], nil},
		{"a", a.PrevEpoch, s.owned["b"], ErrIllegalGeneration},
		{"a", a.Epoch - 5, nil, ErrIllegalGeneration},
		{"a", a.Epoch + 1, nil, ErrIllegalGeneration},
		{"a", 0, nil, ErrIllegalGeneration},
		{"nobody", 1, nil, ErrUnknownMember},
		{"", -1, nil, ErrUnknownMember}, // a tool while the group has members
	} {
		if err := s.g.ValidateCommit(tc.member, tc.epoch, tc.tps); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("commit by %q epoch %d %v: %v, want %v", tc.member, tc.epoch, tc.tps, err, tc.want)
		}
	}
}

func TestRefreshTopicsAndAssignorChoice(t *testing.T) {
	s := newSim(t, map[string]int32{"t": 2})
	s.join("a")
	s.join("b")
	s.settle()
	if res := s.g.RefreshTopics(s.env()); res.Changed {
		t.Fatal("nothing changed and the group rebalanced")
	}
	s.parts["t"] = 4
	if res := s.g.RefreshTopics(s.env()); !res.Changed {
		t.Fatal("new partitions did not rebalance")
	}
	s.settle()
	if c := s.counts(); c["a"] != 2 || c["b"] != 2 {
		t.Fatalf("after growing: %v", c)
	}
	// The assignor most members ask for wins.
	j := s.spec("a")
	j.Assignor = RangeAssignor
	if _, res, err := s.g.Heartbeat(j, s.epoch["a"], s.owned["a"], s.env()); err != nil || !res.Changed {
		t.Fatalf("assignor change: %v %+v", err, res)
	}
	if got := s.g.assignor().Name(); got != RangeAssignor {
		t.Fatalf("assignor %s", got)
	}
}

func TestRecordsRoundTrip(t *testing.T) {
	s := newSim(t, map[string]int32{"t": 4, "u": 1})
	s.topics = []string{"t", "u"}
	s.join("a")
	s.join("b")
	s.heartbeat("a") // a revoking, b waiting: a mid-rebalance state
	st := NewState()
	now := time.Unix(5000, 0)
	commit := time.UnixMilli(4242)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.Replay(OffsetKey("g", TP{"t", 3}), EncodeOffset(Offset{Offset: 10, LeaderEpoch: 2, Metadata: "m", CommitTime: commit}), now))
	must(st.Replay(OffsetKey("g", TP{"t", 3}), EncodeOffset(Offset{Offset: 12, LeaderEpoch: 3, CommitTime: commit}), now))
	must(st.Replay(OffsetKey("g", TP{"u", 0}), EncodeOffset(Offset{Offset: 1}), now))
	must(st.Replay(OffsetKey("g", TP{"u", 0}), nil, now))
	must(st.Replay(GroupKey("g"), EncodeGroup(s.g), now))
	if got := st.Offsets["g"]; len(got) != 1 || got[TP{"t", 3}] != (Offset{Offset: 12, LeaderEpoch: 3, CommitTime: commit}) {
		t.Fatalf("offsets %v", got)
	}
	g := st.Groups["g"]
	if g.Epoch != s.g.Epoch || g.AssignmentEpoch != s.g.AssignmentEpoch || !reflect.DeepEqual(g.Target, s.g.Target) ||
		!reflect.DeepEqual(g.TopicPartitions, s.g.TopicPartitions) || !reflect.DeepEqual(g.owner, s.g.owner) {
		t.Fatalf("group %+v\nwant %+v", g, s.g)
	}
	for id, m := range s.g.Members {
		got := g.Members[id]
		if got.Epoch != m.Epoch || got.PrevEpoch != m.PrevEpoch || !reflect.DeepEqual(got.Assigned, m.Assigned) ||
			!reflect.DeepEqual(got.Revoking, m.Revoking) || !slices.Equal(got.Topics, m.Topics) ||
			got.SessionTimeout != m.SessionTimeout || !got.LastSeen.Equal(now) {
			t.Fatalf("member %s: %+v\nwant %+v", id, got, m)
		}
	}
	if st.GroupState("g") != StateReconciling || st.GroupState("nope") != StateDead || !slices.Equal(st.GroupIDs(), []string{"g"}) {
		t.Fatalf("states %s %s %v", st.GroupState("g"), st.GroupState("nope"), st.GroupIDs())
	}
	must(st.Replay(GroupKey("g"), nil, now))
	if st.GroupState("g") != StateEmpty || !st.Exists("g") {
		t.Fatalf("a group with offsets and no metadata: %s", st.GroupState("g"))
	}

	for _, bad := range [][]byte{nil, {0}, {0, 9, 0, 0}, {0, 1, 0, 5, 'a'}, append(GroupKey("g"), 1), OffsetKey("g", TP{"t", 1})[:8]} {
		if err := st.Replay(bad, []byte{}, now); !errors.Is(err, ErrBadRecord) {
			t.Errorf("key %v: %v", bad, err)
		}
	}
	if err := st.Replay(GroupKey("g"), []byte{0xff, 0xff}, now); !errors.Is(err, ErrBadRecord) {
		t.Errorf("a bad group value: %v", err)
	}
}
