package cluster

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-log/strata/pkg/client"
)

// Consumer group benchmarks (issue #7): the time a group of 10 members on
// 60 partitions takes to settle when a member joins and when one dies, and
// the throughput of offset commits (acks=all on a replicated
// __consumer_offsets). Run them with
//
//	BENCH='Group' scripts/bench.sh ./tests/cluster
//
// The members are the SDK's group consumers; "settled" is when the
// members' rebalance callbacks show every partition owned, balanced
// (6 each with 10 members; 6 or 7 with 9).

const (
	groupBenchMembers    = 10
	groupBenchPartitions = 60
	groupBenchSession    = 500 * time.Millisecond
)

// benchGroup starts 3 brokers, a 60-partition topic and members m0..m<n-1>
// of a group, and waits until they share the partitions evenly.
func benchGroup(b *testing.B, n int, opts ...client.Opt) (*Cluster, *owners, []*member) {
	b.Helper()
	c := startGroupCluster(b, 3)
	createTopics(b, c, 101, topicSpec{name: "bench", partitions: groupBenchPartitions, rf: 3})
	o := newOwners()
	var ms []*member
	for i := range n {
		ms = append(ms, joinGroup(b, c, o, fmt.Sprintf("m%d", i), "bench-group", "bench", opts...))
	}
	o.await(b, 60*time.Second, balanced(n))
	return c, o, ms
}

// balanced holds when n members own every partition, evenly.
func balanced(n int) func(map[string]int) bool {
	return func(counts map[string]int) bool {
		if len(counts) != n {
			return false
		}
		total, lo, hi := 0, groupBenchPartitions, 0
		for _, k := range counts {
			total += k
			lo, hi = min(lo, k), max(hi, k)
		}
		return total == groupBenchPartitions && hi-lo <= 1
	}
}

// BenchmarkGroupRebalanceJoin: 9 members own the 60 partitions; the 10th
// joins. One op is the time from its Subscribe until the 10 members own 6
// partitions each (every handoff revokes before it assigns). The member
// then leaves, untimed.
func BenchmarkGroupRebalanceJoin(b *testing.B) {
	c, o, _ := benchGroup(b, groupBenchMembers-1)
	var times []time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		m := joinGroup(b, c, o, fmt.Sprintf("joiner-%d", i), "bench-group", "bench")
		o.await(b, 60*time.Second, balanced(groupBenchMembers))
		times = append(times, time.Since(start))
		b.StopTimer()
		m.stop()
		o.await(b, 60*time.Second, balanced(groupBenchMembers-1))
		b.StartTimer()
	}
	o.check(b)
	b.ReportMetric(float64(percentile(times, 0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(times, 0.99).Microseconds())/1000, "p99-ms")
}

// BenchmarkGroupRebalanceMemberDies: 10 members own the 60 partitions; one
// stops heartbeating without leaving (as after kill -9; its session
// timeout is 500 ms). One op is the time from then until the 9 others own
// every partition; "after-session-ms" leaves the session timeout out. A
// new member replaces it, untimed.
func BenchmarkGroupRebalanceMemberDies(b *testing.B) {
	opts := []client.Opt{client.SessionTimeout(groupBenchSession), client.LeaveGroupOnClose(false)}
	c, o, ms := benchGroup(b, groupBenchMembers, opts...)
	var times []time.Duration
	for i := 0; b.Loop(); i++ {
		victim := i % len(ms)
		start := time.Now()
		ms[victim].stop() // commits and stops heartbeating; the coordinator waits for the session timeout
		o.await(b, 60*time.Second, balanced(groupBenchMembers-1))
		times = append(times, time.Since(start))
		b.StopTimer()
		ms[victim] = joinGroup(b, c, o, fmt.Sprintf("replacement-%d", i), "bench-group", "bench", opts...)
		o.await(b, 60*time.Second, balanced(groupBenchMembers))
		b.StartTimer()
	}
	o.check(b)
	b.ReportMetric(float64(percentile(times, 0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64((percentile(times, 0.5)-groupBenchSession).Microseconds())/1000, "after-session-ms")
}

// BenchmarkOffsetCommit: a member commits one partition's offset at a time
// with CommitOffsets (acks=all: the answer comes once the 3 replicas of its
// __consumer_offsets partition have the record), from 1 and from 16
// goroutines. ns/op is per commit.
func BenchmarkOffsetCommit(b *testing.B) {
	c, o, ms := benchGroup(b, 1)
	m := ms[0]
	_ = c
	for _, workers := range []int{1, 16} {
		b.Run(fmt.Sprintf("goroutines=%d", workers), func(b *testing.B) {
			var next atomic.Int64
			b.SetParallelism(workers)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				for pb.Next() {
					n := next.Add(1)
					tp := client.TopicPartition{Topic: "bench", Partition: int32(n % groupBenchPartitions)}
					if err := m.c.CommitOffsets(ctx, map[client.TopicPartition]int64{tp: n}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "commits/s")
		})
	}
	o.check(b)
}
