package e2e

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-log/strata/pkg/testutil"
)

// TestDevCluster runs `strata dev` as a user would: it waits for the ready
// line, drives the cluster with the command line through the printed
// bootstrap servers (the brokers) and controllers, stops it with SIGTERM
// (exit 0, no daemon left), runs it again on the same data (same cluster,
// same topic), and kills a controller under it (exit 1, naming the
// controller).
func TestDevCluster(t *testing.T) {
	bin := build(t)
	const n = 3
	base := freeDevBasePort(t, n, n)
	dir := filepath.Join(t.TempDir(), "dev")
	var ports []int
	for i := 1; i <= n; i++ {
		ports = append(ports, base+i, base+100+i, base+10+i)
	}

	// The first run formats a new cluster.
	dev := startDev(t, bin, dir, base)
	first := waitDevReady(t, dev)
	if !strings.Contains(first.out, fmt.Sprintf("Making a new dev cluster in %s: cluster id %s\n", dir, first.clusterID)) {
		t.Fatalf("first run:\n%s", first.out)
	}
	if want := fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", base+11, base+12, base+13); first.servers != want {
		t.Fatalf("bootstrap servers %q, want %q", first.servers, want)
	}
	if want := fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", base+1, base+2, base+3); first.controllers != want {
		t.Fatalf("bootstrap controllers %q, want %q", first.controllers, want)
	}
	if len(first.pids) != 2*n {
		t.Fatalf("pids %v", first.pids)
	}

	// Through the brokers: the cluster, with every broker unfenced.
	describe := mustRun(t, bin.strata, "--bootstrap-server", first.servers, "cluster", "describe")
	if !strings.HasPrefix(describe, "ClusterId:\t"+first.clusterID+"\n") || strings.Count(describe, "\tActive: true\n") != 1 {
		t.Fatalf("cluster describe:\n%s", describe)
	}
	for i := 1; i <= n; i++ {
		line := fmt.Sprintf("Controller: %d\tAddress: 127.0.0.1:%d\tRaftAddress: 127.0.0.1:%d\tActive: ", i, base+i, base+100+i)
		if !strings.Contains(describe, line) {
			t.Fatalf("cluster describe lacks %q:\n%s", line, describe)
		}
		line = fmt.Sprintf("Broker: %d\tAddress: 127.0.0.1:%d\tRack: none\tFenced: false\tInControlledShutdown: false\tEpoch: ", 100+i, base+10+i)
		if !strings.Contains(describe, line) {
			t.Fatalf("cluster describe lacks %q:\n%s", line, describe)
		}
	}
	if got := strings.Count(describe, "Broker: "); got != n {
		t.Fatalf("cluster describe lists %d brokers:\n%s", got, describe)
	}
	if out := mustRun(t, bin.strata, "--bootstrap-server", first.servers, "topics", "create", "--topic", "t",
		"--partitions", "3", "--replication-factor", "3"); out != "Created topic t.\n" {
		t.Fatalf("topics create printed %q", out)
	}
	assertDevTopic(t, bin, first.servers)
	status := mustRun(t, bin.strata, "--bootstrap-controller", first.controllers, "quorum", "describe", "--status")
	if !strings.HasPrefix(status, "ClusterId:\t"+first.clusterID+"\nLeaderId:\t") || !strings.Contains(status, "\nCurrentVoters:\t[1,2,3]\n") {
		t.Fatalf("quorum describe --status:\n%s", status)
	}

	dev.stop(t, 60*time.Second)
	if out := dev.logs.String(); !strings.HasSuffix(out, "Stopping 3 brokers and 3 controllers (Ctrl-C again kills at once)...\nStopped. The data stays in "+dir+".\n") {
		t.Fatalf("strata dev output ends:\n%s", out)
	}
	assertDevGone(t, first.pids, ports)
	// The brokers stopped first, with a controlled shutdown.
	for i := 1; i <= n; i++ {
		if log := readLog(t, dir, fmt.Sprintf("broker-%d", 100+i)); !strings.Contains(log, "controlled shutdown complete") {
			t.Errorf("broker %d did not complete a controlled shutdown:\n%s", 100+i, log)
		}
	}

	// The second run reuses the data: the same cluster, with its topic.
	dev = startDev(t, bin, dir, base)
	second := waitDevReady(t, dev)
	if second.clusterID != first.clusterID || !strings.Contains(second.out, fmt.Sprintf("Reusing the dev cluster in %s: cluster id %s\n", dir, first.clusterID)) {
		t.Fatalf("second run, first cluster id %s:\n%s", first.clusterID, second.out)
	}
	if out := mustRun(t, bin.strata, "--bootstrap-server", second.servers, "cluster", "describe"); !strings.HasPrefix(out, "ClusterId:\t"+first.clusterID+"\n") ||
		strings.Count(out, "\tFenced: false\t") != n {
		t.Fatalf("second run: cluster describe:\n%s", out)
	}
	if out := mustRun(t, bin.strata, "--bootstrap-server", second.servers, "topics", "list"); out != "t\n" {
		t.Fatalf("second run: topics list printed %q", out)
	}

	// A controller killed under strata dev ends it: exit 1, naming the
	// controller and its log, with the others stopped, brokers first.
	if err := syscall.Kill(second.pid["controller 2"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-dev.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("strata dev did not exit after controller 2 was killed:\n%s", dev.logs.String())
	}
	var exit *exec.ExitError
	if !errors.As(dev.err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("strata dev exited with %v, want exit status 1", dev.err)
	}
	line := "strata: controller 2 exited: signal: killed; see " + filepath.Join(dir, "logs", "controller-2.log") + "\n"
	if out := dev.logs.String(); !strings.HasSuffix(out, "Stopping 3 brokers and 2 controllers (Ctrl-C again kills at once)...\n"+line) {
		t.Fatalf("strata dev output ends:\n%s\nwant it to end with %q", out, line)
	}
	assertDevGone(t, second.pids, ports)
}

// partitionLine is a partition of topics describe: its leader and replicas.
var partitionLine = regexp.MustCompile(`(?m)^\tTopic: t\tPartition: (\d+)\tLeader: (\S+)\tReplicas: (\S+)\tIsr: (\S+)`)

// assertDevTopic checks, through the brokers, that topic t has 3
// partitions, each on the 3 brokers and led by one of them (the leaders
// can move while the brokers catch up, so it waits for them).
func assertDevTopic(t *testing.T, bin binaries, servers string) {
	t.Helper()
	var out string
	testutil.WaitFor(t, 30*time.Second, func() error {
		out = mustRun(t, bin.strata, "--bootstrap-server", servers, "topics", "describe", "--topic", "t")
		if !strings.HasPrefix(out, "Topic: t\tTopicId: ") || !strings.Contains(out, "\tPartitionCount: 3\tReplicationFactor: 3\t") {
			t.Fatalf("topics describe:\n%s", out)
		}
		parts := partitionLine.FindAllStringSubmatch(out, -1)
		if len(parts) != 3 {
			t.Fatalf("topics describe shows %d partitions:\n%s", len(parts), out)
		}
		for _, m := range parts {
			replicas := strings.Split(m[3], ",")
			slices.Sort(replicas)
			if !slices.Equal(replicas, []string{"101", "102", "103"}) {
				t.Fatalf("partition %s has replicas %s:\n%s", m[1], m[3], out)
			}
			if !slices.Contains(replicas, m[2]) {
				return fmt.Errorf("partition %s has leader %s:\n%s", m[1], m[2], out)
			}
		}
		return nil
	})
}

func readLog(t *testing.T, dir, node string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "logs", node+".log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// devReady is what strata dev printed up to its ready line.
type devReady struct {
	out, clusterID, servers, controllers string
	pids                                 []int
	pid                                  map[string]int // by node: "controller 2", "broker 101"
}

var (
	devReadyLine     = regexp.MustCompile(`(?m)^Strata dev cluster ready\. Cluster id: (\S+)\nbootstrap servers: (\S+)\nbootstrap controllers: (\S+)\n`)
	devStartedLine   = regexp.MustCompile(`(?m)^Started ((?:controller|broker) \d+) \(pid (\d+)\)`)
	devFreeBaseRange = [2]int{10000, 30000} // below the ephemeral ports
)

func startDev(t *testing.T, bin binaries, dir string, base int) *daemon {
	t.Helper()
	// The brokers log at info (a later flag wins): their controlled
	// shutdown shows.
	d := start(t, "strata dev", bin.strata, "dev", "--data-dir", dir, "--base-port", strconv.Itoa(base), "--log-level", "warn",
		"--broker-arg=--log-level=info")
	t.Cleanup(func() {
		// strata dev was killed by now; its daemons get SIGTERM
		// from the kernel on Linux, elsewhere they might be left.
		if t.Failed() {
			for _, m := range devStartedLine.FindAllStringSubmatch(d.logs.String(), -1) {
				pid, _ := strconv.Atoi(m[2])
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return d
}

func waitDevReady(t *testing.T, d *daemon) devReady {
	t.Helper()
	var r devReady
	testutil.WaitFor(t, 60*time.Second, func() error {
		select {
		case <-d.exited:
			t.Fatalf("strata dev exited (%v) before it was ready:\n%s", d.err, d.logs.String())
		default:
		}
		r.out = d.logs.String()
		m := devReadyLine.FindStringSubmatch(r.out)
		if m == nil {
			return errors.New("no ready line yet")
		}
		r.clusterID, r.servers, r.controllers = m[1], m[2], m[3]
		return nil
	})
	r.pid = make(map[string]int)
	for _, m := range devStartedLine.FindAllStringSubmatch(r.out, -1) {
		pid, _ := strconv.Atoi(m[2])
		r.pids = append(r.pids, pid)
		r.pid[m[1]] = pid
	}
	return r
}

// assertDevGone checks that the daemons are gone and their ports free.
func assertDevGone(t *testing.T, pids, ports []int) {
	t.Helper()
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("daemon process %d is still there (%v)", pid, err)
		}
	}
	for _, port := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Errorf("port %d is not free: %v", port, err)
			continue
		}
		l.Close()
	}
}

// freeDevBasePort picks a base port whose controller ports (base+i and
// base+100+i) and broker ports (base+10+i) are all free.
func freeDevBasePort(t *testing.T, controllers, brokers int) int {
	t.Helper()
	for range 100 {
		base := devFreeBaseRange[0] + rand.IntN(devFreeBaseRange[1]-devFreeBaseRange[0])
		var ports []int
		for i := 1; i <= controllers; i++ {
			ports = append(ports, base+i, base+100+i)
		}
		for i := 1; i <= brokers; i++ {
			ports = append(ports, base+10+i)
		}
		var ls []net.Listener
		for _, port := range ports {
			if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
				ls = append(ls, l)
			}
		}
		for _, l := range ls {
			l.Close()
		}
		if len(ls) == len(ports) {
			return base
		}
	}
	t.Fatal("no free range of ports for strata dev")
	return 0
}
