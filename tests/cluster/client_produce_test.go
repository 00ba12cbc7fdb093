package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/client"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/recordbatch"
	"github.com/strata-log/strata/pkg/testutil"
)

// The SDK's producer and consumer against real brokers of an in-process
// cluster: murmur2 placement, acks, Flush and Close, backpressure, offset
// resets, Seek, and the retry and leader-change paths with a broker
// stopped mid-produce.

// startDataCluster starts 3 controllers and real brokers 101.. .
func startDataCluster(t *testing.T, brokers int) *Cluster {
	t.Helper()
	c := Start(t, Options{})
	for i := range brokers {
		c.AddBroker(int32(101+i), "", nil)
	}
	return c
}

// fastRetries are client options for tests: quick backoffs.
func fastRetries() []client.Opt {
	return []client.Opt{client.RetryBackoff(20*time.Millisecond, 300*time.Millisecond), client.Retries(50)}
}

func newProducer(t *testing.T, servers string, opts ...client.Opt) *client.Producer {
	t.Helper()
	opts = append(append([]client.Opt{client.BootstrapServers(servers)}, fastRetries()...), opts...)
	p, err := client.NewProducer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p
}

func newConsumer(t *testing.T, servers string, opts ...client.Opt) *client.Consumer {
	t.Helper()
	opts = append(append([]client.Opt{client.BootstrapServers(servers), client.FetchMaxWait(100 * time.Millisecond)}, fastRetries()...), opts...)
	c, err := client.NewConsumer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitAll waits for every delivery and fails on the first error.
func waitAll(t *testing.T, ds []*client.Delivery) []client.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := make([]client.Record, len(ds))
	for i, d := range ds {
		r, err := d.Wait(ctx)
		if err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
		out[i] = r
	}
	return out
}

// consumeN polls until n records came (or fails after a deadline).
func consumeN(t *testing.T, c *client.Consumer, n int) []client.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []client.Record
	for len(out) < n {
		recs, err := c.Poll(ctx)
		if err != nil {
			t.Fatalf("poll after %d of %d records: %v", len(out), n, err)
		}
		out = append(out, recs...)
	}
	if len(out) != n {
		t.Fatalf("consumed %d records, want %d", len(out), n)
	}
	return out
}

// byPartition groups records by partition, in the order given.
func byPartition(recs []client.Record) map[int32][]client.Record {
	m := make(map[int32][]client.Record)
	for _, r := range recs {
		m[r.Partition] = append(m[r.Partition], r)
	}
	return m
}

// TestProducerConsumerRoundTrip sends keyed and keyless records with every
// codec; keyed ones land on Kafka's murmur2 partitions, every delivery has
// its offset, and a consumer from the earliest offsets reads exactly what
// was acknowledged, in offset order per partition.
func TestProducerConsumerRoundTrip(t *testing.T) {
	c := startDataCluster(t, 3)
	const topic, parts = "roundtrip", 6
	createTopics(t, c, 101, topicSpec{name: topic, partitions: parts, rf: 1})

	var all []client.Record
	for _, codec := range allCodecs {
		p := newProducer(t, c.BootstrapServers(), client.Compression(codec), client.Linger(2*time.Millisecond), client.BatchSize(4096))
		ctx := ctxT(t)
		var ds []*client.Delivery
		for i := range 300 {
			r := client.Record{Topic: topic, Value: fmt.Appendf(nil, "%s-%d", codec, i), Headers: []client.Header{{Key: "codec", Value: []byte(codec.String())}}}
			if i%3 != 0 {
				r.Key = fmt.Appendf(nil, "key-%d", i%40)
			}
			d, err := p.Send(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			ds = append(ds, d)
		}
		got := waitAll(t, ds)
		for _, r := range got {
			if r.Key != nil {
				if want := client.KeyPartition(r.Key, parts); r.Partition != want {
					t.Fatalf("key %q on partition %d, murmur2 says %d", r.Key, r.Partition, want)
				}
			}
			if r.Offset < 0 {
				t.Fatalf("record %q acknowledged without an offset", r.Value)
			}
		}
		all = append(all, got...)
	}
	// Keyless records were spread by the sticky partitioner.
	if n := len(byPartition(all)); n < 2 {
		t.Fatalf("records landed on %d partition(s)", n)
	}

	cons := newConsumer(t, c.BootstrapServers(), client.AutoOffsetReset(client.OffsetResetEarliest))
	if err := cons.Subscribe(topic); err != nil {
		t.Fatal(err)
	}
	read := consumeN(t, cons, len(all))
	want := byPartition(all)
	for p, recs := range byPartition(read) {
		w := want[p]
		slices.SortFunc(w, func(a, b client.Record) int { return int(a.Offset - b.Offset) })
		if len(recs) != len(w) {
			t.Fatalf("partition %d: read %d records, acknowledged %d", p, len(recs), len(w))
		}
		for i, r := range recs {
			if r.Offset != w[i].Offset || string(r.Value) != string(w[i].Value) || string(r.Key) != string(w[i].Key) {
				t.Fatalf("partition %d record %d: read %d %q/%q, acknowledged %d %q/%q", p, i, r.Offset, r.Key, r.Value, w[i].Offset, w[i].Key, w[i].Value)
			}
			if len(r.Headers) != 1 || r.Headers[0].Key != "codec" || r.Topic != topic || r.Timestamp.IsZero() {
				t.Fatalf("record %d of partition %d: %+v", i, p, r)
			}
		}
	}
}

// TestProducerAcks sends with acks 0, 1 and all: 1 and all give offsets,
// 0 gives -1, and every record arrives.
func TestProducerAcks(t *testing.T) {
	c := startDataCluster(t, 1)
	const topic = "acks"
	createTopics(t, c, 101, topicSpec{name: topic, partitions: 1, rf: 1})
	total := 0
	for _, acks := range []client.Acks{client.AcksNone, client.AcksLeader, client.AcksAll} {
		p := newProducer(t, c.BootstrapServers(), client.RequiredAcks(acks))
		var ds []*client.Delivery
		for i := range 50 {
			d, err := p.Send(ctxT(t), client.Record{Topic: topic, Value: fmt.Appendf(nil, "%s-%d", acks, i)})
			if err != nil {
				t.Fatal(err)
			}
			ds = append(ds, d)
		}
		for i, r := range waitAll(t, ds) {
			switch {
			case acks == client.AcksNone && r.Offset != -1:
				t.Fatalf("acks=0: record %d has offset %d, want -1", i, r.Offset)
			case acks != client.AcksNone && r.Offset != int64(total+i):
				t.Fatalf("acks=%s: record %d has offset %d, want %d", acks, i, r.Offset, total+i)
			}
		}
		// acks=0 deliveries complete once sent: wait for the log to have them.
		total += 50
		testutil.WaitFor(t, 20*time.Second, func() error {
			if info := logInfo(t, c, 101, topic, 0); info.HighWatermark != int64(total) {
				return fmt.Errorf("high watermark %d, want %d", info.HighWatermark, total)
			}
			return nil
		})
	}
	cons := newConsumer(t, c.BootstrapServers(), client.AutoOffsetReset(client.OffsetResetEarliest))
	if err := cons.Assign(client.TopicPartition{Topic: topic}); err != nil {
		t.Fatal(err)
	}
	for i, r := range consumeN(t, cons, total) {
		if r.Offset != int64(i) {
			t.Fatalf("record %d at offset %d", i, r.Offset)
		}
	}
}

// TestProducerFlushCloseAndBackpressure: with a long linger nothing is sent
// until Flush; a full buffer makes Send block for MaxBlock and fail; Close
// sends what is buffered, and Send after Close fails with ErrClosed.
func TestProducerFlushCloseAndBackpressure(t *testing.T) {
	c := startDataCluster(t, 1)
	const topic = "flush"
	createTopics(t, c, 101, topicSpec{name: topic, partitions: 2, rf: 1})
	p, err := client.NewProducer(append(fastRetries(), client.BootstrapServers(c.BootstrapServers()),
		client.Linger(time.Hour), client.BatchSize(1<<20), client.BufferMemory(1<<20), client.MaxBlock(300*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	d, err := p.Send(ctx, client.Record{Topic: topic, Key: []byte("k"), Value: []byte("first")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Result(); !errors.Is(err, client.ErrNotDone) {
		t.Fatalf("before Flush, with a linger of an hour: %v", err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := d.Result()
	if err != nil || r.Offset != 0 || r.Partition != client.KeyPartition([]byte("k"), 2) {
		t.Fatalf("after Flush: %+v %v", r, err)
	}

	// Fill the buffer: 1 MiB of memory, records of 100 KiB.
	value := make([]byte, 100<<10)
	var pending []*client.Delivery
	var blocked error
	start := time.Now()
	for range 20 {
		d, err := p.Send(ctx, client.Record{Topic: topic, Key: []byte("k"), Value: value})
		if err != nil {
			blocked = err
			break
		}
		pending = append(pending, d)
	}
	if !errors.Is(blocked, context.DeadlineExceeded) || len(pending) != 10 {
		t.Fatalf("after %d records: %v; want a buffer-full error", len(pending), blocked)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("Send failed after %v, before MaxBlock", waited)
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	for i, d := range pending {
		select {
		case <-d.Done():
		default:
			t.Fatalf("delivery %d pending after Close", i)
		}
		if r, err := d.Result(); err != nil || r.Offset != int64(i+1) {
			t.Fatalf("delivery %d: %+v %v", i, r.Offset, err)
		}
	}
	if _, err := p.Send(ctx, client.Record{Topic: topic, Value: []byte("late")}); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
}

// produceValues sends values to one partition and waits for them.
func produceValues(t *testing.T, p *client.Producer, topic string, partition int32, values ...string) []client.Record {
	t.Helper()
	var ds []*client.Delivery
	for _, v := range values {
		d, err := p.Send(ctxT(t), client.Record{Topic: topic, Partition: partition, Value: []byte(v)})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	return waitAll(t, ds)
}

func values(recs []client.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Value))
	}
	return out
}

func seq(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

// TestConsumerOffsetResetAndSeek: earliest reads from the start, latest
// only what comes after, none fails with a typed error until Seek; Seek
// moves back and forth, to OffsetEarliest and OffsetLatest; an offset out
// of range with none is ErrOffsetOutOfRange.
func TestConsumerOffsetResetAndSeek(t *testing.T) {
	c := startDataCluster(t, 1)
	const topic = "resets"
	createTopics(t, c, 101, topicSpec{name: topic, partitions: 1, rf: 1})
	tp := client.TopicPartition{Topic: topic}
	p := newProducer(t, c.BootstrapServers(), client.ManualPartitioner())
	produceValues(t, p, topic, 0, seq("a", 0, 10)...)

	earliest := newConsumer(t, c.BootstrapServers(), client.AutoOffsetReset(client.OffsetResetEarliest))
	if err := earliest.Assign(tp); err != nil {
		t.Fatal(err)
	}
	if got := values(consumeN(t, earliest, 10)); !slices.Equal(got, seq("a", 0, 10)) {
		t.Fatalf("earliest read %v", got)
	}

	latest := newConsumer(t, c.BootstrapServers()) // the default: latest
	if err := latest.Subscribe(topic); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, func() error {
		if pos, ok := latest.Position(tp); !ok || pos != 10 {
			return fmt.Errorf("position %d (known %v)", pos, ok)
		}
		return nil
	})
	produceValues(t, p, topic, 0, seq("b", 0, 5)...)
	if got := values(consumeN(t, latest, 5)); !slices.Equal(got, seq("b", 0, 5)) {
		t.Fatalf("latest read %v", got)
	}

	none := newConsumer(t, c.BootstrapServers(), client.AutoOffsetReset(client.OffsetResetNone), client.MaxPollRecords(1))
	if err := none.Assign(tp); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	_, err := none.Poll(ctx)
	var pe *client.PartitionError
	if !errors.Is(err, client.ErrNoOffsetForPartition) || !errors.As(err, &pe) || pe.TopicPartition != tp {
		t.Fatalf("none without a position: %v", err)
	}
	if err := none.Seek(tp, 12); err != nil {
		t.Fatal(err)
	}
	if got := values(consumeN(t, none, 3)); !slices.Equal(got, []string{"b2", "b3", "b4"}) {
		t.Fatalf("after Seek(12): %v", got)
	}
	if err := none.Seek(tp, 3); err != nil {
		t.Fatal(err)
	}
	if got := values(consumeN(t, none, 2)); !slices.Equal(got, []string{"a3", "a4"}) {
		t.Fatalf("after Seek(3): %v", got)
	}
	if err := none.Seek(tp, client.OffsetEarliest); err != nil {
		t.Fatal(err)
	}
	if r := consumeN(t, none, 1)[0]; r.Offset != 0 {
		t.Fatalf("after Seek(earliest): offset %d", r.Offset)
	}
	if err := none.Seek(tp, 1000); err != nil {
		t.Fatal(err)
	}
	recs, err := none.Poll(ctx)
	if !errors.Is(err, client.ErrOffsetOutOfRange) || !errors.As(err, &pe) || len(recs) != 0 {
		t.Fatalf("none at offset 1000: %v %v", recs, err)
	}
	if err := none.Seek(tp, client.OffsetLatest); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, func() error {
		if pos, ok := none.Position(tp); !ok || pos != 15 {
			return fmt.Errorf("position %d (known %v)", pos, ok)
		}
		return nil
	})
	produceValues(t, p, topic, 0, "c0")
	if got := values(consumeN(t, none, 1)); !slices.Equal(got, []string{"c0"}) {
		t.Fatalf("after Seek(latest): %v", got)
	}
	if err := none.Seek(client.TopicPartition{Topic: "other"}, 0); err == nil {
		t.Fatal("Seek on an unassigned partition worked")
	}
	// The iterator gives the same records.
	if err := none.Seek(tp, 13); err != nil {
		t.Fatal(err)
	}
	var it []string
	for r, err := range none.Records(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if it = append(it, string(r.Value)); len(it) == 3 {
			break
		}
	}
	if !slices.Equal(it, []string{"b3", "b4", "c0"}) {
		t.Fatalf("Records from 13: %v", it)
	}
}

// TestProducerAndConsumerFollowABrokerRestart: partitions with one replica
// each on brokers 101, 102 and 103; the producer and consumer start from
// broker 102 alone, which is stopped in the middle of the load. Its
// partition has no leader until it returns: the producer retries it (the
// other partitions go on), the clients find the cluster through the other
// brokers, and once 102 is back every record is acknowledged, in order,
// and the consumer, which followed the partition across the restart, has
// read each exactly as acknowledged.
func TestProducerAndConsumerFollowABrokerRestart(t *testing.T) {
	c := startDataCluster(t, 3)
	const topic = "restart"
	createTopics(t, c, 101, topicSpec{name: topic, assignment: [][]int32{{101}, {102}, {103}}})
	bootstrap := c.RealBroker(102).Addr
	p := newProducer(t, bootstrap, client.ManualPartitioner(), client.DeliveryTimeout(90*time.Second), client.Linger(time.Millisecond))
	cons := newConsumer(t, bootstrap, client.AutoOffsetReset(client.OffsetResetEarliest))
	if err := cons.Subscribe(topic); err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		consumed []client.Record
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for r, err := range cons.Records(ctx) {
			if err != nil {
				return
			}
			mu.Lock()
			consumed = append(consumed, r)
			mu.Unlock()
		}
	}()
	defer func() { cancel(); <-done }()

	send := func(from, to int) []*client.Delivery {
		var ds []*client.Delivery
		for i := from; i < to; i++ {
			d, err := p.Send(ctxT(t), client.Record{Topic: topic, Partition: int32(i % 3), Value: fmt.Appendf(nil, "v%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			ds = append(ds, d)
		}
		return ds
	}
	ds := send(0, 90)
	waitAll(t, ds)
	c.StopRealBroker(102)
	c.WaitPartition(topic, 1, func(p *metadata.Partition) error {
		if p.Leader != -1 {
			return fmt.Errorf("leader %d", p.Leader)
		}
		return nil
	})
	during := send(90, 180)
	// The other partitions' records are acknowledged while 102 is down;
	// partition 1's wait.
	for i, d := range during {
		if i%3 == 1 {
			continue
		}
		if _, err := d.Wait(ctxT(t)); err != nil {
			t.Fatalf("record v%d while 102 is down: %v", 90+i, err)
		}
	}
	for i, d := range during {
		if i%3 == 1 {
			if _, err := d.Result(); !errors.Is(err, client.ErrNotDone) {
				t.Fatalf("record v%d to the stopped broker's partition: %v", 90+i, err)
			}
		}
	}
	c.StartRealBroker(102)
	ds = append(ds, during...)
	ds = append(ds, send(180, 210)...)
	acked := waitAll(t, ds)
	for p, recs := range byPartition(acked) {
		for i := 1; i < len(recs); i++ {
			if recs[i].Offset != recs[i-1].Offset+1 {
				t.Fatalf("partition %d: %q at %d after %q at %d", p, recs[i].Value, recs[i].Offset, recs[i-1].Value, recs[i-1].Offset)
			}
		}
	}
	testutil.WaitFor(t, 60*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(consumed) < len(acked) {
			return fmt.Errorf("consumed %d of %d", len(consumed), len(acked))
		}
		return nil
	})
	mu.Lock()
	got := byPartition(consumed)
	mu.Unlock()
	for p, recs := range byPartition(acked) {
		if len(got[p]) != len(recs) {
			t.Fatalf("partition %d: consumed %d records, acknowledged %d", p, len(got[p]), len(recs))
		}
		for i, r := range recs {
			if g := got[p][i]; g.Offset != r.Offset || string(g.Value) != string(r.Value) {
				t.Fatalf("partition %d record %d: consumed %d %q, acknowledged %d %q", p, i, g.Offset, g.Value, r.Offset, r.Value)
			}
		}
	}
}

// faultDialer dials real TCP connections and can lose one produce answer:
// armed, it lets the next large write (a produce request with a big
// record) through and swallows everything the broker sends back on that
// connection until the test cuts it.
type faultDialer struct {
	mu      sync.Mutex
	armed   bool
	victim  *faultConn
	written chan struct{} // closed once the armed write went through
}

type faultConn struct {
	net.Conn
	d          *faultDialer
	swallowing atomic.Bool
}

func (d *faultDialer) dial(ctx context.Context, addr string) (net.Conn, error) {
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &faultConn{Conn: conn, d: d}, nil
}

func (c *faultConn) Write(b []byte) (int, error) {
	if len(b) > 4<<10 {
		c.d.mu.Lock()
		if c.d.armed {
			c.d.armed = false
			c.swallowing.Store(true) // before the broker can answer
			c.d.victim = c
			defer close(c.d.written)
		}
		c.d.mu.Unlock()
	}
	return c.Conn.Write(b)
}

func (c *faultConn) Read(b []byte) (int, error) {
	for {
		n, err := c.Conn.Read(b)
		if err != nil || !c.swallowing.Load() {
			return n, err
		}
	}
}

// TestIdempotentRetryIsNotDuplicated loses the answer to a produce request
// that the broker appended, so the producer retries it on a new
// connection. An idempotent producer resends the same batch with the same
// producer id, epoch and sequence, and the broker's deduplication keeps
// one copy: the partition holds each record once.
//
// Without the broker's InitProducerId the producer would fall back to
// non-idempotent and this test would fail on the duplicate.
func TestIdempotentRetryIsNotDuplicated(t *testing.T) {
	c := startDataCluster(t, 1)
	const topic = "idempotent"
	createTopics(t, c, 101, topicSpec{name: topic, partitions: 1, rf: 1})
	fd := &faultDialer{written: make(chan struct{})}
	p := newProducer(t, c.BootstrapServers(), client.GRPCDialOptions(grpc.WithContextDialer(fd.dial)), client.Idempotent(true))
	ctx := ctxT(t)
	first := produceValues(t, p, topic, 0, "small")
	if first[0].Offset != 0 {
		t.Fatalf("first record at %d", first[0].Offset)
	}
	fd.mu.Lock()
	fd.armed = true
	fd.mu.Unlock()
	big := make([]byte, 8<<10)
	copy(big, "big")
	d, err := p.Send(ctx, client.Record{Topic: topic, Value: big})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-fd.written:
	case <-time.After(30 * time.Second):
		t.Fatal("the big produce request was not written")
	}
	// The broker appends it; its answer is swallowed. Then the connection
	// breaks and the producer retries.
	testutil.WaitFor(t, 20*time.Second, func() error {
		if info := logInfo(t, c, 101, topic, 0); info.LogEndOffset != 2 {
			return fmt.Errorf("log end offset %d", info.LogEndOffset)
		}
		return nil
	})
	fd.mu.Lock()
	_ = fd.victim.Close()
	fd.mu.Unlock()
	r, err := d.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	produceValues(t, p, topic, 0, "after")

	stored := fetchUntil(t, c.BrokerClient(101), topic, 0, 0, logInfo(t, c, 101, topic, 0).HighWatermark, 1<<20)
	var vals []string
	for _, s := range stored {
		vals = append(vals, string(s.rec.Value[:min(len(s.rec.Value), 5)]))
	}
	for _, b := range rawBatches(t, c, topic) {
		if !b.HasProducerID() {
			t.Errorf("batch at offset %d has no producer id: the producer did not become idempotent (InitProducerId: is it implemented?)", b.BaseOffset)
		}
	}
	if want := []string{"small", "big\x00\x00", "after"}; !slices.Equal(vals, want) || r.Offset != 1 {
		t.Fatalf("the partition holds %q (the retried record acknowledged at %d); want %q at 1: the retry was appended twice", vals, r.Offset, want)
	}
}

// rawBatches reads the headers of a partition-0 log's batches.
func rawBatches(t *testing.T, c *Cluster, topic string) []recordbatch.BatchHeader {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := c.BrokerClient(101).Fetch(ctx, &stratav1.FetchRequest{MaxBytes: 1 << 20, Topics: []*stratav1.FetchTopic{{
		Name: topic, Partitions: []*stratav1.FetchPartition{{PartitionId: 0, FetchOffset: 0, CurrentLeaderEpoch: -1}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var out []recordbatch.BatchHeader
	for b, err := range recordbatch.All(resp.GetTopics()[0].GetPartitions()[0].GetRecords()) {
		if err != nil {
			t.Fatal(err)
		}
		h, err := recordbatch.ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
	return out
}
