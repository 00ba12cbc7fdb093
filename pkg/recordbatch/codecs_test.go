package recordbatch_test

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/snappy/xerial"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/strata-log/strata/pkg/recordbatch"
)

type encoded struct {
	codec recordbatch.Compression
	data  []byte
}

// foreignEncodings compresses raw the ways other Kafka clients and tools
// do, rather than the way the Builder does.
func foreignEncodings(t testing.TB, raw []byte) map[string]encoded {
	t.Helper()
	out := map[string]encoded{}

	var gz bytes.Buffer
	w, _ := stdgzip.NewWriterLevel(&gz, stdgzip.BestSpeed)
	half := len(raw) / 2
	write(t, w, raw[:half])
	// A second gzip member: readers treat concatenated members as one stream.
	var gz2 bytes.Buffer
	w2 := stdgzip.NewWriter(&gz2)
	write(t, w2, raw[half:])
	out["gzip/stdlib-two-members"] = encoded{recordbatch.Gzip, append(gz.Bytes(), gz2.Bytes()...)}

	out["snappy/xerial"] = encoded{recordbatch.Snappy, xerialFrame(raw, 32<<10)}
	out["snappy/xerial-klauspost"] = encoded{recordbatch.Snappy, xerial.Encode(nil, raw)}
	out["snappy/block"] = encoded{recordbatch.Snappy, snappy.Encode(nil, raw)}

	var l bytes.Buffer
	lw := lz4.NewWriter(&l)
	if err := lw.Apply(lz4.BlockSizeOption(lz4.Block4Mb), lz4.BlockChecksumOption(true),
		lz4.ChecksumOption(false), lz4.SizeOption(uint64(len(raw)))); err != nil {
		t.Fatal(err)
	}
	write(t, lw, raw)
	out["lz4/4MiB-blocks-with-size"] = encoded{recordbatch.LZ4, l.Bytes()}

	var z bytes.Buffer
	zw, err := zstd.NewWriter(&z, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	if err != nil {
		t.Fatal(err)
	}
	write(t, zw, raw)
	out["zstd/stream-best"] = encoded{recordbatch.Zstd, z.Bytes()}
	return out
}

func write(t testing.TB, w io.WriteCloser, p []byte) {
	t.Helper()
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// xerialFrame writes snappy-java's framing, as Kafka's Java producer does:
// magic, version 1, compatible version 1, then length-prefixed blocks.
func xerialFrame(raw []byte, chunk int) []byte {
	out := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}
	for len(raw) > 0 {
		n := min(chunk, len(raw))
		block := snappy.Encode(nil, raw[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
		out = append(out, block...)
		raw = raw[n:]
	}
	return out
}

// bomb returns inflated zero bytes compressed with c, without holding them
// in memory.
func bomb(t testing.TB, c recordbatch.Compression, inflated int, opts ...zstd.EOption) []byte {
	t.Helper()
	zeros := make([]byte, 1<<20)
	var buf bytes.Buffer
	var w io.WriteCloser
	switch c {
	case recordbatch.Gzip:
		w, _ = gzip.NewWriterLevel(&buf, gzip.BestCompression)
	case recordbatch.LZ4:
		w = lz4.NewWriter(&buf)
	case recordbatch.Zstd:
		zw, err := zstd.NewWriter(&buf, append([]zstd.EOption{zstd.WithEncoderConcurrency(1)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		w = zw
	case recordbatch.Snappy:
		// Xerial blocks of 64 KiB: each is within snappy's expansion ratio,
		// only their sum is too large.
		out := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}
		block := snappy.Encode(nil, zeros[:64<<10])
		for range inflated / (64 << 10) {
			out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
			out = append(out, block...)
		}
		return out
	default:
		t.Fatalf("no bomb for %v", c)
	}
	for n := 0; n < inflated; n += len(zeros) {
		if _, err := w.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestDecompressionBomb: 100 MiB of zeros compressed into a valid batch
// is rejected with a 1 MiB limit, and decoding it allocates a small
// fraction of 100 MiB (BAD_INPUTS row 3).
func TestDecompressionBomb(t *testing.T) {
	const inflated = 100 << 20
	const limit = 1 << 20
	for _, c := range codecs[1:] {
		t.Run(c.String(), func(t *testing.T) {
			data := bomb(t, c, inflated)
			h := defaultRaw(1)
			h.attrs = int16(c)
			batch := rawBatch(h, data)
			if err := recordbatch.Verify(batch); err != nil {
				t.Fatalf("Verify: %v", err) // the header is fine
			}
			dec := recordbatch.Decoder{MaxDecompressedSize: limit}
			if _, err := dec.Decode(nil, batch); !errors.Is(err, recordbatch.ErrCorrupt) ||
				errors.Is(err, recordbatch.ErrInvalidRecord) || err.Error() != "decompressed size exceeds 1048576 bytes" {
				t.Fatalf("Decode = %v, want ErrCorrupt: decompressed size exceeds 1048576 bytes", err)
			}
			const runs = 5
			allocated := allocatedBytes(func() {
				for range runs {
					dec := recordbatch.Decoder{MaxDecompressedSize: limit} // a cold Decoder each time
					if _, err := dec.Decode(nil, batch); err == nil {
						t.Error("bomb decoded")
					}
				}
			}) / runs
			// The output buffer grows to limit+1 by doubling (< 2 limits
			// allocated in all); a zstd decoder dropped by its pool costs its
			// window (8 MiB here) again.
			bound := uint64(3*limit + 9<<20)
			t.Logf("%v: %d compressed bytes; %.2f MiB allocated per Decode", c, len(data), float64(allocated)/(1<<20))
			if allocated > bound {
				t.Fatalf("Decode allocated %d bytes per run, want <= %d (inflated size %d)", allocated, bound, inflated)
			}
		})
	}
}

func allocatedBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDecompressionLimits covers the other ways compressed data can claim
// or ask for memory.
func TestDecompressionLimits(t *testing.T) {
	t.Run("snappy block claiming 100 MiB", func(t *testing.T) {
		block := binary.AppendUvarint(nil, 100<<20)
		block = append(block, 0x00, 'x') // a 1-byte literal
		h := defaultRaw(1)
		h.attrs = int16(recordbatch.Snappy)
		batch := rawBatch(h, block)
		for _, limit := range []int{1 << 20, 200 << 20} {
			dec := recordbatch.Decoder{MaxDecompressedSize: limit}
			var err error
			allocated := allocatedBytes(func() { _, err = dec.Decode(nil, batch) })
			if !errors.Is(err, recordbatch.ErrCorrupt) {
				t.Fatalf("limit %d: Decode = %v, want ErrCorrupt", limit, err)
			}
			if allocated > 1<<20 {
				t.Fatalf("limit %d: allocated %d bytes for a 7-byte block", limit, allocated)
			}
		}
	})
	t.Run("zstd window above 8 MiB", func(t *testing.T) {
		data := bomb(t, recordbatch.Zstd, 32<<20, zstd.WithWindowSize(32<<20))
		h := defaultRaw(1)
		h.attrs = int16(recordbatch.Zstd)
		dec := recordbatch.Decoder{MaxDecompressedSize: 1 << 30}
		var err error
		allocated := allocatedBytes(func() { _, err = dec.Decode(nil, rawBatch(h, data)) })
		if !errors.Is(err, recordbatch.ErrCorrupt) || !strings.Contains(err.Error(), "invalid zstd data") {
			t.Fatalf("Decode = %v, want ErrCorrupt for the window", err)
		}
		if allocated > 4<<20 {
			t.Fatalf("allocated %d bytes to reject a frame header", allocated)
		}
	})
	t.Run("limit exactly the decompressed size", func(t *testing.T) {
		recs := kibRecords(50)
		size := len(build(t, recordbatch.None, nil, recs)) - 61
		for _, c := range codecs[1:] {
			batch := build(t, c, nil, recs)
			dec := recordbatch.Decoder{MaxDecompressedSize: size}
			if _, err := dec.Decode(nil, batch); err != nil {
				t.Errorf("%v with limit = size: %v", c, err)
			}
			dec.MaxDecompressedSize = size - 1
			if _, err := dec.Decode(nil, batch); !errors.Is(err, recordbatch.ErrCorrupt) {
				t.Errorf("%v with limit = size-1: %v, want ErrCorrupt", c, err)
			}
		}
	})
}
