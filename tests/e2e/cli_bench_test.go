package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-log/strata/pkg/testutil"
)

var (
	benchProgressLine = regexp.MustCompile(`^\d+ records sent, [0-9.]+ records/sec \([0-9.]+ MB/sec\), [0-9.]+ ms avg latency, [0-9.]+ ms max latency\.$`)
	benchSummaryLine  = regexp.MustCompile(`^(\d+) records sent, ([0-9.]+) records/sec \(([0-9.]+) MB/sec\), ([0-9.]+) ms avg latency, ([0-9.]+) ms max latency, ` +
		`([0-9.]+) ms 50th, ([0-9.]+) ms 95th, ([0-9.]+) ms 99th, ([0-9.]+) ms 99.9th\.$`)
	benchConsumeHeader = "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
	benchConsumeTime   = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}$`)
)

// benchProduceJSON is the part of bench produce --json this test reads.
type benchProduceJSON struct {
	Kind          string  `json:"kind"`
	Records       int64   `json:"records"`
	Failed        int64   `json:"failed"`
	Partitions    int     `json:"partitions"`
	ElapsedMs     float64 `json:"elapsed_ms"`
	RecordsPerSec float64 `json:"records_per_sec"`
	Latency       struct {
		P50  float64 `json:"p50"`
		P999 float64 `json:"p99_9"`
		Max  float64 `json:"max"`
	} `json:"latency_ms"`
}

// TestBenchProduceConsume runs strata bench produce, then strata bench
// consume, against real controller and broker processes, and reads their
// output as a script would: the counts are right, the summary parses,
// the percentiles are in order, a target rate holds, and bench consume
// reads back every byte and gives up (exit 1) when asked for more than
// there is.
func TestBenchProduceConsume(t *testing.T) {
	bin := build(t)
	clusterID := strings.TrimSpace(mustRun(t, bin.strata, "storage", "random-uuid"))
	set := startControllers(t, bin, clusterID, 1)
	b := newBrokerProc(t, bin, clusterID, set.grpc, 101)
	b.start(t)
	server := "--bootstrap-server=" + b.addr
	const topic = "bench"
	testutil.WaitFor(t, 30*time.Second, func() error {
		r := run(t, nil, bin.strata, "topics", "create", server, "--topic", topic, "--partitions", "3", "--replication-factor", "1")
		if r.code != 0 && !strings.Contains(r.stderr, "TOPIC_ALREADY_EXISTS") {
			return fmt.Errorf("exit %d: %s", r.code, r.stderr)
		}
		return nil
	})

	// As fast as possible, two producers; the topic exists with the
	// partitions asked for.
	r := run(t, nil, bin.strata, "bench", "produce", server, "--topic", topic, "--num-records", "3000", "--record-size", "200",
		"--partitions", "3", "--replication-factor", "1", "--acks", "1", "--producers", "2", "--reporting-interval", "20")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("bench produce: exit %d, stderr %q", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	for _, l := range lines[:len(lines)-1] {
		if !benchProgressLine.MatchString(l) {
			t.Fatalf("not a progress line: %q", l)
		}
	}
	m := benchSummaryLine.FindStringSubmatch(lines[len(lines)-1])
	if m == nil {
		t.Fatalf("not a summary line: %q", lines[len(lines)-1])
	}
	var f []float64
	for _, s := range m[1:] {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		f = append(f, v)
	}
	count, rate, mbs, maxLat, pcts := f[0], f[1], f[2], f[4], f[5:]
	if count != 3000 || rate <= 0 || math.Abs(mbs-rate*200/(1<<20)) > 0.01+mbs/100 {
		t.Fatalf("summary %q: want 3000 records, a rate and its MB/sec", m[0])
	}
	for i := 1; i < len(pcts); i++ {
		if pcts[i] < pcts[i-1] || pcts[i] > maxLat {
			t.Fatalf("summary %q: percentiles out of order or above the max", m[0])
		}
	}

	// At a target rate, with --json: 200 records at 400/s take at least
	// 199 periods (the first goes at once), less the throttle's 2 ms of
	// slack.
	r = run(t, nil, bin.strata, "bench", "produce", server, "--topic", topic, "--num-records", "200", "--record-size", "100",
		"--throughput", "400", "--json")
	if r.code != 0 {
		t.Fatalf("bench produce --throughput: exit %d, stderr %q", r.code, r.stderr)
	}
	var pj benchProduceJSON
	if err := json.Unmarshal([]byte(r.stdout), &pj); err != nil {
		t.Fatalf("bench produce --json printed %q: %v", r.stdout, err)
	}
	if pj.Kind != "produce" || pj.Records != 200 || pj.Failed != 0 || pj.Partitions != 3 || pj.ElapsedMs < 199*1000/400-2 || pj.RecordsPerSec > 410 ||
		pj.Latency.P50 > pj.Latency.P999 || pj.Latency.P999 > pj.Latency.Max {
		t.Fatalf("bench produce --throughput 400 --json: %+v", pj)
	}

	// A topic with other partitions than asked for.
	r = run(t, nil, bin.strata, "bench", "produce", server, "--topic", topic, "--num-records", "1", "--record-size", "1", "--partitions", "4")
	if r.code != 1 || r.stderr != "strata: topic bench exists with 3 partitions, not --partitions 4\n" {
		t.Fatalf("bench produce --partitions 4: exit %d, stderr %q", r.code, r.stderr)
	}

	// A topic that does not exist fails at once, in one line.
	for _, args := range [][]string{
		{"bench", "produce", server, "--topic", "missing", "--num-records", "1", "--record-size", "1"},
		{"bench", "consume", server, "--topic", "missing", "--num-records", "1"},
	} {
		r = run(t, nil, bin.strata, args...)
		if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "UNKNOWN_TOPIC_OR_PARTITION") {
			t.Fatalf("%s to a missing topic: exit %d, stderr %q", args[1], r.code, r.stderr)
		}
	}

	// Read it all back: 3200 records, 3000×200 + 200×100 bytes.
	const total, bytes = 3200, 3000*200 + 200*100
	r = run(t, nil, bin.strata, "bench", "consume", server, "--topic", topic, "--num-records", strconv.Itoa(total), "--consumers", "2")
	if r.code != 0 {
		t.Fatalf("bench consume: exit %d, stderr %q", r.code, r.stderr)
	}
	lines = strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 2 || lines[0] != benchConsumeHeader {
		t.Fatalf("bench consume printed %q", r.stdout)
	}
	fields := strings.Split(lines[1], ", ")
	if len(fields) != 10 || !benchConsumeTime.MatchString(fields[0]) || !benchConsumeTime.MatchString(fields[1]) ||
		fields[2] != fmt.Sprintf("%.4f", float64(bytes)/(1<<20)) || fields[4] != strconv.Itoa(total) {
		t.Fatalf("bench consume row %q: want %d records, %.4f MB", lines[1], total, float64(bytes)/(1<<20))
	}
	for _, s := range fields[2:] {
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			t.Fatalf("bench consume row %q: %q is not a number", lines[1], s)
		}
	}

	// Asking for more than there is: it reads what there is, prints it,
	// then fails after --timeout-ms without a record.
	r = run(t, nil, bin.strata, "bench", "consume", server, "--topic", topic, "--num-records", "5000", "--timeout-ms", "500", "--json")
	var cj struct {
		Records int64 `json:"records"`
		Bytes   int64 `json:"bytes"`
		Wanted  int64 `json:"wanted"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &cj); err != nil {
		t.Fatalf("bench consume --json printed %q: %v", r.stdout, err)
	}
	if r.code != 1 || cj.Records != total || cj.Bytes != bytes || cj.Wanted != 5000 ||
		!strings.HasSuffix(r.stderr, "strata: read 3200 of 5000 records: none came for 500 ms (--timeout-ms)\n") {
		t.Fatalf("bench consume of 5000: exit %d, %+v, stderr %q", r.code, cj, r.stderr)
	}
}
