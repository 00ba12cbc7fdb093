package recordbatch_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/strata-log/strata/pkg/recordbatch"
)

// fuzzLimit bounds decompression while fuzzing.
const fuzzLimit = 1 << 20

func seedRecords() []recordbatch.Record {
	return []recordbatch.Record{
		{Key: []byte("key"), Value: []byte("value"), Timestamp: 1_700_000_000_000,
			Headers: []recordbatch.Header{{Key: "h", Value: []byte("v")}, {Key: "null"}}},
		{Value: bytes.Repeat([]byte("abc"), 50), Timestamp: 1_700_000_000_002},
		{Key: []byte{}, Value: nil, Timestamp: 1_699_999_999_999},
	}
}

// checkSentinel fails unless err is nil or matches exactly one sentinel.
func checkSentinel(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	c, i := errors.Is(err, recordbatch.ErrCorrupt), errors.Is(err, recordbatch.ErrInvalidRecord)
	if c == i {
		t.Fatalf("%s: error %q matches ErrCorrupt %v, ErrInvalidRecord %v", what, err, c, i)
	}
	if err.Error() == "" {
		t.Fatalf("%s: empty error message", what)
	}
}

// FuzzDecode feeds arbitrary bytes to every function that reads a batch:
// none may panic, and every error must match ErrCorrupt or
// ErrInvalidRecord. A random mutation almost always breaks the CRC, so the
// input is also decoded with its length and CRC fixed, to reach the
// decompressors and the record decoder.
func FuzzDecode(f *testing.F) {
	recs := seedRecords()
	for _, c := range codecs {
		f.Add(build(f, c, nil, recs))
		f.Add(build(f, c, &recordbatch.Producer{ID: 7, Epoch: 1, BaseSequence: 5}, recs[:1]))
	}
	raw := build(f, recordbatch.None, nil, recs)
	for _, e := range foreignEncodings(f, raw[61:]) {
		h := defaultRaw(int32(len(recs)))
		h.attrs = int16(e.codec)
		f.Add(rawBatch(h, e.data))
	}
	h := defaultRaw(2)
	h.attrs = 0x28 // control, LogAppendTime
	f.Add(rawBatch(h, append(rawRecord(0, 0, []byte{0, 0, 0, 1}, []byte{0, 0, 0, 0, 0, 0}), rawRecord(0, 1, nil, nil)...)))
	f.Add(append(build(f, recordbatch.Gzip, nil, recs), build(f, recordbatch.None, nil, recs)...))
	f.Add([]byte{})
	f.Add(make([]byte, 61))

	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := recordbatch.ParseHeader(data)
		checkSentinel(t, "ParseHeader", err)
		checkSentinel(t, "Verify", recordbatch.Verify(data))
		for b, err := range recordbatch.All(data) {
			checkSentinel(t, "All", err)
			if err == nil {
				checkSentinel(t, "Verify(All)", recordbatch.Verify(b))
			}
		}
		dec := recordbatch.Decoder{MaxDecompressedSize: fuzzLimit}
		_, err = dec.Decode(nil, data)
		checkSentinel(t, "Decode", err)

		if len(data) < recordbatch.HeaderSize {
			return
		}
		fixed := bytes.Clone(data)
		binary.BigEndian.PutUint32(fixed[8:], uint32(len(fixed)-12))
		fixed[16] = 2
		fixCRC(fixed)
		got, err := dec.Decode(nil, fixed)
		checkSentinel(t, "Decode(fixed)", err)
		if err != nil {
			return
		}
		h, err := recordbatch.ParseHeader(fixed)
		if err != nil {
			t.Fatalf("Decode accepted a batch ParseHeader rejects: %v", err)
		}
		if len(got) != int(h.RecordCount) {
			t.Fatalf("Decode returned %d records for recordCount %d", len(got), h.RecordCount)
		}
		if err := recordbatch.Verify(fixed); err == nil {
			for i, r := range got {
				if r.OffsetDelta != int32(i) {
					t.Fatalf("record %d of a verified batch has offset delta %d", i, r.OffsetDelta)
				}
			}
		}
		if h.LogAppendTime() {
			return
		}
		// What decodes re-encodes to the same records.
		again := build(t, h.Compression(), nil, got)
		var dec2 recordbatch.Decoder
		back, err := dec2.Decode(nil, again)
		if err != nil {
			t.Fatalf("decoding re-encoded records: %v", err)
		}
		if err := recordsEqual(back, got); err != nil {
			t.Fatalf("re-encoded records differ: %v", err)
		}
	})
}

// FuzzRoundTrip builds a batch from records derived from the fuzzer's
// bytes and checks that it verifies and decodes to the same records.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("\x00\x03key\x05value"), uint8(0), int64(1_700_000_000_000), int64(-1))
	f.Add([]byte("\x03\x00\x01\x02\x10\x20\x30\x40abcdefghijklmnopqrstuvwxyz"), uint8(1), int64(0), int64(7))
	f.Add(bytes.Repeat([]byte("\x0c\x02hk\x01v\x08"), 40), uint8(2), int64(-1), int64(0))
	f.Add(bytes.Repeat([]byte{0xf0, 0x20, 0x05}, 30), uint8(3), int64(1<<62), int64(1<<40))
	f.Add([]byte("\x01\x02\x03\x04\x05\x06\x07\x08\x09"), uint8(4), int64(-1<<62), int64(-1))

	f.Fuzz(func(t *testing.T, data []byte, codec uint8, ts int64, pid int64) {
		c := recordbatch.Compression(codec % 5)
		recs := recordsFrom(data, ts)
		var p *recordbatch.Producer
		if pid >= 0 {
			p = &recordbatch.Producer{ID: pid, Epoch: int16(pid), BaseSequence: int32(pid >> 1 & 0x7fffffff), Transactional: pid&1 == 1}
		}
		b := recordbatch.NewBuilder(c, p)
		for _, r := range recs {
			b.Append(r)
		}
		batch, err := b.Build(nil)
		if len(recs) == 0 {
			if err == nil {
				t.Fatal("Build of no records succeeded")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := recordbatch.Verify(batch); err != nil {
			t.Fatalf("Verify: %v", err)
		}
		h, err := recordbatch.ParseHeader(batch)
		if err != nil {
			t.Fatal(err)
		}
		checkHeader(t, h, batch, c, p, recs)
		var dec recordbatch.Decoder
		got, err := dec.Decode(nil, batch)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if err := recordsEqual(got, recs); err != nil {
			t.Fatal(err)
		}
	})
}

// recordsFrom derives records from fuzz bytes: each record starts with a
// flags byte (bit 0 null key, bit 1 null value, bits 2-3 header count,
// bits 4-7 key length), then a value length byte, a timestamp offset byte,
// and the bytes the lengths take.
func recordsFrom(data []byte, ts int64) []recordbatch.Record {
	take := func(n int) []byte {
		n = min(n, len(data))
		p := data[:n:n]
		data = data[n:]
		return p
	}
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	var recs []recordbatch.Record
	for len(data) > 0 && len(recs) < 200 {
		flags := next()
		vlen := int(next())
		r := recordbatch.Record{Timestamp: ts + int64(int8(next()))*1000}
		if flags&1 == 0 {
			r.Key = append([]byte{}, take(int(flags>>4))...)
		}
		if flags&2 == 0 {
			r.Value = append([]byte{}, take(vlen*4)...)
		}
		for range flags >> 2 & 3 {
			hk := next()
			h := recordbatch.Header{Key: string(take(int(hk & 7)))}
			if hk&8 == 0 {
				h.Value = append([]byte{}, take(int(hk>>4))...)
			}
			r.Headers = append(r.Headers, h)
		}
		recs = append(recs, r)
	}
	return recs
}
