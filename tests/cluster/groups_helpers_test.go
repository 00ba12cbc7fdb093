package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/client"
	"github.com/strata-log/strata/pkg/testutil"
	"github.com/strata-log/strata/services/broker/broker"
)

// groupKnobs are the brokers' group settings in these tests: a small
// __consumer_offsets, short sessions allowed, frequent heartbeats.
func groupKnobs(cfg *broker.Config) {
	cfg.Groups.OffsetsTopicPartitions = 6
	cfg.Groups.MinSessionTimeout = 100 * time.Millisecond
	cfg.Groups.HeartbeatInterval = 100 * time.Millisecond
}

// startGroupCluster starts 3 controllers and real brokers 101.. with
// groupKnobs.
func startGroupCluster(t testing.TB, brokers int) *Cluster {
	t.Helper()
	c := Start(t, Options{Logs: os.Getenv("GROUP_LOGS") != ""})
	for i := range brokers {
		c.AddBroker(int32(101+i), "", groupKnobs)
	}
	return c
}

// groupClient is a GroupService client on a real broker.
func (c *Cluster) groupClient(id int32) stratav1.GroupServiceClient {
	return stratav1.NewGroupServiceClient(c.RealBroker(id).conn)
}

// owners tracks which member owns which partition, from the members'
// rebalance callbacks: a partition assigned to a member while another one
// owns it is a violation.
type owners struct {
	mu         sync.Mutex
	by         map[client.TopicPartition]string
	violations []string
	changed    chan struct{} // closed and replaced at every change
}

func newOwners() *owners {
	return &owners{by: make(map[client.TopicPartition]string), changed: make(chan struct{})}
}

func (o *owners) notifyLocked() {
	close(o.changed)
	o.changed = make(chan struct{})
}

// await blocks until cond holds for the counts of owned partitions by
// member, or fails after within; it wakes at every change, so it sees a
// condition as soon as it holds.
func (o *owners) await(t testing.TB, within time.Duration, cond func(map[string]int) bool) {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		o.mu.Lock()
		ch := o.changed
		o.mu.Unlock()
		if cond(o.counts()) {
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("the owned partitions %v did not reach the condition within %v", o.counts(), within)
		}
	}
}

func (o *owners) assigned(member string) client.RebalanceCallback {
	return func(_ context.Context, tps []client.TopicPartition) {
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, tp := range tps {
			if prev, ok := o.by[tp]; ok && prev != member {
				o.violations = append(o.violations, fmt.Sprintf("%s assigned to %s while %s owns it", tp, member, prev))
			}
			o.by[tp] = member
		}
		o.notifyLocked()
	}
}

func (o *owners) revoked(member string) client.RebalanceCallback {
	return func(_ context.Context, tps []client.TopicPartition) {
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, tp := range tps {
			if o.by[tp] == member {
				delete(o.by, tp)
			}
		}
		o.notifyLocked()
	}
}

// counts is how many partitions each member owns.
func (o *owners) counts() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]int)
	for _, m := range o.by {
		out[m]++
	}
	return out
}

func (o *owners) owner(tp client.TopicPartition) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.by[tp]
}

func (o *owners) check(t testing.TB) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.violations) > 0 {
		t.Fatalf("a partition had two owners at once:\n%s", strings.Join(o.violations, "\n"))
	}
}

// waitBalanced waits until the members own partitions of the topic, every
// one of them, want[name] each.
func (o *owners) waitBalanced(t testing.TB, partitions int, want map[string]int, within time.Duration) {
	t.Helper()
	testutil.WaitFor(t, within, func() error {
		o.check(t)
		got := o.counts()
		total := 0
		for _, n := range got {
			total += n
		}
		if total != partitions || len(got) != len(want) {
			return fmt.Errorf("owned %v, want %v", got, want)
		}
		for m, n := range want {
			if got[m] != n {
				return fmt.Errorf("owned %v, want %v", got, want)
			}
		}
		return nil
	})
}

// member is a consumer of a group with a goroutine that polls and keeps
// the records.
type member struct {
	name   string
	c      *client.Consumer
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	mu   sync.Mutex
	recs []client.Record
	err  error
}

// joinGroup starts a member named name of group, subscribed to topic, that
// reports its partitions to o (when not nil). Cleanup stops it.
func joinGroup(t testing.TB, c *Cluster, o *owners, name, group, topic string, opts ...client.Opt) *member {
	t.Helper()
	all := []client.Opt{
		client.BootstrapServers(c.BootstrapServers()), client.FetchMaxWait(100 * time.Millisecond),
		client.RetryBackoff(20*time.Millisecond, 300*time.Millisecond), client.Retries(50), client.RequestTimeout(5 * time.Second),
		client.Group(group), client.SessionTimeout(3 * time.Second), client.AutoOffsetReset(client.OffsetResetEarliest),
		client.ClientID(name), client.AutoCommitInterval(200 * time.Millisecond),
	}
	if o != nil {
		all = append(all, client.OnPartitionsAssigned(o.assigned(name)), client.OnPartitionsRevoked(o.revoked(name)))
	}
	cons, err := client.NewConsumer(append(all, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := cons.Subscribe(topic); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{name: name, c: cons, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			recs, err := cons.Poll(ctx)
			m.mu.Lock()
			m.recs = append(m.recs, recs...)
			if err != nil && ctx.Err() == nil && !errors.Is(err, client.ErrClosed) {
				m.err = err
			}
			m.mu.Unlock()
			if ctx.Err() != nil || errors.Is(err, client.ErrClosed) {
				return
			}
		}
	}()
	t.Cleanup(m.stop)
	return m
}

// stop stops polling and closes the consumer (which commits and leaves,
// unless it was made with LeaveGroupOnClose(false)).
func (m *member) stop() {
	m.once.Do(func() {
		m.cancel()
		<-m.done
		_ = m.c.Close()
	})
}

func (m *member) records() []client.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.recs)
}

func (m *member) pollErr() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// recordID names a record by partition and offset.
type recordID struct {
	p   int32
	off int64
}

// collectAll waits until the members together hold n distinct records and
// returns who got each, failing on a record delivered twice when dupes is
// false.
func collectAll(t testing.TB, members []*member, n int, within time.Duration, dupes bool) map[recordID][]string {
	t.Helper()
	var got map[recordID][]string
	testutil.WaitFor(t, within, func() error {
		got = make(map[recordID][]string)
		for _, m := range members {
			if err := m.pollErr(); err != nil {
				t.Fatalf("member %s: %v", m.name, err)
			}
			for _, r := range m.records() {
				id := recordID{r.Partition, r.Offset}
				got[id] = append(got[id], m.name)
			}
		}
		if !dupes {
			for id, who := range got {
				if len(who) > 1 {
					t.Fatalf("record %d@%d delivered to %v", id.p, id.off, who)
				}
			}
		}
		if len(got) < n {
			return fmt.Errorf("%d of %d records delivered", len(got), n)
		}
		return nil
	})
	return got
}

// produceKeyed sends n keyed records to topic with acks=all.
func produceKeyed(t testing.TB, c *Cluster, topic string, from, n int) {
	t.Helper()
	p, err := client.NewProducer(client.BootstrapServers(c.BootstrapServers()), client.RetryBackoff(20*time.Millisecond, 300*time.Millisecond),
		client.Retries(50), client.Linger(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var ds []*client.Delivery
	for i := from; i < from+n; i++ {
		d, err := p.Send(ctx, client.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	for _, d := range ds {
		if _, err := d.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func newGroupAdmin(t testing.TB, c *Cluster) *client.Admin {
	t.Helper()
	a, err := client.NewAdmin(client.BootstrapServers(c.BootstrapServers()), client.RetryBackoff(20*time.Millisecond, 300*time.Millisecond), client.Retries(50))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// describeGroup describes one group and fails on an error.
func describeGroup(t testing.TB, a *client.Admin, group string) client.GroupDescription {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := a.DescribeGroups(ctx, group)
	if err == nil {
		err = res.FirstError()
	}
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

// endOffsets is the high watermark of every partition of topic.
func endOffsets(t testing.TB, a *client.Admin, topic string, partitions int) map[client.TopicPartition]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var tps []client.TopicPartition
	for p := range partitions {
		tps = append(tps, client.TopicPartition{Topic: topic, Partition: int32(p)})
	}
	out, err := a.ListOffsets(ctx, client.OffsetLatest, tps...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// committedOffsets is the group's committed offsets, by partition.
func committedOffsets(t testing.TB, a *client.Admin, group string) map[client.TopicPartition]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := a.ListGroupOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[client.TopicPartition]int64, len(got))
	for tp, o := range got {
		out[tp] = o.Offset
	}
	return out
}

// memberIDs lists a described group's member ids, sorted.
func memberIDs(d client.GroupDescription) []string {
	var out []string
	for _, m := range d.Members {
		out = append(out, m.MemberID)
	}
	sort.Strings(out)
	return out
}
