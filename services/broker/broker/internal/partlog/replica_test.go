package partlog

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/recordbatch"
)

// leaderBatches returns batches as a leader stores them: offsets from start,
// the given epoch.
func leaderBatches(t *testing.T, start int64, epoch int32, specs ...batchSpec) []byte {
	t.Helper()
	return asLeader(build(t, start, specs...), start, epoch)
}

// asLeader rewrites batches built for offsets from start as a leader stores
// them: their offsets, and the leader epoch epoch.
func asLeader(buf []byte, start int64, epoch int32) []byte {
	off := start
	for b := range recordbatch.All(buf) {
		h, _ := recordbatch.ParseHeader(b)
		recordbatch.SetBaseOffset(b, off)
		recordbatch.SetLeaderEpoch(b, epoch)
		off += int64(h.LastOffsetDelta) + 1
	}
	return buf
}

func TestAppendReplicaFromLeader(t *testing.T) {
	s, _ := openStore(t, Options{})
	topic := metadata.NewTopicID()
	leader := partition(t, s, topic, 0)
	follower := partition(t, s, topic, 1)
	appendAt(t, leader, 1, nBatches(3, 2, 50)...)
	appendAt(t, leader, 2, batchSpec{records: 4, valueSize: 3000})
	appendAt(t, leader, 5, nBatches(2, 1, 10)...)
	for follower.LogEndOffset() < leader.LogEndOffset() {
		buf, err := leader.Read(follower.LogEndOffset(), 5000, leader.LogEndOffset())
		if err != nil {
			t.Fatal(err)
		}
		if err := follower.AppendReplica(buf); err != nil {
			t.Fatalf("AppendReplica at %d: %v", follower.LogEndOffset(), err)
		}
	}
	want, _ := leader.Read(0, 1<<20, leader.LogEndOffset())
	got, _ := follower.Read(0, 1<<20, follower.LogEndOffset())
	if !bytes.Equal(got, want) {
		t.Fatal("the follower's log differs from the leader's")
	}
	if l, f := fmt.Sprint(leader.EpochHistory()), fmt.Sprint(follower.EpochHistory()); l != f || f != "[{1 0} {2 6} {5 10}]" {
		t.Fatalf("epoch histories: leader %s, follower %s", l, f)
	}
	if follower.Size() != leader.Size() {
		t.Fatalf("sizes: follower %d, leader %d", follower.Size(), leader.Size())
	}
	if err := follower.AppendReplica(nil); err != nil {
		t.Fatalf("empty AppendReplica: %v", err)
	}
}

func TestAppendReplicaRejects(t *testing.T) {
	s, _ := openStore(t, Options{})
	l := partition(t, s, metadata.NewTopicID(), 0)
	if err := l.AppendReplica(leaderBatches(t, 0, 3, batchSpec{records: 5, valueSize: 10})); err != nil {
		t.Fatal(err)
	}
	before := stateOf(l)
	join := func(bufs ...[]byte) []byte { return bytes.Join(bufs, nil) }
	for _, tc := range []struct {
		name   string
		input  []byte
		target error
	}{
		{"gap before", leaderBatches(t, 6, 3, batchSpec{records: 1, valueSize: 10}), ErrNotContiguous},
		{"overlap", leaderBatches(t, 4, 3, batchSpec{records: 2, valueSize: 10}), ErrNotContiguous},
		{"restart at zero", leaderBatches(t, 0, 3, batchSpec{records: 1, valueSize: 10}), ErrNotContiguous},
		{"gap between batches", join(
			leaderBatches(t, 5, 3, batchSpec{records: 2, valueSize: 10}),
			leaderBatches(t, 8, 3, batchSpec{records: 2, valueSize: 10})), ErrNotContiguous},
		{"older epoch", leaderBatches(t, 5, 2, batchSpec{records: 1, valueSize: 10}), ErrStaleLeaderEpoch},
		{"epoch goes back inside", join(
			leaderBatches(t, 5, 4, batchSpec{records: 1, valueSize: 10}),
			leaderBatches(t, 6, 3, batchSpec{records: 1, valueSize: 10})), ErrStaleLeaderEpoch},
		{"no epoch", leaderBatches(t, 5, -1, batchSpec{records: 1, valueSize: 10}), ErrStaleLeaderEpoch},
		{"truncated", leaderBatches(t, 5, 3, batchSpec{records: 1, valueSize: 10})[:70], recordbatch.ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, l.AppendReplica(tc.input), tc.target)
			if got := stateOf(l); got != before {
				t.Fatalf("state changed: %+v, was %+v", got, before)
			}
			if buf, _ := l.Read(5, 1<<20, 100); len(buf) != 0 {
				t.Fatal("a rejected batch is readable")
			}
		})
	}
	// Several batches, with an epoch change, in one append.
	if err := l.AppendReplica(join(
		leaderBatches(t, 5, 3, batchSpec{records: 2, valueSize: 10}),
		leaderBatches(t, 7, 6, batchSpec{records: 2, valueSize: 10}))); err != nil {
		t.Fatal(err)
	}
	if h := fmt.Sprint(l.EpochHistory()); h != "[{3 0} {6 7}]" {
		t.Fatalf("epoch history = %s", h)
	}
	readAll(t, l, 0, 9, 1<<20)
}

func TestTruncateTo(t *testing.T) {
	// The log: epoch 1 [0,5) [5,10), epoch 2 [10,15) [15,20), epoch 4
	// [20,25), HW 18, log start 5 (after DeleteBefore).
	setup := func(t *testing.T) (*Store, string, *Log) {
		s, dir := openStore(t, Options{MemTableSize: 1 << 20})
		s.chunk = 2 // several transactions per truncation
		l := partition(t, s, metadata.NewTopicID(), 0)
		appendAt(t, l, 1, nBatches(2, 5, 100)...)
		appendAt(t, l, 2, batchSpec{records: 5, valueSize: 3000}, batchSpec{records: 5, valueSize: 100})
		appendAt(t, l, 4, batchSpec{records: 5, valueSize: 100})
		l.SetHighWatermark(18)
		if err := l.DeleteBefore(5); err != nil {
			t.Fatal(err)
		}
		return s, dir, l
	}
	for _, tc := range []struct {
		offset int64
		want   state // size is checked against the batches
	}{
		{25, state{5, 25, 18, 0, "[{1 5} {2 10} {4 20}]"}}, // at LEO: no-op
		{40, state{5, 25, 18, 0, "[{1 5} {2 10} {4 20}]"}}, // beyond LEO: no-op
		{20, state{5, 20, 18, 0, "[{1 5} {2 10}]"}},        // at a boundary
		{22, state{5, 20, 18, 0, "[{1 5} {2 10}]"}},        // inside the last batch
		{15, state{5, 15, 15, 0, "[{1 5} {2 10}]"}},        // HW lowered
		{11, state{5, 10, 10, 0, "[{1 5}]"}},               // inside: the batch goes
		{6, state{5, 5, 5, 0, "[]"}},                       // inside the first batch
		{5, state{5, 5, 5, 0, "[]"}},                       // at the log start
		{3, state{3, 3, 3, 0, "[]"}},                       // below it: start at 3
		{0, state{0, 0, 0, 0, "[]"}},                       // start at 0
	} {
		t.Run(fmt.Sprint(tc.offset), func(t *testing.T) {
			s, dir, l := setup(t)
			if err := l.TruncateTo(tc.offset); err != nil {
				t.Fatal(err)
			}
			check := func(l *Log) {
				t.Helper()
				got := stateOf(l)
				kept := readAll(t, l, got.logStart, got.leo, 1<<20)
				tc.want.size = sumSizes(kept)
				if got != tc.want {
					t.Fatalf("after TruncateTo(%d): %+v, want %+v", tc.offset, got, tc.want)
				}
				if buf, err := l.Read(got.leo, 1<<20, 1000); err != nil || len(buf) != 0 {
					t.Fatalf("Read at the new LEO = %d bytes, %v", len(buf), err)
				}
			}
			check(l)
			topic := l.Topic()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = reopen(t, dir, Options{MemTableSize: 1 << 20})
			l = partition(t, s, topic, 0)
			check(l)
			// The log continues at the new end, in a new epoch.
			leo := l.LogEndOffset()
			appendAt(t, l, 7, batchSpec{records: 2, valueSize: 10})
			readAll(t, l, l.LogStartOffset(), leo+2, 1<<20)
			if e, end := l.LastOffsetForEpoch(7); e != 7 || end != leo+2 {
				t.Fatalf("LastOffsetForEpoch(7) = %d, %d", e, end)
			}
		})
	}
	t.Run("negative", func(t *testing.T) {
		_, _, l := setup(t)
		wantErr(t, l.TruncateTo(-1), ErrOffsetOutOfRange)
	})
	t.Run("an epoch assigned at the end and never written goes", func(t *testing.T) {
		s, dir, l := setup(t)
		if err := l.AssignEpoch(6); err != nil { // a leader deposed before its first append
			t.Fatal(err)
		}
		if err := l.TruncateTo(l.LogEndOffset()); err != nil {
			t.Fatal(err)
		}
		want := state{5, 25, 18, 0, "[{1 5} {2 10} {4 20}]"}
		want.size = l.Size()
		if got := stateOf(l); got != want {
			t.Fatalf("after TruncateTo(LEO): %+v, want %+v", got, want)
		}
		topic := l.Topic()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		l = partition(t, reopen(t, dir, Options{MemTableSize: 1 << 20}), topic, 0)
		if got := fmt.Sprint(l.EpochHistory()); got != "[{1 5} {2 10} {4 20}]" {
			t.Fatalf("epoch history after reopening: %s", got)
		}
	})
}

func TestTruncateFullyAndStartAt(t *testing.T) {
	s, dir := openStore(t, Options{})
	topic := metadata.NewTopicID()
	l := partition(t, s, topic, 0)
	appendAt(t, l, 1, nBatches(3, 5, 10)...)
	l.SetHighWatermark(10)
	if err := l.TruncateFullyAndStartAt(100); err != nil {
		t.Fatal(err)
	}
	want := state{100, 100, 100, 0, "[]"}
	if got := stateOf(l); got != want {
		t.Fatalf("state = %+v, want %+v", got, want)
	}
	_, err := l.Read(10, 100, 1000)
	wantErr(t, err, ErrOffsetOutOfRange)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, dir, Options{})
	l = partition(t, s, topic, 0)
	if got := stateOf(l); got != want {
		t.Fatalf("after reopen: %+v, want %+v", got, want)
	}
	if err := l.AppendReplica(leaderBatches(t, 100, 3, batchSpec{records: 2, valueSize: 10})); err != nil {
		t.Fatal(err)
	}
	readAll(t, l, 100, 102, 1<<20)
	countKeys(t, s, l.key[:], func(key []byte) {
		if base, ok := l.key.dataOffset(key); ok && base < 100 {
			t.Errorf("batch at %d is still stored", base)
		}
	})
}

func TestEpochHistory(t *testing.T) {
	s, dir := openStore(t, Options{})
	topic := metadata.NewTopicID()
	l := partition(t, s, topic, 0)
	history := func() string { return fmt.Sprint(l.EpochHistory()) }
	if l.LatestEpoch() != -1 || history() != "[]" {
		t.Fatalf("new log: latest %d, history %s", l.LatestEpoch(), history())
	}
	appendAt(t, l, 0, batchSpec{records: 3, valueSize: 10})
	appendAt(t, l, 0, batchSpec{records: 3, valueSize: 10})
	appendAt(t, l, 2, batchSpec{records: 3, valueSize: 10})
	appendAt(t, l, 5, batchSpec{records: 3, valueSize: 10})
	appendAt(t, l, 5, batchSpec{records: 3, valueSize: 10})
	if h := history(); h != "[{0 0} {2 6} {5 9}]" || l.LatestEpoch() != 5 {
		t.Fatalf("history %s, latest %d", h, l.LatestEpoch())
	}
	// A new leader records its epoch at the LEO before appending; a later
	// epoch assigned at the same offset replaces it (Kafka's assign).
	if err := l.AssignEpoch(5); err != nil {
		t.Fatal(err)
	}
	if err := l.AssignEpoch(7); err != nil {
		t.Fatal(err)
	}
	if err := l.AssignEpoch(8); err != nil {
		t.Fatal(err)
	}
	if h := history(); h != "[{0 0} {2 6} {5 9} {8 15}]" {
		t.Fatalf("history after AssignEpoch = %s", h)
	}
	wantErr(t, l.AssignEpoch(6), ErrStaleLeaderEpoch)
	_, err := l.Append(build(t, 15, batchSpec{records: 1, valueSize: 10}), 7)
	wantErr(t, err, ErrStaleLeaderEpoch)
	appendAt(t, l, 8, batchSpec{records: 3, valueSize: 10}) // [15, 18)
	if h := history(); h != "[{0 0} {2 6} {5 9} {8 15}]" {
		t.Fatalf("history = %s", h)
	}
	// The log start moves into epoch 2: its entry now starts there.
	l.SetHighWatermark(18)
	if err := l.DeleteBefore(7); err != nil {
		t.Fatal(err)
	}
	if h := history(); h != "[{2 6} {5 9} {8 15}]" {
		t.Fatalf("history after DeleteBefore(7) (log start 6) = %s", h)
	}
	if err := l.DeleteBefore(10); err != nil {
		t.Fatal(err)
	}
	if h := history(); h != "[{5 9} {8 15}]" || l.LogStartOffset() != 9 {
		t.Fatalf("history after DeleteBefore(10) = %s, log start %d", h, l.LogStartOffset())
	}
	if err := l.TruncateTo(15); err != nil {
		t.Fatal(err)
	}
	if h := history(); h != "[{5 9}]" {
		t.Fatalf("history after TruncateTo(15) = %s", h)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, dir, Options{})
	l = partition(t, s, topic, 0)
	if h := history(); h != "[{5 9}]" {
		t.Fatalf("history after reopen = %s", h)
	}
}

func TestLastOffsetForEpoch(t *testing.T) {
	// History {1:0} {3:10} {5:20}, LEO 30, as Kafka's
	// LeaderEpochFileCacheTest cases.
	h := epochHistory{{1, 0}, {3, 10}, {5, 20}}
	for _, tc := range []struct {
		epoch, wantEpoch int32
		wantEnd          int64
	}{
		{-1, -1, -1}, // undefined
		{0, 0, 0},    // below the earliest: the requested epoch, its start
		{1, 1, 10},   // end of 1: start of 3
		{2, 1, 10},   // between: the floor epoch, the start of the next
		{3, 3, 20},
		{4, 3, 20},
		{5, 5, 30}, // the latest: the LEO
		{6, -1, -1},
		{100, -1, -1},
	} {
		if e, end := h.endOffsetFor(tc.epoch, 30); e != tc.wantEpoch || end != tc.wantEnd {
			t.Errorf("endOffsetFor(%d) = %d, %d; want %d, %d", tc.epoch, e, end, tc.wantEpoch, tc.wantEnd)
		}
	}
	if e, end := (epochHistory{}).endOffsetFor(0, 30); e != -1 || end != -1 {
		t.Errorf("empty history: %d, %d", e, end)
	}

	// Through a log.
	s, _ := openStore(t, Options{})
	l := partition(t, s, metadata.NewTopicID(), 0)
	if e, end := l.LastOffsetForEpoch(0); e != -1 || end != -1 {
		t.Fatalf("empty log: %d, %d", e, end)
	}
	appendAt(t, l, 1, batchSpec{records: 10, valueSize: 10})
	appendAt(t, l, 3, batchSpec{records: 10, valueSize: 10})
	appendAt(t, l, 5, batchSpec{records: 10, valueSize: 10})
	for _, epoch := range []int32{-1, 0, 1, 2, 3, 4, 5, 6} {
		we, wend := h.endOffsetFor(epoch, 30)
		if e, end := l.LastOffsetForEpoch(epoch); e != we || end != wend {
			t.Errorf("LastOffsetForEpoch(%d) = %d, %d; want %d, %d", epoch, e, end, we, wend)
		}
	}
}

func TestEpochHistoryPure(t *testing.T) {
	h := epochHistory{{1, 0}, {3, 10}, {5, 20}}
	for _, tc := range []struct {
		name string
		got  epochHistory
		want string
	}{
		{"fromEnd 20", first(h.truncateFromEnd(20)), "[{1 0} {3 10}]"},
		{"fromEnd 21", first(h.truncateFromEnd(21)), "[{1 0} {3 10} {5 20}]"},
		{"fromEnd 0", first(h.truncateFromEnd(0)), "[]"},
		{"fromStart 0", first3(h.truncateFromStart(0)), "[{1 0} {3 10} {5 20}]"},
		{"fromStart 15", first3(h.truncateFromStart(15)), "[{3 15} {5 20}]"},
		{"fromStart 20", first3(h.truncateFromStart(20)), "[{5 20}]"},
		{"fromStart 40", first3(h.truncateFromStart(40)), "[{5 40}]"},
		{"assign same epoch", first3(h.assign(EpochEntry{5, 25})), "[{1 0} {3 10} {5 20}]"},
		{"assign new", first3(h.assign(EpochEntry{6, 25})), "[{1 0} {3 10} {5 20} {6 25}]"},
		{"assign at same start", first3(h.assign(EpochEntry{6, 20})), "[{1 0} {3 10} {6 20}]"},
		{"assign to empty", first3(epochHistory{}.assign(EpochEntry{0, 7})), "[{0 7}]"},
	} {
		if fmt.Sprint(tc.got) != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, tc.got, tc.want)
		}
	}
	if fmt.Sprint(h) != "[{1 0} {3 10} {5 20}]" {
		t.Fatalf("the receiver was modified: %v", h)
	}
}

func first[A, B any](a A, _ B) A { return a }

func first3[A, B, C any](a A, _ B, _ C) A { return a }

// TestOffsetOverflow checks that no append can produce an offset past
// 2^63-1, which would make a key that sorts among the metadata keys.
func TestOffsetOverflow(t *testing.T) {
	s, _ := openStore(t, Options{})
	l := partition(t, s, metadata.NewTopicID(), 0)
	const start = 1<<63 - 1 - 5
	if err := l.TruncateFullyAndStartAt(start); err != nil {
		t.Fatal(err)
	}
	before := stateOf(l)
	_, err := l.Append(build(t, 0, batchSpec{records: 10, valueSize: 10}), 1)
	wantErr(t, err, recordbatch.ErrInvalidRecord)
	wantErr(t, l.AppendReplica(leaderBatches(t, start, 1, batchSpec{records: 10, valueSize: 10})), recordbatch.ErrInvalidRecord)
	if got := stateOf(l); got != before {
		t.Fatalf("state changed: %+v", got)
	}
	if err := l.AppendReplica(leaderBatches(t, start, 1, batchSpec{records: 5, valueSize: 10})); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 1<<63-1 {
		t.Fatalf("LEO = %d", l.LogEndOffset())
	}
}
