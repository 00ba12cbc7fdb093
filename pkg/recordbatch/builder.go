package recordbatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// Record is one record of a batch.
type Record struct {
	Key   []byte // nil is a null key; an empty non-nil slice is an empty key
	Value []byte // nil is a null value (a tombstone); empty non-nil is empty
	// Headers are the record headers, in order; nil and empty are the same.
	Headers []Header
	// Timestamp is the record's absolute timestamp in milliseconds since
	// the Unix epoch: CreateTime as the producer set it, or, in a
	// LogAppendTime batch, the batch's MaxTimestamp.
	Timestamp int64
	// OffsetDelta is the record's offset minus the batch's base offset. The
	// Builder assigns it (0, 1, 2, ...) and ignores the value given; the
	// Decoder sets it from the record.
	OffsetDelta int32
}

// Header is a record header. Its key is never null; a nil Value is null.
type Header struct {
	Key   string
	Value []byte
}

// Producer is the producer identity of an idempotent or transactional
// producer's batch.
type Producer struct {
	ID            int64
	Epoch         int16
	BaseSequence  int32 // sequence number of the batch's first record
	Transactional bool  // sets attribute bit 4
}

// Builder builds one batch at a time from records, for a producer. Append
// encodes each record at once into a buffer the Builder keeps across
// batches, so that a Builder reused with Reset allocates nothing in the
// steady state; Build compresses the records with a pooled compressor and
// appends the batch to the caller's buffer.
//
// The zero Builder builds uncompressed batches without a producer id. A
// Builder is not safe for concurrent use.
type Builder struct {
	codec    Compression
	producer Producer
	hasProd  bool

	recs     []byte // encoded records section, uncompressed
	count    int32
	firstTS  int64
	maxTS    int64
	overflow bool // more records than an int32 offset delta holds
}

// NewBuilder returns a Builder for batches compressed with c. The producer
// p may be nil for batches without a producer id.
func NewBuilder(c Compression, p *Producer) *Builder {
	b := new(Builder)
	b.Reset(c, p)
	return b
}

// Reset drops the records appended so far and sets the codec and producer
// of the next batch. A nil p writes producerId, producerEpoch and
// baseSequence as -1, as Kafka's non-idempotent producer does.
func (b *Builder) Reset(c Compression, p *Producer) {
	b.codec = c
	b.hasProd = p != nil
	if p != nil {
		b.producer = *p
	} else {
		b.producer = Producer{}
	}
	b.recs = b.recs[:0]
	b.count = 0
	b.firstTS, b.maxTS = 0, 0
	b.overflow = false
}

// Len returns the number of records appended since the last Reset.
func (b *Builder) Len() int { return int(b.count) }

// Size returns the size the batch would have uncompressed: a producer's
// measure against batch.size. A compressed batch is usually smaller.
func (b *Builder) Size() int { return HeaderSize + len(b.recs) }

// Append encodes r as the next record of the batch, with offset delta
// Len(). Nothing in r is retained. The batch's base timestamp is the first
// record's timestamp and its max timestamp the largest.
func (b *Builder) Append(r Record) {
	if b.count == math.MaxInt32 {
		b.overflow = true
		return
	}
	if b.count == 0 {
		b.firstTS, b.maxTS = r.Timestamp, r.Timestamp
	} else if r.Timestamp > b.maxTS {
		b.maxTS = r.Timestamp
	}
	tsDelta := r.Timestamp - b.firstTS
	delta := int64(b.count)

	size := 1 + varintLen(tsDelta) + varintLen(delta) +
		bytesLen(r.Key) + bytesLen(r.Value) + varintLen(int64(len(r.Headers)))
	for _, h := range r.Headers {
		size += varintLen(int64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}

	buf := grow(b.recs, varintLen(int64(size))+size)
	buf = appendVarint(buf, int64(size))
	buf = append(buf, 0) // record attributes: unused
	buf = appendVarint(buf, tsDelta)
	buf = appendVarint(buf, delta)
	buf = appendBytes(buf, r.Key)
	buf = appendBytes(buf, r.Value)
	buf = appendVarint(buf, int64(len(r.Headers)))
	for _, h := range r.Headers {
		buf = appendVarint(buf, int64(len(h.Key)))
		buf = append(buf, h.Key...)
		buf = appendBytes(buf, h.Value)
	}
	b.recs = buf
	b.count++
}

// bytesLen is the encoded size of a nullable byte string.
func bytesLen(p []byte) int {
	if p == nil {
		return 1
	}
	return varintLen(int64(len(p))) + len(p)
}

// appendBytes appends a nullable byte string: its length (-1 for nil) and
// its bytes.
func appendBytes(b, p []byte) []byte {
	if p == nil {
		return append(b, 1) // zig-zag -1
	}
	b = appendVarint(b, int64(len(p)))
	return append(b, p...)
}

// Build appends the batch of the records appended since the last Reset to
// dst and returns the extended buffer. The batch has base offset 0 and
// partition leader epoch -1, for the broker to set; it passes Verify.
// Build does not reset the Builder.
func (b *Builder) Build(dst []byte) ([]byte, error) {
	if b.count == 0 {
		return dst, errors.New("recordbatch: no records to build a batch from")
	}
	if b.overflow {
		return dst, fmt.Errorf("recordbatch: more than %d records in a batch", math.MaxInt32)
	}
	start := len(dst)
	reserve := HeaderSize
	if b.codec == None {
		reserve += len(b.recs)
	}
	dst = grow(dst, reserve)[:start+HeaderSize]
	dst, err := compress(b.codec, dst, b.recs)
	if err != nil {
		return dst[:start], err
	}
	batch := dst[start:]
	if len(batch)-lengthOverhead > math.MaxInt32 {
		return dst[:start], fmt.Errorf("recordbatch: batch of %d bytes is too large", len(batch))
	}

	attrs := uint16(b.codec)
	prodID, prodEpoch, baseSeq := int64(NoProducerID), int16(NoProducerEpoch), int32(NoSequence)
	if b.hasProd {
		prodID, prodEpoch, baseSeq = b.producer.ID, b.producer.Epoch, b.producer.BaseSequence
		if b.producer.Transactional {
			attrs |= attrTransactional
		}
	}
	be := binary.BigEndian
	be.PutUint64(batch[offBaseOffset:], 0)
	be.PutUint32(batch[offBatchLength:], uint32(len(batch)-lengthOverhead))
	be.PutUint32(batch[offLeaderEpoch:], 0xffffffff) // NoPartitionLeaderEpoch
	batch[offMagic] = Magic
	be.PutUint16(batch[offAttributes:], attrs)
	be.PutUint32(batch[offLastOffsetDelta:], uint32(b.count-1))
	be.PutUint64(batch[offBaseTimestamp:], uint64(b.firstTS))
	be.PutUint64(batch[offMaxTimestamp:], uint64(b.maxTS))
	be.PutUint64(batch[offProducerID:], uint64(prodID))
	be.PutUint16(batch[offProducerEpoch:], uint16(prodEpoch))
	be.PutUint32(batch[offBaseSequence:], uint32(baseSeq))
	be.PutUint32(batch[offRecordCount:], uint32(b.count))
	be.PutUint32(batch[offCRC:], crc32.Checksum(batch[offAttributes:], castagnoli))
	return dst, nil
}
