package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"
)

// ErrNoOffsetForPartition is the cause of a *PartitionError that Poll
// returns for a partition without a position when AutoOffsetReset is
// OffsetResetNone (Kafka's NoOffsetForPartitionException). Seek gives the
// partition a position.
var ErrNoOffsetForPartition = errors.New("client: no offset for the partition and auto.offset.reset is none")

// Consumer reads records from partitions: the ones Assign names, or every
// partition of the topics Subscribe names. For each leader broker it keeps
// one Fetch stream (a long poll) carrying the partitions that broker
// leads; a partition whose leader moves (NOT_LEADER_OR_FOLLOWER and
// similar) leaves its stream, the metadata is refreshed and it resumes on
// the new leader's stream from the next offset. Fetched records wait in a
// bounded buffer (FetchMaxBytes) for Poll or Records.
//
// With a Group, Subscribe makes the consumer a member of the group: the
// group's coordinator assigns it partitions instead of Subscribe's "every
// partition", and each starts at the group's committed offset before
// AutoOffsetReset applies (consumer_group.go). Positions are committed
// automatically (AutoCommit) or with CommitSync, CommitOffsets and
// CommitAsync. (*Consumer).setAssignment is the one place the partitions
// change.
//
// A Consumer is safe for concurrent use, though records are best taken by
// one goroutine. Close it when done.
type Consumer struct {
	c      *caller
	meta   *brokerMeta
	cfg    consumerCfg
	member *groupMember // nil without a Group

	ctx    context.Context // ended by Close: stops every goroutine
	cancel context.CancelFunc
	wg     sync.WaitGroup

	kick    chan struct{} // cap 1: the manager has work
	refresh chan struct{} // cap 1: the metadata wants a refresh

	mu     sync.Mutex
	parts  map[TopicPartition]*cursor
	topics []string // subscribed topics; nil with Assign
	queue  []*chunk // fetched records not returned yet, in arrival order
	queued int      // bytes of records in queue
	ready  chan struct{}
	space  chan struct{}
	errs   []error // partition errors for the next Poll
	closed bool
}

// cursor is the consumer's state of one partition.
type cursor struct {
	tp TopicPartition
	// pos is the offset of the next record Poll returns; -1 while the
	// position is unknown (seekTo then says how to find it).
	pos int64
	// seekTo is OffsetEarliest or OffsetLatest while the position must be
	// looked up that way, 0 otherwise.
	seekTo int64
	// fetchPos is where the next fetch starts: past what is queued.
	fetchPos int64
	// gen changes with every Seek; data fetched for an older gen is
	// dropped.
	gen      uint64
	paused   bool      // failed for good until Seek (OffsetResetNone)
	retryAt  time.Time // after a failure, wait until then
	failures int       // failures in a row, for the backoff
	epoch    int32     // the leader epoch of the last metadata
}

// chunk is records of one partition fetched in one response.
type chunk struct {
	tp    TopicPartition
	gen   uint64
	recs  []Record
	bytes int
}

// NewConsumer returns a consumer. It checks the options but does not
// connect; Assign or Subscribe tell it what to read. BootstrapServers is
// required.
func NewConsumer(opts ...Opt) (*Consumer, error) {
	cc := defaultConsumerCfg()
	for _, o := range opts {
		switch o := o.(type) {
		case ConsumerOpt:
			o.applyConsumer(&cc)
		case ProducerOpt:
			return nil, errors.New("client: NewConsumer does not take producer options")
		}
	}
	if err := cc.validate(); err != nil {
		return nil, err
	}
	c, err := newBrokerCaller(opts, "consumer")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	con := &Consumer{
		c: c, meta: newBrokerMeta(c, false), cfg: cc, ctx: ctx, cancel: cancel,
		kick: make(chan struct{}, 1), refresh: make(chan struct{}, 1),
		parts: make(map[TopicPartition]*cursor), ready: make(chan struct{}), space: make(chan struct{}),
	}
	if cc.group.id != "" {
		con.member = newGroupMember(con)
	}
	m := &manager{con: con, fetchers: make(map[int32]*fetcher)}
	con.wg.Add(2)
	go m.loop()
	go con.refresher()
	return con, nil
}

// Assign sets the partitions to read, replacing any earlier Assign or
// Subscribe. A partition kept from before keeps its position; a new one
// starts as AutoOffsetReset says, unless Seek sets its position.
func (c *Consumer) Assign(tps ...TopicPartition) error {
	for _, tp := range tps {
		if tp.Topic == "" || tp.Partition < 0 {
			return fmt.Errorf("client: Assign: invalid partition %s", tp)
		}
	}
	if c.member != nil && c.member.isStarted() {
		return errors.New("client: Assign: the consumer subscribed with its group; it gets its partitions from the group")
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("client: Assign: %w", ErrClosed)
	}
	c.topics = nil
	c.setAssignment(tps)
	c.mu.Unlock()
	c.meta.want(topicsOf(tps)...)
	c.wakeup()
	return nil
}

// Subscribe reads every partition of topics, replacing any earlier Assign
// or Subscribe; partitions added to the topics later are found within
// MetadataMaxAge. With a Group, it joins the group instead (or changes the
// member's subscription): the group assigns the partitions.
func (c *Consumer) Subscribe(topics ...string) error {
	for _, t := range topics {
		if t == "" {
			return errors.New("client: Subscribe: empty topic name")
		}
	}
	if c.member != nil {
		if len(topics) == 0 {
			return errors.New("client: Subscribe: a group member subscribes to at least one topic")
		}
		return c.subscribeGroup(topics)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("client: Subscribe: %w", ErrClosed)
	}
	c.topics = slices.Clone(topics)
	var keep []TopicPartition
	for tp := range c.parts {
		if slices.Contains(topics, tp.Topic) {
			keep = append(keep, tp)
		}
	}
	c.setAssignment(keep)
	c.mu.Unlock()
	c.meta.want(topics...)
	c.askRefresh()
	c.wakeup()
	return nil
}

// setAssignment makes tps the partitions read: the one place the
// assignment changes (Assign, Subscribe and the manager's discovery of a
// subscribed topic's partitions call it; a group member will too). Called
// with c.mu held.
func (c *Consumer) setAssignment(tps []TopicPartition) {
	next := make(map[TopicPartition]*cursor, len(tps))
	for _, tp := range tps {
		if cur := c.parts[tp]; cur != nil {
			next[tp] = cur
			continue
		}
		next[tp] = &cursor{tp: tp, pos: -1, fetchPos: -1, epoch: -1}
	}
	c.parts = next
	kept := c.queue[:0]
	for _, ch := range c.queue {
		if cur := next[ch.tp]; cur != nil && cur.gen == ch.gen {
			kept = append(kept, ch)
		} else {
			c.queued -= ch.bytes
		}
	}
	clear(c.queue[len(kept):])
	c.queue = kept
}

func topicsOf(tps []TopicPartition) []string {
	var out []string
	for _, tp := range tps {
		if !slices.Contains(out, tp.Topic) {
			out = append(out, tp.Topic)
		}
	}
	return out
}

// Assignment returns the partitions being read, sorted.
func (c *Consumer) Assignment() []TopicPartition {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]TopicPartition, 0, len(c.parts))
	for tp := range c.parts {
		out = append(out, tp)
	}
	slices.SortFunc(out, func(a, b TopicPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	return out
}

// Seek sets the offset of the next record of an assigned partition:
// an offset, OffsetEarliest or OffsetLatest. Records fetched before are
// dropped, and a partition paused by an error reads again.
func (c *Consumer) Seek(tp TopicPartition, offset int64) error {
	if offset < 0 && offset != OffsetEarliest && offset != OffsetLatest {
		return fmt.Errorf("client: Seek: invalid offset %d", offset)
	}
	c.mu.Lock()
	cur := c.parts[tp]
	if cur == nil {
		c.mu.Unlock()
		return fmt.Errorf("client: Seek: partition %s is not assigned", tp)
	}
	cur.gen++
	cur.paused, cur.failures, cur.retryAt = false, 0, time.Time{}
	if offset >= 0 {
		cur.pos, cur.fetchPos, cur.seekTo = offset, offset, 0
	} else {
		cur.pos, cur.fetchPos, cur.seekTo = -1, -1, offset
	}
	c.dropQueuedLocked(tp)
	c.mu.Unlock()
	c.wakeup()
	return nil
}

func (c *Consumer) dropQueuedLocked(tp TopicPartition) {
	kept := c.queue[:0]
	for _, ch := range c.queue {
		if ch.tp == tp {
			c.queued -= ch.bytes
			continue
		}
		kept = append(kept, ch)
	}
	clear(c.queue[len(kept):])
	c.queue = kept
	c.signalSpaceLocked()
}

// Position returns the offset of the next record Poll returns for a
// partition, and false while it is not known yet.
func (c *Consumer) Position(tp TopicPartition) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.parts[tp]
	if cur == nil || cur.pos < 0 {
		return -1, false
	}
	return cur.pos, true
}

// Poll returns the records fetched so far (at most MaxPollRecords), waiting
// until there is at least one or ctx ends. A partition that failed for good
// (see OffsetResetNone) comes as a *PartitionError, with the records
// gathered before it. Records of a partition come in offset order.
func (c *Consumer) Poll(ctx context.Context) ([]Record, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, fmt.Errorf("client: Poll: %w", ErrClosed)
		}
		recs := c.takeLocked()
		if len(c.errs) > 0 {
			err := errors.Join(c.errs...)
			c.errs = nil
			c.mu.Unlock()
			return recs, err
		}
		if len(recs) > 0 {
			c.mu.Unlock()
			return recs, nil
		}
		ready := c.ready
		c.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// takeLocked takes up to MaxPollRecords records off the queue and moves
// the positions past them.
func (c *Consumer) takeLocked() []Record {
	var out []Record
	for len(c.queue) > 0 && len(out) < c.cfg.maxPollRecords {
		ch := c.queue[0]
		cur := c.parts[ch.tp]
		if cur == nil || cur.gen != ch.gen {
			c.queue = c.queue[1:]
			c.queued -= ch.bytes
			continue
		}
		for len(ch.recs) > 0 && len(out) < c.cfg.maxPollRecords {
			r := ch.recs[0]
			ch.recs = ch.recs[1:]
			if r.Offset < cur.pos {
				continue
			}
			out = append(out, r)
			cur.pos = r.Offset + 1
		}
		if len(ch.recs) == 0 {
			c.queue[0] = nil
			c.queue = c.queue[1:]
			c.queued -= ch.bytes
		}
	}
	if out != nil {
		c.signalSpaceLocked()
	}
	return out
}

func (c *Consumer) signalSpaceLocked() {
	close(c.space)
	c.space = make(chan struct{})
}

func (c *Consumer) signalReadyLocked() {
	close(c.ready)
	c.ready = make(chan struct{})
}

// Records iterates over the records as Poll returns them, until ctx ends
// or the consumer closes; errors come as (zero Record, err) pairs, and the
// iteration goes on after a partition error.
func (c *Consumer) Records(ctx context.Context) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		for {
			recs, err := c.Poll(ctx)
			for _, r := range recs {
				if !yield(r, nil) {
					return
				}
			}
			if err != nil {
				if !yield(Record{}, err) || ctx.Err() != nil || errors.Is(err, ErrClosed) {
					return
				}
			}
		}
	}
}

// PartitionsFor returns the number of partitions of topic, asking the
// brokers once: an unknown topic fails with UNKNOWN_TOPIC_OR_PARTITION.
func (c *Consumer) PartitionsFor(ctx context.Context, topic string) (int, error) {
	n, err := c.meta.lookup(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("client: PartitionsFor: %w", err)
	}
	return n, nil
}

// Close stops fetching, stops every goroutine of the consumer and closes
// its connections. Poll then returns ErrClosed. A group member first
// commits its positions (AutoCommit), runs OnPartitionsRevoked and leaves
// the group (LeaveGroupOnClose), each within the RequestTimeout. It is
// idempotent.
func (c *Consumer) Close() error {
	if c.member != nil {
		c.member.close()
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.signalReadyLocked()
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	return c.c.close()
}

func (c *Consumer) wakeup() { poke(c.kick) }

func (c *Consumer) askRefresh() { poke(c.refresh) }

// refresher refreshes the metadata when asked, at most once per minimum
// backoff, and wakes the manager after each refresh.
func (c *Consumer) refresher() {
	defer c.wg.Done()
	c.meta.serveRefreshes(c.ctx, c.refresh, c.c.cfg.backoffMin, c.wakeup, func(err error) {
		c.c.cfg.logger.Warn("client: consumer metadata refresh failed", "err", err)
	})
}
