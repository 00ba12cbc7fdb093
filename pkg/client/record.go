package client

import (
	"fmt"
	"time"
)

// Record is a record the producer sends or the consumer receives.
type Record struct {
	Topic string
	// Partition is the record's partition. The producer fills it in when
	// it chooses one; it reads it only with ManualPartitioner.
	Partition int32
	// Offset is the record's offset in its partition: set on records the
	// consumer returns and on the result of a delivery (-1 with acks=0).
	Offset int64
	// Key and Value may be nil (null); a nil key gets a sticky partition, a
	// key murmur2's partition. The producer encodes them during Send and
	// keeps no reference to them after the delivery completes.
	Key   []byte
	Value []byte
	// Headers are the record headers, in order.
	Headers []Header
	// Timestamp is the record's CreateTime; the producer uses the time of
	// Send when it is zero. Consumed records carry the broker's time for
	// topics with LogAppendTime.
	Timestamp time.Time
	// LeaderEpoch is the leader epoch of the batch a consumed record came
	// in (-1 when unknown).
	LeaderEpoch int32
}

// Header is a record header; a nil Value is null.
type Header struct {
	Key   string
	Value []byte
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String is "T-0", as Kafka names a partition.
func (tp TopicPartition) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

// PartitionError is an error of one partition: a producer's delivery that
// failed, or a consumer's partition that cannot go on (its offset is out of
// range and AutoOffsetReset is OffsetResetNone, say). errors.Is and
// errors.As see Err through it.
type PartitionError struct {
	TopicPartition
	Err error
}

func (e *PartitionError) Error() string {
	return "partition " + e.String() + ": " + e.Err.Error()
}

// Unwrap returns Err.
func (e *PartitionError) Unwrap() error { return e.Err }
