package partlog

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/recordbatch"
)

// openStore opens a store in a new temporary directory, closed at cleanup.
func openStore(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	return reopen(t, dir, opts), dir
}

// reopen opens the store in dir, closed at cleanup.
func reopen(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func partition(t testing.TB, s *Store, topic metadata.TopicID, p int32) *Log {
	t.Helper()
	l, err := s.Partition(topic, p)
	if err != nil {
		t.Fatalf("Partition(%s, %d): %v", topic, p, err)
	}
	return l
}

// recordValue is the value of the record at offset: tests build records
// whose content follows from their offset, so any read can be checked.
func recordValue(offset int64, size int) []byte {
	v := fmt.Appendf(nil, "offset=%d;", offset)
	for len(v) < size {
		v = append(v, byte('a'+offset%26))
	}
	return v
}

// recordTime is the timestamp of the record at offset, unless a test says
// otherwise.
func recordTime(offset int64) int64 { return 1_700_000_000_000 + offset }

// batchSpec describes a batch to build: its record count and value size,
// and the timestamp of its records (0: recordTime of each offset).
type batchSpec struct {
	records   int
	valueSize int
	ts        int64
}

// build builds batches back to back for offsets from start on, as a producer
// would (base offset 0, no leader epoch); records hold recordValue(offset).
func build(t testing.TB, start int64, specs ...batchSpec) []byte {
	t.Helper()
	var out []byte
	b := recordbatch.NewBuilder(recordbatch.None, nil)
	off := start
	for _, s := range specs {
		b.Reset(recordbatch.None, nil)
		for range s.records {
			ts := s.ts
			if ts == 0 {
				ts = recordTime(off)
			}
			b.Append(recordbatch.Record{Key: []byte("k"), Value: recordValue(off, s.valueSize), Timestamp: ts})
			off++
		}
		var err error
		if out, err = b.Build(out); err != nil {
			t.Fatalf("Build: %v", err)
		}
	}
	return out
}

// nBatches returns n specs of the given records and value size.
func nBatches(n, records, valueSize int) []batchSpec {
	specs := make([]batchSpec, n)
	for i := range specs {
		specs[i] = batchSpec{records: records, valueSize: valueSize}
	}
	return specs
}

// appendAt builds the batches for the log's end and appends them.
func appendAt(t testing.TB, l *Log, epoch int32, specs ...batchSpec) (first, last int64) {
	t.Helper()
	leo := l.LogEndOffset()
	info, err := l.Append(build(t, leo, specs...), epoch)
	first, last = info.FirstOffset, info.LastOffset
	if err != nil {
		t.Fatalf("Append at %d: %v", leo, err)
	}
	n := 0
	for _, s := range specs {
		n += s.records
	}
	if first != leo || last != leo+int64(n)-1 {
		t.Fatalf("Append at %d of %d records = [%d, %d], want [%d, %d]", leo, n, first, last, leo, leo+int64(n)-1)
	}
	return first, last
}

// storedBatch is a batch as a read returned it.
type storedBatch struct {
	header recordbatch.BatchHeader
	bytes  []byte
}

// checkBatches checks batches returned by a read (see parseBatches).
func checkBatches(t testing.TB, buf []byte) []storedBatch {
	t.Helper()
	out, err := parseBatches(buf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// parseBatches checks batches returned by a read: each one is valid (CRC
// included), its records have consecutive offsets and the values of their
// offsets, and each batch follows the previous one. It is safe to call from
// any goroutine.
func parseBatches(buf []byte) ([]storedBatch, error) {
	var out []storedBatch
	var d recordbatch.Decoder
	for batch, err := range recordbatch.All(buf) {
		if err != nil {
			return nil, fmt.Errorf("read returned a partial batch: %w", err)
		}
		if err := recordbatch.Verify(batch); err != nil {
			return nil, fmt.Errorf("read returned an invalid batch: %w", err)
		}
		h, _ := recordbatch.ParseHeader(batch)
		if n := len(out); n > 0 && h.BaseOffset != out[n-1].header.LastOffset()+1 {
			return nil, fmt.Errorf("batch at %d follows a batch ending at %d", h.BaseOffset, out[n-1].header.LastOffset())
		}
		recs, err := d.Decode(nil, batch)
		if err != nil {
			return nil, fmt.Errorf("decode batch at %d: %w", h.BaseOffset, err)
		}
		for i, r := range recs {
			off := h.BaseOffset + int64(r.OffsetDelta)
			if r.OffsetDelta != int32(i) {
				return nil, fmt.Errorf("batch at %d: record %d has offset delta %d", h.BaseOffset, i, r.OffsetDelta)
			}
			if want := recordValue(off, len(r.Value)); !bytes.Equal(r.Value, want) {
				return nil, fmt.Errorf("record at offset %d has value %.40q, want %.40q", off, r.Value, want)
			}
		}
		out = append(out, storedBatch{header: h, bytes: batch})
	}
	return out, nil
}

// readAll reads [from, to) with Read calls of maxBytes and checks that it
// gets exactly those offsets, batch after batch.
func readAll(t testing.TB, l *Log, from, to int64, maxBytes int) []storedBatch {
	t.Helper()
	var all []storedBatch
	for next := from; next < to; {
		buf, err := l.Read(next, maxBytes, to)
		if err != nil {
			t.Fatalf("Read(%d, %d, %d): %v", next, maxBytes, to, err)
		}
		got := checkBatches(t, buf)
		if len(got) == 0 {
			t.Fatalf("Read(%d, %d, %d) returned nothing", next, maxBytes, to)
		}
		if h := got[0].header; h.BaseOffset > next || h.LastOffset() < next {
			t.Fatalf("Read(%d) starts with batch [%d, %d]", next, h.BaseOffset, h.LastOffset())
		}
		all = append(all, got...)
		next = got[len(got)-1].header.LastOffset() + 1
	}
	if n := len(all); n > 0 && all[n-1].header.LastOffset()+1 != to {
		t.Fatalf("read up to %d, want %d", all[n-1].header.LastOffset()+1, to)
	}
	return all
}

func sumSizes(bs []storedBatch) int64 {
	var n int64
	for _, b := range bs {
		n += int64(len(b.bytes))
	}
	return n
}

// state is a log's bounds, for comparing before and after.
type state struct {
	logStart, leo, hw, size int64
	epochs                  string
}

func stateOf(l *Log) state {
	return state{l.LogStartOffset(), l.LogEndOffset(), l.HighWatermark(), l.Size(), fmt.Sprint(l.EpochHistory())}
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

type badgerTxn = badger.Txn
