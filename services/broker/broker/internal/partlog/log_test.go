package partlog

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/recordbatch"
)

func TestAppendReadRoundTrip(t *testing.T) {
	s, _ := openStore(t, Options{})
	l := partition(t, s, metadata.NewTopicID(), 0)
	if got := stateOf(l); got != (state{epochs: "[]"}) {
		t.Fatalf("new log: %+v", got)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var want int64
	epochAt := map[int64]int32{} // first offset of each append -> its epoch
	for i := range 60 {
		// 1-3 batches of 1-6 records; values from 10 bytes (inline in the
		// LSM tree) to 3 KiB (in the value log).
		specs := make([]batchSpec, 1+rng.IntN(3))
		for j := range specs {
			specs[j] = batchSpec{records: 1 + rng.IntN(6), valueSize: []int{10, 300, 3000}[rng.IntN(3)]}
		}
		first, last := appendAt(t, l, int32(i/20), specs...)
		for off := first; off <= last; off++ {
			epochAt[off] = int32(i / 20)
		}
		if first != want {
			t.Fatalf("append %d: first offset %d, want %d (offsets must be gapless)", i, first, want)
		}
		want = last + 1
	}
	if l.LogEndOffset() != want {
		t.Fatalf("LEO = %d, want %d", l.LogEndOffset(), want)
	}
	all := readAll(t, l, 0, want, 1<<20)
	if got := sumSizes(all); got != l.Size() {
		t.Fatalf("Size() = %d, batches read hold %d bytes", l.Size(), got)
	}
	for _, b := range all {
		if want := epochAt[b.header.BaseOffset]; b.header.PartitionLeaderEpoch != want {
			t.Fatalf("batch at %d has leader epoch %d, want %d", b.header.BaseOffset, b.header.PartitionLeaderEpoch, want)
		}
	}
	if h := fmt.Sprint(l.EpochHistory()); !strings.HasPrefix(h, "[{0 0} {1 ") || strings.Count(h, "{") != 3 {
		t.Fatalf("epoch history = %s", h)
	}
	// Reading from every offset returns the batch that holds it first.
	for off := range want {
		buf, err := l.Read(off, 1, want)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		got := checkBatches(t, buf)
		if len(got) != 1 || got[0].header.BaseOffset > off || got[0].header.LastOffset() < off {
			t.Fatalf("Read(%d, maxBytes 1) = %d batches starting at %d", off, len(got), got[0].header.BaseOffset)
		}
	}
}

func TestAppendSetsOffsetsAndEpoch(t *testing.T) {
	s, _ := openStore(t, Options{})
	l := partition(t, s, metadata.NewTopicID(), 3)
	appendAt(t, l, 4, batchSpec{records: 5, valueSize: 20})
	in := build(t, 5, batchSpec{records: 2, valueSize: 20}, batchSpec{records: 3, valueSize: 2000})
	info, err := l.Append(in, 7)
	if err != nil || info != (AppendInfo{FirstOffset: 5, LastOffset: 9}) {
		t.Fatalf("Append = %+v, %v; want [5, 9]", info, err)
	}
	got := readAll(t, l, 0, 10, 1<<20)
	for i, want := range []struct {
		base  int64
		epoch int32
	}{{0, 4}, {5, 7}, {7, 7}} {
		h := got[i].header
		if h.BaseOffset != want.base || h.PartitionLeaderEpoch != want.epoch {
			t.Errorf("batch %d: base offset %d epoch %d, want %d epoch %d", i, h.BaseOffset, h.PartitionLeaderEpoch, want.base, want.epoch)
		}
	}
	if h := l.EpochHistory(); fmt.Sprint(h) != "[{4 0} {7 5}]" {
		t.Errorf("epoch history = %v", h)
	}
}

func TestReadBounds(t *testing.T) {
	s, _ := openStore(t, Options{})
	l := partition(t, s, metadata.NewTopicID(), 0)
	// Batches [0,4] [5,9] [10,14] [15,19], each about 4*1 KiB.
	appendAt(t, l, 1, nBatches(4, 5, 1000)...)
	one := len(build(t, 0, batchSpec{records: 5, valueSize: 1000}))
	bases := func(buf []byte) []int64 {
		var out []int64
		for _, b := range checkBatches(t, buf) {
			out = append(out, b.header.BaseOffset)
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		offset    int64
		maxBytes  int
		maxOffset int64
		want      []int64
	}{
		{"all", 0, 1 << 20, 20, []int64{0, 5, 10, 15}},
		{"middle of a batch", 7, 1 << 20, 20, []int64{5, 10, 15}},
		{"last offset of a batch", 9, 1 << 20, 20, []int64{5, 10, 15}},
		{"maxBytes fits two", 0, 2*one + one/2, 20, []int64{0, 5}},
		{"maxBytes exactly two", 0, 2 * one, 20, []int64{0, 5}},
		{"maxBytes below one batch: one batch", 3, 10, 20, []int64{0}},
		{"maxBytes zero: one batch", 12, 0, 20, []int64{10}},
		{"maxOffset at a boundary", 0, 1 << 20, 10, []int64{0, 5}},
		{"maxOffset inside a batch", 0, 1 << 20, 13, []int64{0, 5}},
		{"maxOffset inside the first batch", 11, 1 << 20, 13, nil},
		{"offset at maxOffset", 10, 1 << 20, 10, nil},
		{"offset above maxOffset", 15, 1 << 20, 10, nil},
		{"maxOffset above LEO", 15, 1 << 20, 100, []int64{15}},
		{"at LEO", 20, 1 << 20, 20, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf, err := l.Read(tc.offset, tc.maxBytes, tc.maxOffset)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if got := bases(buf); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("Read(%d, %d, %d) batches at %v, want %v", tc.offset, tc.maxBytes, tc.maxOffset, got, tc.want)
			}
		})
	}
}

func TestReadOutOfRange(t *testing.T) {
	s, _ := openStore(t, Options{})
	l := partition(t, s, metadata.NewTopicID(), 0)
	appendAt(t, l, 1, nBatches(6, 5, 10)...) // [0, 30)
	l.SetHighWatermark(25)
	if err := l.DeleteBefore(12); err != nil { // log start 10
		t.Fatal(err)
	}
	for _, off := range []int64{-1, 0, 9, 31, 1000} {
		_, err := l.Read(off, 100, 30)
		var oor *OffsetOutOfRangeError
		if !errors.As(err, &oor) || !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("Read(%d) error = %v, want an OffsetOutOfRangeError", off, err)
		}
		if *oor != (OffsetOutOfRangeError{Offset: off, LogStartOffset: 10, LogEndOffset: 30, HighWatermark: 25}) {
			t.Errorf("Read(%d) error = %+v", off, *oor)
		}
		msg := err.Error()
		for _, want := range []string{fmt.Sprintf("offset %d ", off), "log start offset 10", "log end offset 30", "high watermark 25"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message %q lacks %q", msg, want)
			}
		}
	}
	if buf, err := l.Read(10, 100, 30); err != nil || len(checkBatches(t, buf)) != 1 {
		t.Fatalf("Read at the log start: %v", err)
	}
}

func TestAppendRejectsBadInput(t *testing.T) {
	s, _ := openStore(t, Options{})
	l := partition(t, s, metadata.NewTopicID(), 0)
	appendAt(t, l, 5, batchSpec{records: 3, valueSize: 10})
	before := stateOf(l)
	good := build(t, 3, batchSpec{records: 2, valueSize: 10})
	for _, tc := range []struct {
		name   string
		input  []byte
		epoch  int32
		target error
	}{
		{"empty", nil, 5, recordbatch.ErrCorrupt},
		{"truncated", good[:len(good)-1], 5, recordbatch.ErrTruncated},
		{"trailing garbage", append(append([]byte(nil), good...), 1, 2, 3), 5, recordbatch.ErrCorrupt},
		{"older epoch", good, 4, ErrStaleLeaderEpoch},
		{"negative epoch", good, -1, ErrStaleLeaderEpoch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := l.Append(tc.input, tc.epoch)
			wantErr(t, err, tc.target)
			if got := stateOf(l); got != before {
				t.Fatalf("state changed: %+v, was %+v", got, before)
			}
		})
	}
	readAll(t, l, 0, 3, 1<<20)
	if buf, _ := l.Read(3, 1<<20, 100); len(buf) != 0 {
		t.Fatal("a rejected append is readable")
	}
}

func TestRecordListTooLarge(t *testing.T) {
	s, _ := openStore(t, Options{MemTableSize: 1 << 20})
	l := partition(t, s, metadata.NewTopicID(), 0)
	// Inline batches (under 1 KiB) count fully against badger's limit on
	// a transaction (15% of the memtable, ~157 KB).
	_, err := l.Append(build(t, 0, nBatches(400, 1, 500)...), 1)
	wantErr(t, err, ErrRecordListTooLarge)
	if got := stateOf(l); got != (state{epochs: "[]"}) {
		t.Fatalf("state after a rejected append: %+v", got)
	}
	appendAt(t, l, 1, nBatches(100, 1, 500)...) // the log is not offline
	readAll(t, l, 0, 100, 1<<20)
}

func TestABatchLargerThanAValueLogFileIsRefused(t *testing.T) {
	s, _ := openStore(t, Options{ValueLogFileSize: 1 << 20})
	l := partition(t, s, metadata.NewTopicID(), 0)
	big := build(t, 0, batchSpec{records: 3, valueSize: 400 << 10}) // ~1.2 MiB
	if _, err := l.Append(big, 1); !errors.Is(err, ErrRecordListTooLarge) {
		t.Fatalf("leader append of a batch larger than a value log file: %v", err)
	}
	if err := l.AppendReplica(leaderBatches(t, 0, 1, batchSpec{records: 3, valueSize: 400 << 10})); !errors.Is(err, ErrRecordListTooLarge) {
		t.Fatalf("replica append of a batch larger than a value log file: %v", err)
	}
	if got := stateOf(l); got != (state{epochs: "[]"}) {
		t.Fatalf("state after the rejected appends: %+v", got)
	}
	appendAt(t, l, 1, batchSpec{records: 2, valueSize: 300 << 10}) // the log is not offline
	readAll(t, l, 0, 2, 2<<20)
}

func TestReopen(t *testing.T) {
	s, dir := openStore(t, Options{})
	topic := metadata.NewTopicID()
	l := partition(t, s, topic, 2)
	other := partition(t, s, topic, 3)
	appendAt(t, l, 1, nBatches(3, 4, 100)...)  // [0, 12)
	appendAt(t, l, 3, nBatches(3, 4, 2000)...) // [12, 24)
	appendAt(t, other, 9, batchSpec{records: 1, valueSize: 10})
	l.SetHighWatermark(20)
	if err := l.DeleteBefore(5); err != nil { // log start 4
		t.Fatal(err)
	}
	if err := l.AssignEpoch(6); err != nil {
		t.Fatal(err)
	}
	want := stateOf(l)
	if want.logStart != 4 || want.hw != 20 || want.epochs != "[{1 4} {3 12} {6 24}]" {
		t.Fatalf("state before reopen: %+v", want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = reopen(t, dir, Options{})
	l = partition(t, s, topic, 2)
	if got := stateOf(l); got != want {
		t.Fatalf("after reopen: %+v, want %+v", got, want)
	}
	if got := stateOf(partition(t, s, topic, 3)); got.leo != 1 || got.epochs != "[{9 0}]" {
		t.Fatalf("other partition after reopen: %+v", got)
	}
	first, _ := appendAt(t, l, 6, batchSpec{records: 2, valueSize: 10})
	if first != 24 {
		t.Fatalf("append after reopen at %d, want 24", first)
	}
	readAll(t, l, 4, 26, 1<<20)
}

func TestHighWatermark(t *testing.T) {
	s, dir := openStore(t, Options{})
	topic := metadata.NewTopicID()
	l := partition(t, s, topic, 0)
	appendAt(t, l, 1, nBatches(2, 5, 10)...)
	for _, tc := range []struct{ set, want int64 }{
		{3, 3}, {2, 3}, {10, 10}, {11, 10}, {100, 10}, {-5, 10},
	} {
		if got := l.SetHighWatermark(tc.set); got != tc.want || l.HighWatermark() != tc.want {
			t.Fatalf("SetHighWatermark(%d) = %d, HighWatermark() = %d, want %d", tc.set, got, l.HighWatermark(), tc.want)
		}
	}
	if err := l.CheckpointHighWatermark(); err != nil {
		t.Fatal(err)
	}
	appendAt(t, l, 1, batchSpec{records: 5, valueSize: 10})
	l.SetHighWatermark(15) // not checkpointed before the "crash"
	// Simulate a crash after the checkpoint: read the stored checkpoint.
	var cp int64 = -1
	if err := s.db.View(func(txn *badgerTxn) error {
		item, err := txn.Get(l.key.meta(kindHighWatermark))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) (err error) { cp, err = getInt64("test", nil, v); return err })
	}); err != nil || cp != 10 {
		t.Fatalf("stored checkpoint = %d, %v; want 10", cp, err)
	}
	if err := s.Close(); err != nil { // Close checkpoints
		t.Fatal(err)
	}
	s = reopen(t, dir, Options{})
	if hw := partition(t, s, topic, 0).HighWatermark(); hw != 15 {
		t.Fatalf("HW after reopen = %d, want 15", hw)
	}
}

func TestClosed(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := partition(t, s, metadata.NewTopicID(), 0)
	appendAt(t, l, 1, batchSpec{records: 1, valueSize: 10})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err = l.Append(build(t, 1, batchSpec{records: 1, valueSize: 10}), 1)
	wantErr(t, err, ErrClosed)
	_, err = l.Read(0, 100, 1)
	wantErr(t, err, ErrClosed)
	_, err = s.Partition(metadata.NewTopicID(), 0)
	wantErr(t, err, ErrClosed)
	_, err = s.RunGC()
	wantErr(t, err, ErrClosed)
	wantErr(t, l.TruncateTo(0), ErrClosed)
	wantErr(t, l.CheckpointHighWatermark(), ErrClosed)
	if l.LogEndOffset() != 1 {
		t.Fatal("LEO of a closed log changed")
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		opts  Options
		field string
	}{
		{Options{Fsync: 7}, "Options.Fsync"},
		{Options{MemTableSize: 1000}, "Options.MemTableSize"},
		{Options{ValueLogFileSize: 1000}, "Options.ValueLogFileSize"},
		{Options{ValueLogFileSize: 4 << 30}, "Options.ValueLogFileSize"},
	} {
		_, err := Open(t.TempDir(), tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("Open(%+v) error = %v, want one naming %s", tc.opts, err, tc.field)
		}
	}
}

func TestStorageErrorTakesLogOffline(t *testing.T) {
	dir := t.TempDir()
	fail := errors.New("injected: no space left on device")
	knobs := &testKnobs{beforeCommit: func(op string) error {
		if strings.Contains(op, "-0") && strings.Contains(op, "append") {
			return fail
		}
		return nil
	}}
	s, err := Open(dir, Options{knobs: knobs})
	if err != nil {
		t.Fatal(err)
	}
	topic := metadata.NewTopicID()
	l := partition(t, s, topic, 0)
	other := partition(t, s, topic, 1)
	before := stateOf(l)
	_, err = l.Append(build(t, 0, batchSpec{records: 3, valueSize: 10}), 1)
	wantErr(t, err, ErrStorage)
	if !errors.Is(err, fail) {
		t.Fatalf("error %v does not wrap the engine's", err)
	}
	if got := stateOf(l); got != before {
		t.Fatalf("state changed after a failed append: %+v", got)
	}
	if buf, err := l.Read(0, 100, 100); err != nil || len(buf) != 0 {
		t.Fatalf("Read after a failed append = %d bytes, %v", len(buf), err)
	}
	knobs.beforeCommit = nil
	_, err = l.Append(build(t, 0, batchSpec{records: 3, valueSize: 10}), 1)
	wantErr(t, err, ErrStorage) // offline until reopened
	wantErr(t, l.TruncateTo(0), ErrStorage)
	appendAt(t, other, 1, batchSpec{records: 1, valueSize: 10}) // other partitions work
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, dir, Options{})
	l = partition(t, s, topic, 0)
	appendAt(t, l, 1, batchSpec{records: 3, valueSize: 10})
	readAll(t, l, 0, 3, 1<<20)
}

func TestCorruptStoredBatch(t *testing.T) {
	s, dir := openStore(t, Options{})
	topic := metadata.NewTopicID()
	l := partition(t, s, topic, 0)
	appendAt(t, l, 1, nBatches(3, 2, 10)...)
	// Overwrite the batch at offset 2 with one that claims offset 7.
	bad := build(t, 0, batchSpec{records: 2, valueSize: 10})
	recordbatch.SetBaseOffset(bad, 7)
	if err := s.db.Update(func(txn *badgerTxn) error { return txn.Set(l.key.data(2), bad) }); err != nil {
		t.Fatal(err)
	}
	_, err := l.Read(0, 1<<20, 6)
	wantErr(t, err, ErrCorrupt)
	if _, err := l.Read(0, 1, 6); err != nil {
		t.Fatalf("Read of the good first batch: %v", err)
	}
	// The last batch is read when the partition opens.
	if err := s.db.Update(func(txn *badgerTxn) error { return txn.Set(l.key.data(4), []byte("garbage")) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, dir, Options{})
	_, err = s.Partition(topic, 0)
	wantErr(t, err, ErrCorrupt)
}
