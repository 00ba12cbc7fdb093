package partlog

import (
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/strata-log/strata/pkg/metadata"
)

func TestDeleteBefore(t *testing.T) {
	s, _ := openStore(t, Options{})
	l := partition(t, s, metadata.NewTopicID(), 0)
	appendAt(t, l, 1, nBatches(4, 5, 100)...)  // [0, 20)
	appendAt(t, l, 2, nBatches(4, 5, 2000)...) // [20, 40)
	l.SetHighWatermark(30)
	before := stateOf(l)
	for _, off := range []int64{-1, 31, 40, 41} {
		var oor *OffsetOutOfRangeError
		if err := l.DeleteBefore(off); !errorsAs(err, &oor) || oor.HighWatermark != 30 {
			t.Fatalf("DeleteBefore(%d) = %v, want out of range", off, err)
		}
		if got := stateOf(l); got != before {
			t.Fatalf("state changed: %+v", got)
		}
	}
	for _, tc := range []struct {
		offset, wantStart int64
		wantEpochs        string
	}{
		{0, 0, "[{1 0} {2 20}]"},
		{3, 0, "[{1 0} {2 20}]"}, // inside the first batch: it stays
		{5, 5, "[{1 5} {2 20}]"},
		{14, 10, "[{1 10} {2 20}]"},
		{4, 10, "[{1 10} {2 20}]"}, // below the log start: no-op
		{20, 20, "[{2 20}]"},
		{30, 30, "[{2 30}]"}, // up to the HW
	} {
		if err := l.DeleteBefore(tc.offset); err != nil {
			t.Fatalf("DeleteBefore(%d): %v", tc.offset, err)
		}
		got := stateOf(l)
		kept := readAll(t, l, got.logStart, 40, 1<<20)
		if got.logStart != tc.wantStart || got.epochs != tc.wantEpochs || got.size != sumSizes(kept) {
			t.Fatalf("after DeleteBefore(%d): %+v, want log start %d, epochs %s", tc.offset, got, tc.wantStart, tc.wantEpochs)
		}
		wantKeys := len(kept) + 2 + len(l.EpochHistory()) // + log start, size
		if n := countKeys(t, s, l.key[:], nil); n != wantKeys {
			t.Fatalf("%d keys stored for %d batches, want %d", n, len(kept), wantKeys)
		}
	}
	// All committed data: the log becomes empty at its end.
	l.SetHighWatermark(40)
	if err := l.DeleteBefore(40); err != nil {
		t.Fatal(err)
	}
	if got := stateOf(l); got != (state{40, 40, 40, 0, "[{2 40}]"}) {
		t.Fatalf("after deleting everything: %+v", got)
	}
	appendAt(t, l, 2, batchSpec{records: 2, valueSize: 10})
	readAll(t, l, 40, 42, 1<<20)
	dataKeys := 0
	countKeys(t, s, l.key[:], func(key []byte) {
		if _, ok := l.key.dataOffset(key); ok {
			dataKeys++
		}
	})
	if dataKeys != 1 {
		t.Fatalf("%d data keys, want 1", dataKeys)
	}
}

func errorsAs(err error, target **OffsetOutOfRangeError) bool {
	e, ok := err.(*OffsetOutOfRangeError) //nolint:errorlint // the type itself is returned
	if ok {
		*target = e
	}
	return ok
}

func TestApplyRetention(t *testing.T) {
	const t0 = 1_700_000_000_000
	now := time.UnixMilli(t0 + 100_000)
	// setup makes 10 batches of 5 records, equal in size, batch i with
	// timestamps t0+ts[i], and sets the HW.
	setup := func(t *testing.T, hw int64, ts ...int64) *Log {
		s, _ := openStore(t, Options{})
		l := partition(t, s, metadata.NewTopicID(), 0)
		for i := range 10 {
			appendAt(t, l, 1, batchSpec{records: 5, valueSize: 100, ts: t0 + ts[i]})
		}
		l.SetHighWatermark(hw)
		return l
	}
	old := []int64{0, 1000, 2000, 3000, 4000, 95_000, 96_000, 97_000, 98_000, 99_000}
	batch := int64(len(build(t, 0, batchSpec{records: 5, valueSize: 100, ts: 1})))
	for _, tc := range []struct {
		name         string
		hw           int64
		ts           []int64
		ms, bytes    int64
		wantDeleted  int
		wantLogStart int64
	}{
		{"unlimited", 50, old, -1, -1, 0, 0},
		{"time", 50, old, 10_000, -1, 5, 25},
		{"time bounded by HW", 12, old, 10_000, -1, 2, 10},
		{"time stops at a recent batch", 50, []int64{0, 1000, 99_000, 3000, 4000, 95_000, 96_000, 97_000, 98_000, 99_000}, 10_000, -1, 2, 10},
		{"time keeps a batch exactly at the limit", 50, old, 96_000, -1, 4, 20},
		{"time zero: all committed", 35, old, 0, -1, 7, 35},
		{"bytes", 50, old, -1, 4 * batch, 6, 30},
		{"bytes between", 50, old, -1, 4*batch - 1, 6, 30},
		{"bytes just above", 50, old, -1, 4*batch + 1, 5, 25},
		{"bytes bounded by HW", 20, old, -1, batch, 4, 20},
		{"bytes zero", 50, old, -1, 0, 10, 50},
		{"both: size wins", 50, old, 10_000, 2 * batch, 8, 40},
		{"both: time wins", 50, old, 10_000, 8 * batch, 5, 25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := setup(t, tc.hw, tc.ts...)
			deleted, err := l.ApplyRetention(now, tc.ms, tc.bytes)
			if err != nil {
				t.Fatal(err)
			}
			got := stateOf(l)
			if deleted != tc.wantDeleted || got.logStart != tc.wantLogStart {
				t.Fatalf("ApplyRetention(%d ms, %d bytes) deleted %d, log start %d; want %d, %d",
					tc.ms, tc.bytes, deleted, got.logStart, tc.wantDeleted, tc.wantLogStart)
			}
			if got.size != int64(10-deleted)*batch || got.leo != 50 || got.hw != tc.hw {
				t.Fatalf("state %+v", got)
			}
			readAll(t, l, got.logStart, 50, 1<<20)
			_, err = l.Read(got.logStart-1, 100, 50)
			if got.logStart > 0 {
				wantErr(t, err, ErrOffsetOutOfRange)
			}
			again, err := l.ApplyRetention(now, tc.ms, tc.bytes)
			if err != nil || again != 0 {
				t.Fatalf("second pass deleted %d, %v", again, err)
			}
		})
	}
}

// TestRecoveryFinishesDeletion simulates a crash between DeleteBefore's two
// steps: the log start offset moved, the batches below it are still stored.
func TestRecoveryFinishesDeletion(t *testing.T) {
	s, dir := openStore(t, Options{})
	topic := metadata.NewTopicID()
	l := partition(t, s, topic, 0)
	appendAt(t, l, 1, nBatches(6, 5, 1500)...) // [0, 30)
	l.SetHighWatermark(30)
	all := readAll(t, l, 0, 30, 1<<20)
	if err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(l.key.meta(kindLogStart), putInt64(15))
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, dir, Options{})
	l = partition(t, s, topic, 0)
	if got, want := stateOf(l), (state{15, 30, 30, sumSizes(all[3:]), "[{1 0}]"}); got != want {
		t.Fatalf("recovered %+v, want %+v", got, want)
	}
	countKeys(t, s, l.key[:], func(key []byte) {
		if base, ok := l.key.dataOffset(key); ok && base < 15 {
			t.Errorf("batch at %d below the log start is still stored", base)
		}
	})
	readAll(t, l, 15, 30, 1<<20)
}
