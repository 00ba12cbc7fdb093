package cluster

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/testutil"
)

// create makes a one-partition topic and fails the benchmark on error.
func create(b *testing.B, admin stratav1.AdminServiceClient, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := admin.CreateTopics(ctx, &stratav1.CreateTopicsRequest{Topics: []*stratav1.CreatableTopic{
		{Name: name, NumPartitions: 1, ReplicationFactor: 1},
	}})
	if err != nil {
		b.Fatal(err)
	}
	if r := resp.GetTopics()[0]; r.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE {
		b.Fatalf("%s: %v %s", name, r.GetErrorCode(), r.GetErrorMessage())
	}
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkFailover stops the active controller (its Raft replica goes
// silent, as after kill -9) and measures the time until a write sent to the
// survivors is accepted.
func BenchmarkFailover(b *testing.B) {
	c := Start(b, Options{})
	c.StartBroker(101, "")
	var times []time.Duration
	for i := 0; b.Loop(); i++ {
		active := c.WaitActive(10 * time.Second)
		c.StopController(active.ID)
		start := time.Now()
		var others []int32
		for id, ctl := range c.Controllers {
			if id != active.ID && ctl.Running() {
				others = append(others, id)
			}
		}
		create(b, c.Admin(others[i%len(others)]), fmt.Sprintf("failover-%d", i))
		times = append(times, time.Since(start))
		b.StopTimer()
		c.StartController(active.ID)
		waitCaughtUp(b, c)
		b.StartTimer()
	}
	b.ReportMetric(float64(percentile(times, 0.5).Milliseconds()), "p50-ms")
	b.ReportMetric(float64(percentile(times, 0.99).Milliseconds()), "p99-ms")
}

func waitCaughtUp(b *testing.B, c *Cluster) {
	testutil.WaitFor(b, 20*time.Second, func() error {
		var offsets []int64
		for _, ctl := range c.Controllers {
			if srv := ctl.Server(); srv != nil {
				offsets = append(offsets, srv.Image().Offset())
			}
		}
		if slices.Min(offsets) != slices.Max(offsets) || c.activeID() < 0 {
			return fmt.Errorf("controllers at offsets %v, active %d", offsets, c.activeID())
		}
		return nil
	})
}

// BenchmarkMetadataPropagation measures the time from a CreateTopics call
// on the active controller to a watcher on a standby seeing the topic.
func BenchmarkMetadataPropagation(b *testing.B) {
	c := Start(b, Options{})
	c.StartBroker(101, "")
	active := c.WaitActive(10 * time.Second)
	standby := c.Standby()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := c.ControllerClient(standby.ID).WatchMetadata(ctx, &stratav1.WatchMetadataRequest{
		FromOffset: standby.Server().Image().Offset(), BrokerId: -1,
	})
	if err != nil {
		b.Fatal(err)
	}
	seen := make(chan string, 16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			for _, r := range resp.GetRecords().GetRecords() {
				if t := r.GetTopic(); t != nil {
					seen <- t.GetName()
				}
			}
		}
	}()
	var times []time.Duration
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("prop-%d", i)
		start := time.Now()
		create(b, c.Admin(active.ID), name)
		for got := range seen {
			if got == name {
				break
			}
		}
		times = append(times, time.Since(start))
	}
	cancel()
	wg.Wait()
	b.ReportMetric(float64(percentile(times, 0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(times, 0.99).Microseconds())/1000, "p99-ms")
}

// BenchmarkTopicCreation creates one-partition topics from 16 concurrent
// clients spread over the controllers, as a topic-heavy workload would.
func BenchmarkTopicCreation(b *testing.B) {
	c := Start(b, Options{})
	c.StartBroker(101, "")
	var n atomic.Int64
	ids := []int32{1, 2, 3}
	start := time.Now()
	b.SetParallelism(8) // 16 clients on 2 cores
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			create(b, c.Admin(ids[i%3]), fmt.Sprintf("t-%d", i))
		}
	})
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "topics/s")
}

// BenchmarkWatcherCatchUp measures how long a new watcher (a broker
// starting from nothing) takes to receive and rebuild an image of 100,000
// partitions (1,000 topics of 100 partitions, replication factor 3).
//
// -scale-partitions sets another size (a multiple of 100), e.g. 1000000.
func BenchmarkWatcherCatchUp(b *testing.B) {
	c := Start(b, Options{SnapshotEntries: 1000, WatchWindow: 10000})
	for id := int32(101); id <= 106; id++ {
		c.StartBroker(id, "")
	}
	active := c.WaitActive(10 * time.Second)
	admin := c.Admin(active.ID)
	const perTopic = 100
	topics := *scalePartitions / perTopic
	for i := range topics / 50 {
		req := &stratav1.CreateTopicsRequest{}
		for j := range 50 {
			req.Topics = append(req.Topics, &stratav1.CreatableTopic{
				Name: fmt.Sprintf("scale-%d-%d", i, j), NumPartitions: perTopic, ReplicationFactor: 3,
			})
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if _, err := admin.CreateTopics(ctx, req); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
	img := active.Server().Image()
	if img.PartitionCount() != topics*perTopic {
		b.Fatalf("%d partitions", img.PartitionCount())
	}
	standby := c.Standby()
	b.ResetTimer()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		got, _, err := Follow(ctx, c.ControllerClient(standby.ID), metadata.Empty(), img.Offset())
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		if got.PartitionCount() != topics*perTopic {
			b.Fatalf("watcher rebuilt %d partitions", got.PartitionCount())
		}
	}
	b.ReportMetric(float64(img.PartitionCount()), "partitions")
}

var scalePartitions = flag.Int("scale-partitions", 100000, "partitions in the image of BenchmarkWatcherCatchUp")
