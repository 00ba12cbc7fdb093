package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/rpc"
)

// partitionLeader is where one partition is led, as the last metadata
// answer had it.
type partitionLeader struct {
	leader int32 // NoLeader when none
	epoch  int32
}

// topicInfo is one topic of the data-plane metadata.
type topicInfo struct {
	// err is the topic's error (UNKNOWN_TOPIC_OR_PARTITION, ...); nil when
	// the topic exists.
	err        error
	partitions []partitionLeader // by partition id
}

// brokerMeta is the data-plane metadata the producer and consumer share
// the shape of: the brokers' addresses and, for the topics a client uses,
// each partition's leader. It starts from the bootstrap servers and then
// asks any broker it knows, so it keeps working when the broker it started
// from is gone.
type brokerMeta struct {
	c          *caller
	autoCreate bool // ask brokers to create unknown topics (the producer)

	refreshMu sync.Mutex // one refresh at a time; taken before mu

	mu      sync.Mutex
	brokers map[int32]string // unfenced brokers' addresses
	topics  map[string]*topicInfo
	wanted  map[string]bool // topics to ask about
	gen     uint64          // bumped by every completed refresh
	changed chan struct{}   // closed and replaced by every refresh
	next    int             // rotates the address a refresh starts with
}

func newBrokerMeta(c *caller, autoCreate bool) *brokerMeta {
	return &brokerMeta{
		c: c, autoCreate: autoCreate,
		brokers: make(map[int32]string), topics: make(map[string]*topicInfo),
		wanted: make(map[string]bool), changed: make(chan struct{}),
	}
}

// snapshot returns what is known of topic, and the refresh generation.
func (m *brokerMeta) topic(name string) (*topicInfo, uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.topics[name], m.gen
}

// leader returns the leader of a partition and its address; ok is false
// when the partition, its leader or the leader's address is unknown.
func (m *brokerMeta) leader(topic string, partition int32) (id int32, addr string, epoch int32, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.topics[topic]
	if t == nil || t.err != nil || partition < 0 || int(partition) >= len(t.partitions) {
		return NoLeader, "", -1, false
	}
	pl := t.partitions[partition]
	addr, ok = m.brokers[pl.leader]
	return pl.leader, addr, pl.epoch, ok && pl.leader != NoLeader
}

// brokerAddr returns a broker's address.
func (m *brokerMeta) brokerAddr(id int32) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.brokers[id]
	return a, ok
}

// changes returns a channel closed by the next completed refresh.
func (m *brokerMeta) changes() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

// want adds topics to those every refresh asks about.
func (m *brokerMeta) want(topics ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range topics {
		m.wanted[t] = true
	}
}

// addresses lists where a metadata request may go: the known brokers,
// then the bootstrap servers, starting at a rotating position so that a
// dead first address does not cost every refresh a timeout.
func (m *brokerMeta) addresses() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	ids := make([]int32, 0, len(m.brokers))
	for id := range m.brokers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		out = append(out, m.brokers[id])
	}
	for _, a := range m.c.cfg.bootstrap() {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	m.next++
	k := m.next % len(out)
	return append(out[k:len(out):len(out)], out[:k]...)
}

// refresh asks a broker for the metadata of the wanted topics (and of
// extra, which it adds to them). When another refresh completed since the
// caller saw generation seen, it returns at once: that one is as fresh.
// It tries every address once, then backs off and tries again, until one
// answers or ctx ends.
func (m *brokerMeta) refresh(ctx context.Context, seen uint64, extra ...string) error {
	m.want(extra...)
	m.refreshMu.Lock()
	defer m.refreshMu.Unlock()
	m.mu.Lock()
	if m.gen != seen {
		m.mu.Unlock()
		return nil
	}
	topics := make([]string, 0, len(m.wanted))
	for t := range m.wanted {
		topics = append(topics, t)
	}
	m.mu.Unlock()
	slices.Sort(topics)
	if len(topics) == 0 {
		// Only the brokers are needed; a request without topics would
		// list every topic.
		topics = nil
	}
	req := &stratav1.MetadataRequest{Topics: topics, AllowAutoTopicCreation: m.autoCreate}
	var last error
	for round := 0; ; round++ {
		for _, addr := range m.addresses() {
			if m.c.pool.isClosed() {
				return ErrClosed
			}
			var resp *stratav1.MetadataResponse
			err := m.c.attempt(ctx, addr, func(ctx context.Context, cc grpc.ClientConnInterface) (err error) {
				resp, err = stratav1.NewBrokerServiceClient(cc).Metadata(ctx, req)
				return err
			})
			if err == nil {
				m.apply(resp, topics == nil)
				return nil
			}
			if errors.Is(err, ErrClosed) {
				return ErrClosed
			}
			last = err
			if ctx.Err() != nil {
				return fmt.Errorf("client: Metadata: %w (last error: %w)", ctx.Err(), last)
			}
			m.c.cfg.logger.Debug("client: metadata request failed", "address", addr, "err", err)
		}
		t := time.NewTimer(m.c.backoff(round))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("client: Metadata: %w (last error: %w)", ctx.Err(), errOf(last))
		case <-t.C:
		}
	}
}

// errOf converts a decoded failure to an *Error.
func errOf(err error) error {
	var re *rpc.Error
	if errors.As(err, &re) {
		return fromRPC(re)
	}
	return err
}

// apply installs a metadata answer.
func (m *brokerMeta) apply(resp *stratav1.MetadataResponse, brokersOnly bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	brokers := make(map[int32]string, len(resp.GetBrokers()))
	for _, b := range resp.GetBrokers() {
		brokers[b.GetBrokerId()] = b.GetAddress()
	}
	if len(brokers) > 0 {
		m.brokers = brokers
	}
	if !brokersOnly {
		for _, tm := range resp.GetTopics() {
			ti := &topicInfo{err: resultError(tm.GetErrorCode(), tm.GetErrorMessage())}
			if ti.err == nil {
				n := 0
				for _, p := range tm.GetPartitions() {
					n = max(n, int(p.GetPartitionId())+1)
				}
				ti.partitions = make([]partitionLeader, n)
				for i := range ti.partitions {
					ti.partitions[i] = partitionLeader{leader: NoLeader, epoch: -1}
				}
				for _, p := range tm.GetPartitions() {
					ti.partitions[p.GetPartitionId()] = partitionLeader{leader: p.GetLeader(), epoch: p.GetLeaderEpoch()}
				}
			}
			m.topics[tm.GetName()] = ti
		}
	}
	m.gen++
	close(m.changed)
	m.changed = make(chan struct{})
}

// partitions returns the partition count of topic, refreshing the
// metadata until the topic is known or ctx ends. A topic the brokers say
// does not exist is asked about again (it may be being created) until ctx
// ends; the error then wraps the brokers' answer.
func (m *brokerMeta) partitions(ctx context.Context, topic string) (int, error) {
	for {
		ti, gen := m.topic(topic)
		if ti != nil && ti.err == nil && len(ti.partitions) > 0 {
			return len(ti.partitions), nil
		}
		if ti != nil && ti.err != nil && !IsRetriable(ti.err) {
			return 0, fmt.Errorf("topic %s: %w", topic, ti.err)
		}
		if ti != nil {
			// Known to be missing (or leaderless): wait a little before
			// asking again.
			t := time.NewTimer(m.c.cfg.backoffMin)
			select {
			case <-ctx.Done():
				t.Stop()
				return 0, fmt.Errorf("topic %s not present in metadata: %w (last answer: %w)", topic, ctx.Err(), ti.err)
			case <-t.C:
			}
		}
		if err := m.refresh(ctx, gen, topic); err != nil {
			if ti != nil && ti.err != nil {
				return 0, fmt.Errorf("topic %s: %w (last answer: %w)", topic, err, ti.err)
			}
			return 0, fmt.Errorf("topic %s: %w", topic, err)
		}
	}
}

// lookup refreshes the metadata of topic once and returns its partition
// count, or the brokers' error for it (UNKNOWN_TOPIC_OR_PARTITION, ...).
func (m *brokerMeta) lookup(ctx context.Context, topic string) (int, error) {
	_, gen := m.topic(topic)
	if err := m.refresh(ctx, gen, topic); err != nil {
		return 0, err
	}
	ti, _ := m.topic(topic)
	switch {
	case ti == nil:
		return 0, fmt.Errorf("topic %s: %w", topic, newError(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION, "the broker did not answer for the topic"))
	case ti.err != nil:
		return 0, fmt.Errorf("topic %s: %w", topic, ti.err)
	}
	return len(ti.partitions), nil
}

// serveRefreshes refreshes the metadata each time asked is signalled, at
// most once per backoff, calling after when a refresh is done and failed
// with its error, until ctx ends. It is the refresher goroutine of the
// producer and the consumer.
func (m *brokerMeta) serveRefreshes(ctx context.Context, asked <-chan struct{}, backoff time.Duration, after func(), failed func(error)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-asked:
		}
		_, gen := m.topic("")
		if err := m.refresh(ctx, gen); err != nil && ctx.Err() == nil {
			failed(err)
		}
		after()
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// poke signals a channel of capacity one without blocking: a signal
// already pending stands for this one too.
func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// untilOrHour is how long a loop sleeps for work due at next: until then
// (at least a millisecond), or an hour when nothing is due (zero next).
func untilOrHour(next time.Time) time.Duration {
	if next.IsZero() {
		return time.Hour
	}
	return max(time.Until(next), time.Millisecond)
}

// newBrokerCaller is the caller of a data-plane client (who: "producer",
// "consumer"), which talks to brokers only.
func newBrokerCaller(opts []Opt, who string) (*caller, error) {
	c, err := newCaller(opts)
	if err != nil {
		return nil, err
	}
	if len(c.cfg.controllers) > 0 {
		_ = c.close()
		return nil, fmt.Errorf("client: the %s talks to brokers: use BootstrapServers, not BootstrapControllers", who)
	}
	return c, nil
}
