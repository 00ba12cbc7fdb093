package recordbatch_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"testing"

	"github.com/strata-log/strata/pkg/recordbatch"
)

var codecs = []recordbatch.Compression{
	recordbatch.None, recordbatch.Gzip, recordbatch.Snappy, recordbatch.LZ4, recordbatch.Zstd,
}

// rawHeader holds the header fields that rawBatch writes; batchLength and
// crc are computed.
type rawHeader struct {
	baseOffset      int64
	leaderEpoch     int32
	magic           int8
	attrs           int16
	lastOffsetDelta int32
	baseTS, maxTS   int64
	producerID      int64
	producerEpoch   int16
	baseSequence    int32
	count           int32
}

// defaultRaw is the header of an uncompressed batch of n records from a
// non-idempotent producer.
func defaultRaw(n int32) rawHeader {
	return rawHeader{
		leaderEpoch: -1, magic: 2, lastOffsetDelta: n - 1,
		baseTS: 1000, maxTS: 1000,
		producerID: -1, producerEpoch: -1, baseSequence: -1, count: n,
	}
}

// rawBatch assembles a batch by hand, independently of the Builder, with a
// correct batchLength and CRC.
func rawBatch(h rawHeader, records []byte) []byte {
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.BigEndian, v) }
	w(h.baseOffset)
	w(int32(49 + len(records)))
	w(h.leaderEpoch)
	w(h.magic)
	w(uint32(0)) // crc, below
	w(h.attrs)
	w(h.lastOffsetDelta)
	w(h.baseTS)
	w(h.maxTS)
	w(h.producerID)
	w(h.producerEpoch)
	w(h.baseSequence)
	w(h.count)
	b.Write(records)
	out := b.Bytes()
	fixCRC(out)
	return out
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// fixCRC recomputes the crc field of the batch b.
func fixCRC(b []byte) {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
}

// uvarint appends Kafka's zig-zag varint of v: written here again rather
// than taken from the package, to test the package against it.
func zz(b []byte, v int64) []byte {
	return binary.AppendUvarint(b, uint64(v<<1)^uint64(v>>63))
}

// rawRecord encodes one record by hand. A nil key or value is null.
func rawRecord(tsDelta int64, offDelta int32, key, value []byte, headers ...recordbatch.Header) []byte {
	var body []byte
	body = append(body, 0)
	body = zz(body, tsDelta)
	body = zz(body, int64(offDelta))
	nullable := func(p []byte) {
		if p == nil {
			body = zz(body, -1)
			return
		}
		body = zz(body, int64(len(p)))
		body = append(body, p...)
	}
	nullable(key)
	nullable(value)
	body = zz(body, int64(len(headers)))
	for _, h := range headers {
		body = zz(body, int64(len(h.Key)))
		body = append(body, h.Key...)
		nullable(h.Value)
	}
	return append(zz(nil, int64(len(body))), body...)
}

// build builds a batch with a fresh Builder and fails the test on error.
func build(tb testing.TB, c recordbatch.Compression, p *recordbatch.Producer, recs []recordbatch.Record) []byte {
	tb.Helper()
	b := recordbatch.NewBuilder(c, p)
	for _, r := range recs {
		b.Append(r)
	}
	out, err := b.Build(nil)
	if err != nil {
		tb.Fatalf("Build(%v): %v", c, err)
	}
	return out
}

// recordsEqual compares records as a decoder must return them: nil and
// empty keys, values and header values differ; nil and empty Headers do not.
func recordsEqual(got, want []recordbatch.Record) error {
	if len(got) != len(want) {
		return fmt.Errorf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if err := bytesEqual(g.Key, w.Key); err != nil {
			return fmt.Errorf("record %d key: %w", i, err)
		}
		if err := bytesEqual(g.Value, w.Value); err != nil {
			return fmt.Errorf("record %d value: %w", i, err)
		}
		if g.Timestamp != w.Timestamp {
			return fmt.Errorf("record %d timestamp %d, want %d", i, g.Timestamp, w.Timestamp)
		}
		if g.OffsetDelta != int32(i) {
			return fmt.Errorf("record %d offset delta %d", i, g.OffsetDelta)
		}
		if len(g.Headers) != len(w.Headers) {
			return fmt.Errorf("record %d has %d headers, want %d", i, len(g.Headers), len(w.Headers))
		}
		for j := range w.Headers {
			if g.Headers[j].Key != w.Headers[j].Key {
				return fmt.Errorf("record %d header %d key %q, want %q", i, j, g.Headers[j].Key, w.Headers[j].Key)
			}
			if err := bytesEqual(g.Headers[j].Value, w.Headers[j].Value); err != nil {
				return fmt.Errorf("record %d header %d value: %w", i, j, err)
			}
		}
	}
	return nil
}

func bytesEqual(got, want []byte) error {
	switch {
	case (got == nil) != (want == nil):
		return fmt.Errorf("got nil=%v, want nil=%v", got == nil, want == nil)
	case !bytes.Equal(got, want):
		return fmt.Errorf("got %q, want %q", trim(got), trim(want))
	}
	return nil
}

func trim(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}

// words makes compressible, not trivially repetitive text of n bytes.
func words(r *rand.Rand, n int) []byte {
	vocab := []string{"strata", "kafka", "partition", "offset", "leader", "epoch", "replica",
		`{"id":`, `"ts":`, "}", ",", " ", "\n", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	out := make([]byte, 0, n+16)
	for len(out) < n {
		out = append(out, vocab[r.IntN(len(vocab))]...)
	}
	return out[:n]
}

// kibRecords makes n records with 1 KiB values and short keys.
func kibRecords(n int) []recordbatch.Record {
	r := rand.New(rand.NewPCG(1, 2))
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		recs[i] = recordbatch.Record{
			Key:       fmt.Appendf(nil, "key-%06d", i),
			Value:     words(r, 1024),
			Timestamp: 1_700_000_000_000 + int64(i),
		}
	}
	return recs
}
