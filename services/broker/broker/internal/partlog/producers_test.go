package partlog

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/recordbatch"
)

// pspec is a batch to build: records of an idempotent producer (id 0 and
// epoch 0 mean none: recordbatch.NoProducerID).
type pspec struct {
	id      int64
	epoch   int16
	seq     int32
	records int
}

func (p pspec) String() string {
	return fmt.Sprintf("producer %d epoch %d seq %d+%d", p.id, p.epoch, p.seq, p.records)
}

// buildP builds batches for offsets from start on, as build does, with the
// producer fields of specs. The same specs at the same start give the same
// bytes: a retry.
func buildP(start int64, specs ...pspec) []byte {
	var out []byte
	b := recordbatch.NewBuilder(recordbatch.None, nil)
	off := start
	for _, s := range specs {
		var p *recordbatch.Producer
		if s.id != 0 {
			p = &recordbatch.Producer{ID: s.id, Epoch: s.epoch, BaseSequence: s.seq}
		}
		b.Reset(recordbatch.None, p)
		for range s.records {
			b.Append(recordbatch.Record{Value: recordValue(off, 20), Timestamp: recordTime(off)})
			off++
		}
		var err error
		if out, err = b.Build(out); err != nil {
			panic(err)
		}
	}
	return out
}

// appendP appends specs at the log end and wants them appended there.
func appendP(t testing.TB, l *Log, specs ...pspec) AppendInfo {
	t.Helper()
	leo := l.LogEndOffset()
	info, err := l.Append(buildP(leo, specs...), 1)
	if err != nil {
		t.Fatalf("append %v at %d: %v", specs, leo, err)
	}
	if info.Duplicate || info.FirstOffset != leo {
		t.Fatalf("append %v at %d: %+v", specs, leo, info)
	}
	return info
}

// retry appends specs again as they were first built at start, and wants
// them answered as duplicates of [first, last] with nothing appended.
func retry(t testing.TB, l *Log, start, first, last int64, specs ...pspec) {
	t.Helper()
	before := stateOf(l)
	info, err := l.Append(buildP(start, specs...), 1)
	if err != nil {
		t.Fatalf("retry of %v: %v", specs, err)
	}
	if want := (AppendInfo{FirstOffset: first, LastOffset: last, Duplicate: true}); info != want {
		t.Fatalf("retry of %v: %+v, want %+v", specs, info, want)
	}
	if got := stateOf(l); got != before {
		t.Fatalf("a retry changed the log: %+v, was %+v", got, before)
	}
}

// producerState is a producer's state as a string, "-" when unknown, for
// comparisons.
func producerState(l *Log, id int64) string {
	e, ok := l.Producer(id)
	if !ok {
		return "-"
	}
	return fmt.Sprint(e)
}

// TestProducerChecks walks BAD_INPUTS rows 10-13 and their neighbours in
// the partition log: each step either appends at the log end, is a retry
// answered with the original offsets, or is refused with Kafka's error and
// changes nothing.
func TestProducerChecks(t *testing.T) {
	s, _ := openStore(t, Options{})
	l := partition(t, s, metadata.NewTopicID(), 0)
	const appended, dup = "appended", "duplicate"
	steps := []struct {
		name  string
		specs []pspec
		start int64  // for a duplicate: where the originals were built
		want  string // appended, duplicate, or the error message
		first int64  // the offsets answered
		last  int64
		err   error
	}{
		{"first batch", []pspec{{7, 1, 0, 3}}, 0, appended, 0, 2, nil},
		{"next batch", []pspec{{7, 1, 3, 2}}, 0, appended, 3, 4, nil},
		{"row 11: retry of the first", []pspec{{7, 1, 0, 3}}, 0, dup, 0, 2, nil},
		{"row 11: retry of the last", []pspec{{7, 1, 3, 2}}, 3, dup, 3, 4, nil},
		{"row 10: a gap", []pspec{{7, 1, 6, 1}}, 0,
			"Out of order sequence number for producer 7 at offset 5 in partition T-0: 6 (incoming seq. number), 4 (current end sequence number)", 0, 0, ErrOutOfOrderSequence},
		{"overlap that is no exact retry", []pspec{{7, 1, 4, 2}}, 0,
			"Out of order sequence number for producer 7 at offset 5 in partition T-0: 4 (incoming seq. number), 4 (current end sequence number)", 0, 0, ErrOutOfOrderSequence},
		{"retry with other records", []pspec{{7, 1, 3, 3}}, 0,
			"Out of order sequence number for producer 7 at offset 5 in partition T-0: 3 (incoming seq. number), 4 (current end sequence number)", 0, 0, ErrOutOfOrderSequence},
		{"row 12: new epoch not at 0", []pspec{{7, 2, 5, 1}}, 0,
			"Invalid sequence number for new epoch: 2 (request epoch), 5 (seq. number)", 0, 0, ErrOutOfOrderSequence},
		{"row 13: older epoch", []pspec{{7, 0, 5, 1}}, 0,
			"Epoch of producer 7 at offset 5 in T-0 is 0, which is smaller than the last seen epoch 1", 0, 0, ErrInvalidProducerEpoch},
		{"a gap in the second batch refuses the first", []pspec{{7, 1, 5, 1}, {7, 1, 7, 1}}, 0,
			"Out of order sequence number for producer 7 at offset 6 in partition T-0: 7 (incoming seq. number), 5 (current end sequence number)", 0, 0, ErrOutOfOrderSequence},
		{"new epoch at 0", []pspec{{7, 2, 0, 2}}, 0, appended, 5, 6, nil},
		{"the old epoch's retry is fenced", []pspec{{7, 1, 3, 2}}, 3,
			"Epoch of producer 7 at offset 7 in T-0 is 1, which is smaller than the last seen epoch 2", 0, 0, ErrInvalidProducerEpoch},
		{"an unknown producer starts anywhere", []pspec{{8, 0, 42, 1}}, 0, appended, 7, 7, nil},
		{"no producer id: not checked", []pspec{{0, 0, 0, 2}, {0, 0, 0, 1}}, 0, appended, 8, 10, nil},
		{"two batches of two producers", []pspec{{7, 2, 2, 1}, {8, 0, 43, 2}, {7, 2, 3, 1}}, 0, appended, 11, 14, nil},
		{"their retry", []pspec{{7, 2, 2, 1}, {8, 0, 43, 2}, {7, 2, 3, 1}}, 11, dup, 11, 14, nil},
		{"a retry with a new batch is no retry", []pspec{{7, 2, 3, 1}, {7, 2, 4, 1}}, 0,
			"Out of order sequence number for producer 7 at offset 15 in partition T-0: 3 (incoming seq. number), 3 (current end sequence number)", 0, 0, ErrOutOfOrderSequence},
		{"a retry with a plain batch is no retry", []pspec{{7, 2, 3, 1}, {0, 0, 0, 1}}, 0,
			"Out of order sequence number for producer 7 at offset 15 in partition T-0: 3 (incoming seq. number), 3 (current end sequence number)", 0, 0, ErrOutOfOrderSequence},
	}
	for _, st := range steps {
		before := stateOf(l)
		p7, p8 := producerState(l, 7), producerState(l, 8)
		start := l.LogEndOffset()
		if st.want == dup {
			start = st.start
		}
		info, err := l.Append(buildP(start, st.specs...), 1)
		switch st.want {
		case appended, dup:
			want := AppendInfo{FirstOffset: st.first, LastOffset: st.last, Duplicate: st.want == dup}
			if err != nil || info != want {
				t.Fatalf("%s: %+v, %v; want %+v", st.name, info, err, want)
			}
			if st.want == dup && stateOf(l) != before {
				t.Fatalf("%s: a retry changed the log: %+v", st.name, stateOf(l))
			}
			continue
		}
		wantErr(t, err, st.err)
		pe, ok := errors.AsType[*ProducerError](err)
		if !ok {
			t.Fatalf("%s: %T is no *ProducerError", st.name, err)
		}
		if msg := pe.Message("T-0"); msg != st.want {
			t.Fatalf("%s: message\n%q, want\n%q", st.name, msg, st.want)
		}
		if !strings.Contains(err.Error(), l.Topic().String()+"-0") {
			t.Errorf("%s: error %q does not name the partition", st.name, err)
		}
		if got := stateOf(l); got != before {
			t.Fatalf("%s: refused, yet the log changed: %+v, was %+v", st.name, got, before)
		}
		if producerState(l, 7) != p7 || producerState(l, 8) != p8 {
			t.Fatalf("%s: refused, yet the producers changed", st.name)
		}
	}
	// The stored batches are the appended ones, in order.
	readAll(t, l, 0, l.LogEndOffset(), 1<<20)
	want := "{2 [{0 1 5 6 1700000000006} {2 2 11 11 1700000000011} {3 3 14 14 1700000000014}]}"
	if got := producerState(l, 7); got != want {
		t.Errorf("producer 7: %s, want %s", got, want)
	}
}

// A partition remembers a producer's last five batches: a retry of an
// older one is out of order, as in Kafka.
func TestProducerRetainsFiveBatches(t *testing.T) {
	s, _ := openStore(t, Options{})
	l := partition(t, s, metadata.NewTopicID(), 0)
	for i := range int32(7) {
		appendP(t, l, pspec{7, 0, 2 * i, 2})
	}
	e, _ := l.Producer(7)
	if len(e.Batches) != ProducerBatchesRetained || e.Batches[0].FirstOffset != 4 || e.LastTimestamp() != recordTime(13) {
		t.Fatalf("producer 7: %+v", e)
	}
	for i := int64(2); i < 7; i++ {
		retry(t, l, 2*i, 2*i, 2*i+1, pspec{7, 0, int32(2 * i), 2})
	}
	_, err := l.Append(buildP(2, pspec{7, 0, 2, 2}), 1)
	wantErr(t, err, ErrOutOfOrderSequence)
}

// Sequence numbers wrap from math.MaxInt32 to 0.
func TestProducerSequenceWraps(t *testing.T) {
	s, _ := openStore(t, Options{})
	l := partition(t, s, metadata.NewTopicID(), 0)
	appendP(t, l, pspec{7, 0, math.MaxInt32 - 1, 3}) // MaxInt32-1, MaxInt32, 0
	if e, _ := l.Producer(7); e.Batches[0].LastSeq != 0 {
		t.Fatalf("last sequence %d, want 0", e.Batches[0].LastSeq)
	}
	appendP(t, l, pspec{7, 0, 1, 1})
	retry(t, l, 0, 0, 2, pspec{7, 0, math.MaxInt32 - 1, 3})
	appendP(t, l, pspec{9, 0, math.MaxInt32, 1})
	appendP(t, l, pspec{9, 0, 0, 1})
	_, err := l.Append(buildP(l.LogEndOffset(), pspec{9, 0, math.MaxInt32, 2}), 1)
	wantErr(t, err, ErrOutOfOrderSequence)
}

// The producer states are on disk with the batches: after Close and Open,
// retries are still answered with their offsets and gaps still refused.
func TestProducerStateSurvivesReopen(t *testing.T) {
	s, dir := openStore(t, Options{})
	topic := metadata.NewTopicID()
	l := partition(t, s, topic, 0)
	appendP(t, l, pspec{7, 3, 0, 2}, pspec{8, 0, 10, 1})
	appendP(t, l, pspec{7, 3, 2, 2})
	p7, p8 := producerState(l, 7), producerState(l, 8)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	l = partition(t, reopen(t, dir, Options{}), topic, 0)
	if producerState(l, 7) != p7 || producerState(l, 8) != p8 {
		t.Fatalf("after reopening: %s %s, want %s %s", producerState(l, 7), producerState(l, 8), p7, p8)
	}
	retry(t, l, 0, 0, 2, pspec{7, 3, 0, 2}, pspec{8, 0, 10, 1})
	retry(t, l, 3, 3, 4, pspec{7, 3, 2, 2})
	_, err := l.Append(buildP(5, pspec{7, 3, 5, 1}), 1)
	wantErr(t, err, ErrOutOfOrderSequence)
	appendP(t, l, pspec{7, 3, 4, 1})
}

// A follower records the producers of the leader's batches, without the
// leader's checks, so that it dedups retries once it leads.
func TestProducerStateOnReplica(t *testing.T) {
	s, _ := openStore(t, Options{})
	topic := metadata.NewTopicID()
	leader, follower := partition(t, s, topic, 0), partition(t, s, topic, 1)
	for i := range int32(3) {
		appendP(t, leader, pspec{7, 1, 2 * i, 2}, pspec{8, 0, i, 1})
	}
	buf, err := leader.Read(0, 1<<20, leader.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	if err := follower.AppendReplica(buf); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{7, 8} {
		if f, l := producerState(follower, id), producerState(leader, id); f != l {
			t.Fatalf("producer %d: follower %s, leader %s", id, f, l)
		}
	}
	// The follower becomes the leader (epoch 2): a retry of a batch the old
	// leader acknowledged gets its offset.
	if err := follower.AssignEpoch(2); err != nil {
		t.Fatal(err)
	}
	info, err := follower.Append(buildP(6, pspec{7, 1, 4, 2}, pspec{8, 0, 2, 1}), 2)
	if err != nil || info != (AppendInfo{FirstOffset: 6, LastOffset: 8, Duplicate: true}) {
		t.Fatalf("retry on the new leader: %+v, %v", info, err)
	}
	_, err = follower.Append(buildP(9, pspec{7, 1, 7, 1}), 2)
	wantErr(t, err, ErrOutOfOrderSequence)

	// What a leader sends is not checked again: a sequence gap and an epoch
	// going back are recorded as they come (Kafka's replication append).
	if err := follower.AppendReplica(asLeader(buildP(9, pspec{7, 1, 20, 1}, pspec{8, 5, 0, 1}, pspec{8, 4, 9, 1}), 9, 2)); err != nil {
		t.Fatal(err)
	}
	if got, want := producerState(follower, 8), "{4 [{9 9 11 11 1700000000011}]}"; got != want {
		t.Fatalf("producer 8 on the follower: %s, want %s", got, want)
	}
}

// truncationLog builds the log of TestProducerStateOnTruncation, 2 records
// per batch:
//
//	offsets  0-15  producer 7 epoch 1 seq 0-15 (8 batches)
//	        16-17  producer 11 epoch 1 seq 0
//	        18-19  producer 9 seq 0
//	        20-29  producer 7 epoch 1 seq 16-25 (5 batches)
//	        30-31  producer 9 seq 2
//	        32-33  producer 10 seq 0
//	        34-37  producer 11 epoch 2 seq 0-3
func truncationLog(t *testing.T, l *Log) {
	t.Helper()
	for i := range int32(8) {
		appendP(t, l, pspec{7, 1, 2 * i, 2})
	}
	appendP(t, l, pspec{11, 1, 0, 2})
	appendP(t, l, pspec{9, 0, 0, 2})
	for i := range int32(5) {
		appendP(t, l, pspec{7, 1, 16 + 2*i, 2})
	}
	appendP(t, l, pspec{9, 0, 2, 2})
	appendP(t, l, pspec{10, 0, 0, 2})
	appendP(t, l, pspec{11, 2, 0, 2}, pspec{11, 2, 2, 2})
}

// A truncation keeps the producers' batches below the new end and rebuilds
// from the log the producers that lost all their retained batches, on disk
// too.
func TestProducerStateOnTruncation(t *testing.T) {
	for _, tc := range []struct {
		name string
		to   int64
		want map[int64]string // "-": unknown
	}{
		{"the last batches", 32, map[int64]string{
			7:  "{1 [{16 17 20 21 1700000000021} {18 19 22 23 1700000000023} {20 21 24 25 1700000000025} {22 23 26 27 1700000000027} {24 25 28 29 1700000000029}]}",
			9:  "{0 [{0 1 18 19 1700000000019} {2 3 30 31 1700000000031}]}",
			10: "-",
			11: "{1 [{0 1 16 17 1700000000017}]}", // epoch 2 was only at the end: rebuilt from epoch 1
		}},
		{"inside a batch", 25, map[int64]string{
			7:  "{1 [{16 17 20 21 1700000000021} {18 19 22 23 1700000000023}]}",
			9:  "{0 [{0 1 18 19 1700000000019}]}",
			10: "-",
			11: "{1 [{0 1 16 17 1700000000017}]}",
		}},
		{"every retained batch of producer 7", 20, map[int64]string{
			// Rebuilt from the batches before: the last five of them.
			7:  "{1 [{6 7 6 7 1700000000007} {8 9 8 9 1700000000009} {10 11 10 11 1700000000011} {12 13 12 13 1700000000013} {14 15 14 15 1700000000015}]}",
			9:  "{0 [{0 1 18 19 1700000000019}]}",
			10: "-",
			11: "{1 [{0 1 16 17 1700000000017}]}",
		}},
		{"down to producer 7's first batches", 4, map[int64]string{
			7: "{1 [{0 1 0 1 1700000000001} {2 3 2 3 1700000000003}]}", 9: "-", 10: "-", 11: "-",
		}},
		{"below the log start", 0, map[int64]string{7: "-", 9: "-", 10: "-", 11: "-"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, dir := openStore(t, Options{})
			s.chunk = 2 // several transactions for the batches and the states
			topic := metadata.NewTopicID()
			l := partition(t, s, topic, 0)
			truncationLog(t, l)
			if err := l.TruncateTo(tc.to); err != nil {
				t.Fatal(err)
			}
			check := func(l *Log) {
				t.Helper()
				for id, want := range tc.want {
					if got := producerState(l, id); got != want {
						t.Errorf("producer %d: %s, want %s", id, got, want)
					}
				}
			}
			check(l)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			l = partition(t, reopen(t, dir, Options{}), topic, 0)
			check(l)
			// The rebuilt states dedup and check as before.
			if e, ok := l.Producer(7); ok {
				b := e.Batches[len(e.Batches)-1]
				retry(t, l, b.FirstOffset, b.FirstOffset, b.LastOffset, pspec{7, 1, b.FirstSeq, 2})
				appendP(t, l, pspec{7, 1, b.LastSeq + 1, 2})
			}
		})
	}
}

func TestTruncateFullyDropsProducerState(t *testing.T) {
	s, dir := openStore(t, Options{})
	topic := metadata.NewTopicID()
	l := partition(t, s, topic, 0)
	truncationLog(t, l)
	if err := l.TruncateFullyAndStartAt(100); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, s, l.key.meta(kindProducer), nil); n != 0 {
		t.Fatalf("%d producer keys left", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	l = partition(t, reopen(t, dir, Options{}), topic, 0)
	for _, id := range []int64{7, 9, 10, 11} {
		if got := producerState(l, id); got != "-" {
			t.Errorf("producer %d: %s", id, got)
		}
	}
	appendP(t, l, pspec{7, 1, 30, 1}) // unknown again: any sequence
}

// Producers whose batches are further back than producerScanLimit batches
// from the new end are forgotten.
func TestTruncationScanIsBounded(t *testing.T) {
	s, _ := openStore(t, Options{})
	l := partition(t, s, metadata.NewTopicID(), 0)
	plain := func(n int) {
		specs := make([]pspec, n)
		for i := range specs {
			specs[i] = pspec{records: 1}
		}
		appendP(t, l, specs...)
	}
	// Producer 7's first batch, then plain batches, then five more of its
	// batches (all it retains), which the truncation removes.
	lastFive := func() {
		for seq := range int32(5) {
			appendP(t, l, pspec{7, 0, 1 + seq, 1})
		}
	}
	appendP(t, l, pspec{7, 0, 0, 1})
	plain(producerScanLimit)
	end := l.LogEndOffset()
	lastFive()
	if err := l.TruncateTo(end); err != nil {
		t.Fatal(err)
	}
	if got := producerState(l, 7); got != "-" {
		t.Fatalf("producer 7 beyond the scan: %s", got)
	}
	// One batch closer, and it is found.
	if err := l.TruncateTo(1); err != nil {
		t.Fatal(err)
	}
	plain(producerScanLimit - 1)
	end = l.LogEndOffset()
	lastFive()
	if err := l.TruncateTo(end); err != nil {
		t.Fatal(err)
	}
	if got, want := producerState(l, 7), "{0 [{0 0 0 0 1700000000000}]}"; got != want {
		t.Fatalf("producer 7 at the edge of the scan: %s, want %s", got, want)
	}
}

// A crash between a truncation's deletion of batches and its write of the
// producer states (simulated by a failed commit) leaves states that point
// past the log end; opening the partition rebuilds them.
func TestProducerStateRepairedAtOpen(t *testing.T) {
	dir := t.TempDir()
	knobs := &testKnobs{}
	s, err := Open(dir, Options{knobs: knobs})
	if err != nil {
		t.Fatal(err)
	}
	topic := metadata.NewTopicID()
	l := partition(t, s, topic, 0)
	truncationLog(t, l)
	// The truncation's first commit deletes the batches (one chunk); the
	// next one, of the producer states, fails as if the process died.
	commits := 0
	knobs.beforeCommit = func(op string) error {
		if !strings.HasPrefix(op, "partlog: truncate") {
			return nil
		}
		if commits++; commits > 1 {
			return errors.New("injected: crash")
		}
		return nil
	}
	wantErr(t, l.TruncateTo(20), ErrStorage)
	if n := countKeys(t, s, l.key.meta(kindProducer), nil); n != 4 {
		t.Fatalf("%d producer keys after the failed truncation", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	l = partition(t, reopen(t, dir, Options{}), topic, 0)
	if l.LogEndOffset() != 20 {
		t.Fatalf("LEO %d after reopening", l.LogEndOffset())
	}
	for id, want := range map[int64]string{
		7:  "{1 [{6 7 6 7 1700000000007} {8 9 8 9 1700000000009} {10 11 10 11 1700000000011} {12 13 12 13 1700000000013} {14 15 14 15 1700000000015}]}",
		9:  "{0 [{0 1 18 19 1700000000019}]}",
		10: "-",
		11: "{1 [{0 1 16 17 1700000000017}]}",
	} {
		if got := producerState(l, id); got != want {
			t.Errorf("producer %d: %s, want %s", id, got, want)
		}
	}
}

func TestDeletePartitionDropsProducerState(t *testing.T) {
	s, _ := openStore(t, Options{})
	topic := metadata.NewTopicID()
	l := partition(t, s, topic, 0)
	appendP(t, l, pspec{7, 1, 0, 3})
	if n := countKeys(t, s, l.key.meta(kindProducer), nil); n != 1 {
		t.Fatalf("%d producer keys", n)
	}
	if err := s.DeletePartition(topic, 0); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, s, l.key.meta(kindProducer), nil); n != 0 {
		t.Fatalf("%d producer keys after the deletion", n)
	}
	l = partition(t, s, topic, 0)
	if got := producerState(l, 7); got != "-" {
		t.Fatalf("producer 7 after the deletion: %s", got)
	}
	appendP(t, l, pspec{7, 1, 0, 3}) // no retry of anything: appended
}

func TestProducerEncoding(t *testing.T) {
	e := &ProducerState{Epoch: -3, Batches: []ProducerBatch{
		{FirstSeq: math.MaxInt32, LastSeq: 4, FirstOffset: 10, LastOffset: 15, MaxTimestamp: -1},
		{FirstSeq: 5, LastSeq: 5, FirstOffset: 20, LastOffset: 20, MaxTimestamp: math.MaxInt64},
	}}
	v := encodeProducer(e)
	back, err := decodeProducer(v)
	if err != nil || !reflect.DeepEqual(back, e) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	for name, bad := range map[string][]byte{
		"empty":          nil,
		"version":        append([]byte{2}, v[1:]...),
		"short":          v[:len(v)-1],
		"no batch":       {1, 0, 0, 0},
		"six batches":    append([]byte{1, 0, 0, 6}, make([]byte, 6*producerBatchLen)...),
		"offsets behind": encodeProducer(&ProducerState{Batches: []ProducerBatch{{FirstOffset: 5, LastOffset: 4}}}),
		"overlapping": encodeProducer(&ProducerState{Batches: []ProducerBatch{
			{FirstOffset: 5, LastOffset: 6}, {FirstOffset: 6, LastOffset: 7},
		}}),
	} {
		if _, err := decodeProducer(bad); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// buildProducerCrashAppend is what the crash writer appends to partition p
// in crashProducers mode: two batches of 3 records of producer 100+p, epoch
// 1, whose sequence numbers are their offsets (the partition holds nothing
// else).
func buildProducerCrashAppend(p int32, leo int64) []byte {
	return buildP(leo, producerCrashSpecs(p, leo)...)
}

func producerCrashSpecs(p int32, leo int64) []pspec {
	id := 100 + int64(p)
	return []pspec{{id, 1, int32(leo), 3}, {id, 1, int32(leo + 3), 3}}
}

// TestCrashKeepsProducerState kills a writer of idempotent batches with
// SIGKILL and checks, after reopening, that the producer states match the
// log: a retry of the last acknowledged append, or of any batch the state
// retains, is answered with its offsets and appends nothing; the next
// sequence appends; a gap is refused.
func TestCrashKeepsProducerState(t *testing.T) {
	for i := range 4 {
		fsync := []FsyncPolicy{FsyncEveryBatch, FsyncNever}[i%2]
		t.Run(fmt.Sprintf("%s/%d", fsync, i), func(t *testing.T) {
			dir, topic, lastAck := crashWriter(t, crashProducers, fsync)
			s := reopen(t, dir, Options{})
			for p := range int32(crashPartitions) {
				l := partition(t, s, topic, p)
				leo, id := l.LogEndOffset(), 100+int64(p)
				t.Logf("partition %d: acknowledged up to %d, recovered LEO %d", p, lastAck[p], leo)
				if leo <= lastAck[p] || leo%6 != 0 {
					t.Fatalf("partition %d: LEO %d after acknowledging up to %d", p, leo, lastAck[p])
				}
				// The state is the last five batches of the log.
				var want []ProducerBatch
				for _, b := range readAll(t, l, max(0, leo-15), leo, 1<<20) {
					h := b.header
					if h.ProducerID != id || int64(h.BaseSequence) != h.BaseOffset {
						t.Fatalf("partition %d: batch at %d of producer %d with sequence %d", p, h.BaseOffset, h.ProducerID, h.BaseSequence)
					}
					want = append(want, ProducerBatch{FirstSeq: h.BaseSequence, LastSeq: h.BaseSequence + 2,
						FirstOffset: h.BaseOffset, LastOffset: h.LastOffset(), MaxTimestamp: h.MaxTimestamp})
				}
				if e, ok := l.Producer(id); !ok || e.Epoch != 1 || !reflect.DeepEqual(e.Batches, want) {
					t.Fatalf("partition %d: producer state %+v, want epoch 1 and %+v", p, e, want)
				}
				if ack := lastAck[p] - 5; ack >= 0 { // the last acknowledged append
					retry(t, l, ack, ack, ack+5, producerCrashSpecs(p, ack)...)
				}
				if leo > 0 {
					retry(t, l, leo-6, leo-6, leo-1, producerCrashSpecs(p, leo-6)...)
				}
				for _, b := range want {
					retry(t, l, b.FirstOffset, b.FirstOffset, b.LastOffset, pspec{id, 1, b.FirstSeq, 3})
				}
				_, err := l.Append(buildP(leo, pspec{id, 1, int32(leo) + 1, 3}), 1)
				wantErr(t, err, ErrOutOfOrderSequence)
				appendP(t, l, producerCrashSpecs(p, leo)...)
			}
		})
	}
}
