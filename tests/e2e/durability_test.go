package e2e

import (
	"context"
	"fmt"
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

// initProducerID gets an idempotent producer id from any broker.
func initProducerID(t *testing.T, cl stratav1.BrokerServiceClient) (int64, int16) {
	t.Helper()
	var resp *stratav1.InitProducerIdResponse
	testutil.WaitFor(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		resp, err = cl.InitProducerId(ctx, &stratav1.InitProducerIdRequest{ProducerId: -1, ProducerEpoch: -1})
		if err != nil {
			return err
		}
		if resp.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE {
			return fmt.Errorf("%v %s", resp.GetErrorCode(), resp.GetErrorMessage())
		}
		return nil
	})
	return resp.GetProducerId(), int16(resp.GetProducerEpoch())
}

// TestAcksAllLosesNothingWhenTheLeaderIsKilled is the durability promise:
// RF=3, min.insync.replicas=2, an idempotent producer with acks=all and
// retries writes steadily to every partition; the leader of partition 0 is
// killed with SIGKILL at a different moment in each round, and restarted;
// in a last round it is stopped with SIGTERM instead.
// Afterwards every acknowledged record is readable exactly once, in the
// order it was acknowledged, at gapless offsets.
func TestAcksAllLosesNothingWhenTheLeaderIsKilled(t *testing.T) {
	c := startReplicated(t, 3)
	const topic, partitions = "durable3", 3
	testutil.WaitFor(t, 30*time.Second, func() error {
		r := c.strata(t, "topics", "create", "--topic", topic, "--partitions", strconv.Itoa(partitions), "--replication-factor", "3",
			"--config", "min.insync.replicas=2")
		if r.code != 0 && !strings.Contains(r.stderr, "already exists") {
			return fmt.Errorf("topics create: exit %d: %s", r.code, r.stderr)
		}
		return nil
	})
	full := []int{101, 102, 103}
	waitDescribed(t, c, topic, func(p int, d describedPartition) error {
		if d.leader < 0 || !slices.Equal(slices.Sorted(slices.Values(d.isr)), full) {
			return fmt.Errorf("partition %d: leader %d isr %v", p, d.leader, d.isr)
		}
		return nil
	})
	pid, epoch := initProducerID(t, stratav1.NewBrokerServiceClient(dialFirst(t, c)))

	// One writer per partition, each with its own sequence, one batch in
	// flight at a time (so acknowledged order is offset order).
	type acked struct {
		base   int64
		values []string
	}
	var mu sync.Mutex
	ackedBy := make(map[int32][]acked)
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, a := range ackedBy {
			n += len(a)
		}
		return n
	}
	countOf := func(p int32) int {
		mu.Lock()
		defer mu.Unlock()
		return len(ackedBy[p])
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, partitions)
	for p := range int32(partitions) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var conns leaderConns
			defer conns.close()
			seq := int32(0)
			for i := 0; ctx.Err() == nil; i++ {
				values := []string{fmt.Sprintf("p%d-b%d-r0", p, i), fmt.Sprintf("p%d-b%d-r1", p, i), fmt.Sprintf("p%d-b%d-r2", p, i)}
				base, err := produceRetrying(ctx, t, c, &conns, topic, p, &recordbatch.Producer{ID: pid, Epoch: epoch, BaseSequence: seq}, values, 60*time.Second)
				if err != nil {
					if ctx.Err() == nil {
						errs <- err
					}
					return
				}
				seq += int32(len(values))
				mu.Lock()
				ackedBy[p] = append(ackedBy[p], acked{base: base, values: values})
				mu.Unlock()
			}
		}()
	}
	stopWriters := func() {
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
	defer func() {
		if ctx.Err() == nil {
			stopWriters()
		}
	}()

	var conns leaderConns
	defer conns.close()
	// Three rounds of kill -9 at different moments, then one of SIGTERM:
	// controlled shutdown moves the leaderships first.
	for round, after := range []int{40, 25, 60, 30} {
		sigterm := round == 3
		target := count() + after
		testutil.WaitFor(t, 60*time.Second, func() error {
			if n := count(); n < target {
				return fmt.Errorf("%d batches acknowledged, waiting for %d", n, target)
			}
			return nil
		})
		leader, _, err := leaderOf(ctx, c, &conns, t, topic, 0)
		if err != nil {
			t.Fatal(err)
		}
		before := countOf(0)
		killedAt := time.Now()
		if sigterm {
			c.brokers[int(leader)].proc.stop(t, 20*time.Second)
		} else {
			c.brokers[int(leader)].proc.kill()
		}
		// Writes to partition 0 go on once another replica leads it.
		testutil.WaitFor(t, 60*time.Second, func() error {
			if n := countOf(0); n < before+2 {
				return fmt.Errorf("%d batches acknowledged on partition 0 since the kill", n-before)
			}
			return nil
		})
		how := "killed"
		if sigterm {
			how = "stopped by SIGTERM"
		}
		t.Logf("round %d: leader %d of partition 0 %s; its writes went on within %v (broker session timeout 3s)",
			round, leader, how, time.Since(killedAt).Round(time.Millisecond))
		c.brokers[int(leader)].start(t)
		waitDescribed(t, c, topic, func(p int, d describedPartition) error {
			if !slices.Equal(slices.Sorted(slices.Values(d.isr)), full) {
				return fmt.Errorf("partition %d: isr %v after broker %d restarted", p, d.isr, leader)
			}
			return nil
		})
	}
	stopWriters()

	for p := range int32(partitions) {
		// A leader new in its epoch answers OFFSET_NOT_AVAILABLE until its
		// high watermark reaches the epoch's start (the followers' next
		// fetches move it): ask until it knows.
		var cl stratav1.BrokerServiceClient
		var end int64
		testutil.WaitFor(t, 30*time.Second, func() error {
			_, addr, err := leaderOf(context.Background(), c, &conns, t, topic, p)
			if err != nil {
				return err
			}
			cl = conns.get(t, addr)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := cl.ListOffsets(ctx, &stratav1.ListOffsetsRequest{Topics: []*stratav1.ListOffsetsTopic{{
				Name: topic, Partitions: []*stratav1.ListOffsetsPartition{{PartitionId: p, Timestamp: -1, CurrentLeaderEpoch: -1}},
			}}})
			if err != nil {
				return err
			}
			r := resp.GetTopics()[0].GetPartitions()[0]
			if r.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE {
				return fmt.Errorf("%v %s", r.GetErrorCode(), r.GetErrorMessage())
			}
			end = r.GetOffset()
			return nil
		})
		recs := readAll(t, cl, topic, p, end)
		seen := make(map[string]int64)
		for i, r := range recs {
			if r.offset != int64(i) {
				t.Fatalf("%s-%d: record %d at offset %d: a gap", topic, p, i, r.offset)
			}
			if at, dup := seen[r.value]; dup {
				t.Fatalf("%s-%d: record %q at offsets %d and %d", topic, p, r.value, at, r.offset)
			}
			seen[r.value] = r.offset
		}
		mu.Lock()
		batches := ackedBy[p]
		mu.Unlock()
		for _, a := range batches {
			for i, v := range a.values {
				if at, ok := seen[v]; !ok || at != a.base+int64(i) {
					t.Fatalf("%s-%d: acknowledged record %q at offset %d: found at %d (present %v)", topic, p, v, a.base+int64(i), at, ok)
				}
			}
		}
		t.Logf("%s-%d: %d acknowledged batches, %d records stored", topic, p, len(batches), len(recs))
	}
}

func dialFirst(t *testing.T, c *replicatedCluster) *grpc.ClientConn {
	t.Helper()
	conn, err := rpc.Dial(c.brokers[101].addr, rpc.DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
