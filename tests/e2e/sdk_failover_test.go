package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/strata-log/strata/pkg/client"
	"github.com/strata-log/strata/pkg/testutil"
)

// TestSDKProducerAndConsumerRideThroughALeaderKill: the Go SDK's producer
// (idempotent, acks=all, its default retries) keeps writing keyed records
// to a replicated topic while the leader of one partition is killed with
// SIGKILL; no send fails, and a consumer started afterwards from the
// remaining brokers reads every acknowledged record exactly once, at the
// partition and offset its delivery reported.
func TestSDKProducerAndConsumerRideThroughALeaderKill(t *testing.T) {
	c := startReplicated(t, 3)
	const topic, partitions = "sdkfail", 4
	testutil.WaitFor(t, 30*time.Second, func() error {
		r := c.strata(t, "topics", "create", "--topic", topic, "--partitions", fmt.Sprint(partitions), "--replication-factor", "3",
			"--config", "min.insync.replicas=2")
		if r.code != 0 {
			return fmt.Errorf("topics create: exit %d: %s", r.code, r.stderr)
		}
		return nil
	})
	waitDescribed(t, c, topic, func(p int, d describedPartition) error {
		if d.leader < 0 || len(d.isr) != 3 {
			return fmt.Errorf("partition %d: leader %d isr %v", p, d.leader, d.isr)
		}
		return nil
	})
	var addrs []string
	for _, id := range slices.Sorted(maps.Keys(c.brokers)) {
		addrs = append(addrs, c.brokers[id].addr)
	}
	prod, err := client.NewProducer(client.BootstrapServers(addrs...), client.RequiredAcks(client.AcksAll), client.Linger(2*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close(context.Background())

	type at struct {
		partition int32
		offset    int64
	}
	var mu sync.Mutex
	acked := make(map[string]at)
	var sendErrs []error
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	stop := make(chan struct{})
	sent := make(chan int, 1)
	go func() {
		n := 0
		defer func() { sent <- n }()
		for ; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			v := fmt.Sprintf("value-%d", n)
			err := prod.SendFunc(ctx, client.Record{Topic: topic, Key: fmt.Appendf(nil, "key-%d", n%32), Value: []byte(v)}, func(r client.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					sendErrs = append(sendErrs, fmt.Errorf("%s: %w", v, err))
					return
				}
				acked[v] = at{r.Partition, r.Offset}
			})
			if err != nil {
				mu.Lock()
				sendErrs = append(sendErrs, err)
				mu.Unlock()
				return
			}
			if n%200 == 199 { // a steady stream, not a flood
				if err := prod.Flush(ctx); err != nil {
					return
				}
			}
		}
	}()
	waitAcked := func(n int) {
		t.Helper()
		testutil.WaitFor(t, 60*time.Second, func() error {
			if got := count(); got < n {
				return fmt.Errorf("%d records acknowledged, waiting for %d", got, n)
			}
			return nil
		})
	}
	waitAcked(1000)
	var conns leaderConns
	defer conns.close()
	leader, _, err := leaderOf(ctx, c, &conns, t, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	c.brokers[int(leader)].proc.kill()
	waitAcked(count() + 2000)
	t.Logf("leader %d of partition 0 killed; %d records acknowledged %v later", leader, count(), time.Since(killedAt).Round(time.Millisecond))
	close(stop)
	n := <-sent
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(sendErrs) > 0 {
		t.Fatalf("%d sends failed through the failover, first: %v", len(sendErrs), sendErrs[0])
	}
	want := maps.Clone(acked)
	mu.Unlock()
	if len(want) != n {
		t.Fatalf("%d records sent, %d acknowledged after Flush", n, len(want))
	}

	cons, err := client.NewConsumer(client.BootstrapServers(addrs...), client.AutoOffsetReset(client.OffsetResetEarliest))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	if err := cons.Subscribe(topic); err != nil {
		t.Fatal(err)
	}
	got := make(map[string]at)
	for len(got) < len(want) {
		recs, err := cons.Poll(ctx)
		if err != nil {
			t.Fatalf("poll after %d of %d records: %v", len(got), len(want), err)
		}
		for _, r := range recs {
			v := string(r.Value)
			if prev, dup := got[v]; dup {
				t.Fatalf("%s read twice: %v and %d@%d", v, prev, r.Partition, r.Offset)
			}
			got[v] = at{r.Partition, r.Offset}
		}
	}
	for v, w := range want {
		if got[v] != w {
			t.Fatalf("%s acknowledged at %v, read at %v", v, w, got[v])
		}
	}
	t.Logf("%d records acknowledged and read back once each", len(want))
}
