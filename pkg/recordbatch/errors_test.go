package recordbatch_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/strata-log/strata/pkg/recordbatch"
)

// errKind names the sentinel an error must match, and must not match the
// other one.
type errKind int

const (
	corrupt errKind = iota
	truncated
	invalid
)

func checkErr(t *testing.T, err error, kind errKind, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %q", msg)
	}
	isCorrupt := errors.Is(err, recordbatch.ErrCorrupt)
	isInvalid := errors.Is(err, recordbatch.ErrInvalidRecord)
	isTruncated := errors.Is(err, recordbatch.ErrTruncated)
	switch kind {
	case corrupt:
		if !isCorrupt || isInvalid || isTruncated {
			t.Errorf("error %q: corrupt %v, invalid %v, truncated %v; want corrupt only", err, isCorrupt, isInvalid, isTruncated)
		}
	case truncated:
		if !isCorrupt || isInvalid || !isTruncated {
			t.Errorf("error %q: corrupt %v, invalid %v, truncated %v; want corrupt and truncated", err, isCorrupt, isInvalid, isTruncated)
		}
	case invalid:
		if isCorrupt || !isInvalid || isTruncated {
			t.Errorf("error %q: corrupt %v, invalid %v, truncated %v; want invalid only", err, isCorrupt, isInvalid, isTruncated)
		}
	}
	if msg != "" && err.Error() != msg {
		t.Errorf("message\n got %q\nwant %q", err.Error(), msg)
	}
}

// mutate returns a copy of b changed by f, with the CRC recomputed if fix.
func mutate(b []byte, fix bool, f func(b []byte)) []byte {
	c := bytes.Clone(b)
	f(c)
	if fix {
		fixCRC(c)
	}
	return c
}

func TestVerifyErrors(t *testing.T) {
	valid := build(t, recordbatch.None, nil, kibRecords(3)) // 3 records
	n := len(valid)
	be := binary.BigEndian
	flipped := mutate(valid, false, func(b []byte) { b[100] ^= 1 })
	stored, computed := be.Uint32(flipped[17:]), crc32.Checksum(flipped[21:], castagnoli)

	for _, tc := range []struct {
		name  string
		batch []byte
		kind  errKind
		msg   string
	}{
		{"crc mismatch", flipped, corrupt,
			fmt.Sprintf("Record is corrupt (stored crc = %d, computed crc = %d)", stored, computed)},
		{"crc field changed", mutate(valid, false, func(b []byte) { b[17]++ }), corrupt, ""},
		{"producer id changed without the crc", mutate(valid, false, func(b []byte) { b[50] = 9 }), corrupt, ""},
		{"truncated records", valid[:n-1], truncated, fmt.Sprintf("batch truncated at byte %d", n-1)},
		{"truncated header", valid[:30], truncated, "batch truncated at byte 30"},
		{"empty", nil, truncated, "batch truncated at byte 0"},
		{"length beyond the buffer", mutate(valid, true, func(b []byte) { be.PutUint32(b[8:], 1<<30) }), truncated,
			fmt.Sprintf("batch truncated at byte %d", n)},
		{"length below the header", mutate(valid, true, func(b []byte) { be.PutUint32(b[8:], 48) }), corrupt,
			"invalid record batch length 48 (at least 49)"},
		{"negative length", mutate(valid, true, func(b []byte) { be.PutUint32(b[8:], 0xffffff00) }), corrupt, ""},
		{"bytes after the batch", append(bytes.Clone(valid), 0), corrupt, fmt.Sprintf("1 bytes after the end of the batch at byte %d", n)},
		{"magic 1", mutate(valid, true, func(b []byte) { b[16] = 1 }), corrupt, "unsupported record batch magic 1 (want 2)"},
		{"magic 1, short", mutate(valid[:20], false, func(b []byte) { b[16] = 1 }), corrupt, "unsupported record batch magic 1 (want 2)"},
		{"unknown codec 5", mutate(valid, true, func(b []byte) { be.PutUint16(b[21:], 5) }), corrupt, "unknown compression codec 5"},
		{"unknown codec 7 with other bits", mutate(valid, true, func(b []byte) { be.PutUint16(b[21:], 0x17) }), corrupt, "unknown compression codec 7"},
		{"count 0", mutate(valid, true, func(b []byte) { be.PutUint32(b[57:], 0) }), invalid,
			"Invalid reported count for record batch: 0"},
		{"count -1", mutate(valid, true, func(b []byte) { be.PutUint32(b[57:], 0xffffffff) }), invalid,
			"Invalid reported count for record batch: -1"},
		{"count 3, lastOffsetDelta 4", mutate(valid, true, func(b []byte) { be.PutUint32(b[23:], 4) }), invalid,
			"Inconsistent batch offset range [0, 4] and count of records 3"},
		{"count 3, lastOffsetDelta 1", mutate(valid, true, func(b []byte) { be.PutUint32(b[23:], 1) }), invalid,
			"Inconsistent batch offset range [0, 1] and count of records 3"},
		{"inconsistent after a base offset", mutate(valid, true, func(b []byte) {
			be.PutUint64(b[0:], 100)
			be.PutUint32(b[23:], 4)
		}), invalid, "Inconsistent batch offset range [100, 104] and count of records 3"},
		{"negative lastOffsetDelta", mutate(valid, true, func(b []byte) { be.PutUint32(b[23:], 0xffffffff) }), invalid,
			"Batch has an invalid offset range: [0, -1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, recordbatch.Verify(tc.batch), tc.kind, tc.msg)
			// Decode makes the same checks first.
			var dec recordbatch.Decoder
			recs, err := dec.Decode(nil, tc.batch)
			if tc.name == "count 3, lastOffsetDelta 4" || tc.name == "inconsistent after a base offset" {
				// Decode accepts a thinned batch; its records still agree.
				if err != nil || len(recs) != 3 {
					t.Fatalf("Decode: %d records, %v", len(recs), err)
				}
				return
			}
			if len(recs) != 0 {
				t.Errorf("Decode returned %d records with an error", len(recs))
			}
			checkErr(t, err, tc.kind, tc.msg)
		})
	}
}

func TestCheckClient(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    recordbatch.BatchHeader
		msg  string
	}{
		{"plain", recordbatch.BatchHeader{ProducerID: -1, BaseSequence: -1}, ""},
		{"idempotent", recordbatch.BatchHeader{ProducerID: 7, BaseSequence: 0}, ""},
		{"producer id 0", recordbatch.BatchHeader{ProducerID: 0, BaseSequence: 5}, ""},
		{"transactional", recordbatch.BatchHeader{ProducerID: 7, Attributes: 0x10}, ""},
		{"control", recordbatch.BatchHeader{ProducerID: 7, Attributes: 0x30}, "Clients are not allowed to write control records"},
		{"control without producer", recordbatch.BatchHeader{ProducerID: -1, BaseSequence: -1, Attributes: 0x20}, "Clients are not allowed to write control records"},
		{"negative sequence", recordbatch.BatchHeader{ProducerID: 7, BaseSequence: -1}, "Invalid sequence number -1 in record batch with producerId 7"},
		{"producer id 0, negative sequence", recordbatch.BatchHeader{ProducerID: 0, BaseSequence: -5}, "Invalid sequence number -5 in record batch with producerId 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := recordbatch.CheckClient(tc.h)
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("CheckClient = %v", err)
				}
				return
			}
			checkErr(t, err, invalid, tc.msg)
		})
	}
	// From bytes: the header of a batch a client built.
	batch := build(t, recordbatch.None, &recordbatch.Producer{ID: 7, Epoch: 0, BaseSequence: -1}, kibRecords(1))
	h, err := recordbatch.ParseHeader(batch)
	if err != nil {
		t.Fatal(err)
	}
	if recordbatch.Verify(batch) != nil {
		t.Fatal("Verify rejected a batch CheckClient must reject")
	}
	checkErr(t, recordbatch.CheckClient(h), invalid, "Invalid sequence number -1 in record batch with producerId 7")
}

func TestDecodeErrors(t *testing.T) {
	rec := func(off int32) []byte { return rawRecord(0, off, []byte("key"), []byte("value")) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	uncompressed := func(count int32, records []byte) []byte { return rawBatch(defaultRaw(count), records) }
	gzipped := func(count int32, records []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		write(t, w, records)
		h := defaultRaw(count)
		h.attrs = int16(recordbatch.Gzip)
		return rawBatch(h, buf.Bytes())
	}
	r0 := rec(0)
	// Header positions of the first record's fields: length at 61, then
	// attributes, timestamp delta, offset delta, key length at 65.
	for _, tc := range []struct {
		name  string
		batch []byte
		kind  errKind
		msg   string
	}{
		{"record count past the end", uncompressed(3, cat(rec(0), rec(1))), truncated,
			fmt.Sprintf("batch truncated at byte %d", 61+2*len(r0))},
		{"record length past the end", uncompressed(1, cat(r0[:len(r0)-1])), truncated,
			fmt.Sprintf("batch truncated at byte %d", 61+len(r0)-1)},
		{"length varint cut", uncompressed(2, cat(r0, []byte{0x80})), truncated,
			fmt.Sprintf("batch truncated at byte %d", 61+len(r0)+1)},
		{"varint of 6 bytes", uncompressed(1, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}), corrupt, "invalid varint at byte 61"},
		{"varint overflowing 32 bits", uncompressed(1, []byte{0xff, 0xff, 0xff, 0xff, 0x1f}), corrupt, "invalid varint at byte 61"},
		{"timestamp varlong of 11 bytes", uncompressed(1, cat([]byte{28, 0}, bytes.Repeat([]byte{0xff}, 10), []byte{1}, []byte{0, 1, 1, 0})), corrupt,
			"invalid varint at byte 63"},
		{"negative record length", uncompressed(1, cat([]byte{0x01}, r0[1:])), corrupt, "invalid record length -1 at byte 61"},
		{"record length below the minimum", uncompressed(1, []byte{0x08, 0, 0, 0, 1}), corrupt, "invalid record length 4 at byte 61"},
		{"key length -2", uncompressed(1, rawPatch(r0, 4, 0x03)), corrupt, "invalid key length -2 in record at byte 61"},
		{"key length past the record", uncompressed(1, rawPatch(r0, 4, 0x7e)), corrupt, "invalid key length 63 in record at byte 61"},
		{"value length past the record", uncompressed(1, rawPatch(r0, 8, 0x0e)), corrupt, "invalid value length 7 in record at byte 61"},
		{"header count past the record", uncompressed(1, rawPatch(r0, len(r0)-1, 0x7e)), corrupt, "invalid header count 63 in record at byte 61"},
		{"negative header count", uncompressed(1, rawPatch(r0, len(r0)-1, 0x03)), corrupt, "invalid header count -2 in record at byte 61"},
		{"negative header key length", uncompressed(1,
			rawPatch(rawRecord(0, 0, nil, nil, recordbatch.Header{Key: "k", Value: []byte("v")}), 7, 0x01)), corrupt,
			"invalid header key length -1 in record at byte 61"},
		{"fields shorter than the length", uncompressed(1, cat([]byte{byte(2 * (len(r0)))}, r0[1:], []byte{0})), corrupt,
			fmt.Sprintf("record at byte 61 has length %d but its fields take %d bytes", len(r0), len(r0)-1)},
		{"fields past the length", uncompressed(1, rawPatch(r0, 0, byte(2*(len(r0)-2)))), corrupt,
			"record at byte 61 runs past its length"},
		{"records still remaining", uncompressed(1, cat(rec(0), rec(1))), invalid,
			"Incorrect declared batch size, records still remaining in file"},
		{"trailing byte", uncompressed(1, cat(rec(0), []byte{0})), invalid,
			"Incorrect declared batch size, records still remaining in file"},
		{"repeated offset delta", uncompressed(2, cat(rec(0), rec(0))), invalid,
			"record 1 has offset delta 0, out of order after 0 or past lastOffsetDelta 1"},
		{"decreasing offset delta", uncompressed(2, cat(rec(1), rec(0))), invalid,
			"record 1 has offset delta 0, out of order after 1 or past lastOffsetDelta 1"},
		{"offset delta past lastOffsetDelta", uncompressed(2, cat(rec(0), rec(2))), invalid,
			"record 1 has offset delta 2, out of order after 0 or past lastOffsetDelta 1"},
		{"negative offset delta", uncompressed(1, rec(-1)), invalid,
			"record 0 has offset delta -1, out of order after -1 or past lastOffsetDelta 0"},
		{"gzip: record count past the end", gzipped(3, cat(rec(0), rec(1))), truncated,
			fmt.Sprintf("batch truncated at byte %d of its decompressed records", 2*len(r0))},
		{"gzip: invalid varint", gzipped(1, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}), corrupt,
			"invalid varint at decompressed byte 0"},
		{"gzip: garbage", rawBatch(rawHeader{magic: 2, attrs: 1, count: 1, producerID: -1}, []byte("not gzip at all")), corrupt,
			"invalid gzip data: gzip: invalid header"},
		{"gzip: empty", rawBatch(rawHeader{magic: 2, attrs: 1, count: 1, producerID: -1}, nil), corrupt, "invalid gzip data: EOF"},
		{"snappy: garbage", rawBatch(rawHeader{magic: 2, attrs: 2, count: 1, producerID: -1}, []byte{0x05, 0xff}), corrupt, ""},
		{"snappy: xerial block past the end", rawBatch(rawHeader{magic: 2, attrs: 2, count: 1, producerID: -1},
			cat(xerialFrame(r0, 1<<10), []byte{0, 0, 1, 0, 5})), corrupt, "invalid snappy data: xerial block of 256 bytes past the end"},
		{"lz4: garbage", rawBatch(rawHeader{magic: 2, attrs: 3, count: 1, producerID: -1}, []byte("garbage!")), corrupt, ""},
		{"zstd: garbage", rawBatch(rawHeader{magic: 2, attrs: 4, count: 1, producerID: -1}, []byte("garbage!")), corrupt, ""},
		{"zstd: truncated frame", func() []byte {
			b := build(t, recordbatch.Zstd, nil, kibRecords(10))
			b = b[:len(b)-10]
			binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
			fixCRC(b)
			return b
		}(), corrupt, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dec recordbatch.Decoder
			recs, err := dec.Decode(make([]recordbatch.Record, 0, 4), tc.batch)
			if len(recs) != 0 {
				t.Errorf("Decode returned %d records with an error", len(recs))
			}
			checkErr(t, err, tc.kind, tc.msg)
		})
	}
}

// rawPatch returns a copy of record with byte i set to v.
func rawPatch(record []byte, i int, v byte) []byte {
	c := bytes.Clone(record)
	c[i] = v
	return c
}

// TestDecodeKeepsDst: on error Decode returns dst as it was.
func TestDecodeKeepsDst(t *testing.T) {
	good := build(t, recordbatch.None, nil, kibRecords(2))
	var dec recordbatch.Decoder
	dst, err := dec.Decode(nil, good)
	if err != nil || len(dst) != 2 {
		t.Fatal(err)
	}
	// Two good records, then one bad: nothing of the bad batch is kept.
	bad := rawBatch(defaultRaw(3), bytes.Join([][]byte{
		rawRecord(0, 0, nil, []byte("a")), rawRecord(0, 1, nil, []byte("b")), {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	}, nil))
	var dec2 recordbatch.Decoder
	out, err := dec2.Decode(dst, bad)
	if err == nil || len(out) != 2 || &out[0] != &dst[0] {
		t.Fatalf("Decode into dst: %d records, %v", len(out), err)
	}
	if full := out[:cap(out)]; len(full) > 2 && full[2].Value != nil {
		t.Error("records of the failed batch left in dst's spare capacity")
	}
}
