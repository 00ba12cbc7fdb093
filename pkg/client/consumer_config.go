package client

import (
	"fmt"
	"time"
)

// OffsetReset says where a consumer starts reading a partition that has no
// position yet, or whose position is out of range: Kafka's
// auto.offset.reset.
type OffsetReset int

// The values of OffsetReset.
const (
	// OffsetResetLatest starts at the end: only records produced from now
	// on (Kafka's default).
	OffsetResetLatest OffsetReset = iota
	// OffsetResetEarliest starts at the log start offset.
	OffsetResetEarliest
	// OffsetResetNone does not choose: Poll returns a *PartitionError
	// matching ErrNoOffsetForPartition (no position) or
	// ErrOffsetOutOfRange, and the partition waits for a Seek.
	OffsetResetNone
)

// String is Kafka's name: "latest", "earliest" or "none".
func (r OffsetReset) String() string {
	switch r {
	case OffsetResetLatest:
		return "latest"
	case OffsetResetEarliest:
		return "earliest"
	case OffsetResetNone:
		return "none"
	}
	return fmt.Sprintf("OffsetReset(%d)", int(r))
}

// The special offsets of Seek.
const (
	// OffsetEarliest seeks to the log start offset.
	OffsetEarliest int64 = -2
	// OffsetLatest seeks to the end (the high watermark).
	OffsetLatest int64 = -1
)

// Defaults of the consumer's options, Kafka's where Kafka has one.
const (
	DefaultAutoOffsetReset        = OffsetResetLatest
	DefaultFetchMaxWait           = 500 * time.Millisecond
	DefaultFetchMinBytes          = 1
	DefaultFetchMaxBytes          = 50 << 20
	DefaultMaxPartitionFetchBytes = 1 << 20
	DefaultMaxPollRecords         = 500
	DefaultMetadataMaxAge         = 5 * time.Minute
)

// ConsumerOpt is an option only the consumer takes. It is also an Opt, so
// NewConsumer takes it among the shared options.
type ConsumerOpt interface {
	Opt
	applyConsumer(*consumerCfg)
}

type consumerOpt func(*consumerCfg)

func (consumerOpt) apply(*cfg)                     {}
func (f consumerOpt) applyConsumer(c *consumerCfg) { f(c) }

type consumerCfg struct {
	reset             OffsetReset
	maxWait           time.Duration
	minBytes          int
	maxBytes          int
	partitionMaxBytes int
	maxPollRecords    int
	metadataMaxAge    time.Duration
	group             groupCfg // consumer_group_config.go
}

func defaultConsumerCfg() consumerCfg {
	return consumerCfg{
		reset: DefaultAutoOffsetReset, maxWait: DefaultFetchMaxWait, minBytes: DefaultFetchMinBytes,
		maxBytes: DefaultFetchMaxBytes, partitionMaxBytes: DefaultMaxPartitionFetchBytes,
		maxPollRecords: DefaultMaxPollRecords, metadataMaxAge: DefaultMetadataMaxAge,
		group: defaultGroupCfg(),
	}
}

func (c *consumerCfg) validate() error {
	switch {
	case c.reset < OffsetResetLatest || c.reset > OffsetResetNone:
		return fmt.Errorf("client: AutoOffsetReset: unknown value %d", int(c.reset))
	case c.maxWait <= 0 || c.maxWait > time.Duration(1<<31-1)*time.Millisecond:
		return fmt.Errorf("client: FetchMaxWait must be positive, not %v", c.maxWait)
	case c.minBytes < 0:
		return fmt.Errorf("client: FetchMinBytes must not be negative, not %d", c.minBytes)
	case c.maxBytes <= 0:
		return fmt.Errorf("client: FetchMaxBytes must be positive, not %d", c.maxBytes)
	case c.partitionMaxBytes <= 0:
		return fmt.Errorf("client: MaxPartitionFetchBytes must be positive, not %d", c.partitionMaxBytes)
	case c.maxPollRecords <= 0:
		return fmt.Errorf("client: MaxPollRecords must be positive, not %d", c.maxPollRecords)
	case c.metadataMaxAge <= 0:
		return fmt.Errorf("client: MetadataMaxAge must be positive, not %v", c.metadataMaxAge)
	}
	return c.group.validate()
}

// AutoOffsetReset sets where a partition without a valid position starts
// (Kafka's auto.offset.reset; default DefaultAutoOffsetReset, latest).
func AutoOffsetReset(r OffsetReset) ConsumerOpt {
	return consumerOpt(func(c *consumerCfg) { c.reset = r })
}

// FetchMaxWait is how long a broker holds a fetch for FetchMinBytes (Kafka's
// fetch.max.wait.ms; default DefaultFetchMaxWait).
func FetchMaxWait(d time.Duration) ConsumerOpt {
	return consumerOpt(func(c *consumerCfg) { c.maxWait = d })
}

// FetchMinBytes is how many bytes a fetch waits for (Kafka's
// fetch.min.bytes; default DefaultFetchMinBytes).
func FetchMinBytes(n int) ConsumerOpt {
	return consumerOpt(func(c *consumerCfg) { c.minBytes = n })
}

// FetchMaxBytes bounds one fetch response, and the bytes of records the
// consumer buffers ahead of Poll (Kafka's fetch.max.bytes; default
// DefaultFetchMaxBytes).
func FetchMaxBytes(n int) ConsumerOpt {
	return consumerOpt(func(c *consumerCfg) { c.maxBytes = n })
}

// MaxPartitionFetchBytes bounds one partition's data in a fetch response
// (Kafka's max.partition.fetch.bytes; default
// DefaultMaxPartitionFetchBytes). A larger batch still comes, alone.
func MaxPartitionFetchBytes(n int) ConsumerOpt {
	return consumerOpt(func(c *consumerCfg) { c.partitionMaxBytes = n })
}

// MaxPollRecords bounds the records one Poll returns (Kafka's
// max.poll.records; default DefaultMaxPollRecords).
func MaxPollRecords(n int) ConsumerOpt {
	return consumerOpt(func(c *consumerCfg) { c.maxPollRecords = n })
}

// MetadataMaxAge is how often a subscribing consumer asks for metadata to
// find new partitions (Kafka's metadata.max.age.ms; default
// DefaultMetadataMaxAge).
func MetadataMaxAge(d time.Duration) ConsumerOpt {
	return consumerOpt(func(c *consumerCfg) { c.metadataMaxAge = d })
}
