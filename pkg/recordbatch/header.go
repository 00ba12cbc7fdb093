package recordbatch

import (
	"encoding/binary"
	"hash/crc32"
	"iter"
)

// Layout of the batch header: the offset of each field.
const (
	offBaseOffset      = 0
	offBatchLength     = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57

	// HeaderSize is the size of a batch header; the records follow it.
	HeaderSize = 61

	// lengthOverhead is the size of the fields not counted in batchLength:
	// baseOffset and batchLength itself.
	lengthOverhead = 12

	// Magic is the only supported batch format version.
	Magic = 2
)

// Attribute bits.
const (
	attrCompressionMask = 0x07
	attrLogAppendTime   = 0x08
	attrTransactional   = 0x10
	attrControl         = 0x20
)

// Values of producer fields for a batch without a producer id (a
// non-idempotent producer), and of partitionLeaderEpoch as a producer
// writes it.
const (
	NoProducerID           = -1
	NoProducerEpoch        = -1
	NoSequence             = -1
	NoPartitionLeaderEpoch = -1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BatchHeader holds the decoded fields of a batch header.
type BatchHeader struct {
	BaseOffset           int64
	BatchLength          int32 // bytes after this field to the end of the batch
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32 // as stored
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	RecordCount          int32
}

// Size is the size in bytes of the whole batch, header included.
func (h BatchHeader) Size() int { return lengthOverhead + int(h.BatchLength) }

// LastOffset is the offset of the batch's last record.
func (h BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Compression is the codec of the records (attribute bits 0-2). It may be
// an unknown codec (5-7) in a header that Verify has not accepted.
func (h BatchHeader) Compression() Compression {
	return Compression(h.Attributes & attrCompressionMask)
}

// LogAppendTime reports the LogAppendTime timestamp type (attribute bit
// 3): the broker's append time, MaxTimestamp, is every record's timestamp.
func (h BatchHeader) LogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// Transactional reports attribute bit 4.
func (h BatchHeader) Transactional() bool { return h.Attributes&attrTransactional != 0 }

// Control reports attribute bit 5: a control batch (transaction markers).
func (h BatchHeader) Control() bool { return h.Attributes&attrControl != 0 }

// HasProducerID reports whether the batch carries a producer id, that is,
// comes from an idempotent or transactional producer.
func (h BatchHeader) HasProducerID() bool { return h.ProducerID > NoProducerID }

// ParseHeader decodes the header at the start of b. It checks that b holds
// a whole header, that the magic byte is 2 and that batchLength covers at
// least the header; it does not need the rest of the batch, so it can be
// given a prefix of a batch. Errors match ErrCorrupt.
func ParseHeader(b []byte) (BatchHeader, error) {
	if len(b) > offMagic && b[offMagic] != Magic {
		return BatchHeader{}, corruptf("unsupported record batch magic %d (want %d)", int8(b[offMagic]), Magic)
	}
	if len(b) < HeaderSize {
		return BatchHeader{}, truncatedAt(len(b))
	}
	h := BatchHeader{
		BaseOffset:           int64(binary.BigEndian.Uint64(b[offBaseOffset:])),
		BatchLength:          int32(binary.BigEndian.Uint32(b[offBatchLength:])),
		PartitionLeaderEpoch: int32(binary.BigEndian.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  binary.BigEndian.Uint32(b[offCRC:]),
		Attributes:           int16(binary.BigEndian.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:])),
		BaseTimestamp:        int64(binary.BigEndian.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:         int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(binary.BigEndian.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(binary.BigEndian.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(binary.BigEndian.Uint32(b[offBaseSequence:])),
		RecordCount:          int32(binary.BigEndian.Uint32(b[offRecordCount:])),
	}
	if h.BatchLength < HeaderSize-lengthOverhead {
		return BatchHeader{}, corruptf("invalid record batch length %d (at least %d)", h.BatchLength, HeaderSize-lengthOverhead)
	}
	return h, nil
}

// Verify checks that b is exactly one well-formed batch as a producer must
// send it, without decompressing or allocating:
//
//   - the header as ParseHeader checks it, and len(b) equals the size that
//     batchLength gives (ErrCorrupt, with ErrTruncated when b is shorter);
//   - the CRC32C of everything after the crc field (ErrCorrupt);
//   - a known compression codec (ErrCorrupt);
//   - recordCount > 0, lastOffsetDelta >= 0 and lastOffsetDelta+1 ==
//     recordCount (ErrInvalidRecord), as Kafka's LogValidator checks.
//
// It does not look at the records; Decoder.Decode does. The broker's other
// checks on a client's batch are in CheckClient.
func Verify(b []byte) error {
	_, err := verify(b, true)
	return err
}

// verify is Verify returning the header. Without strictCount it accepts
// recordCount < lastOffsetDelta+1, as in a batch a log compaction thinned.
func verify(b []byte, strictCount bool) (BatchHeader, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if size := h.Size(); len(b) != size {
		if len(b) < size {
			return h, truncatedAt(len(b))
		}
		return h, corruptf("%d bytes after the end of the batch at byte %d", len(b)-size, size)
	}
	if crc := crc32.Checksum(b[offAttributes:], castagnoli); crc != h.CRC {
		return h, corruptf("Record is corrupt (stored crc = %d, computed crc = %d)", h.CRC, crc)
	}
	if c := h.Compression(); !c.valid() {
		return h, corruptf("unknown compression codec %d", int8(c))
	}
	if h.RecordCount <= 0 {
		return h, invalidf("Invalid reported count for record batch: %d", h.RecordCount)
	}
	if h.LastOffsetDelta < 0 {
		return h, invalidf("Batch has an invalid offset range: [%d, %d]", h.BaseOffset, h.LastOffset())
	}
	if n := int64(h.LastOffsetDelta) + 1; n < int64(h.RecordCount) || (strictCount && n != int64(h.RecordCount)) {
		return h, invalidf("Inconsistent batch offset range [%d, %d] and count of records %d", h.BaseOffset, h.LastOffset(), h.RecordCount)
	}
	return h, nil
}

// CheckClient makes the checks a broker adds for a batch produced by a
// client (not replicated from a leader), as Kafka's LogValidator does. Its
// errors match ErrInvalidRecord:
//
//   - a control batch: "Clients are not allowed to write control records";
//   - a producer id with a negative base sequence: "Invalid sequence number
//     -1 in record batch with producerId 7".
func CheckClient(h BatchHeader) error {
	if h.Control() {
		return invalidf("Clients are not allowed to write control records")
	}
	if h.HasProducerID() && h.BaseSequence < 0 {
		return invalidf("Invalid sequence number %d in record batch with producerId %d", h.BaseSequence, h.ProducerID)
	}
	return nil
}

// SetBaseOffset sets the baseOffset field of the batch at the start of b in
// place. The field is not covered by the CRC, so the batch stays valid. It
// panics if b is shorter than a batch header.
func SetBaseOffset(b []byte, offset int64) {
	_ = b[HeaderSize-1]
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(offset))
}

// SetLeaderEpoch sets the partitionLeaderEpoch field of the batch at the
// start of b in place. The field is not covered by the CRC, so the batch
// stays valid. It panics if b is shorter than a batch header.
func SetLeaderEpoch(b []byte, epoch int32) {
	_ = b[HeaderSize-1]
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// Cut cuts the first batch off buf, which holds batches back to back (the
// records of a produce request, a fetch response, a log segment). It checks
// what ParseHeader checks and that buf holds the whole batch, but neither
// the CRC nor the records: use Verify or Decode on the batch. batch is
// capped at its end, so appending to it cannot overwrite rest.
//
// On error, batch and rest are nil and the error matches ErrCorrupt; a
// buffer that ends inside a batch (including inside its header) also
// matches ErrTruncated, with the byte position counted from the start of
// buf.
func Cut(buf []byte) (batch, rest []byte, err error) {
	return cutAt(buf, 0)
}

// cutAt is Cut for buf found at byte pos of a larger buffer, to which error
// positions refer.
func cutAt(buf []byte, pos int) (batch, rest []byte, err error) {
	if len(buf) < HeaderSize && !isMagicError(buf) {
		return nil, nil, truncatedAt(pos + len(buf))
	}
	h, err := ParseHeader(buf)
	if err != nil {
		return nil, nil, err
	}
	size := h.Size()
	if len(buf) < size {
		return nil, nil, truncatedAt(pos + len(buf))
	}
	return buf[:size:size], buf[size:], nil
}

func isMagicError(b []byte) bool { return len(b) > offMagic && b[offMagic] != Magic }

// All iterates over the batches held back to back in buf, as Cut cuts
// them. If buf ends inside a batch or a header is bad, the last pair it
// yields is a nil batch and the error; an empty buf yields nothing.
func All(buf []byte) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		for pos := 0; pos < len(buf); {
			batch, _, err := cutAt(buf[pos:], pos)
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(batch, nil) {
				return
			}
			pos += len(batch)
		}
	}
}
