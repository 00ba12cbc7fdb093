package partlog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/recordbatch"
)

// The benchmarks append and read batches of 1 KiB records through a Log and,
// as a baseline, write and read the same keys and values with badger
// directly (same options): the difference is the partition log's overhead.
// Shapes: 64 KiB batches of 64 records (a producer's batch.size), and
// batches of one 1 KiB record (the worst case for per-append overhead).

var benchShapes = []struct {
	name    string
	records int
}{{"batch=64KiB", 64}, {"batch=1KiB", 1}}

var benchFsync = []FsyncPolicy{FsyncNever, FsyncEveryBatch}

func BenchmarkAppend(b *testing.B) {
	for _, shape := range benchShapes {
		for _, fsync := range benchFsync {
			b.Run(fmt.Sprintf("%s/fsync=%s", shape.name, fsync), func(b *testing.B) {
				s, _ := openStore(b, Options{Fsync: fsync})
				l := partition(b, s, metadata.NewTopicID(), 0)
				batch := build(b, 0, batchSpec{records: shape.records, valueSize: 1024})
				b.SetBytes(int64(len(batch)))
				for b.Loop() {
					if _, err := l.Append(batch, 1); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkBadgerRawAppend(b *testing.B) {
	for _, shape := range benchShapes {
		for _, fsync := range benchFsync {
			b.Run(fmt.Sprintf("%s/fsync=%s", shape.name, fsync), func(b *testing.B) {
				db := openRawBadger(b, Options{Fsync: fsync})
				key := newPartKey(metadata.NewTopicID(), 0)
				batch := build(b, 0, batchSpec{records: shape.records, valueSize: 1024})
				b.SetBytes(int64(len(batch)))
				off := int64(0)
				for b.Loop() {
					k := key.data(off)
					if err := db.Update(func(txn *badger.Txn) error { return txn.Set(k, batch) }); err != nil {
						b.Fatal(err)
					}
					off += int64(shape.records)
				}
			})
		}
	}
}

func openRawBadger(b *testing.B, opts Options) *badger.DB {
	db, err := badger.Open(opts.withDefaults().badgerOptions(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	return db
}

// readSize is the maxBytes of the benchmarked reads (a consumer's
// fetch.max.bytes per partition is 1 MiB).
const readSize = 1 << 20

func BenchmarkRead(b *testing.B) {
	s, _ := openStore(b, Options{})
	l := partition(b, s, metadata.NewTopicID(), 0)
	batch := build(b, 0, batchSpec{records: 64, valueSize: 1024})
	perRead := readSize / len(batch)
	for range 64 * perRead {
		if _, err := l.Append(batch, 1); err != nil {
			b.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	b.SetBytes(int64(perRead * len(batch)))
	off := int64(0)
	for b.Loop() {
		buf, err := l.Read(off, readSize, leo)
		if err != nil || len(buf) != perRead*len(batch) {
			b.Fatalf("Read(%d) = %d bytes, %v", off, len(buf), err)
		}
		if off += int64(perRead * 64); off >= leo {
			off = 0
		}
	}
}

func BenchmarkBadgerRawRead(b *testing.B) {
	db := openRawBadger(b, Options{})
	key := newPartKey(metadata.NewTopicID(), 0)
	batch := build(b, 0, batchSpec{records: 64, valueSize: 1024})
	perRead := readSize / len(batch)
	n := 64 * perRead
	for i := range n {
		k := key.data(int64(i * 64))
		if err := db.Update(func(txn *badger.Txn) error { return txn.Set(k, batch) }); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(perRead * len(batch)))
	off := int64(0)
	for b.Loop() {
		out := make([]byte, 0, readSize)
		err := db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: key[:]})
			defer it.Close()
			for it.Seek(key.data(off)); it.Valid(); it.Next() {
				if err := it.Item().Value(func(v []byte) error {
					if len(out)+len(v) <= readSize {
						out = append(out, v...)
					}
					return nil
				}); err != nil {
					return err
				}
				if len(out)+len(batch) > readSize {
					break
				}
			}
			return nil
		})
		if err != nil || len(out) != perRead*len(batch) {
			b.Fatalf("read at %d = %d bytes, %v", off, len(out), err)
		}
		if off += int64(perRead * 64); off >= int64(n*64) {
			off = 0
		}
	}
}

// BenchmarkAppendIdempotent is BenchmarkAppend with batches of one
// idempotent producer, in sequence: the cost of the producer state checks
// and of writing the producer's key with each append.
func BenchmarkAppendIdempotent(b *testing.B) {
	for _, shape := range benchShapes {
		b.Run(shape.name+"/fsync=never", func(b *testing.B) {
			s, _ := openStore(b, Options{})
			l := partition(b, s, metadata.NewTopicID(), 0)
			rb := recordbatch.NewBuilder(recordbatch.None, &recordbatch.Producer{ID: 7})
			for i := range shape.records {
				rb.Append(recordbatch.Record{Value: recordValue(int64(i), 1024), Timestamp: recordTime(int64(i))})
			}
			batch, err := rb.Build(nil)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(batch)))
			seq := int32(0)
			for b.Loop() {
				setSequence(batch, seq)
				if _, err := l.Append(batch, 1); err != nil {
					b.Fatal(err)
				}
				seq += int32(shape.records)
			}
		})
	}
}

// setSequence sets the base sequence of batch and its CRC (which covers it).
func setSequence(batch []byte, seq int32) {
	const offBaseSequence, offCRC, offAttributes = 53, 17, 21
	binary.BigEndian.PutUint32(batch[offBaseSequence:], uint32(seq))
	binary.BigEndian.PutUint32(batch[offCRC:], crc32.Checksum(batch[offAttributes:], crc32.MakeTable(crc32.Castagnoli)))
}
