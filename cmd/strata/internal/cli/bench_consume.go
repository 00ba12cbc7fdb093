package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/strata-log/strata/pkg/client"
)

func benchConsumeCommand() *command {
	return &command{
		name: "consume", summary: "the consumer benchmark, as kafka-consumer-perf-test", admin: true,
		synopsis: "strata bench consume --topic T --num-records N [--from-latest] [--consumers C] [--fetch-size BYTES] [--timeout-ms MS] [flags]",
		help: `Read --num-records records of a topic, from the beginning (or, with
--from-latest, from the end), and print what kafka-consumer-perf-test
prints, on stdout:

  start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
  2024-05-01 10:00:00:000, 2024-05-01 10:00:04:120, 95.3674, 23.1474, 100000, 24271.8447, 12, 4108, 23.2150, 24342.7459

end.time is when the last record came; MB is 2^20 bytes of keys and
values. There is no consumer group: bench consume looks the topic up
and assigns its partitions to the --consumers consumers itself, round
robin, and rebalance.time.ms is the time that took; fetch.time.ms is
the rest. A progress line goes to stderr every --reporting-interval:

  N records consumed, R records/sec (X MB/sec).

It gives up when no record came for --timeout-ms, and then prints what
it read and exits 1. With --json, stdout gets one JSON object instead of
the two lines.

Needs --bootstrap-server: the consumers talk to brokers.`,
		setup: func(fs *flag.FlagSet, s *session) func(context.Context) error {
			var o benchConsumeOptions
			o.register(fs)
			return func(ctx context.Context) error {
				if err := o.check(); err != nil {
					return s.usage("%v", err)
				}
				servers, err := s.brokers()
				if err != nil {
					return err
				}
				o.servers = servers
				return runBenchConsume(ctx, s, o, wallClock{})
			}
		},
	}
}

// benchConsumeOptions are bench consume's flags.
type benchConsumeOptions struct {
	topic        string
	numRecords   int64
	fromLatest   bool
	consumers    int
	fetchSize    int
	timeoutMs    int
	reportMillis int
	hideHeader   bool
	json         bool
	servers      []string
}

func (o *benchConsumeOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.topic, "topic", "", "`NAME` the topic to read (required)")
	fs.Int64Var(&o.numRecords, "num-records", 0, "`N` how many records to read (required)")
	fs.BoolVar(&o.fromLatest, "from-latest", false, "start at the end of each partition instead of the beginning")
	fs.IntVar(&o.consumers, "consumers", 1, "`C` how many consumers share the partitions")
	fs.IntVar(&o.fetchSize, "fetch-size", client.DefaultMaxPartitionFetchBytes, "`BYTES` the most data a fetch returns for one partition (max.partition.fetch.bytes)")
	fs.IntVar(&o.timeoutMs, "timeout-ms", int(DefaultBenchConsumeTimeout/time.Millisecond), "`MS` give up after MS milliseconds without a record")
	fs.IntVar(&o.reportMillis, "reporting-interval", int(DefaultBenchReportingInterval/time.Millisecond), "`MS` the time between two progress lines")
	fs.BoolVar(&o.hideHeader, "hide-header", false, "leave out the header line")
	fs.BoolVar(&o.json, "json", false, "print the result as one JSON object")
}

func (o *benchConsumeOptions) check() error {
	switch {
	case o.topic == "":
		return errors.New("--topic is required")
	case o.numRecords <= 0:
		return errors.New("--num-records must be at least 1")
	case o.consumers < 1:
		return errors.New("--consumers must be at least 1")
	case o.fetchSize < 1:
		return errors.New("--fetch-size must be at least 1")
	case o.timeoutMs < 1:
		return errors.New("--timeout-ms must be at least 1")
	case o.reportMillis < 1:
		return errors.New("--reporting-interval must be at least 1")
	}
	return nil
}

// consumeStats counts the records the consumers read, up to the target.
type consumeStats struct {
	mu           sync.Mutex
	target       int64
	count, bytes int64
	last         time.Time // when the last record came (the start before)
	win          struct {
		start        time.Time
		count, bytes int64
	}
}

func newConsumeStats(target int64, start time.Time) *consumeStats {
	s := &consumeStats{target: target, last: start}
	s.win.start = start
	return s
}

// add counts recs, up to the target, as read at now; it reports whether
// the target is reached.
func (s *consumeStats) add(recs []client.Record, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		if s.count >= s.target {
			break
		}
		n := int64(len(r.Key) + len(r.Value))
		s.count++
		s.bytes += n
		s.win.count++
		s.win.bytes += n
		s.last = now
	}
	return s.count >= s.target
}

// idle is how long no record came, at now.
func (s *consumeStats) idle(now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return now.Sub(s.last)
}

// window prints the progress line of the window ending now and starts
// the next.
func (s *consumeStats) window(w io.Writer, now time.Time) {
	s.mu.Lock()
	win := s.win
	s.win.start, s.win.count, s.win.bytes = now, 0, 0
	s.mu.Unlock()
	d := now.Sub(win.start)
	fmt.Fprintf(w, "%d records consumed, %.1f records/sec (%.2f MB/sec).\n",
		win.count, perSecond(float64(win.count), d), perSecond(float64(win.bytes)/mebibyte, d))
}

// consumeResult is a bench consume run, as --json prints it.
type consumeResult struct {
	Kind       string `json:"kind"` // "consume"
	Topic      string `json:"topic"`
	Partitions int    `json:"partitions"`
	Consumers  int    `json:"consumers"`
	// Wanted is --num-records; Records were read.
	Wanted             int64     `json:"wanted"`
	Records            int64     `json:"records"`
	Bytes              int64     `json:"bytes"`
	StartTime          time.Time `json:"start_time"`
	EndTime            time.Time `json:"end_time"`
	ElapsedMs          float64   `json:"elapsed_ms"`
	MB                 float64   `json:"mb"`
	MBPerSec           float64   `json:"mb_per_sec"`
	RecordsPerSec      float64   `json:"records_per_sec"`
	RebalanceTimeMs    float64   `json:"rebalance_time_ms"`
	FetchTimeMs        float64   `json:"fetch_time_ms"`
	FetchMBPerSec      float64   `json:"fetch_mb_per_sec"`
	FetchRecordsPerSec float64   `json:"fetch_records_per_sec"`
}

// newConsumeResult is the result of reading records and bytes from start
// to end, the partitions assigned at assigned.
func newConsumeResult(records, bytes int64, start, assigned, end time.Time) consumeResult {
	elapsed, fetch := end.Sub(start), end.Sub(assigned)
	mb := float64(bytes) / mebibyte
	return consumeResult{
		Kind: "consume", Records: records, Bytes: bytes, StartTime: start, EndTime: end, ElapsedMs: ms(elapsed),
		MB: mb, MBPerSec: perSecond(mb, elapsed), RecordsPerSec: perSecond(float64(records), elapsed),
		RebalanceTimeMs: ms(assigned.Sub(start)), FetchTimeMs: ms(fetch),
		FetchMBPerSec: perSecond(mb, fetch), FetchRecordsPerSec: perSecond(float64(records), fetch),
	}
}

// kafkaTime formats t as kafka-consumer-perf-test's default
// --date-format, yyyy-MM-dd HH:mm:ss:SSS (Go's layouts have no ':' before
// fractional seconds).
func kafkaTime(t time.Time) string {
	return t.Format("2006-01-02 15:04:05") + fmt.Sprintf(":%03d", t.Nanosecond()/int(time.Millisecond))
}

// writeConsumeResult prints kafka-consumer-perf-test's header (unless
// hidden) and row.
func writeConsumeResult(w io.Writer, r consumeResult, hideHeader bool) {
	if !hideHeader {
		fmt.Fprintln(w, "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec")
	}
	fmt.Fprintf(w, "%s, %s, %.4f, %.4f, %d, %.4f, %d, %d, %.4f, %.4f\n",
		kafkaTime(r.StartTime), kafkaTime(r.EndTime), r.MB, r.MBPerSec, r.Records, r.RecordsPerSec,
		int64(r.RebalanceTimeMs), int64(r.FetchTimeMs), r.FetchMBPerSec, r.FetchRecordsPerSec)
}

// The causes that end a bench consume run.
var (
	errBenchDone     = errors.New("every record read")
	errBenchTimedOut = errors.New("timed out")
)

func runBenchConsume(ctx context.Context, s *session, o benchConsumeOptions, clock benchClock) error {
	// The admin client answers at once for a topic that does not exist.
	if _, _, err := benchTopic(ctx, s, o.topic, 0, 0); err != nil {
		return err
	}
	start := clock.Now()
	reset := client.OffsetResetEarliest
	if o.fromLatest {
		reset = client.OffsetResetLatest
	}
	consumers := make([]*client.Consumer, 0, o.consumers)
	defer func() {
		for _, c := range consumers {
			_ = c.Close()
		}
	}()
	for range o.consumers {
		c, err := client.NewConsumer(client.BootstrapServers(o.servers...), client.ClientID("strata-bench"),
			client.AutoOffsetReset(reset), client.MaxPartitionFetchBytes(o.fetchSize))
		if err != nil {
			return err
		}
		consumers = append(consumers, c)
	}
	partitions, err := waitTopic(ctx, s, func(ctx context.Context) (int, error) { return consumers[0].PartitionsFor(ctx, o.topic) })
	if err != nil {
		return err
	}
	if o.consumers > partitions {
		return fmt.Errorf("--consumers %d is more than the %d partitions of topic %s", o.consumers, partitions, o.topic)
	}
	assignment := make([][]client.TopicPartition, o.consumers)
	for p := range partitions {
		assignment[p%o.consumers] = append(assignment[p%o.consumers], client.TopicPartition{Topic: o.topic, Partition: int32(p)})
	}
	for i, c := range consumers {
		if err := c.Assign(assignment[i]...); err != nil {
			return err
		}
	}
	assigned := clock.Now()

	stats := newConsumeStats(o.numRecords, assigned)
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var wg sync.WaitGroup
	for _, c := range consumers {
		wg.Go(func() {
			for runCtx.Err() == nil {
				recs, err := c.Poll(runCtx)
				if len(recs) > 0 && stats.add(recs, clock.Now()) {
					stop(errBenchDone)
				}
				if err != nil && runCtx.Err() == nil {
					stop(err)
				}
			}
		})
	}
	// Report progress, and give up after the timeout without a record.
	timeout := time.Duration(o.timeoutMs) * time.Millisecond
	report := time.NewTicker(time.Duration(o.reportMillis) * time.Millisecond)
	check := time.NewTicker(min(timeout/4, 100*time.Millisecond) + time.Millisecond)
	for runCtx.Err() == nil {
		select {
		case <-runCtx.Done():
		case <-report.C:
			stats.window(s.env.Stderr, clock.Now())
		case <-check.C:
			if stats.idle(clock.Now()) >= timeout {
				stop(errBenchTimedOut)
			}
		}
	}
	report.Stop()
	check.Stop()
	wg.Wait()

	stats.mu.Lock()
	count, bytes, end := stats.count, stats.bytes, stats.last
	stats.mu.Unlock()
	if count == 0 {
		end = clock.Now()
	}
	r := newConsumeResult(count, bytes, start, assigned, end)
	r.Topic, r.Partitions, r.Consumers, r.Wanted = o.topic, partitions, o.consumers, o.numRecords
	if o.json {
		if err := writeJSON(s.stdout(), r); err != nil {
			return err
		}
	} else {
		writeConsumeResult(s.stdout(), r, o.hideHeader)
	}
	switch cause := context.Cause(runCtx); {
	case errors.Is(cause, errBenchDone), ctx.Err() != nil:
		return nil // done, or Ctrl-C
	case errors.Is(cause, errBenchTimedOut):
		return fmt.Errorf("read %d of %d records: none came for %d ms (--timeout-ms)", count, o.numRecords, o.timeoutMs)
	default:
		return cause
	}
}
