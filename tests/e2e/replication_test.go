package e2e

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/recordbatch"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/pkg/testutil"
)

// replicatedCluster is 3 controller processes and n broker processes
// (ids 101, 102, ...).
type replicatedCluster struct {
	bin       binaries
	clusterID string
	ctl       *controllerSet
	brokers   map[int]*brokerProc
}

func startReplicated(t *testing.T, brokers int) *replicatedCluster {
	t.Helper()
	bin := build(t)
	c := &replicatedCluster{bin: bin, brokers: make(map[int]*brokerProc)}
	c.clusterID = strings.TrimSpace(mustRun(t, bin.strata, "storage", "random-uuid"))
	c.ctl = startControllers(t, bin, c.clusterID, 3)
	for i := range brokers {
		id := 101 + i
		b := newBrokerProc(t, bin, c.clusterID, c.ctl.grpc, id)
		b.start(t)
		c.brokers[id] = b
	}
	return c
}

func (c *replicatedCluster) bootstrap() string {
	var addrs []string
	for _, id := range slices.Sorted(maps.Keys(c.brokers)) {
		addrs = append(addrs, c.brokers[id].addr)
	}
	return strings.Join(addrs, ",")
}

// strata runs the CLI against the brokers.
func (c *replicatedCluster) strata(t *testing.T, args ...string) cli {
	t.Helper()
	return run(t, nil, c.bin.strata, append([]string{"--bootstrap-server", c.bootstrap()}, args...)...)
}

// describedPartition is one partition line of `strata topics describe`.
type describedPartition struct {
	leader   int
	replicas []int
	isr      []int
}

var describedLine = regexp.MustCompile(`^\tTopic: \S+\tPartition: (\d+)\tLeader: (-?\d+)\tReplicas: ([\d,]*)\tIsr: ([\d,]*)`)

func ints(s string) []int {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// describe parses `strata topics describe --topic topic`.
func (c *replicatedCluster) describe(t *testing.T, topic string) (map[int]describedPartition, error) {
	t.Helper()
	r := c.strata(t, "topics", "describe", "--topic", topic)
	if r.code != 0 {
		return nil, fmt.Errorf("topics describe: exit %d: %s", r.code, r.stderr)
	}
	out := make(map[int]describedPartition)
	for line := range strings.SplitSeq(r.stdout, "\n") {
		m := describedLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		p, _ := strconv.Atoi(m[1])
		leader, _ := strconv.Atoi(m[2])
		out[p] = describedPartition{leader: leader, replicas: ints(m[3]), isr: ints(m[4])}
	}
	return out, nil
}

// TestKill9ABrokerLeavesEveryISRAndRejoins is the scenario Kafka users
// know: 3 controllers, 4 brokers, a topic of 10 partitions with replication
// factor 4. A broker killed with SIGKILL leaves every ISR and leads nothing
// (as `strata topics describe` shows); restarted, it is back in every ISR
// with no operator action.
func TestKill9ABrokerLeavesEveryISRAndRejoins(t *testing.T) {
	c := startReplicated(t, 4)
	const topic = "rf4"
	testutil.WaitFor(t, 30*time.Second, func() error {
		r := c.strata(t, "topics", "create", "--topic", topic, "--partitions", "10", "--replication-factor", "4")
		if r.code != 0 && !strings.Contains(r.stderr, "already exists") {
			return fmt.Errorf("topics create: exit %d: %s", r.code, r.stderr)
		}
		return nil
	})
	all := []int{101, 102, 103, 104}
	waitDescribed(t, c, topic, func(p int, d describedPartition) error {
		if d.leader < 0 || !slices.Equal(slices.Sorted(slices.Values(d.isr)), all) {
			return fmt.Errorf("partition %d: leader %d isr %v", p, d.leader, d.isr)
		}
		return nil
	})
	// Some data, so that the restarted broker has something to catch up on.
	for p := range int32(10) {
		produceAcked(t, c, topic, p, []string{fmt.Sprintf("before-%d", p)})
	}

	const victim = 102
	c.brokers[victim].proc.kill()
	waitDescribed(t, c, topic, func(p int, d describedPartition) error {
		if d.leader == victim || d.leader < 0 || slices.Contains(d.isr, victim) || len(d.isr) != 3 {
			return fmt.Errorf("partition %d: leader %d isr %v with broker %d killed", p, d.leader, d.isr, victim)
		}
		return nil
	})
	for p := range int32(10) {
		produceAcked(t, c, topic, p, []string{fmt.Sprintf("while-down-%d", p)})
	}

	c.brokers[victim].start(t)
	waitDescribed(t, c, topic, func(p int, d describedPartition) error {
		if !slices.Equal(slices.Sorted(slices.Values(d.isr)), all) {
			return fmt.Errorf("partition %d: isr %v after broker %d restarted", p, d.isr, victim)
		}
		return nil
	})
}

func waitDescribed(t *testing.T, c *replicatedCluster, topic string, cond func(int, describedPartition) error) {
	t.Helper()
	testutil.WaitFor(t, 40*time.Second, func() error {
		parts, err := c.describe(t, topic)
		if err != nil {
			return err
		}
		if len(parts) == 0 {
			return fmt.Errorf("no partitions described")
		}
		for p, d := range parts {
			if err := cond(p, d); err != nil {
				return err
			}
		}
		return nil
	})
}

// leaderConns keeps a connection per broker address.
type leaderConns struct {
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

func (l *leaderConns) get(t *testing.T, addr string) stratav1.BrokerServiceClient {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns == nil {
		l.conns = make(map[string]*grpc.ClientConn)
	}
	cc, ok := l.conns[addr]
	if !ok {
		var err error
		if cc, err = rpc.Dial(addr, rpc.DialConfig{}); err != nil {
			t.Fatal(err)
		}
		l.conns[addr] = cc
	}
	return stratav1.NewBrokerServiceClient(cc)
}

func (l *leaderConns) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, cc := range l.conns {
		_ = cc.Close()
	}
}

// leaderOf asks any live broker for the leader of topic-partition.
func leaderOf(ctx context.Context, c *replicatedCluster, conns *leaderConns, t *testing.T, topic string, p int32) (int32, string, error) {
	var last error
	for _, id := range slices.Sorted(maps.Keys(c.brokers)) {
		b := c.brokers[id] // a dead one fails fast: connection refused
		mctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		md, err := conns.get(t, b.addr).Metadata(mctx, &stratav1.MetadataRequest{Topics: []string{topic}})
		cancel()
		if err != nil {
			last = err
			continue
		}
		for _, tm := range md.GetTopics() {
			for _, pm := range tm.GetPartitions() {
				if pm.GetPartitionId() != p || pm.GetLeader() < 0 {
					continue
				}
				for _, br := range md.GetBrokers() {
					if br.GetBrokerId() == pm.GetLeader() {
						return pm.GetLeader(), br.GetAddress(), nil
					}
				}
			}
		}
		last = fmt.Errorf("%s-%d has no leader yet", topic, p)
	}
	return -1, "", last
}

// produceAcked sends one acks=all batch of values to the partition's
// leader, retrying through leader changes, and returns its base offset.
func produceAcked(t *testing.T, c *replicatedCluster, topic string, p int32, values []string) int64 {
	t.Helper()
	var conns leaderConns
	defer conns.close()
	base, err := produceRetrying(context.Background(), t, c, &conns, topic, p, nil, values, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// produceRetrying sends one acks=all batch of values (from producer prod,
// when not nil: a retry of a batch already stored is then answered with its
// first offset) to the partition's leader, and on a retriable error finds
// the leader again and resends the same batch, for up to within.
func produceRetrying(ctx context.Context, t *testing.T, c *replicatedCluster, conns *leaderConns, topic string, p int32,
	prod *recordbatch.Producer, values []string, within time.Duration) (int64, error) {
	bld := recordbatch.NewBuilder(recordbatch.None, prod)
	for _, v := range values {
		bld.Append(recordbatch.Record{Value: []byte(v), Timestamp: time.Now().UnixMilli()})
	}
	batch, err := bld.Build(nil)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(within)
	backoff := 20 * time.Millisecond
	for {
		base, retry, err := produceOnce(ctx, t, c, conns, topic, p, batch)
		if err == nil {
			return base, nil
		}
		if !retry || ctx.Err() != nil || time.Now().After(deadline) {
			return 0, fmt.Errorf("produce to %s-%d: %w", topic, p, err)
		}
		select { // a client's retry backoff
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

func produceOnce(ctx context.Context, t *testing.T, c *replicatedCluster, conns *leaderConns, topic string, p int32, batch []byte) (base int64, retry bool, err error) {
	_, addr, err := leaderOf(ctx, c, conns, t, topic, p)
	if err != nil {
		return 0, true, err
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	resp, err := conns.get(t, addr).Produce(pctx, &stratav1.ProduceRequest{Acks: -1, TimeoutMs: 10000, Topics: []*stratav1.ProduceTopic{{
		Name: topic, Partitions: []*stratav1.ProducePartition{{PartitionId: p, Records: slices.Clone(batch)}},
	}}})
	if err != nil {
		return 0, true, err // the broker died or stopped: find the leader again
	}
	r := resp.GetTopics()[0].GetPartitions()[0]
	if code := r.GetErrorCode(); code != stratav1.ErrorCode_ERROR_CODE_NONE {
		return 0, retriable(code), fmt.Errorf("%v %s", code, r.GetErrorMessage())
	}
	return r.GetBaseOffset(), false, nil
}

func retriable(code stratav1.ErrorCode) bool {
	switch code {
	case stratav1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER, stratav1.ErrorCode_ERROR_CODE_LEADER_NOT_AVAILABLE,
		stratav1.ErrorCode_ERROR_CODE_FENCED_LEADER_EPOCH, stratav1.ErrorCode_ERROR_CODE_UNKNOWN_LEADER_EPOCH,
		stratav1.ErrorCode_ERROR_CODE_REQUEST_TIMED_OUT, stratav1.ErrorCode_ERROR_CODE_NOT_ENOUGH_REPLICAS,
		stratav1.ErrorCode_ERROR_CODE_NOT_ENOUGH_REPLICAS_AFTER_APPEND, stratav1.ErrorCode_ERROR_CODE_BROKER_NOT_AVAILABLE,
		stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION, stratav1.ErrorCode_ERROR_CODE_KAFKA_STORAGE_ERROR:
		return true
	default:
		return false
	}
}
