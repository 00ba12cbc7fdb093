package partlog

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/strata-log/strata/pkg/metadata"
)

// countKeys calls fn for every key in the database with prefix (all keys for
// a nil prefix) and returns their number.
func countKeys(t testing.TB, s *Store, prefix []byte, fn func(key []byte)) int {
	t.Helper()
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
			if fn != nil {
				fn(it.Item().KeyCopy(nil))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPartitions(t *testing.T) {
	s, dir := openStore(t, Options{})
	a, b := metadata.NewTopicID(), metadata.NewTopicID()
	if a.Compare(b) > 0 {
		a, b = b, a
	}
	ids, err := s.Partitions()
	if err != nil || len(ids) != 0 {
		t.Fatalf("empty store: %v, %v", ids, err)
	}
	want := []PartitionID{{a, 0}, {a, 1}, {a, 70000}, {b, 2}}
	for _, id := range slices.Backward(want) {
		l := partition(t, s, id.Topic, id.Partition)
		if id.Partition != 1 { // an empty partition is listed too
			appendAt(t, l, 1, nBatches(2, 3, 2000)...)
		}
	}
	if err := s.Compact(); err != nil { // the reserved key is not listed
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, dir, Options{})
	ids, err = s.Partitions()
	if err != nil || !slices.Equal(ids, want) {
		t.Fatalf("Partitions() = %v, %v; want %v", ids, err, want)
	}
	for _, bad := range []PartitionID{{metadata.ZeroTopicID, 0}, {a, -1}} {
		if _, err := s.Partition(bad.Topic, bad.Partition); err == nil {
			t.Errorf("Partition(%v) succeeded", bad)
		}
	}
}

func TestDeletePartition(t *testing.T) {
	s, dir := openStore(t, Options{})
	a, b := metadata.NewTopicID(), metadata.NewTopicID()
	logs := map[PartitionID]*Log{}
	for _, id := range []PartitionID{{a, 0}, {a, 1}, {a, 2}, {b, 0}} {
		l := partition(t, s, id.Topic, id.Partition)
		appendAt(t, l, 1, nBatches(5, 3, 100)...)
		appendAt(t, l, 2, nBatches(5, 3, 3000)...)
		l.SetHighWatermark(15)
		if err := l.CheckpointHighWatermark(); err != nil {
			t.Fatal(err)
		}
		logs[id] = l
	}
	deleted := logs[PartitionID{a, 1}]
	if err := s.DeletePartition(a, 1); err != nil {
		t.Fatal(err)
	}
	prefix := newPartKey(a, 1)
	if n := countKeys(t, s, prefix[:], nil); n != 0 {
		t.Fatalf("%d keys of the deleted partition remain", n)
	}
	// Every key left belongs to another partition, which is intact.
	other := 0
	countKeys(t, s, nil, func(key []byte) {
		if bytes.HasPrefix(key, prefix[:]) {
			t.Errorf("key %x of the deleted partition", key)
		}
		other++
	})
	if other != 3*(10+5) { // 10 batches, log start, size, HW, 2 epochs each
		t.Errorf("%d keys remain, want %d", other, 3*15)
	}
	for id, l := range logs {
		if l == deleted {
			continue
		}
		readAll(t, l, 0, 30, 1<<20)
		if got := stateOf(l); got.leo != 30 || got.hw != 15 {
			t.Errorf("%v: %+v", id, got)
		}
	}
	_, err := deleted.Append(build(t, 30, batchSpec{records: 1, valueSize: 10}), 2)
	wantErr(t, err, ErrClosed)
	_, err = deleted.Read(0, 100, 30)
	wantErr(t, err, ErrClosed)
	if err := s.DeletePartition(a, 1); err != nil {
		t.Fatalf("deleting again: %v", err)
	}
	// Opening it again gives a new, empty partition.
	if l := partition(t, s, a, 1); l == deleted || stateOf(l) != (state{epochs: "[]"}) {
		t.Fatalf("reopened deleted partition: %+v", stateOf(l))
	}

	if err := s.DeleteTopic(a); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, s, a[:], nil); n != 0 {
		t.Fatalf("%d keys of the deleted topic remain", n)
	}
	readAll(t, logs[PartitionID{b, 0}], 0, 30, 1<<20)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, dir, Options{})
	if ids, err := s.Partitions(); err != nil || !slices.Equal(ids, []PartitionID{{b, 0}}) {
		t.Fatalf("Partitions() after deletions = %v, %v", ids, err)
	}
}

// vlogBytes returns the disk space the value log files of dir use.
func vlogBytes(t testing.TB, dir string) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Sys().(*syscall.Stat_t).Blocks * 512
	}
	return n
}

func TestGCReclaimsSpace(t *testing.T) {
	const mib = 1 << 20
	opts := Options{ValueLogFileSize: mib, MemTableSize: mib}
	// fill appends about 16 MiB to big in 64 KiB batches, with a batch to
	// small every 16 appends, so that small's live data is spread over the
	// value log files.
	fill := func(t *testing.T, big, small *Log) {
		for i := range 256 {
			appendAt(t, big, 1, batchSpec{records: 64, valueSize: 1000})
			if i%16 == 0 {
				appendAt(t, small, 1, batchSpec{records: 64, valueSize: 1000})
			}
		}
	}
	check := func(t *testing.T, s *Store, dir string, before int64, small *Log) {
		t.Helper()
		n, err := s.RunGC()
		if err != nil {
			t.Fatal(err)
		}
		after := vlogBytes(t, dir)
		t.Logf("value log: %d KiB before, %d KiB after %d rewrites", before>>10, after>>10, n)
		if n == 0 || after > before/4 {
			t.Fatalf("value log %d KiB after GC, %d KiB before (%d files rewritten)", after>>10, before>>10, n)
		}
		readAll(t, small, small.LogStartOffset(), small.LogEndOffset(), 4*mib) // moved data is intact
	}

	t.Run("DeletePartition", func(t *testing.T) {
		s, dir := openStore(t, opts)
		topic := metadata.NewTopicID()
		big, small := partition(t, s, topic, 0), partition(t, s, topic, 1)
		fill(t, big, small)
		before := vlogBytes(t, dir)
		if before < 12*mib {
			t.Fatalf("value log holds only %d KiB", before>>10)
		}
		if err := s.DeletePartition(topic, 0); err != nil {
			t.Fatal(err)
		}
		check(t, s, dir, before, small)
	})
	t.Run("retention", func(t *testing.T) {
		s, dir := openStore(t, opts)
		topic := metadata.NewTopicID()
		big, small := partition(t, s, topic, 0), partition(t, s, topic, 1)
		fill(t, big, small)
		before := vlogBytes(t, dir)
		big.SetHighWatermark(big.LogEndOffset())
		if err := big.DeleteBefore(big.LogEndOffset() - 64); err != nil {
			t.Fatal(err)
		}
		if big.Size() > 70<<10 {
			t.Fatalf("Size() = %d after deleting all but one batch", big.Size())
		}
		if err := s.Compact(); err != nil {
			t.Fatal(err)
		}
		check(t, s, dir, before, small)
		readAll(t, big, big.LogStartOffset(), big.LogEndOffset(), 4*mib)
	})
}

func TestCompactKeepsData(t *testing.T) {
	s, _ := openStore(t, Options{})
	l := partition(t, s, metadata.NewTopicID(), 0)
	appendAt(t, l, 1, nBatches(20, 4, 500)...)
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	readAll(t, l, 0, 80, 1<<20)
	if n := countKeys(t, s, reservedPrefix, nil); n != 0 {
		t.Fatalf("%d reserved keys remain", n)
	}
	if !strings.Contains(string(compactKey), "compact") {
		t.Fatal("compactKey")
	}
}
