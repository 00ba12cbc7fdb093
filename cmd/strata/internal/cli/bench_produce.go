package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strata-log/strata/pkg/client"
	"github.com/strata-log/strata/pkg/recordbatch"
)

func benchProduceCommand() *command {
	return &command{
		name: "produce", summary: "the producer benchmark, as kafka-producer-perf-test", admin: true,
		synopsis: "strata bench produce --topic T --num-records N --record-size S [--throughput R] [--acks all|1|0] [--producers P] [--partitions K [--replication-factor F]] [flags]",
		help: `Send --num-records records of --record-size bytes (random upper-case
letters, no key) to a topic as fast as the producers may, or at
--throughput records per second in total, and print what
kafka-producer-perf-test prints: every --reporting-interval a progress
line

  N records sent, R records/sec (X MB/sec), A ms avg latency, M ms max latency.

and at the end a summary with the latency percentiles (an HDR histogram
with 3 significant digits):

  N records sent, R records/sec (X MB/sec), A ms avg latency, M ms max latency, P ms 50th, P ms 95th, P ms 99th, P ms 99.9th.

A record's latency runs from Send to its acknowledgement; MB is 2^20
bytes of values. --producers runs that many producers, each with its own
connections, sharing the records and the target rate. With --partitions,
the topic is created when it does not exist (and must have that many
partitions when it does). --producer-props sets the producer's Kafka
properties: acks, linger.ms, batch.size, buffer.memory, compression.type,
max.in.flight.requests.per.connection, enable.idempotence, max.request.size,
delivery.timeout.ms and max.block.ms.

With --json, the progress lines go to stderr and stdout gets one JSON
object with the run's settings and results. Records that fail are
counted apart; the exit status is then 1. Ctrl-C stops sending, waits for
what is in flight and prints the summary so far.

Needs --bootstrap-server: the producers talk to brokers.`,
		setup: func(fs *flag.FlagSet, s *session) func(context.Context) error {
			var o benchProduceOptions
			o.register(fs)
			return func(ctx context.Context) error {
				if err := o.finish(fs); err != nil {
					return s.usage("%v", err)
				}
				servers, err := s.brokers()
				if err != nil {
					return err
				}
				o.servers = servers
				return runBenchProduce(ctx, s, o, wallClock{})
			}
		},
	}
}

// benchProduceOptions are bench produce's flags, checked.
type benchProduceOptions struct {
	topic        string
	numRecords   int64
	recordSize   int
	throughput   float64
	producers    int
	partitions   int
	rf           int
	props        repeated
	reportEvery  time.Duration
	json         bool
	servers      []string
	acksFlag     string
	compFlag     string
	lingerMs     int
	batchSize    int
	reportMillis int

	// The producer's settings, from the flags and --producer-props.
	acks        client.Acks
	compression recordbatch.Compression
	linger      time.Duration
	opts        []client.Opt
}

func (o *benchProduceOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.topic, "topic", "", "`NAME` the topic to write to (required)")
	fs.Int64Var(&o.numRecords, "num-records", 0, "`N` how many records to send (required)")
	fs.IntVar(&o.recordSize, "record-size", 0, "`BYTES` the size of each record's value (required)")
	fs.Float64Var(&o.throughput, "throughput", -1, "`R` the target rate in records per second, for all producers together; -1: as fast as possible")
	fs.StringVar(&o.acksFlag, "acks", "all", "`ACKS` acknowledgements to wait for: all (-1), 1 or 0")
	fs.IntVar(&o.producers, "producers", 1, "`P` how many producers send the records")
	fs.IntVar(&o.partitions, "partitions", 0, "`K` create the topic with K partitions when it does not exist (default: the topic must exist)")
	fs.IntVar(&o.rf, "replication-factor", 0, "`F` the replication factor of a topic --partitions creates (default: the cluster's)")
	fs.StringVar(&o.compFlag, "compression-type", "none", "`CODEC` none, gzip, snappy, lz4 or zstd")
	fs.IntVar(&o.lingerMs, "linger-ms", int(client.DefaultLinger/time.Millisecond), "`MS` how long a batch waits for more records (linger.ms)")
	fs.IntVar(&o.batchSize, "batch-size", client.DefaultBatchSize, "`BYTES` the size at which a batch is sent (batch.size)")
	fs.Var(&o.props, "producer-props", "`KEY=VALUE` a producer property (see above); repeat the flag for several")
	fs.IntVar(&o.reportMillis, "reporting-interval", int(DefaultBenchReportingInterval/time.Millisecond), "`MS` the time between two progress lines")
	fs.BoolVar(&o.json, "json", false, "print the result as one JSON object (progress lines go to stderr)")
}

// benchProducerProps are the --producer-props keys, in the help's order.
var benchProducerProps = []string{"acks", "linger.ms", "batch.size", "buffer.memory", "compression.type",
	"max.in.flight.requests.per.connection", "enable.idempotence", "max.request.size", "delivery.timeout.ms", "max.block.ms"}

// finish checks the flags and turns them into the producer's settings.
func (o *benchProduceOptions) finish(fs *flag.FlagSet) error {
	switch {
	case o.topic == "":
		return errors.New("--topic is required")
	case o.numRecords <= 0:
		return errors.New("--num-records must be at least 1")
	case o.recordSize <= 0:
		return errors.New("--record-size must be at least 1")
	case o.throughput == 0 || (o.throughput < 0 && o.throughput != -1):
		return errors.New("--throughput must be positive, or -1 for no limit")
	case o.producers < 1:
		return errors.New("--producers must be at least 1")
	case given(fs, "partitions") && o.partitions < 1:
		return errors.New("--partitions must be at least 1")
	case given(fs, "replication-factor") && !given(fs, "partitions"):
		return errors.New("--replication-factor needs --partitions")
	case given(fs, "replication-factor") && (o.rf < 1 || o.rf > 32767):
		return errors.New("--replication-factor must be between 1 and 32767")
	case o.reportMillis < 1:
		return errors.New("--reporting-interval must be at least 1")
	}
	o.reportEvery = time.Duration(o.reportMillis) * time.Millisecond
	props, err := parseProperties(o.props, benchProducerProps)
	if err != nil {
		return errors.New(strings.Replace(err.Error(), "--property", "--producer-props", 1))
	}
	// A setting comes from its flag or from --producer-props, not both.
	for flagName, key := range map[string]string{"acks": "acks", "compression-type": "compression.type", "linger-ms": "linger.ms", "batch-size": "batch.size"} {
		v, ok := props[key]
		if !ok {
			continue
		}
		if given(fs, flagName) {
			return fmt.Errorf("--%s and --producer-props %s are both given", flagName, key)
		}
		if err := fs.Set(flagName, v); err != nil {
			return fmt.Errorf("--producer-props %s=%s: %w", key, v, err)
		}
		delete(props, key)
	}
	if o.acks, err = client.ParseAcks(o.acksFlag); err != nil {
		return fmt.Errorf("--acks: %w", err)
	}
	if o.compression, err = recordbatch.ParseCompression(o.compFlag); err != nil {
		return fmt.Errorf("--compression-type: %w", err)
	}
	if o.lingerMs < 0 {
		return errors.New("--linger-ms must not be negative")
	}
	if o.batchSize < 1 {
		return errors.New("--batch-size must be at least 1")
	}
	o.linger = time.Duration(o.lingerMs) * time.Millisecond
	o.opts = []client.Opt{client.RequiredAcks(o.acks), client.Compression(o.compression), client.Linger(o.linger), client.BatchSize(o.batchSize)}
	for _, key := range benchProducerProps {
		v, ok := props[key]
		if !ok {
			continue
		}
		opt, err := producerProp(key, v)
		if err != nil {
			return fmt.Errorf("--producer-props %s=%s: %w", key, v, err)
		}
		o.opts = append(o.opts, opt)
	}
	return nil
}

// producerProp is the option of a --producer-props key other than those
// with a flag of their own.
func producerProp(key, v string) (client.Opt, error) {
	if key == "enable.idempotence" {
		on, err := parseBoolProperty(key, v)
		if err != nil {
			return nil, errors.New("want true or false")
		}
		return client.Idempotent(on), nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return nil, errors.New("want a number that is not negative")
	}
	d := time.Duration(n) * time.Millisecond
	switch key {
	case "buffer.memory":
		return client.BufferMemory(n), nil
	case "max.in.flight.requests.per.connection":
		return client.MaxInFlight(n), nil
	case "max.request.size":
		return client.MaxRequestSize(n), nil
	case "delivery.timeout.ms":
		return client.DeliveryTimeout(d), nil
	case "max.block.ms":
		return client.MaxBlock(d), nil
	}
	return nil, fmt.Errorf("unknown property %s", key)
}

// produceWindow is what was acknowledged since the last progress line.
type produceWindow struct {
	start, end     time.Time
	count, bytes   int64
	latSum, latMax time.Duration
}

// produceStats gathers a run's acknowledgements; the producers' callbacks
// and the progress reporter share it.
type produceStats struct {
	mu       sync.Mutex
	hist     *latencies
	count    int64 // acknowledged records
	bytes    int64
	failed   int64
	firstErr error
	latSum   time.Duration
	latMax   time.Duration
	win      produceWindow
}

func newProduceStats(start time.Time) *produceStats {
	return &produceStats{hist: newLatencies(), win: produceWindow{start: start}}
}

// done records one record's outcome.
func (s *produceStats) done(lat time.Duration, bytes int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.failed++
		if s.firstErr == nil {
			s.firstErr = err
		}
		return
	}
	s.hist.record(lat)
	s.count++
	s.bytes += bytes
	s.latSum += lat
	s.latMax = max(s.latMax, lat)
	s.win.count++
	s.win.bytes += bytes
	s.win.latSum += lat
	s.win.latMax = max(s.win.latMax, lat)
}

// window returns the window ending now and starts the next.
func (s *produceStats) window(now time.Time) produceWindow {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.win
	w.end = now
	s.win = produceWindow{start: now}
	return w
}

// writeProduceProgress prints a progress line, as
// kafka-producer-perf-test's.
func writeProduceProgress(w io.Writer, win produceWindow) {
	d := win.end.Sub(win.start)
	avg := 0.0
	if win.count > 0 {
		avg = ms(win.latSum) / float64(win.count)
	}
	fmt.Fprintf(w, "%d records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency.\n",
		win.count, perSecond(float64(win.count), d), perSecond(float64(win.bytes)/mebibyte, d), avg, ms(win.latMax))
}

// produceResult is a bench produce run: its settings and results, as
// --json prints them.
type produceResult struct {
	Kind              string  `json:"kind"` // "produce"
	Topic             string  `json:"topic"`
	Partitions        int     `json:"partitions"`
	ReplicationFactor int     `json:"replication_factor"`
	RecordSize        int     `json:"record_size"`
	Producers         int     `json:"producers"`
	Acks              string  `json:"acks"`
	Compression       string  `json:"compression"`
	LingerMs          float64 `json:"linger_ms"`
	BatchSize         int     `json:"batch_size"`
	// TargetRate is --throughput: records per second, -1 for no limit.
	TargetRate float64 `json:"target_records_per_sec"`
	// Records were acknowledged; Failed were not.
	Records       int64          `json:"records"`
	Failed        int64          `json:"failed"`
	Bytes         int64          `json:"bytes"`
	ElapsedMs     float64        `json:"elapsed_ms"`
	RecordsPerSec float64        `json:"records_per_sec"`
	MBPerSec      float64        `json:"mb_per_sec"`
	Latency       latencySummary `json:"latency_ms"`
}

// latencySummary is the latency of a run, in milliseconds.
type latencySummary struct {
	Avg  float64 `json:"avg"`
	Max  float64 `json:"max"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
}

// result is the run's totals over elapsed.
func (s *produceStats) result(elapsed time.Duration) produceResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := produceResult{
		Kind: "produce", Records: s.count, Failed: s.failed, Bytes: s.bytes, ElapsedMs: ms(elapsed),
		RecordsPerSec: perSecond(float64(s.count), elapsed), MBPerSec: perSecond(float64(s.bytes)/mebibyte, elapsed),
	}
	if s.count > 0 {
		r.Latency.Avg = ms(s.latSum) / float64(s.count)
	}
	r.Latency.Max = ms(s.latMax)
	p := make([]float64, len(benchPercentiles))
	for i, q := range benchPercentiles {
		// A percentile is the top of its histogram bucket: not above
		// the exact maximum.
		p[i] = ms(min(s.hist.percentile(q), s.latMax))
	}
	r.Latency.P50, r.Latency.P95, r.Latency.P99, r.Latency.P999 = p[0], p[1], p[2], p[3]
	return r
}

// writeProduceSummary prints the summary line, as
// kafka-producer-perf-test's, with the percentiles to 0.01 ms.
func writeProduceSummary(w io.Writer, r produceResult) {
	l := r.Latency
	fmt.Fprintf(w, "%d records sent, %.1f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, "+
		"%.2f ms 50th, %.2f ms 95th, %.2f ms 99th, %.2f ms 99.9th.\n",
		r.Records, r.RecordsPerSec, r.MBPerSec, l.Avg, l.Max, l.P50, l.P95, l.P99, l.P999)
}

func runBenchProduce(ctx context.Context, s *session, o benchProduceOptions, clock benchClock) error {
	partitions, rf, err := benchTopic(ctx, s, o.topic, o.partitions, o.rf)
	if err != nil {
		return err
	}
	producers := make([]*client.Producer, 0, o.producers)
	defer func() {
		for _, p := range producers {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.conn.timeout)
			_ = p.Close(cctx)
			cancel()
		}
	}()
	for range o.producers {
		opts := append([]client.Opt{client.BootstrapServers(o.servers...), client.ClientID("strata-bench")}, o.opts...)
		p, err := client.NewProducer(opts...)
		if err != nil {
			return err
		}
		producers = append(producers, p)
		if _, err := waitTopic(ctx, s, func(ctx context.Context) (int, error) { return p.PartitionsFor(ctx, o.topic) }); err != nil {
			return err
		}
	}

	progress, out := s.stdout(), s.stdout()
	if o.json {
		progress = s.env.Stderr
	}
	payload := benchPayload(o.recordSize)
	start := clock.Now()
	stats := newProduceStats(start)
	thr := newThrottle(clock, o.throughput, benchMinSleep)
	stopReport := startReporter(o.reportEvery, func() { writeProduceProgress(progress, stats.window(clock.Now())) })

	// Each producer sends its share of the records; the first error of
	// Send stops them all.
	sendCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var sendErr error
	var errOnce sync.Once
	for i, p := range producers {
		share := o.numRecords / int64(len(producers))
		if int64(i) < o.numRecords%int64(len(producers)) {
			share++
		}
		wg.Go(func() {
			for range share {
				if thr.wait(sendCtx) != nil {
					break
				}
				sent := clock.Now()
				err := p.SendFunc(sendCtx, client.Record{Topic: o.topic, Value: payload}, func(_ client.Record, err error) {
					stats.done(clock.Now().Sub(sent), int64(len(payload)), err)
				})
				if err != nil {
					errOnce.Do(func() { sendErr = err; cancel() })
					break
				}
			}
			// What is in flight gets --timeout to complete, Ctrl-C or not.
			fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), s.conn.timeout)
			if err := p.Flush(fctx); err != nil {
				errOnce.Do(func() {
					sendErr = fmt.Errorf("records still unacknowledged after --timeout %v: %w", s.conn.timeout, err)
				})
			}
			fcancel()
		})
	}
	wg.Wait()
	elapsed := clock.Now().Sub(start)
	stopReport()

	r := stats.result(elapsed)
	r.Topic, r.Partitions, r.ReplicationFactor, r.RecordSize, r.Producers = o.topic, partitions, rf, o.recordSize, o.producers
	r.Acks, r.Compression, r.LingerMs, r.BatchSize, r.TargetRate = o.acks.String(), o.compression.String(), ms(o.linger), o.batchSize, o.throughput
	if o.json {
		if err := writeJSON(out, r); err != nil {
			return err
		}
	} else {
		writeProduceSummary(out, r)
	}
	interrupted := ctx.Err() != nil && errors.Is(sendErr, context.Canceled) // Ctrl-C: not an error
	switch {
	case sendErr != nil && !interrupted:
		return sendErr
	case r.Failed > 0:
		stats.mu.Lock()
		first := stats.firstErr
		stats.mu.Unlock()
		return fmt.Errorf("%d of %d records were not acknowledged; the first: %w", r.Failed, r.Failed+r.Records, first)
	}
	return nil
}

// startReporter calls report every interval until the returned function
// is called, which waits for the reporter to stop.
func startReporter(every time.Duration, report func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				report()
			case <-done:
				return
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
