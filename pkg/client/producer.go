package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/recordbatch"
)

// Producer sends records to the brokers asynchronously, as Kafka's
// producer: Send appends a record to its partition's batch and returns at
// once with a Delivery; batches go out when full, after Linger, or on
// Flush, compressed, several requests in flight on one stream per broker.
// Each partition has at most one batch in flight, so records of a
// partition are appended in the order Send took them, retries included.
// It is safe for concurrent use. Close it when done.
type Producer struct {
	c    *caller
	meta *brokerMeta
	cfg  producerCfg

	ctx    context.Context // ended by Close: stops every goroutine
	cancel context.CancelFunc
	wg     sync.WaitGroup

	wake    chan struct{}      // cap 1: the sender loop has work
	refresh chan struct{}      // cap 1: the metadata wants a refresh
	results chan streamResult  // answers from the broker streams
	pids    chan producerIDRes // answers of InitProducerId

	mu      sync.Mutex
	parts   map[TopicPartition]*partState
	sticky  map[string]int32
	rnd     *rand.Rand
	used    int           // bytes of buffer memory reserved
	space   chan struct{} // closed when buffer memory is freed, or on Close
	pending int           // records sent and not completed
	idle    chan struct{} // closed when pending drops to 0; nil while 0
	flushes int           // Flush calls in progress: every batch is ready
	closing bool
	closed  chan struct{} // closed once Close has stopped everything
}

// partState is a partition's queue of batches, oldest first; only the last
// one may be open for more records.
type partState struct {
	tp       TopicPartition
	batches  []*batch
	inflight bool      // its head batch awaits an answer
	retryAt  time.Time // its head batch waits until then before a retry
	// The next base sequence of the partition, valid in producer epoch
	// seqEpoch.
	seqEpoch int16
	seq      int32
}

// batch is one record batch of a partition, open while Send adds records
// to it, then sealed and sent, and retried whole if need be.
type batch struct {
	tp         TopicPartition
	b          *recordbatch.Builder
	deliveries []*Delivery
	reserved   int       // buffer memory bytes held
	created    time.Time // for Linger
	deadline   time.Time // the first record's delivery timeout
	sealed     bool      // no more records: full, or taken to be sent

	// Owned by the sender loop once sealed.
	data      []byte // the encoded batch, sent again as is on a retry
	stamped   bool   // data carries producer id, epoch and sequence
	epoch     int16
	attempts  int
	lastErr   error // the last retriable failure
	uncertain bool  // a send may have been appended without an answer
}

// Delivery is the pending result of one record sent: a future. Done is
// closed when the record is acknowledged or failed for good; Result then
// returns the record with its partition and offset, or the error.
type Delivery struct {
	done chan struct{}
	rec  Record
	err  error
	fn   func(Record, error)
}

// Done is closed when the delivery is complete.
func (d *Delivery) Done() <-chan struct{} { return d.done }

// Result returns the record as delivered (Partition and Offset set) and
// nil, or the record and the error (a *PartitionError). It must be called
// after Done is closed; before, it returns ErrNotDone.
func (d *Delivery) Result() (Record, error) {
	select {
	case <-d.done:
		return d.rec, d.err
	default:
		return d.rec, ErrNotDone
	}
}

// Wait waits until the delivery is complete or ctx ends, and returns its
// Result.
func (d *Delivery) Wait(ctx context.Context) (Record, error) {
	select {
	case <-d.done:
		return d.rec, d.err
	case <-ctx.Done():
		return d.rec, ctx.Err()
	}
}

// ErrNotDone is Result's error for a delivery still pending.
var ErrNotDone = errors.New("client: delivery not complete")

// recordOverhead bounds the bytes a record adds to a batch beyond its key,
// value and headers: its varints and attributes.
const recordOverhead = 24

// NewProducer returns a producer. It checks the options but does not
// connect: the first Send does. BootstrapServers is required.
func NewProducer(opts ...Opt) (*Producer, error) {
	pc := defaultProducerCfg()
	for _, o := range opts {
		switch o := o.(type) {
		case ProducerOpt:
			o.applyProducer(&pc)
		case ConsumerOpt:
			return nil, errors.New("client: NewProducer does not take consumer options")
		}
	}
	if !pc.idempotentSet && pc.acks != AcksAll {
		pc.idempotent = false
	}
	if err := pc.validate(); err != nil {
		return nil, err
	}
	c, err := newBrokerCaller(opts, "producer")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Producer{
		c: c, meta: newBrokerMeta(c, true), cfg: pc, ctx: ctx, cancel: cancel,
		wake: make(chan struct{}, 1), refresh: make(chan struct{}, 1),
		results: make(chan streamResult, 64), pids: make(chan producerIDRes, 1),
		parts: make(map[TopicPartition]*partState), sticky: make(map[string]int32),
		rnd:   rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), //nolint:gosec // partition choice needs no cryptographic randomness
		space: make(chan struct{}), closed: make(chan struct{}),
	}
	s := newSender(p)
	p.wg.Add(2)
	go s.loop()
	go p.refresher()
	return p, nil
}

// Send hands r to the producer and returns its Delivery. It blocks only
// while the topic's metadata is unknown or the buffer memory is used up,
// for at most MaxBlock or until ctx ends. Errors: ErrClosed, a record too
// large (MESSAGE_TOO_LARGE), an unknown topic (UNKNOWN_TOPIC_OR_PARTITION
// once MaxBlock passed), or ctx's error.
func (p *Producer) Send(ctx context.Context, r Record) (*Delivery, error) {
	return p.send(ctx, r, nil)
}

// SendFunc is Send with a callback instead of a future: fn gets the
// record as delivered, or the error. Callbacks run on the producer's
// goroutine, in order for the records of a partition; they must not block
// (nor call Flush or Close).
func (p *Producer) SendFunc(ctx context.Context, r Record, fn func(Record, error)) error {
	_, err := p.send(ctx, r, fn)
	return err
}

func (p *Producer) send(ctx context.Context, r Record, fn func(Record, error)) (*Delivery, error) {
	const op = "client: Send"
	if r.Topic == "" {
		return nil, fmt.Errorf("%s: the record has no topic", op)
	}
	size := recordOverhead + len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		size += recordOverhead/2 + len(h.Key) + len(h.Value)
	}
	if size+recordbatch.HeaderSize > p.cfg.maxRequestSize || size > p.cfg.bufferMemory {
		return nil, fmt.Errorf("%s: %w", op, newError(stratav1.ErrorCode_ERROR_CODE_MESSAGE_TOO_LARGE,
			fmt.Sprintf("The message is %d bytes when serialized which is larger than %d, which is the value of the max.request.size configuration.",
				size, min(p.cfg.maxRequestSize, p.cfg.bufferMemory))))
	}
	if p.isClosing() {
		return nil, fmt.Errorf("%s: %w", op, ErrClosed)
	}
	var cancel context.CancelFunc
	if p.cfg.maxBlock > 0 {
		ctx, cancel = context.WithTimeout(ctx, p.cfg.maxBlock)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	n, err := p.meta.partitions(ctx, r.Topic)
	if err != nil {
		if p.isClosing() {
			return nil, fmt.Errorf("%s: %w", op, ErrClosed)
		}
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if p.cfg.manual && (r.Partition < 0 || int(r.Partition) >= n) {
		return nil, fmt.Errorf("%s: %w", op, newError(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION,
			fmt.Sprintf("Invalid partition given with record: %d is not in the range [0...%d).", r.Partition, n)))
	}
	if r.Timestamp.IsZero() {
		r.Timestamp = time.Now()
	}
	d := &Delivery{done: make(chan struct{}), rec: r, fn: fn}
	d.rec.Offset = -1
	d.rec.LeaderEpoch = -1

	// Wait for buffer memory; a record fits an empty buffer whatever its
	// size (it was checked against BufferMemory above).
	for {
		p.mu.Lock()
		if p.closing {
			p.mu.Unlock()
			return nil, fmt.Errorf("%s: %w", op, ErrClosed)
		}
		if p.used+size <= p.cfg.bufferMemory {
			break
		}
		ch := p.space
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			if p.isClosing() {
				return nil, fmt.Errorf("%s: %w", op, ErrClosed)
			}
			return nil, fmt.Errorf("%s: buffer memory (%d bytes) full: %w", op, p.cfg.bufferMemory, ctx.Err())
		}
	}
	defer p.mu.Unlock()
	p.used += size
	if p.pending == 0 {
		p.idle = make(chan struct{})
	}
	p.pending++
	part := r.Partition
	switch {
	case p.cfg.manual:
	case r.Key != nil:
		part = KeyPartition(r.Key, n)
	default:
		part = p.stickyPartition(r.Topic, n)
	}
	d.rec.Partition = part
	tp := TopicPartition{r.Topic, part}
	ps := p.parts[tp]
	if ps == nil {
		ps = &partState{tp: tp}
		p.parts[tp] = ps
	}
	var b *batch
	if k := len(ps.batches); k > 0 && !ps.batches[k-1].sealed {
		b = ps.batches[k-1]
		if b.b.Size()+size > p.cfg.batchSize {
			p.sealLocked(b)
			b = nil
		}
	}
	wake := false
	if b == nil {
		now := time.Now()
		b = &batch{tp: tp, b: recordbatch.NewBuilder(p.cfg.compression, nil), created: now, deadline: now.Add(p.cfg.deliveryTimeout)}
		ps.batches = append(ps.batches, b)
		wake = true // the loop arms its linger timer
	}
	rec := recordbatch.Record{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp.UnixMilli()}
	for _, h := range r.Headers {
		rec.Headers = append(rec.Headers, recordbatch.Header(h))
	}
	b.b.Append(rec)
	b.deliveries = append(b.deliveries, d)
	b.reserved += size
	if b.b.Size() >= p.cfg.batchSize {
		p.sealLocked(b)
		wake = true
	}
	if wake {
		p.wakeup()
	}
	return d, nil
}

// sealLocked closes b to more records; a keyless topic's sticky partition
// moves on when its batch is done, as in Kafka's sticky partitioner.
func (p *Producer) sealLocked(b *batch) {
	if b.sealed {
		return
	}
	b.sealed = true
	if cur, ok := p.sticky[b.tp.Topic]; ok && cur == b.tp.Partition {
		delete(p.sticky, b.tp.Topic)
	}
}

// stickyPartition is the partition of a keyless record: the topic's
// current sticky partition, or a new one chosen at random, preferring
// partitions with a leader and another than the previous.
func (p *Producer) stickyPartition(topic string, n int) int32 {
	if cur, ok := p.sticky[topic]; ok && int(cur) < n {
		return cur
	}
	var avail []int32
	for i := range int32(n) {
		if _, _, _, ok := p.meta.leader(topic, i); ok {
			avail = append(avail, i)
		}
	}
	var part int32
	if len(avail) > 0 {
		part = avail[p.rnd.IntN(len(avail))]
	} else {
		part = int32(p.rnd.IntN(n))
	}
	p.sticky[topic] = part
	return part
}

// Flush makes every buffered record ready to send at once and waits until
// no record is pending (each has its result), or ctx ends. Records sent
// concurrently with Flush are waited for too.
func (p *Producer) Flush(ctx context.Context) error {
	p.mu.Lock()
	idle := p.idle
	if p.pending == 0 {
		idle = nil
	}
	p.flushes++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.flushes--
		p.mu.Unlock()
	}()
	if idle == nil {
		return nil
	}
	p.wakeup()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("client: Flush: %w", ctx.Err())
	case <-p.closed:
		return fmt.Errorf("client: Flush: %w", ErrClosed)
	}
}

// Close stops taking records, sends what is buffered and waits for the
// results until ctx ends; what is still pending then fails with ErrClosed.
// It stops every goroutine of the producer and closes its connections.
// It is idempotent; a second call waits for the first.
func (p *Producer) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		<-p.closed
		return nil
	}
	p.closing = true
	idle := p.idle
	if p.pending == 0 {
		idle = nil
	}
	close(p.space) // Sends waiting for memory give up
	p.mu.Unlock()
	p.wakeup()
	var err error
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			err = fmt.Errorf("client: Close: records still pending: %w", ctx.Err())
		}
	}
	p.cancel()
	p.wg.Wait()
	err = errors.Join(err, p.c.close())
	close(p.closed)
	return err
}

func (p *Producer) isClosing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closing
}

// wakeup tells the sender loop to look for work.
func (p *Producer) wakeup() { poke(p.wake) }

// askRefresh asks the refresher for fresh metadata.
func (p *Producer) askRefresh() { poke(p.refresh) }

// refresher refreshes the metadata when asked, at most once per minimum
// backoff, and wakes the sender loop after each refresh.
func (p *Producer) refresher() {
	defer p.wg.Done()
	p.meta.serveRefreshes(p.ctx, p.refresh, p.c.cfg.backoffMin, p.wakeup, func(err error) {
		p.c.cfg.logger.Warn("client: producer metadata refresh failed", "err", err)
	})
}

// PartitionsFor returns the number of partitions of topic, asking the
// brokers once: an unknown topic fails at once with
// UNKNOWN_TOPIC_OR_PARTITION (unless the brokers create topics on first
// use).
func (p *Producer) PartitionsFor(ctx context.Context, topic string) (int, error) {
	n, err := p.meta.lookup(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("client: PartitionsFor: %w", err)
	}
	return n, nil
}

// complete ends the deliveries of b: with the base offset (-1 when
// unknown) or with err, and frees its buffer memory.
func (p *Producer) complete(b *batch, base int64, err error) {
	if err != nil {
		err = &PartitionError{TopicPartition: b.tp, Err: err}
	}
	for i, d := range b.deliveries {
		d.rec.Partition = b.tp.Partition
		if err == nil && base >= 0 {
			d.rec.Offset = base + int64(i)
		}
		d.err = err
		close(d.done)
		if d.fn != nil {
			d.fn(d.rec, d.err)
		}
	}
	p.mu.Lock()
	p.used -= b.reserved
	p.pending -= len(b.deliveries)
	if p.pending == 0 && p.idle != nil {
		close(p.idle)
		p.idle = nil
	}
	if !p.closing {
		close(p.space)
		p.space = make(chan struct{})
	}
	p.mu.Unlock()
	b.deliveries = nil
}
