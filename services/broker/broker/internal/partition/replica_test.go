package partition

import (
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/recordbatch"
	"github.com/strata-log/strata/pkg/testutil"
	"github.com/strata-log/strata/services/broker/broker/internal/partlog"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

// newPartition is partition 0 of a new topic on broker self, with a log in
// a fresh store.
func newPartition(t *testing.T, self int32) *Partition {
	t.Helper()
	s, err := partlog.Open(t.TempDir(), partlog.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	topic := metadata.NewTopicID()
	l, err := s.Partition(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &Partition{Topic: topic, Name: "t", Log: l, self: self, changed: make(chan struct{}), state: State{Leader: metadata.NoLeader}}
}

func batch(t *testing.T, n int) []byte {
	t.Helper()
	b := recordbatch.NewBuilder(recordbatch.None, nil)
	for range n {
		b.Append(recordbatch.Record{Value: []byte("v"), Timestamp: 1})
	}
	out, err := b.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustUpdate(t *testing.T, p *Partition, s State) {
	t.Helper()
	if err := p.update(s); err != nil {
		t.Fatal(err)
	}
}

func appendN(t *testing.T, p *Partition, epoch int32, n int) {
	t.Helper()
	if _, err := p.AppendAsLeader(batch(t, n), epoch); err != nil {
		t.Fatal(err)
	}
}

func TestHighWatermarkIsTheSlowestInSyncReplica(t *testing.T) {
	p := newPartition(t, 1)
	mustUpdate(t, p, State{Leader: 1, LeaderEpoch: 3, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}})
	appendN(t, p, 3, 10)
	now := time.Now()
	if hw := p.Log.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d before any follower fetched", hw)
	}
	if ok, _ := p.FollowerFetched(2, 3, 10, now); !ok {
		t.Fatal("FollowerFetched refused a follower in the current epoch")
	}
	if hw := p.Log.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d while replica 3's position is unknown", hw)
	}
	p.FollowerFetched(3, 3, 4, now)
	if hw := p.Log.HighWatermark(); hw != 4 {
		t.Fatalf("HW %d, want 4 (replica 3's log end)", hw)
	}
	if _, _, committed := p.CommittedAsLeader(3, 5); committed {
		t.Fatal("offset 5 counted as committed with HW 4")
	}
	p.FollowerFetched(3, 3, 10, now)
	if _, leading, committed := p.CommittedAsLeader(3, 10); !leading || !committed {
		t.Fatalf("after every replica fetched at 10: leading %v committed %v", leading, committed)
	}
	// A fetch in an old epoch, or from a broker that is not a replica, is
	// refused.
	if ok, _ := p.FollowerFetched(2, 2, 10, now); ok {
		t.Fatal("FollowerFetched took a fetch in an older epoch")
	}
	if ok, _ := p.FollowerFetched(9, 3, 10, now); ok {
		t.Fatal("FollowerFetched took a fetch from a non-replica")
	}
	// A new leader epoch forgets the positions.
	mustUpdate(t, p, State{Leader: 1, LeaderEpoch: 4, PartitionEpoch: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}})
	appendN(t, p, 4, 1)
	if hw := p.Log.HighWatermark(); hw != 10 {
		t.Fatalf("HW %d right after a new epoch's append, want 10", hw)
	}
	if _, leading, _ := p.CommittedAsLeader(3, 10); leading {
		t.Fatal("CommittedAsLeader says leading in the old epoch")
	}
}

func TestISRShrinksAfterTheLagAndExpandsWhenCaughtUp(t *testing.T) {
	p := newPartition(t, 1)
	mustUpdate(t, p, State{Leader: 1, LeaderEpoch: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}})
	appendN(t, p, 1, 5)
	t0 := time.Now()
	all := func(int32) bool { return true }
	lag := 10 * time.Second
	p.FollowerFetched(2, 1, 5, t0)
	p.FollowerFetched(3, 1, 2, t0)
	if _, ok := p.ProposeISR(t0.Add(5*time.Second), lag, time.Minute, all); ok {
		t.Fatal("an ISR change proposed before anyone lagged for 10s")
	}
	// Replica 3 stays behind; replica 2 keeps catching up.
	appendN(t, p, 1, 5)
	p.FollowerFetched(2, 1, 10, t0.Add(11*time.Second))
	c, ok := p.ProposeISR(t0.Add(11*time.Second), lag, time.Minute, all)
	if !ok || !slices.Equal(c.ISR, []int32{1, 2}) {
		t.Fatalf("proposal %v %v, want ISR [1 2]", c.ISR, ok)
	}
	// While the shrink is in flight the HW still counts replica 3.
	if hw := p.Log.HighWatermark(); hw != 2 {
		t.Fatalf("HW %d with the shrink in flight, want 2", hw)
	}
	if _, ok := p.ProposeISR(t0.Add(12*time.Second), lag, time.Minute, all); ok {
		t.Fatal("a second proposal while one is in flight")
	}
	if c2, ok := p.ProposeISR(t0.Add(72*time.Second), lag, time.Minute, all); !ok || !slices.Equal(c2.ISR, c.ISR) {
		t.Fatalf("the change in flight was not sent again after the resend interval: %v %v", c2.ISR, ok)
	}
	p.ISRChanged(c, true, []int32{1, 2}, 1)
	if st := p.State(); !slices.Equal(st.ISR, []int32{1, 2}) || st.PartitionEpoch != 1 {
		t.Fatalf("state after the answer: %+v", st)
	}
	if hw := p.Log.HighWatermark(); hw != 10 {
		t.Fatalf("HW %d after the shrink, want 10", hw)
	}
	// An image behind the answer does not bring the old ISR back.
	mustUpdate(t, p, State{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 0, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}})
	if st := p.State(); !slices.Equal(st.ISR, []int32{1, 2}) {
		t.Fatalf("an older image restored ISR %v", st.ISR)
	}

	// Replica 3 catches up with the HW: it may join, and does once
	// eligible.
	_, mayJoin := p.FollowerFetched(3, 1, 10, t0.Add(20*time.Second))
	if !mayJoin {
		t.Fatal("a follower at the HW may not join")
	}
	if _, ok := p.ProposeISR(t0.Add(20*time.Second), lag, time.Minute, func(id int32) bool { return id != 3 }); ok {
		t.Fatal("an ineligible (fenced) follower proposed for the ISR")
	}
	c, ok = p.ProposeISR(t0.Add(20*time.Second), lag, time.Minute, all)
	if !ok || !slices.Equal(c.ISR, []int32{1, 2, 3}) {
		t.Fatalf("expansion %v %v", c.ISR, ok)
	}
	// Refused: the change is dropped, to be proposed again.
	p.ISRChanged(c, false, nil, 0)
	if _, ok := p.ProposeISR(t0.Add(21*time.Second), lag, time.Minute, all); !ok {
		t.Fatal("a refused expansion was not proposed again")
	}
}

func TestFollowerWritesNeedTheEpochTheyCameFrom(t *testing.T) {
	leader := newPartition(t, 1)
	mustUpdate(t, leader, State{Leader: 1, LeaderEpoch: 2, Replicas: []int32{1, 2}, ISR: []int32{1, 2}})
	appendN(t, leader, 2, 3)
	appendN(t, leader, 2, 4)
	data, err := leader.Log.Read(0, 1<<20, leader.Log.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	f := newPartition(t, 2)
	mustUpdate(t, f, State{Leader: 1, LeaderEpoch: 2, Replicas: []int32{1, 2}, ISR: []int32{1, 2}})
	if err := f.AppendAsFollower(data, 1, 7); !errors.Is(err, ErrNotFollower) {
		t.Fatalf("append in another epoch: %v", err)
	}
	if err := f.AppendAsFollower(data, 2, 5); err != nil {
		t.Fatal(err)
	}
	if leo, hw := f.Log.LogEndOffset(), f.Log.HighWatermark(); leo != 7 || hw != 5 {
		t.Fatalf("follower LEO %d HW %d, want 7 and 5", leo, hw)
	}
	if l, e, ok := f.FollowerOf(); !ok || l != 1 || e != 2 {
		t.Fatalf("FollowerOf = %d %d %v", l, e, ok)
	}
	// The follower becomes leader: follower writes are refused.
	mustUpdate(t, f, State{Leader: 2, LeaderEpoch: 3, Replicas: []int32{1, 2}, ISR: []int32{2}})
	if err := f.TruncateAsFollower(3, 2); !errors.Is(err, ErrNotFollower) {
		t.Fatalf("truncate as leader: %v", err)
	}
	if _, _, ok := f.FollowerOf(); ok {
		t.Fatal("FollowerOf says following while leading")
	}
}

func TestTruncationOffset(t *testing.T) {
	// The follower's log: epoch 1 at [0,3), epoch 2 at [3,7), epoch 5 at
	// [7,9).
	f := newPartition(t, 2)
	mustUpdate(t, f, State{Leader: 2, LeaderEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{2}})
	appendN(t, f, 1, 3)
	mustUpdate(t, f, State{Leader: 2, LeaderEpoch: 2, Replicas: []int32{1, 2}, ISR: []int32{2}})
	appendN(t, f, 2, 4)
	mustUpdate(t, f, State{Leader: 2, LeaderEpoch: 5, Replicas: []int32{1, 2}, ISR: []int32{2}})
	appendN(t, f, 5, 2)
	for _, tc := range []struct {
		name        string
		epoch       int32
		end, wantTo int64
	}{
		{"same epoch, the leader's end is lower", 2, 5, 5},
		{"same epoch, the follower's end is lower", 2, 8, 7},
		{"an epoch the follower skipped: its largest below", 4, 8, 7},
		{"no epoch: the leader's log end", -1, 6, 6},
		{"no epoch, the leader is ahead", -1, 20, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := TruncationOffset(f.Log, tc.epoch, tc.end); got != tc.wantTo {
				t.Fatalf("TruncationOffset(%d, %d) = %d, want %d", tc.epoch, tc.end, got, tc.wantTo)
			}
		})
	}
}

func TestBellWakesEveryWaiter(t *testing.T) {
	var b bell
	w1, w2 := b.wait(), b.wait()
	b.ring()
	for _, w := range []<-chan struct{}{w1, w2} {
		select {
		case <-w:
		default:
			t.Fatal("a waiter was not woken")
		}
	}
	select {
	case <-b.wait():
		t.Fatal("a new wait is already rung")
	default:
	}
}
