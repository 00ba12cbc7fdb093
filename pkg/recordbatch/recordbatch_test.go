package recordbatch_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/strata-log/strata/pkg/recordbatch"
)

func TestCompressionNames(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want recordbatch.Compression
	}{
		{"none", recordbatch.None}, {"gzip", recordbatch.Gzip}, {"snappy", recordbatch.Snappy},
		{"lz4", recordbatch.LZ4}, {"zstd", recordbatch.Zstd}, {"GZIP", recordbatch.Gzip}, {"Zstd", recordbatch.Zstd},
	} {
		got, err := recordbatch.ParseCompression(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseCompression(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, c := range codecs {
		if got, err := recordbatch.ParseCompression(c.String()); err != nil || got != c {
			t.Errorf("ParseCompression(%v.String()) = %v, %v", c, got, err)
		}
	}
	for _, bad := range []string{"", "brotli", "gz", " gzip"} {
		if _, err := recordbatch.ParseCompression(bad); err == nil {
			t.Errorf("ParseCompression(%q) succeeded", bad)
		}
	}
	if s := recordbatch.Compression(5).String(); s != "Compression(5)" {
		t.Errorf("Compression(5).String() = %q", s)
	}
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	many := make([]recordbatch.Record, 1000)
	for i := range many {
		many[i] = recordbatch.Record{
			Key:       words(rng, rng.IntN(20)),
			Value:     words(rng, rng.IntN(300)),
			Timestamp: 1_700_000_000_000 + int64(rng.IntN(10_000)) - 5_000, // out of order
		}
		if i%7 == 0 {
			many[i].Key = nil
		}
		if i%11 == 0 {
			many[i].Headers = []recordbatch.Header{{Key: "i", Value: fmt.Append(nil, i)}}
		}
	}
	sets := []struct {
		name string
		recs []recordbatch.Record
	}{
		{"one record", []recordbatch.Record{{Key: []byte("k"), Value: []byte("v"), Timestamp: 1}}},
		{"null key and value", []recordbatch.Record{{Timestamp: 5}, {Key: []byte("k"), Timestamp: 6}, {Value: []byte("v"), Timestamp: 7}}},
		{"empty key and value", []recordbatch.Record{{Key: []byte{}, Value: []byte{}, Timestamp: 0}}},
		{"headers", []recordbatch.Record{{
			Key: []byte("k"), Value: []byte("v"), Timestamp: 1_700_000_000_000,
			Headers: []recordbatch.Header{
				{Key: "trace-id", Value: []byte("abc")},
				{Key: "null", Value: nil},
				{Key: "empty", Value: []byte{}},
				{Key: "", Value: []byte("empty key")},
				{Key: "trace-id", Value: []byte("duplicate keys are kept")},
			},
		}, {Value: []byte("no headers"), Timestamp: 1_700_000_000_001, Headers: []recordbatch.Header{}}}},
		{"no timestamp", []recordbatch.Record{{Value: []byte("a"), Timestamp: -1}, {Value: []byte("b"), Timestamp: -1}}},
		{"extreme timestamps", []recordbatch.Record{{Value: []byte("a"), Timestamp: math.MaxInt64}, {Value: []byte("b"), Timestamp: math.MinInt64}}},
		{"many records", many},
		{"large value", []recordbatch.Record{{Key: []byte("big"), Value: words(rng, 3<<20), Timestamp: 9}}},
	}
	producers := []*recordbatch.Producer{nil, {ID: 7, Epoch: 3, BaseSequence: 42}, {ID: 1 << 40, Epoch: 0, BaseSequence: 0, Transactional: true}}
	var dec recordbatch.Decoder
	for _, set := range sets {
		for _, c := range codecs {
			for pi, p := range producers {
				t.Run(fmt.Sprintf("%s/%v/producer%d", set.name, c, pi), func(t *testing.T) {
					batch := build(t, c, p, set.recs)
					if err := recordbatch.Verify(batch); err != nil {
						t.Fatalf("Verify: %v", err)
					}
					h, err := recordbatch.ParseHeader(batch)
					if err != nil {
						t.Fatalf("ParseHeader: %v", err)
					}
					checkHeader(t, h, batch, c, p, set.recs)
					got, err := dec.Decode(nil, batch)
					if err != nil {
						t.Fatalf("Decode: %v", err)
					}
					if err := recordsEqual(got, set.recs); err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	}
}

func checkHeader(t *testing.T, h recordbatch.BatchHeader, batch []byte, c recordbatch.Compression, p *recordbatch.Producer, recs []recordbatch.Record) {
	t.Helper()
	maxTS := recs[0].Timestamp
	for _, r := range recs {
		maxTS = max(maxTS, r.Timestamp)
	}
	want := recordbatch.BatchHeader{
		BaseOffset:           0,
		BatchLength:          int32(len(batch) - 12),
		PartitionLeaderEpoch: -1,
		Magic:                2,
		CRC:                  crc32.Checksum(batch[21:], castagnoli),
		Attributes:           int16(c),
		LastOffsetDelta:      int32(len(recs) - 1),
		BaseTimestamp:        recs[0].Timestamp,
		MaxTimestamp:         maxTS,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		BaseSequence:         -1,
		RecordCount:          int32(len(recs)),
	}
	if p != nil {
		want.ProducerID, want.ProducerEpoch, want.BaseSequence = p.ID, p.Epoch, p.BaseSequence
		if p.Transactional {
			want.Attributes |= 0x10
		}
	}
	if h != want {
		t.Errorf("header\n got %+v\nwant %+v", h, want)
	}
	if h.Compression() != c || h.Size() != len(batch) || h.Control() || h.LogAppendTime() ||
		h.Transactional() != (p != nil && p.Transactional) || h.HasProducerID() != (p != nil) {
		t.Errorf("header accessors disagree with %+v", h)
	}
}

// crc32cBitwise is CRC32C computed bit by bit from the polynomial, to check
// the table-driven hash/crc32 and the golden batch independently.
func crc32cBitwise(b []byte) uint32 {
	crc := ^uint32(0)
	for _, x := range b {
		crc ^= uint32(x)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0x82F63B78
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}

// TestGoldenBatch pins the exact bytes of a small batch, written out by
// hand from Kafka's v2 layout.
func TestGoldenBatch(t *testing.T) {
	if got := crc32cBitwise([]byte("123456789")); got != 0xE3069283 {
		t.Fatalf("bitwise CRC32C check value = %#x", got)
	}
	want := []byte{
		0, 0, 0, 0, 0, 0, 0, 0, // baseOffset 0
		0, 0, 0, 69, // batchLength: 81 - 12
		0xff, 0xff, 0xff, 0xff, // partitionLeaderEpoch -1
		2,          // magic
		0, 0, 0, 0, // crc, filled below
		0, 0, // attributes: no compression, CreateTime
		0, 0, 0, 1, // lastOffsetDelta
		0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // baseTimestamp 1700000000000
		0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05, // maxTimestamp 1700000000005
		0, 0, 0, 0, 0, 0, 0, 7, // producerId 7
		0, 1, // producerEpoch 1
		0, 0, 0, 3, // baseSequence 3
		0, 0, 0, 2, // recordCount 2
		// record 0
		0x18,      // length 12
		0,         // attributes
		0,         // timestampDelta 0
		0,         // offsetDelta 0
		0x02, 'k', // key "k"
		0x02, 'v', // value "v"
		0x02,      // 1 header
		0x02, 'h', // header key "h"
		0x02, 'x', // header value "x"
		// record 1
		0x0c, // length 6
		0,    // attributes
		0x0a, // timestampDelta 5
		0x02, // offsetDelta 1
		0x01, // null key
		0x01, // null value
		0x00, // no headers
	}
	const wantCRC = 0x6be36c0d // CRC32C of bytes 21..80, computed outside Go
	binary.BigEndian.PutUint32(want[17:], wantCRC)
	if got := crc32.Checksum(want[21:], castagnoli); got != wantCRC {
		t.Fatalf("hash/crc32 Castagnoli = %#x, want %#x", got, wantCRC)
	}
	if got := crc32cBitwise(want[21:]); got != wantCRC {
		t.Fatalf("bitwise CRC32C = %#x, want %#x", got, wantCRC)
	}

	recs := []recordbatch.Record{
		{Key: []byte("k"), Value: []byte("v"), Timestamp: 1_700_000_000_000, Headers: []recordbatch.Header{{Key: "h", Value: []byte("x")}}},
		{Timestamp: 1_700_000_000_005, OffsetDelta: 99 /* ignored */},
	}
	got := build(t, recordbatch.None, &recordbatch.Producer{ID: 7, Epoch: 1, BaseSequence: 3}, recs)
	if !bytes.Equal(got, want) {
		t.Fatalf("batch\n got % x\nwant % x", got, want)
	}
	if err := recordbatch.Verify(want); err != nil {
		t.Fatalf("Verify(golden): %v", err)
	}
	var dec recordbatch.Decoder
	out, err := dec.Decode(nil, want)
	if err != nil {
		t.Fatal(err)
	}
	recs[1].OffsetDelta = 1
	if err := recordsEqual(out, recs); err != nil {
		t.Fatal(err)
	}
}

func TestBuilderReuse(t *testing.T) {
	recs := kibRecords(10)
	for _, c := range codecs {
		b := recordbatch.NewBuilder(recordbatch.Gzip, &recordbatch.Producer{ID: 1})
		b.Append(recordbatch.Record{Value: []byte("left over")})
		b.Reset(c, nil)
		if b.Len() != 0 || b.Size() != recordbatch.HeaderSize {
			t.Fatalf("after Reset: Len %d Size %d", b.Len(), b.Size())
		}
		for _, r := range recs {
			b.Append(r)
		}
		if b.Len() != len(recs) {
			t.Fatalf("Len = %d", b.Len())
		}
		prefix := []byte("prefix")
		out, err := b.Build(prefix)
		if err != nil {
			t.Fatal(err)
		}
		want := build(t, c, nil, recs)
		if !bytes.HasPrefix(out, prefix) || !bytes.Equal(out[len(prefix):], want) {
			t.Fatalf("%v: reused Builder differs from a new one", c)
		}
		// Build does not reset: building again gives the same batch.
		again, err := b.Build(nil)
		if err != nil || !bytes.Equal(again, want) {
			t.Fatalf("%v: second Build differs: %v", c, err)
		}
	}
	var empty recordbatch.Builder
	if _, err := empty.Build(nil); err == nil {
		t.Fatal("Build of no records succeeded")
	}
}

func TestZeroBuilder(t *testing.T) {
	var b recordbatch.Builder
	b.Append(recordbatch.Record{Value: []byte("v")})
	out, err := b.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := recordbatch.ParseHeader(out)
	if err != nil {
		t.Fatal(err)
	}
	if h.ProducerID != -1 || h.ProducerEpoch != -1 || h.BaseSequence != -1 || h.Compression() != recordbatch.None {
		t.Fatalf("zero Builder wrote %+v", h)
	}
}

// TestCompressedFormats checks the codecs' framing, which Kafka clients
// depend on.
func TestCompressedFormats(t *testing.T) {
	magic := map[recordbatch.Compression][]byte{
		recordbatch.Gzip: {0x1f, 0x8b},
		recordbatch.LZ4:  {0x04, 0x22, 0x4d, 0x18}, // LZ4 frame
		recordbatch.Zstd: {0x28, 0xb5, 0x2f, 0xfd},
	}
	recs := kibRecords(4)
	for c, m := range magic {
		batch := build(t, c, nil, recs)
		if !bytes.HasPrefix(batch[61:], m) {
			t.Errorf("%v records start % x, want % x", c, batch[61:65], m)
		}
	}
	// Snappy: a plain block, starting with the uvarint of the raw size.
	batch := build(t, recordbatch.Snappy, nil, recs)
	raw := build(t, recordbatch.None, nil, recs)
	if n, _ := binary.Uvarint(batch[61:]); n != uint64(len(raw)-61) {
		t.Errorf("snappy block claims %d bytes, want %d", n, len(raw)-61)
	}
}

func TestSetBaseOffsetAndLeaderEpoch(t *testing.T) {
	for _, c := range codecs {
		batch := build(t, c, nil, kibRecords(3))
		crc := binary.BigEndian.Uint32(batch[17:])
		recordbatch.SetBaseOffset(batch, 1<<40+5)
		recordbatch.SetLeaderEpoch(batch, 17)
		if err := recordbatch.Verify(batch); err != nil {
			t.Fatalf("%v: Verify after rewrite: %v", c, err)
		}
		h, err := recordbatch.ParseHeader(batch)
		if err != nil {
			t.Fatal(err)
		}
		if h.BaseOffset != 1<<40+5 || h.PartitionLeaderEpoch != 17 || h.CRC != crc || h.LastOffset() != 1<<40+7 {
			t.Fatalf("%v: header after rewrite %+v", c, h)
		}
		var dec recordbatch.Decoder
		if recs, err := dec.Decode(nil, batch); err != nil || len(recs) != 3 {
			t.Fatalf("%v: Decode after rewrite: %d records, %v", c, len(recs), err)
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("SetBaseOffset on a short buffer did not panic")
			}
		}()
		recordbatch.SetBaseOffset(make([]byte, 8), 1)
	}()
}

func TestLogAppendTime(t *testing.T) {
	batch := rawBatch(rawHeader{
		leaderEpoch: 3, magic: 2, attrs: 0x08, lastOffsetDelta: 1, baseTS: 100, maxTS: 5000,
		producerID: -1, producerEpoch: -1, baseSequence: -1, count: 2,
	}, append(rawRecord(0, 0, nil, []byte("a")), rawRecord(7, 1, nil, []byte("b"))...))
	var dec recordbatch.Decoder
	recs, err := dec.Decode(nil, batch)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Timestamp != 5000 {
			t.Errorf("LogAppendTime record timestamp %d, want maxTimestamp 5000", r.Timestamp)
		}
	}
}

// TestDecodeCompacted: a batch that compaction thinned keeps its offset
// range with fewer records. Decode accepts it; Verify, the check on
// produced batches, does not.
func TestDecodeCompacted(t *testing.T) {
	h := defaultRaw(2)
	h.lastOffsetDelta = 4
	batch := rawBatch(h, append(rawRecord(0, 1, []byte("k1"), []byte("a")), rawRecord(0, 4, []byte("k4"), nil)...))
	var dec recordbatch.Decoder
	recs, err := dec.Decode(nil, batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].OffsetDelta != 1 || recs[1].OffsetDelta != 4 {
		t.Fatalf("decoded %+v", recs)
	}
	if err := recordbatch.Verify(batch); !errors.Is(err, recordbatch.ErrInvalidRecord) {
		t.Fatalf("Verify = %v, want ErrInvalidRecord", err)
	}
}

// TestDecodeForeignEncodings decodes compressed records written the ways
// other Kafka clients write them.
func TestDecodeForeignEncodings(t *testing.T) {
	recs := kibRecords(200)
	raw := build(t, recordbatch.None, nil, recs)[61:]
	for name, tc := range foreignEncodings(t, raw) {
		t.Run(name, func(t *testing.T) {
			h := defaultRaw(int32(len(recs)))
			h.attrs = int16(tc.codec)
			h.baseTS, h.maxTS = recs[0].Timestamp, recs[len(recs)-1].Timestamp
			batch := rawBatch(h, tc.data)
			var dec recordbatch.Decoder
			got, err := dec.Decode(nil, batch)
			if err != nil {
				t.Fatal(err)
			}
			if err := recordsEqual(got, recs); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDecodeReusesMemory(t *testing.T) {
	batch := build(t, recordbatch.None, nil, kibRecords(64))
	var dec recordbatch.Decoder
	recs, err := dec.Decode(nil, batch)
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		recs, err = dec.Decode(recs[:0], batch)
	})
	if err != nil || allocs != 0 {
		t.Fatalf("Decode of an uncompressed batch: %v allocations per run, err %v", allocs, err)
	}
	for _, c := range codecs[1:] {
		batch := build(t, c, nil, kibRecords(64))
		recs, err = dec.Decode(recs[:0], batch)
		allocs := testing.AllocsPerRun(50, func() {
			recs, err = dec.Decode(recs[:0], batch)
		})
		// The decompressors come from pools and write into the Decoder's
		// buffer; a few small allocations remain inside the libraries.
		if err != nil || allocs > 10 {
			t.Errorf("Decode of a %v batch: %v allocations per run, err %v", c, allocs, err)
		}
	}
}

func TestVerifyDoesNotAllocate(t *testing.T) {
	for _, c := range codecs {
		batch := build(t, c, nil, kibRecords(16))
		var err error
		allocs := testing.AllocsPerRun(100, func() { err = recordbatch.Verify(batch) })
		if err != nil || allocs != 0 {
			t.Errorf("Verify(%v): %v allocations, err %v", c, allocs, err)
		}
	}
}

func TestBuildSteadyStateAllocations(t *testing.T) {
	recs := kibRecords(64)
	for _, c := range codecs {
		b := recordbatch.NewBuilder(c, nil)
		var out []byte
		run := func() {
			b.Reset(c, nil)
			for _, r := range recs {
				b.Append(r)
			}
			var err error
			if out, err = b.Build(out[:0]); err != nil {
				t.Fatal(err)
			}
		}
		run()
		allocs := testing.AllocsPerRun(20, run)
		limit := 0.0
		if c != recordbatch.None {
			limit = 10 // inside the compression libraries, pools dropped by the GC
		}
		if allocs > limit {
			t.Errorf("Build(%v): %v allocations per batch, want <= %v", c, allocs, limit)
		}
	}
}

// TestConcurrentUse runs Builders and Decoders of every codec at once, for
// the race detector to check the shared compressor pools and encoder.
func TestConcurrentUse(t *testing.T) {
	recs := kibRecords(20)
	done := make(chan error)
	const workers = 8
	for w := range workers {
		go func() {
			var dec recordbatch.Decoder
			var bld recordbatch.Builder
			var out []byte
			var got []recordbatch.Record
			for i := range 20 {
				c := codecs[(w+i)%len(codecs)]
				bld.Reset(c, &recordbatch.Producer{ID: int64(w), BaseSequence: int32(i)})
				for _, r := range recs {
					bld.Append(r)
				}
				var err error
				if out, err = bld.Build(out[:0]); err != nil {
					done <- err
					return
				}
				if got, err = dec.Decode(got[:0], out); err != nil {
					done <- err
					return
				}
				if err := recordsEqual(got, recs); err != nil {
					done <- fmt.Errorf("worker %d, %v: %w", w, c, err)
					return
				}
			}
			done <- nil
		}()
	}
	for range workers {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
