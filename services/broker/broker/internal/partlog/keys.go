package partlog

import (
	"encoding/binary"
	"fmt"

	"github.com/strata-log/strata/pkg/metadata"
)

// Key layout; see the package documentation.
const (
	topicLen   = len(metadata.TopicID{})
	prefixLen  = topicLen + 4 // topic id | partition
	dataKeyLen = prefixLen + 8
	metaKeyLen = dataKeyLen + 1 // prefix | 0xFF x 8 | kind
	// epochKeyLen is the length of a leader-epoch history key.
	epochKeyLen = metaKeyLen + 4 // meta key | epoch
	// producerKeyLen is the length of a producer state key.
	producerKeyLen = metaKeyLen + 8 // meta key | producer id
)

// Kinds of metadata keys.
const (
	kindLogStart      byte = 0x01 // log start offset
	kindHighWatermark byte = 0x02 // high watermark checkpoint
	kindSize          byte = 0x03 // total bytes of the stored batches
	kindEpoch         byte = 0x10 // followed by the epoch: its start offset
	kindProducer      byte = 0x20 // followed by the producer id: its state
)

// partKey is the key prefix of one partition: topic id | partition (BE).
type partKey [prefixLen]byte

func newPartKey(topic metadata.TopicID, partition int32) partKey {
	var k partKey
	copy(k[:], topic[:])
	binary.BigEndian.PutUint32(k[topicLen:], uint32(partition))
	return k
}

// data writes the data key of the batch at base offset off into dst, which
// must hold dataKeyLen bytes, and returns it.
func (k *partKey) putData(dst []byte, off int64) []byte {
	dst = dst[:dataKeyLen:dataKeyLen]
	copy(dst, k[:])
	binary.BigEndian.PutUint64(dst[prefixLen:], uint64(off))
	return dst
}

func (k *partKey) data(off int64) []byte { return k.putData(make([]byte, dataKeyLen), off) }

// metaStart is the first key after all the partition's data keys, and a
// prefix of all its metadata keys: prefix | 0xFF x 8. No data key equals it,
// as base offsets are below 2^63.
func (k *partKey) metaStart() []byte {
	b := make([]byte, dataKeyLen, epochKeyLen)
	copy(b, k[:])
	for i := prefixLen; i < dataKeyLen; i++ {
		b[i] = 0xFF
	}
	return b
}

func (k *partKey) meta(kind byte) []byte { return append(k.metaStart(), kind) }

func (k *partKey) epoch(epoch int32) []byte {
	return binary.BigEndian.AppendUint32(k.meta(kindEpoch), uint32(epoch))
}

func (k *partKey) producer(id int64) []byte {
	return binary.BigEndian.AppendUint64(k.meta(kindProducer), uint64(id))
}

// end is a key greater than every key of the partition and less than every
// key of the next one.
func (k *partKey) end() []byte {
	b := make([]byte, prefixLen, prefixLen+14)
	copy(b, k[:])
	for range 14 {
		b = append(b, 0xFF)
	}
	return b
}

// dataOffset returns the base offset of a data key of the partition, and
// false for any other key.
func (k *partKey) dataOffset(key []byte) (int64, bool) {
	if len(key) != dataKeyLen || [prefixLen]byte(key[:prefixLen]) != *k {
		return 0, false
	}
	off := binary.BigEndian.Uint64(key[prefixLen:])
	return int64(off), off <= 1<<63-1
}

// reservedPrefix holds keys that belong to no partition: the zero topic id,
// which no topic has, and partition -1.
var reservedPrefix = func() []byte {
	k := newPartKey(metadata.ZeroTopicID, -1)
	return k[:]
}()

// compactKey is written and dropped by Store.Compact.
var compactKey = append(append([]byte(nil), reservedPrefix...), "compact"...)

func putInt64(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

func getInt64(op string, key, v []byte) (int64, error) {
	if len(v) != 8 {
		return 0, corruptf(op, "metadata value of key %x has %d bytes, want 8", key, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// PartitionID names a partition: its topic id and index.
type PartitionID struct {
	Topic     metadata.TopicID
	Partition int32
}

func (p PartitionID) String() string { return fmt.Sprintf("%s-%d", p.Topic, p.Partition) }
