package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/strata-log/strata/pkg/client"
)

// fakeClock is a benchClock whose Sleep moves the time on at once.
type fakeClock struct {
	now    time.Time
	sleeps int
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.sleeps++
	c.now = c.now.Add(d)
	return nil
}

var benchT0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// TestThrottle checks the rate limiter on a fake clock: over a run the
// rate is the target within minSleep, it never runs more than minSleep
// ahead of its schedule, and after a stall it catches up without sleeping.
func TestThrottle(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rate  float64
		n     int
		work  time.Duration // the fake time each operation takes
		stall int           // before this permit, the time jumps 500 ms (0: never)
	}{
		{name: "1000/s", rate: 1000, n: 10000},
		{name: "1000/s with work", rate: 1000, n: 10000, work: 300 * time.Microsecond},
		{name: "1000/s with a stall", rate: 1000, n: 10000, stall: 3000},
		{name: "50000/s, shorter than minSleep", rate: 50000, n: 100000},
		{name: "7.5/s", rate: 7.5, n: 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{now: benchT0}
			thr := newThrottle(clock, tc.rate, benchMinSleep)
			period := time.Duration(float64(time.Second) / tc.rate)
			sleepsAfterStall := -1
			for k := range tc.n {
				if k == tc.stall && k > 0 {
					clock.now = clock.now.Add(500 * time.Millisecond)
					sleepsAfterStall = clock.sleeps
				}
				if err := thr.wait(t.Context()); err != nil {
					t.Fatal(err)
				}
				// Permit k goes at most minSleep before it is due.
				due := benchT0.Add(time.Duration(float64(k) * float64(period)))
				if ahead := due.Sub(clock.now); ahead > benchMinSleep {
					t.Fatalf("permit %d went %v ahead of its schedule", k, ahead)
				}
				if sleepsAfterStall >= 0 && k < tc.stall+int(500*time.Millisecond/period)-int(benchMinSleep/period)-1 && clock.sleeps != sleepsAfterStall {
					t.Fatalf("permit %d slept while catching up after the stall", k)
				}
				clock.now = clock.now.Add(tc.work)
			}
			// The whole run takes n-1 periods (the first permit goes at
			// once) plus the last operation, within minSleep.
			want := time.Duration(float64(tc.n-1)*float64(period)) + tc.work
			if got := clock.now.Sub(benchT0); got < want-benchMinSleep || got > want+time.Microsecond {
				t.Fatalf("%d permits at %v/s took %v, want %v", tc.n, tc.rate, got, want)
			}
			if maxSleeps := int(clock.now.Sub(benchT0)/benchMinSleep) + 1; clock.sleeps > maxSleeps {
				t.Fatalf("%d sleeps, more than one per minSleep (%d)", clock.sleeps, maxSleeps)
			}
		})
	}

	t.Run("unlimited", func(t *testing.T) {
		clock := &fakeClock{now: benchT0}
		thr := newThrottle(clock, -1, benchMinSleep)
		for range 1000 {
			if err := thr.wait(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if clock.sleeps != 0 || !clock.now.Equal(benchT0) {
			t.Fatalf("an unlimited throttle slept %d times", clock.sleeps)
		}
	})

	t.Run("canceled", func(t *testing.T) {
		clock := &fakeClock{now: benchT0}
		thr := newThrottle(clock, 10, benchMinSleep)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := thr.wait(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("wait after cancel: %v", err)
		}
	})
}

// TestLatencyPercentiles checks the HDR histogram's percentiles against
// known distributions, within its 3 significant digits.
func TestLatencyPercentiles(t *testing.T) {
	within := func(t *testing.T, name string, got, want time.Duration) {
		t.Helper()
		if math.Abs(float64(got-want)) > float64(want)/1000 {
			t.Errorf("%s = %v, want %v within 0.1%%", name, got, want)
		}
	}

	l := newLatencies()
	if l.percentile(99) != 0 || l.count() != 0 {
		t.Fatalf("an empty histogram: p99 %v, count %d", l.percentile(99), l.count())
	}
	// 1 ms to 10 s in steps of 1 ms.
	for i := 1; i <= 10000; i++ {
		l.record(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 5 * time.Second}, {95, 9500 * time.Millisecond}, {99, 9900 * time.Millisecond}, {99.9, 9990 * time.Millisecond}, {100, 10 * time.Second}} {
		within(t, fmt.Sprintf("uniform p%v", tc.p), l.percentile(tc.p), tc.want)
	}

	// A tail: 990 fast records and 10 slow ones.
	tail := newLatencies()
	for range 990 {
		tail.record(800 * time.Microsecond)
	}
	for range 10 {
		tail.record(1200 * time.Millisecond)
	}
	within(t, "tail p50", tail.percentile(50), 800*time.Microsecond)
	within(t, "tail p99", tail.percentile(99), 800*time.Microsecond)
	within(t, "tail p99.9", tail.percentile(99.9), 1200*time.Millisecond)

	// Out of range values count as the bounds; merge adds counts.
	edge := newLatencies()
	edge.record(0)
	edge.record(2 * time.Hour)
	within(t, "edge p0", edge.percentile(0), latencyMin)
	within(t, "edge p100", edge.percentile(100), latencyMax)
	edge.merge(tail)
	if edge.count() != 1002 {
		t.Fatalf("merged count %d, want 1002", edge.count())
	}
}

func TestBenchPayload(t *testing.T) {
	a, b := benchPayload(1000), benchPayload(1000)
	if len(a) != 1000 || !bytes.Equal(a, b) || strings.Trim(string(a), "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		t.Fatalf("payload %q is not 1000 repeatable upper-case letters", a[:40])
	}
	if bytes.Equal(a[:500], a[500:]) {
		t.Fatal("the payload repeats itself")
	}
}

// fixtureProduceResult feeds a produceStats 2000 acknowledgements and one
// failure on a fixed timeline, and returns the progress lines and the
// result.
func fixtureProduceResult() (string, produceResult) {
	var b bytes.Buffer
	stats := newProduceStats(benchT0)
	for i := range 2000 {
		stats.done(time.Duration(i%100+1)*500*time.Microsecond, 1024, nil)
		if i == 1199 {
			writeProduceProgress(&b, stats.window(benchT0.Add(5*time.Second)))
		}
	}
	stats.done(time.Second, 1024, errors.New("NOT_ENOUGH_REPLICAS"))
	writeProduceProgress(&b, stats.window(benchT0.Add(8*time.Second)))
	writeProduceProgress(&b, stats.window(benchT0.Add(9*time.Second))) // an empty window
	r := stats.result(9 * time.Second)
	r.Topic, r.Partitions, r.ReplicationFactor, r.RecordSize, r.Producers = "bench-1k", 6, 3, 1024, 2
	r.Acks, r.Compression, r.LingerMs, r.BatchSize, r.TargetRate = "all", "lz4", 5, 16384, -1
	return b.String(), r
}

func fixtureConsumeResult() consumeResult {
	r := newConsumeResult(100000, 100000*1024, benchT0, benchT0.Add(12*time.Millisecond), benchT0.Add(4120*time.Millisecond))
	r.Topic, r.Partitions, r.Consumers, r.Wanted = "bench-1k", 6, 2, 100000
	return r
}

// TestBenchFormats pins what bench produce and bench consume print, from
// results on a fixed timeline.
func TestBenchFormats(t *testing.T) {
	progress, pr := fixtureProduceResult()
	if pr.Records != 2000 || pr.Failed != 1 || pr.Bytes != 2000*1024 {
		t.Fatalf("stats counted %d records (%d failed, %d bytes)", pr.Records, pr.Failed, pr.Bytes)
	}
	var b bytes.Buffer
	b.WriteString(progress)
	writeProduceSummary(&b, pr)
	if err := writeJSON(&b, pr); err != nil {
		t.Fatal(err)
	}
	golden(t, "bench-produce", b.String())

	b.Reset()
	stats := newConsumeStats(5, benchT0)
	recs := []client.Record{{Key: []byte("k"), Value: make([]byte, 99)}, {Value: make([]byte, 100)}, {Value: make([]byte, 100)}}
	if stats.add(recs, benchT0.Add(time.Second)) {
		t.Fatal("3 of 5 records: done")
	}
	stats.window(&b, benchT0.Add(2*time.Second))
	if !stats.add(recs, benchT0.Add(3*time.Second)) || stats.count != 5 || stats.bytes != 500 {
		t.Fatalf("6 of 5 records: %d counted, %d bytes", stats.count, stats.bytes)
	}
	if idle := stats.idle(benchT0.Add(4 * time.Second)); idle != time.Second {
		t.Fatalf("idle %v, want 1s", idle)
	}
	cr := fixtureConsumeResult()
	writeConsumeResult(&b, cr, false)
	writeConsumeResult(&b, cr, true)
	if err := writeJSON(&b, cr); err != nil {
		t.Fatal(err)
	}
	golden(t, "bench-consume", b.String())
}

// TestBenchReport turns --json results back into Markdown tables, from
// stdin and from files.
func TestBenchReport(t *testing.T) {
	_, pr := fixtureProduceResult()
	latency := pr
	latency.Topic, latency.Failed, latency.TargetRate, latency.Producers, latency.Compression = "bench-latency", 0, 1000, 1, "none"
	short := fixtureConsumeResult()
	short.Records = 99000
	var in bytes.Buffer
	for _, r := range []any{pr, fixtureConsumeResult(), latency, short} {
		if err := writeJSON(&in, r); err != nil {
			t.Fatal(err)
		}
	}
	results, err := readBenchResults(bytes.NewReader(in.Bytes()), "in")
	if err != nil {
		t.Fatal(err)
	}
	if got := results[0].(*produceResult); !reflect.DeepEqual(*got, pr) {
		t.Fatalf("the produce result changed on its way through JSON:\n%+v\n%+v", *got, pr)
	}
	if got := results[1].(*consumeResult); !got.StartTime.Equal(benchT0) || got.FetchRecordsPerSec != fixtureConsumeResult().FetchRecordsPerSec {
		t.Fatalf("the consume result changed on its way through JSON: %+v", *got)
	}

	var out, errb bytes.Buffer
	code := Main(t.Context(), []string{"bench", "report"}, Env{Stdin: bytes.NewReader(in.Bytes()), Stdout: &out, Stderr: &errb})
	if code != ExitOK || errb.Len() != 0 {
		t.Fatalf("bench report: exit %d, stderr %q", code, errb.String())
	}
	golden(t, "bench-report", out.String())

	dir := t.TempDir()
	lines := strings.SplitAfter(in.String(), "\n")
	a, b := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	if err := os.WriteFile(a, []byte(lines[0]+"\n"+lines[1]), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte(lines[2]+lines[3]), 0o644); err != nil {
		t.Fatal(err)
	}
	var fromFiles bytes.Buffer
	if code := Main(t.Context(), []string{"bench", "report", "--input", a, "--input", b}, Env{Stdout: &fromFiles}); code != ExitOK {
		t.Fatalf("bench report --input: exit %d", code)
	}
	if fromFiles.String() != out.String() {
		t.Fatalf("--input a --input b printed\n%s\nnot\n%s", fromFiles.String(), out.String())
	}

	for _, tc := range []struct {
		in, want string
	}{
		{"", "strata: no results to report\n"},
		{"{}\n", `strata: stdin:1: not a bench result: kind "", want produce or consume` + "\n"},
		{`{"kind":"produce"}` + "\nnope\n", "strata: stdin:2: not a bench result: invalid character 'o' in literal null (expecting 'u')\n"},
	} {
		var errb bytes.Buffer
		code := Main(t.Context(), []string{"bench", "report"}, Env{Stdin: strings.NewReader(tc.in), Stderr: &errb})
		if code != ExitFailed || errb.String() != tc.want {
			t.Errorf("report of %q: exit %d, stderr %q, want %q", tc.in, code, errb.String(), tc.want)
		}
	}
}

func TestBenchUsageErrors(t *testing.T) {
	p := []string{"bench", "produce", bsServer, "--topic=t", "--num-records=10", "--record-size=100"}
	c := []string{"bench", "consume", bsServer, "--topic=t", "--num-records=10"}
	with := func(base []string, extra ...string) []string { return append(append([]string(nil), base...), extra...) }
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench"}, "strata: bench: missing command: one of produce, consume, report (see 'strata bench --help')"},
		{[]string{"bench", "produce", bsServer}, "strata: bench produce: --topic is required (see 'strata bench produce --help')"},
		{[]string{"bench", "produce", bsServer, "--topic=t", "--record-size=1"}, "strata: bench produce: --num-records must be at least 1 (see 'strata bench produce --help')"},
		{[]string{"bench", "produce", bsServer, "--topic=t", "--num-records=1"}, "strata: bench produce: --record-size must be at least 1 (see 'strata bench produce --help')"},
		{with(p, "--throughput=0"), "strata: bench produce: --throughput must be positive, or -1 for no limit (see 'strata bench produce --help')"},
		{with(p, "--throughput=-2"), "strata: bench produce: --throughput must be positive, or -1 for no limit (see 'strata bench produce --help')"},
		{with(p, "--acks=2"), `strata: bench produce: --acks: acks "2": want all, -1, 1 or 0 (see 'strata bench produce --help')`},
		{with(p, "--producers=0"), "strata: bench produce: --producers must be at least 1 (see 'strata bench produce --help')"},
		{with(p, "--partitions=0"), "strata: bench produce: --partitions must be at least 1 (see 'strata bench produce --help')"},
		{with(p, "--replication-factor=3"), "strata: bench produce: --replication-factor needs --partitions (see 'strata bench produce --help')"},
		{with(p, "--partitions=3", "--replication-factor=0"), "strata: bench produce: --replication-factor must be between 1 and 32767 (see 'strata bench produce --help')"},
		{with(p, "--compression-type=brotli"),
			`strata: bench produce: --compression-type: unknown compression "brotli" (want none, gzip, snappy, lz4 or zstd) (see 'strata bench produce --help')`},
		{with(p, "--linger-ms=-1"), "strata: bench produce: --linger-ms must not be negative (see 'strata bench produce --help')"},
		{with(p, "--batch-size=0"), "strata: bench produce: --batch-size must be at least 1 (see 'strata bench produce --help')"},
		{with(p, "--reporting-interval=0"), "strata: bench produce: --reporting-interval must be at least 1 (see 'strata bench produce --help')"},
		{with(p, "--producer-props=acks"), `strata: bench produce: --producer-props "acks" is not KEY=VALUE (see 'strata bench produce --help')`},
		{with(p, "--producer-props=retries=3"),
			"strata: bench produce: --producer-props retries is unknown: one of " + strings.Join(benchProducerProps, ", ") + " (see 'strata bench produce --help')"},
		{with(p, "--acks=1", "--producer-props=acks=all"), "strata: bench produce: --acks and --producer-props acks are both given (see 'strata bench produce --help')"},
		{with(p, "--producer-props=acks=2"), `strata: bench produce: --acks: acks "2": want all, -1, 1 or 0 (see 'strata bench produce --help')`},
		{with(p, "--producer-props=linger.ms=soon"),
			`strata: bench produce: --producer-props linger.ms=soon: parse error (see 'strata bench produce --help')`},
		{with(p, "--producer-props=buffer.memory=-1"),
			"strata: bench produce: --producer-props buffer.memory=-1: want a number that is not negative (see 'strata bench produce --help')"},
		{with(p, "--producer-props=enable.idempotence=maybe"),
			"strata: bench produce: --producer-props enable.idempotence=maybe: want true or false (see 'strata bench produce --help')"},
		{[]string{"bench", "produce", "--topic=t", "--num-records=1", "--record-size=1", "--bootstrap-controller=127.0.0.1:9093"},
			"strata: bench produce: needs --bootstrap-server: it talks to brokers; --bootstrap-controller is for admin commands (see 'strata bench produce --help')"},
		{[]string{"bench", "consume", bsServer}, "strata: bench consume: --topic is required (see 'strata bench consume --help')"},
		{[]string{"bench", "consume", bsServer, "--topic=t"}, "strata: bench consume: --num-records must be at least 1 (see 'strata bench consume --help')"},
		{with(c, "--consumers=0"), "strata: bench consume: --consumers must be at least 1 (see 'strata bench consume --help')"},
		{with(c, "--fetch-size=0"), "strata: bench consume: --fetch-size must be at least 1 (see 'strata bench consume --help')"},
		{with(c, "--timeout-ms=0"), "strata: bench consume: --timeout-ms must be at least 1 (see 'strata bench consume --help')"},
		{with(c, "--reporting-interval=0"), "strata: bench consume: --reporting-interval must be at least 1 (see 'strata bench consume --help')"},
		{[]string{"bench", "consume", "--topic=t", "--num-records=1"},
			"strata: bench consume: no cluster to talk to: set --bootstrap-server or --bootstrap-controller (or $STRATA_BOOTSTRAP_SERVER) (see 'strata bench consume --help')"},
		{[]string{"bench", "report", "--input"}, "strata: bench report: flag needs an argument: -input (see 'strata bench report --help')"},
		{[]string{"bench", "report"}, "strata: bench report: no results: give --input or results on stdin (see 'strata bench report --help')"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := run(t, nil, nil, tc.args...)
			if r.code != ExitUsage || r.stderr != tc.want+"\n" || r.stdout != "" {
				t.Fatalf("exit %d\nstderr %q\nwant   %q\nstdout %q", r.code, r.stderr, tc.want+"\n", r.stdout)
			}
		})
	}
}

// TestBenchProducerProps checks that --producer-props sets what the flags
// set, and the producer takes the options.
func TestBenchProducerProps(t *testing.T) {
	var o benchProduceOptions
	fs := newTestFlagSet(&o)
	if err := fs.Parse([]string{"--topic=t", "--num-records=1", "--record-size=1", "--producer-props=acks=1", "--producer-props=linger.ms=20",
		"--producer-props=compression.type=zstd", "--producer-props=batch.size=65536", "--producer-props=buffer.memory=67108864",
		"--producer-props=enable.idempotence=false", "--producer-props=max.in.flight.requests.per.connection=2"}); err != nil {
		t.Fatal(err)
	}
	if err := o.finish(fs); err != nil {
		t.Fatal(err)
	}
	if o.acks != client.AcksLeader || o.linger != 20*time.Millisecond || o.compression.String() != "zstd" || o.batchSize != 65536 || len(o.opts) != 7 {
		t.Fatalf("acks %v, linger %v, compression %v, batch size %d, %d options", o.acks, o.linger, o.compression, o.batchSize, len(o.opts))
	}
	p, err := client.NewProducer(append([]client.Opt{client.BootstrapServers("127.0.0.1:1")}, o.opts...)...)
	if err != nil {
		t.Fatalf("the producer refuses the options: %v", err)
	}
	if err := p.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func newTestFlagSet(o *benchProduceOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("bench produce", flag.ContinueOnError)
	o.register(fs)
	return fs
}
