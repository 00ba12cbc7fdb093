package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/client"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/pkg/testutil"
)

// runStdin runs a binary to completion (within 60 s) with stdin.
func runStdin(t *testing.T, stdin, bin string, args ...string) cli {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := cli{stdout: out.String(), stderr: errb.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return r
}

// TestConsoleProduceConsumeRoundTrip runs the console producer and consumer
// against real controller and broker processes: `strata produce
// --print-acked` prints each record's partition (murmur2 of its key, as
// Kafka's) and offset in input order, and `strata consume
// --from-beginning --max-messages N` prints the same records.
func TestConsoleProduceConsumeRoundTrip(t *testing.T) {
	bin := build(t)
	clusterID := strings.TrimSpace(mustRun(t, bin.strata, "storage", "random-uuid"))
	set := startControllers(t, bin, clusterID, 3)
	b := newBrokerProc(t, bin, clusterID, set.grpc, 101)
	b.start(t)
	server := "--bootstrap-server=" + b.addr
	const topic, partitions, n = "console", 3, 30
	testutil.WaitFor(t, 30*time.Second, func() error {
		r := run(t, nil, bin.strata, "topics", "create", server, "--topic", topic, "--partitions", strconv.Itoa(partitions), "--replication-factor", "1")
		if r.code != 0 && !strings.Contains(r.stderr, "TOPIC_ALREADY_EXISTS") {
			return fmt.Errorf("exit %d: %s", r.code, r.stderr)
		}
		return nil
	})
	conn, err := rpc.Dial(b.addr, rpc.DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitLeading(t, stratav1.NewBrokerServiceClient(conn), topic, partitions, 0)

	var in strings.Builder
	keys := make([]string, n)
	for i := range n {
		keys[i] = fmt.Sprintf("user-%d", i%7)
		fmt.Fprintf(&in, "%s:value-%d\n", keys[i], i)
	}
	r := runStdin(t, in.String(), bin.strata, "produce", server, "--topic", topic, "--acks", "all", "--print-acked",
		"--property", "parse.key=true", "--property", "key.separator=:", "--compression-type", "zstd")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("produce: exit %d, stderr %q", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("produce printed %d lines, want %d:\n%s", len(lines), n, r.stdout)
	}
	next := make(map[int]int) // the next offset by partition
	produced := make(map[string]string)
	for i, line := range lines {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			t.Fatalf("line %d: %q is not PARTITION<TAB>OFFSET<TAB>VALUE", i, line)
		}
		p, _ := strconv.Atoi(f[0])
		off, _ := strconv.Atoi(f[1])
		if want := int(client.KeyPartition([]byte(keys[i]), partitions)); p != want {
			t.Fatalf("line %d: key %s on partition %d, murmur2 says %d", i, keys[i], p, want)
		}
		if off != next[p] || f[2] != fmt.Sprintf("value-%d", i) {
			t.Fatalf("line %d: %q; want offset %d and value-%d (input order)", i, line, next[p], i)
		}
		next[p]++
		produced[fmt.Sprintf("Partition:%d\t%s\t%s", p, keys[i], f[2])] = f[1]
	}

	r = run(t, nil, bin.strata, "consume", server, "--topic", topic, "--from-beginning", "--max-messages", strconv.Itoa(n),
		"--property", "print.partition=true", "--property", "print.key=true")
	if r.code != 0 || r.stderr != fmt.Sprintf("Processed a total of %d messages\n", n) {
		t.Fatalf("consume: exit %d, stderr %q", r.code, r.stderr)
	}
	consumed := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(consumed) != n {
		t.Fatalf("consume printed %d lines, want %d:\n%s", len(consumed), n, r.stdout)
	}
	lastOffset := make(map[string]int)
	for _, line := range consumed {
		off, ok := produced[line]
		if !ok {
			t.Fatalf("consumed %q, which was not produced", line)
		}
		delete(produced, line)
		o, _ := strconv.Atoi(off)
		part := strings.SplitN(line, "\t", 2)[0]
		if last, seen := lastOffset[part]; seen && o != last+1 {
			t.Fatalf("%s: offset %d after %d", part, o, last)
		}
		lastOffset[part] = o
	}

	// One partition from an offset; the command ends after --timeout-ms
	// without a record.
	var want []string
	for i := range n {
		if int(client.KeyPartition([]byte(keys[i]), partitions)) == 1 {
			want = append(want, fmt.Sprintf("value-%d", i))
		}
	}
	r = run(t, nil, bin.strata, "consume", server, "--topic", topic, "--partition", "1", "--offset", "2", "--timeout-ms", "1500")
	if got := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n"); r.code != 0 || !slices.Equal(got, want[2:]) ||
		r.stderr != fmt.Sprintf("Processed a total of %d messages\n", len(want)-2) {
		t.Fatalf("consume --partition 1 --offset 2: exit %d, stderr %q, stdout %q; want %q", r.code, r.stderr, got, want[2:])
	}

	// An unknown topic fails at once, in one line.
	r = runStdin(t, "x\n", bin.strata, "produce", server, "--topic", "missing")
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("produce to a missing topic: exit %d, stderr %q", r.code, r.stderr)
	}
}
