package recordbatch_test

import (
	"fmt"
	"testing"

	"github.com/strata-log/strata/pkg/recordbatch"
)

// Benchmarks use batches of 1 KiB records (semi-compressible text) and
// report throughput in uncompressed bytes.

const benchRecords = 64 // 64 KiB of values per batch

func BenchmarkEncode(b *testing.B) {
	recs := kibRecords(benchRecords)
	for _, c := range codecs {
		b.Run(c.String(), func(b *testing.B) {
			bld := recordbatch.NewBuilder(c, nil)
			var out []byte
			b.SetBytes(int64(len(build(b, recordbatch.None, nil, recs))))
			b.ReportAllocs()
			for b.Loop() {
				bld.Reset(c, &recordbatch.Producer{ID: 1, Epoch: 0, BaseSequence: 0})
				for _, r := range recs {
					bld.Append(r)
				}
				var err error
				if out, err = bld.Build(out[:0]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(out)), "batch-bytes")
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	recs := kibRecords(benchRecords)
	size := int64(len(build(b, recordbatch.None, nil, recs)))
	for _, c := range codecs {
		b.Run(c.String(), func(b *testing.B) {
			batch := build(b, c, nil, recs)
			var dec recordbatch.Decoder
			var out []recordbatch.Record
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if out, err = dec.Decode(out[:0], batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify is the broker's per-batch check. The goal for an
// uncompressed 64 KiB batch is at least 1 GB/s.
func BenchmarkVerify(b *testing.B) {
	for _, kib := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("none/%dKiB", kib), func(b *testing.B) {
			batch := build(b, recordbatch.None, nil, kibRecords(kib))
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if err := recordbatch.Verify(batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAll splits a produce request's records field of 16 batches.
func BenchmarkAll(b *testing.B) {
	var buf []byte
	for range 16 {
		buf = append(buf, build(b, recordbatch.None, nil, kibRecords(4))...)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, err := range recordbatch.All(buf) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 16 {
			b.Fatal(n)
		}
	}
}
