package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/strata-log/strata/pkg/client"
)

// Defaults of strata bench.
const (
	// DefaultBenchReportingInterval is the pause between two progress
	// lines, as Kafka's perf-test tools (5 s).
	DefaultBenchReportingInterval = 5 * time.Second
	// DefaultBenchConsumeTimeout is how long bench consume waits without
	// a record before it gives up, as kafka-consumer-perf-test's
	// --timeout (10 s).
	DefaultBenchConsumeTimeout = 10 * time.Second
	// benchMinSleep is the shortest pause of the throttle: shorter sleeps
	// overshoot by more than they last, so a producer runs up to this far
	// ahead of its schedule instead (Kafka's throttler uses 2 ms too).
	benchMinSleep = 2 * time.Millisecond
	// benchPayloadSeed makes the payload the same in every run.
	benchPayloadSeed = 0x5354524154414245
	// mebibyte is Kafka's perf tools' MB.
	mebibyte = 1 << 20
)

func benchCommand() *command {
	return &command{
		name: "bench", summary: "producer and consumer benchmarks, as Kafka's perf-test tools",
		synopsis: "strata bench <command> [flags]",
		help: `Measure the cluster as kafka-producer-perf-test and kafka-consumer-perf-test
do: bench produce sends records as fast as it may (or at a target rate)
and prints throughput and latency percentiles; bench consume reads them
back and prints its throughput. With --json each prints one JSON object
instead, which bench report turns into a Markdown table (make bench does).`,
		subs: []*command{benchProduceCommand(), benchConsumeCommand(), benchReportCommand()},
	}
}

// benchClock is the time a benchmark runs on; tests give a fake one.
type benchClock interface {
	Now() time.Time
	// Sleep waits for d, or until ctx ends (then it returns ctx's error).
	Sleep(ctx context.Context, d time.Duration) error
}

// wallClock is the real time.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// throttle paces operations at a target rate, shared by every goroutine
// that calls wait: the k-th permit (from 0) is due at start + k/rate, so
// the rate over the whole run is the target however long each sleep
// really lasts. A caller behind schedule (a stall, a slow cluster) gets
// its permits at once until it has caught up, as with Kafka's
// ThroughputThrottler; a caller ahead of schedule sleeps, but only once it
// is minSleep ahead, so at most rate×minSleep permits go early.
type throttle struct {
	clock    benchClock
	rate     float64 // permits per second; 0 or less: no limit
	minSleep time.Duration
	start    time.Time
	issued   atomic.Int64
}

func newThrottle(clock benchClock, rate float64, minSleep time.Duration) *throttle {
	return &throttle{clock: clock, rate: rate, minSleep: minSleep, start: clock.Now()}
}

// due is when permit k is due.
func (t *throttle) due(k int64) time.Time {
	return t.start.Add(time.Duration(float64(k) / t.rate * float64(time.Second)))
}

// wait takes the next permit, sleeping until it is due when that is at
// least minSleep away. It returns ctx's error when ctx ends first.
func (t *throttle) wait(ctx context.Context) error {
	if t.rate <= 0 {
		return ctx.Err()
	}
	k := t.issued.Add(1) - 1
	if d := t.due(k).Sub(t.clock.Now()); d >= t.minSleep {
		return t.clock.Sleep(ctx, d)
	}
	return ctx.Err()
}

// latencies is an HDR histogram of latencies: microseconds from 1 µs to
// one hour, with 3 significant digits, so a percentile is within 0.1% of
// a recorded value. A latency outside that range counts as its bound.
type latencies struct {
	h *hdrhistogram.Histogram
}

const (
	latencyMin = time.Microsecond
	latencyMax = time.Hour
)

func newLatencies() *latencies {
	return &latencies{h: hdrhistogram.New(1, int64(latencyMax/latencyMin), 3)}
}

func (l *latencies) record(d time.Duration) {
	v := min(max(int64(d/latencyMin), 1), int64(latencyMax/latencyMin))
	_ = l.h.RecordValue(v) // in range: cannot fail
}

// merge adds o's values.
func (l *latencies) merge(o *latencies) { l.h.Merge(o.h) }

// count is the number of latencies recorded.
func (l *latencies) count() int64 { return l.h.TotalCount() }

// percentile is the latency that p percent (0 to 100) of the recorded
// ones are at most; 0 when none were recorded.
func (l *latencies) percentile(p float64) time.Duration {
	return time.Duration(l.h.ValueAtQuantile(p)) * latencyMin
}

// benchPercentiles are the percentiles bench produce prints.
var benchPercentiles = []float64{50, 95, 99, 99.9}

// benchPayload is a record value of size bytes: random upper-case
// letters, as kafka-producer-perf-test's, the same in every run.
func benchPayload(size int) []byte {
	r := rand.New(rand.NewPCG(benchPayloadSeed, uint64(size)))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte('A' + r.IntN(26))
	}
	return b
}

// ms is d in milliseconds, as a float.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// perSecond is n per second over d; 0 for an empty d.
func perSecond(n float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return n / d.Seconds()
}

// writeJSON prints v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode the result: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write the result: %w", err)
	}
	return nil
}

// benchTopic makes sure the topic exists (creating it with partitions and
// rf replicas when partitions > 0 and it does not) and waits until every
// partition has a leader, within the connection timeout. It returns the
// topic's partition count and replication factor.
func benchTopic(ctx context.Context, s *session, topic string, partitions, rf int) (int, int, error) {
	admin, err := s.admin()
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if partitions > 0 {
		spec := client.TopicSpec{Name: topic, Partitions: int32(partitions), ReplicationFactor: int32(rf)}
		err := firstError(admin.CreateTopics(ctx, []client.TopicSpec{spec}))
		if err != nil && !errors.Is(err, client.ErrTopicAlreadyExists) {
			return 0, 0, fmt.Errorf("create topic %s: %w", topic, err)
		}
	}
	var d client.TopicDetail
	for {
		res, err := admin.DescribeTopics(ctx, []string{topic})
		if err = firstError(res, err); err != nil {
			return 0, 0, fmt.Errorf("describe topic %s: %w", topic, err)
		}
		d = res[0]
		if !slices.ContainsFunc(d.Partitions, func(p client.PartitionDetail) bool { return p.Leader == client.NoLeader }) {
			break
		}
		if err := (wallClock{}).Sleep(ctx, devPollInterval); err != nil {
			return 0, 0, fmt.Errorf("topic %s: a partition has no leader: %w", topic, err)
		}
	}
	switch {
	case partitions > 0 && len(d.Partitions) != partitions:
		return 0, 0, fmt.Errorf("topic %s exists with %d partitions, not --partitions %d", topic, len(d.Partitions), partitions)
	case rf > 0 && d.ReplicationFactor() != rf:
		return 0, 0, fmt.Errorf("topic %s exists with replication factor %d, not --replication-factor %d", topic, d.ReplicationFactor(), rf)
	}
	return len(d.Partitions), d.ReplicationFactor(), nil
}

// waitTopic calls partitionsFor until the topic is known, within the
// connection timeout: a topic just created reaches each broker's metadata
// a moment after the controller made it.
func waitTopic(ctx context.Context, s *session, partitionsFor func(context.Context) (int, error)) (int, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	for {
		n, err := partitionsFor(ctx)
		if err == nil || !errors.Is(err, client.ErrUnknownTopicOrPartition) {
			return n, err
		}
		if (wallClock{}).Sleep(ctx, devPollInterval) != nil {
			return 0, err
		}
	}
}
