package client

import (
	"errors"
	"fmt"
	"time"

	"github.com/strata-log/strata/pkg/recordbatch"
)

// Acks is how many replicas must have a batch before the broker
// acknowledges it: Kafka's acks.
type Acks int16

// The values of Acks.
const (
	// AcksAll waits until every in-sync replica has the batch (acks=all,
	// -1): an acknowledged record survives the leader's loss.
	AcksAll Acks = -1
	// AcksNone does not wait for the broker (acks=0): a record counts as
	// delivered once sent, with offset -1.
	AcksNone Acks = 0
	// AcksLeader waits for the leader's append only (acks=1).
	AcksLeader Acks = 1
)

// ParseAcks parses acks as Kafka spells it: "all", "-1", "1" or "0".
func ParseAcks(s string) (Acks, error) {
	switch s {
	case "all", "-1":
		return AcksAll, nil
	case "1":
		return AcksLeader, nil
	case "0":
		return AcksNone, nil
	}
	return 0, fmt.Errorf("acks %q: want all, -1, 1 or 0", s)
}

// String is "all", "1" or "0".
func (a Acks) String() string {
	switch a {
	case AcksAll:
		return "all"
	case AcksLeader:
		return "1"
	case AcksNone:
		return "0"
	}
	return fmt.Sprintf("Acks(%d)", int16(a))
}

// Defaults of the producer's options, Kafka's where Kafka has one.
const (
	DefaultAcks            = AcksAll
	DefaultLinger          = 5 * time.Millisecond
	DefaultBatchSize       = 16 << 10
	DefaultBufferMemory    = 32 << 20
	DefaultMaxBlock        = 60 * time.Second
	DefaultDeliveryTimeout = 2 * time.Minute
	DefaultMaxInFlight     = 5
	DefaultMaxRequestSize  = 1 << 20
)

// ProducerOpt is an option only the producer takes. It is also an Opt, so
// NewProducer takes it among the shared options.
type ProducerOpt interface {
	Opt
	applyProducer(*producerCfg)
}

type producerOpt func(*producerCfg)

func (producerOpt) apply(*cfg)                     {}
func (f producerOpt) applyProducer(c *producerCfg) { f(c) }

type producerCfg struct {
	acks            Acks
	linger          time.Duration
	batchSize       int
	bufferMemory    int
	maxBlock        time.Duration
	deliveryTimeout time.Duration
	maxInFlight     int
	maxRequestSize  int
	compression     recordbatch.Compression
	idempotent      bool
	idempotentSet   bool
	manual          bool
}

func defaultProducerCfg() producerCfg {
	return producerCfg{
		acks: DefaultAcks, linger: DefaultLinger, batchSize: DefaultBatchSize, bufferMemory: DefaultBufferMemory,
		maxBlock: DefaultMaxBlock, deliveryTimeout: DefaultDeliveryTimeout, maxInFlight: DefaultMaxInFlight,
		maxRequestSize: DefaultMaxRequestSize, compression: recordbatch.None, idempotent: true,
	}
}

func (c *producerCfg) validate() error {
	switch {
	case c.acks != AcksAll && c.acks != AcksLeader && c.acks != AcksNone:
		return fmt.Errorf("client: RequiredAcks must be AcksAll, AcksLeader or AcksNone, not %d", int16(c.acks))
	case c.linger < 0:
		return fmt.Errorf("client: Linger must not be negative, not %v", c.linger)
	case c.batchSize <= 0:
		return fmt.Errorf("client: BatchSize must be positive, not %d", c.batchSize)
	case c.bufferMemory < c.batchSize:
		return fmt.Errorf("client: BufferMemory %d is below BatchSize %d", c.bufferMemory, c.batchSize)
	case c.maxBlock < 0:
		return fmt.Errorf("client: MaxBlock must not be negative, not %v", c.maxBlock)
	case c.deliveryTimeout <= 0:
		return fmt.Errorf("client: DeliveryTimeout must be positive, not %v", c.deliveryTimeout)
	case c.maxInFlight <= 0:
		return fmt.Errorf("client: MaxInFlight must be positive, not %d", c.maxInFlight)
	case c.maxRequestSize < recordbatch.HeaderSize+64:
		return fmt.Errorf("client: MaxRequestSize %d is too small", c.maxRequestSize)
	case c.compression < recordbatch.None || c.compression > recordbatch.Zstd:
		return fmt.Errorf("client: Compression: unknown codec %d", c.compression)
	case c.idempotentSet && c.idempotent && c.acks != AcksAll:
		return errors.New("client: Idempotent needs RequiredAcks(AcksAll)")
	}
	return nil
}

// RequiredAcks sets the producer's acks (default DefaultAcks, all). With
// another value than AcksAll, idempotence is off unless Idempotent(true)
// asks for it, which is then an error, as in Kafka.
func RequiredAcks(a Acks) ProducerOpt {
	return producerOpt(func(c *producerCfg) { c.acks = a })
}

// Linger is how long a partition's batch waits for more records before it
// is sent (Kafka's linger.ms; default DefaultLinger). A full batch is sent
// at once.
func Linger(d time.Duration) ProducerOpt {
	return producerOpt(func(c *producerCfg) { c.linger = d })
}

// BatchSize is the size in bytes (uncompressed) at which a partition's
// batch is full and sent (Kafka's batch.size; default DefaultBatchSize). A
// record larger than that gets a batch of its own.
func BatchSize(bytes int) ProducerOpt {
	return producerOpt(func(c *producerCfg) { c.batchSize = bytes })
}

// BufferMemory bounds the bytes of records buffered and in flight (Kafka's
// buffer.memory; default DefaultBufferMemory). When it is used up, Send
// blocks until deliveries free some, for at most MaxBlock.
func BufferMemory(bytes int) ProducerOpt {
	return producerOpt(func(c *producerCfg) { c.bufferMemory = bytes })
}

// MaxBlock bounds how long Send may block: waiting for the topic's
// metadata, or for buffer memory (Kafka's max.block.ms; default
// DefaultMaxBlock). Send's context may end it sooner.
func MaxBlock(d time.Duration) ProducerOpt {
	return producerOpt(func(c *producerCfg) { c.maxBlock = d })
}

// DeliveryTimeout bounds the time from Send to the delivery's result,
// retries included (Kafka's delivery.timeout.ms; default
// DefaultDeliveryTimeout). The producer retries a batch on retriable errors
// until then; Retries applies to its other requests only.
func DeliveryTimeout(d time.Duration) ProducerOpt {
	return producerOpt(func(c *producerCfg) { c.deliveryTimeout = d })
}

// MaxInFlight is how many produce requests may await their answer on each
// broker's stream (Kafka's max.in.flight.requests.per.connection; default
// DefaultMaxInFlight).
func MaxInFlight(n int) ProducerOpt {
	return producerOpt(func(c *producerCfg) { c.maxInFlight = n })
}

// MaxRequestSize bounds a produce request's record bytes, and so a record's
// size (Kafka's max.request.size; default DefaultMaxRequestSize).
func MaxRequestSize(bytes int) ProducerOpt {
	return producerOpt(func(c *producerCfg) { c.maxRequestSize = bytes })
}

// Compression compresses every batch with codec (Kafka's compression.type;
// default none).
func Compression(codec recordbatch.Compression) ProducerOpt {
	return producerOpt(func(c *producerCfg) { c.compression = codec })
}

// Idempotent turns idempotence on or off (Kafka's enable.idempotence;
// default on, as in Kafka 3). An idempotent producer gets a producer id and
// epoch from InitProducerId and numbers each partition's batches, so that
// the broker drops a retried batch it already has. When the brokers do not
// implement InitProducerId, the producer logs a warning and goes on without
// idempotence.
func Idempotent(on bool) ProducerOpt {
	return producerOpt(func(c *producerCfg) { c.idempotent, c.idempotentSet = on, true })
}

// ManualPartitioner makes the producer send each record to Record.Partition
// instead of choosing one.
func ManualPartitioner() ProducerOpt {
	return producerOpt(func(c *producerCfg) { c.manual = true })
}
