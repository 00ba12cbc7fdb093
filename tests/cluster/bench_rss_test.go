package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/pkg/testutil"
)

// BenchmarkBrokerRSS measures the memory of a real strata-broker process
// (built from this workspace, as tests/e2e does) under produce load: it
// runs the binary against an in-process controller, sends 1 KiB records in
// 64 KiB batches to 4 partitions over one ProduceStream with 16 requests in
// flight for the benchmark's duration, and reports, from /proc/PID/status,
// the resident set before the load (idle-MiB), the largest one sampled
// every 50 ms during it (VmRSS, rss-MiB), the largest anonymous part of it
// (RssAnon, anon-MiB: the Go heap, stacks and badger's memtables), and the
// peak the kernel recorded (VmHWM, hwm-MiB), and the CPU time of the broker
// process per GB produced (cpu-s/GB). The rest of the resident set
// is file pages: badger writes its value log through memory maps, so the
// pages of recently written value log files count as resident until the
// kernel writes them back and reclaims them. MB/s is the throughput with
// the client in another process, as in production.
//
//	go test -run '^$' -bench BrokerRSS -count=5 ./cluster
func BenchmarkBrokerRSS(b *testing.B) {
	bin := buildBrokerBinary(b)
	c := Start(b, Options{Controllers: 1})
	const id = 201
	dir := filepath.Join(b.TempDir(), "broker")
	if out, err := exec.Command(bin, "format", "--data-dir", dir, "--cluster-id", c.ClusterID, "--node-id", strconv.Itoa(id)).CombinedOutput(); err != nil {
		b.Fatalf("format: %v\n%s", err, out)
	}
	addr := testutil.FreeAddr(b)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "run", "--node-id", strconv.Itoa(id), "--data-dir", dir, "--listen", addr,
		"--controllers", c.Bootstrap(), "--log-level", "warn", "--log-format", "text")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				b.Errorf("strata-broker exited with %v after SIGTERM\n%s", err, logs.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			b.Errorf("strata-broker did not stop within 30s of SIGTERM")
		}
	})
	conn, err := rpc.Dial(addr, rpc.DialConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	cl := stratav1.NewBrokerServiceClient(conn)

	const topic = "rss"
	c.WaitBroker(id, func(br *metadata.Broker) error {
		if br.Fenced {
			return fmt.Errorf("broker %d is fenced", id)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.Admin(c.WaitActive(10*time.Second).ID).CreateTopics(ctx, &stratav1.CreateTopicsRequest{Topics: []*stratav1.CreatableTopic{
		{Name: topic, NumPartitions: benchPartitions, ReplicationFactor: 1},
	}})
	if err != nil {
		b.Fatal(err)
	}
	if r := resp.GetTopics()[0]; r.GetErrorCode() != errNone {
		b.Fatalf("create %s: %v %s", topic, r.GetErrorCode(), r.GetErrorMessage())
	}
	testutil.WaitFor(b, 30*time.Second, func() error {
		md, err := cl.Metadata(ctx, &stratav1.MetadataRequest{Topics: []string{topic}})
		if err != nil {
			return err
		}
		ps := md.GetTopics()[0].GetPartitions()
		if len(ps) != benchPartitions {
			return fmt.Errorf("%d partitions", len(ps))
		}
		for _, p := range ps {
			if p.GetLeader() != id {
				return fmt.Errorf("partition %d led by %d", p.GetPartitionId(), p.GetLeader())
			}
		}
		return nil
	})

	pid := cmd.Process.Pid
	idle, err := procStatusMiB(pid, "VmRSS")
	if err != nil {
		b.Fatal(err)
	}
	var peak, peakAnon float64
	var sampleErr error
	sample := func() {
		rss, err := procStatusMiB(pid, "VmRSS")
		anon, err2 := procStatusMiB(pid, "RssAnon")
		if err := errors.Join(err, err2); err != nil {
			sampleErr = err
			return
		}
		peak, peakAnon = max(peak, rss), max(peakAnon, anon)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for sampleErr == nil {
			select {
			case <-stop:
				return
			case <-tick.C:
				sample()
			}
		}
	})
	batches, perBatch := shapeBatches(b, produceShape{record: 1024, batch: 64 << 10}, benchPartitions)
	cpu0, err := procCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	mbps := benchStreamProduce(b, cl, topic, batches, perBatch, 16)
	written := mbps * 1e6 * time.Since(start).Seconds()
	cpu1, err := procCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	// The broker's CPU, not the benchmark's (its client's) as reported by
	// benchStreamProduce.
	b.ReportMetric((cpu1-cpu0).Seconds()/(written/1e9), "cpu-s/GB")
	close(stop)
	wg.Wait()
	sample()
	hwm, err := procStatusMiB(pid, "VmHWM")
	if err := errors.Join(sampleErr, err); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(idle, "idle-MiB")
	b.ReportMetric(peak, "rss-MiB")
	b.ReportMetric(peakAnon, "anon-MiB")
	b.ReportMetric(hwm, "hwm-MiB")
}

// buildBrokerBinary builds strata-broker from this workspace into a
// temporary directory.
func buildBrokerBinary(b *testing.B) string {
	goTool, err := exec.LookPath("go")
	if err != nil {
		b.Fatalf("the go tool must be on PATH to build strata-broker: %v", err)
	}
	out := filepath.Join(b.TempDir(), "strata-broker")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if msg, err := exec.CommandContext(ctx, goTool, "build", "-o", out, "../../services/broker").CombinedOutput(); err != nil {
		b.Fatalf("go build strata-broker: %v\n%s", err, msg)
	}
	return out
}

// procStatusMiB reads a field of /proc/PID/status given in kB (VmRSS,
// VmHWM) and returns it in MiB.
func procStatusMiB(pid int, field string) (float64, error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(data)) {
		name, value, ok := strings.Cut(line, ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %s: %w", path, field, err)
		}
		return kb / 1024, nil
	}
	return 0, fmt.Errorf("%s has no %s", path, field)
}

// procCPU reads the CPU time (user and system) a process used so far from
// /proc/PID/stat, in clock ticks of 10 ms (USER_HZ is 100 on Linux).
func procCPU(pid int) (time.Duration, error) {
	path := fmt.Sprintf("/proc/%d/stat", pid)
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted after its closing parenthesis.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: no command name", path)
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("%s: %d fields", path, len(fields))
	}
	var ticks int64
	for _, f := range fields[11:13] { // utime and stime, fields 14 and 15
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}
