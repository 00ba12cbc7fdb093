package e2e

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-log/strata/pkg/testutil"
)

// TestDevCluster runs `strata dev` as a user would: it waits for the ready
// line, drives the cluster with the command line, stops it with SIGTERM
// (exit 0, no daemon left), runs it again on the same data (same cluster),
// and kills a controller under it (exit 1, naming the controller).
func TestDevCluster(t *testing.T) {
	bin := build(t)
	const n = 3
	base := freeDevBasePort(t, n)
	dir := filepath.Join(t.TempDir(), "dev")
	var ports []int
	for i := 1; i <= n; i++ {
		ports = append(ports, base+i, base+100+i)
	}

	// The first run formats a new cluster.
	dev := startDev(t, bin, dir, base)
	first := waitDevReady(t, dev)
	if !strings.Contains(first.out, fmt.Sprintf("Making a new dev cluster in %s: cluster id %s\n", dir, first.clusterID)) {
		t.Fatalf("first run:\n%s", first.out)
	}
	want := fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", base+1, base+2, base+3)
	if first.bootstrap != want {
		t.Fatalf("bootstrap controllers %q, want %q", first.bootstrap, want)
	}
	if len(first.pids) != n {
		t.Fatalf("pids %v", first.pids)
	}

	describe := mustRun(t, bin.strata, "--bootstrap-controller", first.bootstrap, "cluster", "describe")
	if !strings.HasPrefix(describe, "ClusterId:\t"+first.clusterID+"\n") || strings.Count(describe, "\tActive: true\n") != 1 {
		t.Fatalf("cluster describe:\n%s", describe)
	}
	for i := 1; i <= n; i++ {
		line := fmt.Sprintf("Controller: %d\tAddress: 127.0.0.1:%d\tRaftAddress: 127.0.0.1:%d\tActive: ", i, base+i, base+100+i)
		if !strings.Contains(describe, line) {
			t.Fatalf("cluster describe lacks %q:\n%s", line, describe)
		}
	}
	status := mustRun(t, bin.strata, "--bootstrap-controller", first.bootstrap, "quorum", "describe", "--status")
	if !strings.HasPrefix(status, "ClusterId:\t"+first.clusterID+"\nLeaderId:\t") || !strings.Contains(status, "\nCurrentVoters:\t[1,2,3]\n") {
		t.Fatalf("quorum describe --status:\n%s", status)
	}

	dev.stop(t, 60*time.Second)
	if out := dev.logs.String(); !strings.HasSuffix(out, "Stopping 3 controllers (Ctrl-C again kills at once)...\nStopped. The data stays in "+dir+".\n") {
		t.Fatalf("strata dev output ends:\n%s", out)
	}
	assertDevGone(t, first.pids, ports)

	// The second run reuses the data: the same cluster.
	dev = startDev(t, bin, dir, base)
	second := waitDevReady(t, dev)
	if second.clusterID != first.clusterID || !strings.Contains(second.out, fmt.Sprintf("Reusing the dev cluster in %s: cluster id %s\n", dir, first.clusterID)) {
		t.Fatalf("second run, first cluster id %s:\n%s", first.clusterID, second.out)
	}
	if out := mustRun(t, bin.strata, "--bootstrap-controller", second.bootstrap, "cluster", "describe"); !strings.HasPrefix(out, "ClusterId:\t"+first.clusterID+"\n") {
		t.Fatalf("second run: cluster describe:\n%s", out)
	}

	// A controller killed under strata dev ends it: exit 1, naming the
	// controller and its log, with the others stopped.
	if err := syscall.Kill(second.pids[1], syscall.SIGKILL); err != nil {
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
	if out := dev.logs.String(); !strings.HasSuffix(out, "Stopping 2 controllers (Ctrl-C again kills at once)...\n"+line) {
		t.Fatalf("strata dev output ends:\n%s\nwant it to end with %q", out, line)
	}
	assertDevGone(t, second.pids, ports)
}

// devReady is what strata dev printed up to its ready line.
type devReady struct {
	out, clusterID, bootstrap string
	pids                      []int
}

var (
	devReadyLine     = regexp.MustCompile(`(?m)^Strata dev cluster ready\. Cluster id: (\S+)\nbootstrap controllers: (\S+)\n`)
	devStartedLine   = regexp.MustCompile(`(?m)^Started controller \d+ \(pid (\d+)\)`)
	devFreeBaseRange = [2]int{10000, 30000} // below the ephemeral ports
)

func startDev(t *testing.T, bin binaries, dir string, base int) *daemon {
	t.Helper()
	d := start(t, "strata dev", bin.strata, "dev", "--data-dir", dir, "--base-port", strconv.Itoa(base), "--log-level", "warn")
	t.Cleanup(func() {
		// strata dev was killed by now; its controllers get SIGTERM
		// from the kernel on Linux, elsewhere they might be left.
		if t.Failed() {
			for _, m := range devStartedLine.FindAllStringSubmatch(d.logs.String(), -1) {
				pid, _ := strconv.Atoi(m[1])
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
		r.clusterID, r.bootstrap = m[1], m[2]
		return nil
	})
	for _, m := range devStartedLine.FindAllStringSubmatch(r.out, -1) {
		pid, _ := strconv.Atoi(m[1])
		r.pids = append(r.pids, pid)
	}
	return r
}

// assertDevGone checks that the controllers are gone and their ports
// free.
func assertDevGone(t *testing.T, pids, ports []int) {
	t.Helper()
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("controller process %d is still there (%v)", pid, err)
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
// base+100+i) are all free.
func freeDevBasePort(t *testing.T, n int) int {
	t.Helper()
	for range 100 {
		base := devFreeBaseRange[0] + rand.IntN(devFreeBaseRange[1]-devFreeBaseRange[0])
		var ls []net.Listener
		for i := 1; i <= n; i++ {
			for _, port := range []int{base + i, base + 100 + i} {
				if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
					ls = append(ls, l)
				}
			}
		}
		for _, l := range ls {
			l.Close()
		}
		if len(ls) == 2*n {
			return base
		}
	}
	t.Fatal("no free range of ports for strata dev")
	return 0
}
