//go:build unix

package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/strata-log/strata/pkg/client"
	"github.com/strata-log/strata/pkg/metaprops"
)

// TestMain runs the test binary as a fake strata-controller when it is
// started under that name (see fakeBinDir).
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == devControllerBinary {
		os.Exit(fakeController(os.Args[1:]))
	}
	// Under the race detector a process sleeps 1 s as it exits; the fake
	// daemons need not.
	if _, ok := os.LookupEnv("GORACE"); !ok {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

// fakeController is a strata-controller that formats data dirs as the
// real one does and, as "run", prints "fake controller running" and waits
// for SIGTERM. --fake-fail=ID makes controller ID exit 3 at once;
// --fake-ignore-term makes it ignore SIGTERM.
func fakeController(args []string) int {
	if len(args) == 0 {
		return 2
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "")
	clusterID := fs.String("cluster-id", "", "")
	nodeID := fs.Int("node-id", 0, "")
	voters := fs.String("controller-quorum-voters", "", "")
	fs.String("listen", "", "")
	fs.String("log-level", "", "")
	fs.String("log-format", "", "")
	failNode := fs.Int("fake-fail", 0, "")
	ignoreTerm := fs.Bool("fake-ignore-term", false, "")
	die := func(err error) int {
		fmt.Fprintln(os.Stderr, "strata-controller:", err)
		return 1
	}
	if err := fs.Parse(args[1:]); err != nil {
		return die(err)
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "STRATA_") {
			return die(fmt.Errorf("the environment has %s", kv))
		}
	}
	v, err := metaprops.ParseVoters(*voters)
	if err != nil {
		return die(err)
	}
	props := metaprops.Props{ClusterID: *clusterID, NodeID: int32(*nodeID), Role: metaprops.RoleController, Voters: v}
	switch args[0] {
	case "format":
		if err := metaprops.Format(*dataDir, props, false); err != nil {
			return die(err)
		}
		fmt.Printf("Formatted %s\n", *dataDir)
		return 0
	case "run":
		if err := metaprops.Check(*dataDir, props); err != nil {
			return die(err)
		}
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		fmt.Println("fake controller running")
		if *failNode == *nodeID {
			return die(errors.New("boom"))
		}
		for range sigs {
			if !*ignoreTerm {
				fmt.Println("fake controller stopping")
				return 0
			}
		}
	}
	return die(fmt.Errorf("unknown command %q", args[0]))
}

// fakeBinDir is a directory whose strata-controller is this test binary.
func fakeBinDir(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(self, filepath.Join(dir, devControllerBinary)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// freeBasePort returns a base port whose n controllers' ports are free,
// below the ephemeral range that other tests' free ports come from.
func freeBasePort(t *testing.T, n int) int {
	t.Helper()
	for range 100 {
		base := 20000 + 10*rand.IntN(1200)
		free := true
		for i := 1; i <= n && free; i++ {
			for _, port := range []int{base + i, base + devRaftOffset + i} {
				l, err := net.Listen("tcp", devAddress(port))
				if err != nil {
					free = false
					break
				}
				l.Close()
			}
		}
		if free {
			return base
		}
	}
	t.Fatal("no free base port found")
	return 0
}

// readyAdmin is a fake admin client of the dev cluster in dir with n
// controllers: ready once every fake controller says it runs (after a
// first "no active controller" answer), or never.
func readyAdmin(dir string, n int, never bool) *fakeAdmin {
	var mu sync.Mutex
	calls := 0
	return &fakeAdmin{describeCluster: func() (client.Cluster, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		id, err := os.ReadFile(filepath.Join(dir, devClusterIDFile))
		if err != nil {
			return client.Cluster{}, err
		}
		cl := client.Cluster{ID: strings.TrimSpace(string(id)), ActiveControllerID: 1}
		for i := 1; i <= n; i++ {
			logs, _ := os.ReadFile(filepath.Join(dir, "logs", fmt.Sprintf("controller-%d.log", i)))
			if never || !bytes.Contains(logs, []byte("fake controller running")) {
				return cl, nil
			}
			cl.Controllers = append(cl.Controllers, client.Controller{ID: int32(i), Address: "127.0.0.1:" + strconv.Itoa(i)})
		}
		if calls == 1 {
			cl.ActiveControllerID = -1
		}
		return cl, nil
	}}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// devRun is strata dev running in-process.
type devRun struct {
	stdout, stderr lockedBuffer
	cancel         context.CancelFunc
	done           chan int
	label          string // the value of devRunLabel on its goroutines
}

const devRunLabel = "strata-dev-run"

var devRuns atomic.Int32

func startDev(t *testing.T, fa *fakeAdmin, args ...string) *devRun {
	t.Helper()
	fa.t = t
	ctx, cancel := context.WithCancel(context.Background())
	r := &devRun{cancel: cancel, done: make(chan int, 1), label: strconv.Itoa(int(devRuns.Add(1)))}
	go func() {
		// The goroutines of the run inherit the label, which
		// waitNoGoroutines looks for.
		pprof.Do(ctx, pprof.Labels(devRunLabel, r.label), func(ctx context.Context) {
			r.done <- Main(ctx, append([]string{"dev"}, args...), Env{
				Stdout: &r.stdout, Stderr: &r.stderr,
				NewAdmin: func(AdminConfig) (Admin, error) { return fa, nil },
			})
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Error("strata dev did not return")
		}
	})
	return r
}

// wait waits for the exit code, and for the run's goroutines to end.
func (r *devRun) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-r.done:
		r.done <- code
		r.waitNoGoroutines(t)
		return code
	case <-time.After(30 * time.Second):
		t.Fatalf("strata dev did not return\nstdout:\n%s\nstderr:\n%s", r.stdout.String(), r.stderr.String())
		return -1
	}
}

// waitReady waits for the ready line.
func (r *devRun) waitReady(t *testing.T) {
	t.Helper()
	poll(t, 20*time.Second, func() error {
		select {
		case code := <-r.done:
			r.done <- code
			t.Fatalf("strata dev exited %d before it was ready\nstdout:\n%s\nstderr:\n%s", code, r.stdout.String(), r.stderr.String())
		default:
		}
		if !strings.Contains(r.stdout.String(), "Strata dev cluster ready.") {
			return errors.New("not ready")
		}
		return nil
	})
}

func poll(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %v", timeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitNoGoroutines checks that no goroutine of the run outlives it:
// those left end just after Main returns.
func (r *devRun) waitNoGoroutines(t *testing.T) {
	t.Helper()
	label := fmt.Sprintf("%q:%q", devRunLabel, r.label)
	poll(t, 5*time.Second, func() error {
		var b strings.Builder
		if err := pprof.Lookup("goroutine").WriteTo(&b, 1); err != nil {
			return err
		}
		for g := range strings.SplitSeq(b.String(), "\n\n") {
			// os/signal's loop is the process's, started by
			// the first signal.Notify.
			if strings.Contains(g, label) && !strings.Contains(g, "os/signal.loop") {
				return fmt.Errorf("a goroutine of strata dev is left:\n%s", g)
			}
		}
		return nil
	})
}

var pidLine = regexp.MustCompile(`Started controller \d+ \(pid (\d+)\)`)

// pids are the daemons' process ids strata dev printed.
func pids(t *testing.T, stdout string) []int {
	t.Helper()
	var out []int
	for _, m := range pidLine.FindAllStringSubmatch(stdout, -1) {
		pid, _ := strconv.Atoi(m[1])
		out = append(out, pid)
	}
	return out
}

// assertGone checks that the processes no longer exist (strata dev, this
// process, has waited for them).
func assertGone(t *testing.T, pids []int) {
	t.Helper()
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d: %v, want it gone", pid, err)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDevUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--controllers=0"}, "--controllers must be between 1 and 9, not 0"},
		{[]string{"--controllers=10"}, "--controllers must be between 1 and 9, not 10"},
		{[]string{"--base-port=0"}, "--base-port must be between 1 and 65432, not 0"},
		{[]string{"--base-port=65433"}, "--base-port must be between 1 and 65432, not 65433"},
		{[]string{"--controllers=5", "--base-port=65431"}, "--base-port must be between 1 and 65430, not 65431"},
		{[]string{"--data-dir="}, "--data-dir must not be empty"},
		{[]string{"--log-level=loud"}, `--log-level "loud": use debug, info, warn or error`},
		{[]string{"--log-format=xml"}, `--log-format "xml": use text or json`},
		{[]string{"--start-timeout=0s"}, "--start-timeout must be positive, not 0s"},
		{[]string{"--stop-timeout=-1s"}, "--stop-timeout must be positive, not -1s"},
		{[]string{"--controllers=x"}, `invalid value "x" for flag -controllers: parse error`},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--bootstrap-controller=a:1"}, "flag provided but not defined: -bootstrap-controller"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := run(t, nil, nil, append([]string{"dev"}, tc.args...)...)
			want := "strata: dev: " + tc.want + " (see 'strata dev --help')\n"
			if r.code != ExitUsage || r.stderr != want || r.stdout != "" {
				t.Fatalf("exit %d\nstderr %q\nwant   %q\nstdout %q", r.code, r.stderr, want, r.stdout)
			}
		})
	}
}

func TestDevLayout(t *testing.T) {
	o := devOptions{dataDir: "d", controllers: 3, basePort: 9200, logLevel: "warn", logFormat: "json",
		controllerArgs: listFlag{"--num-partitions=3"}}
	nodes := devControllers(o, "/b/strata-controller", "CID")
	if len(nodes) != 3 {
		t.Fatalf("%d nodes", len(nodes))
	}
	const voters = "1@127.0.0.1:9301,2@127.0.0.1:9302,3@127.0.0.1:9303"
	n := nodes[1]
	if n.name() != "controller 2" || n.bin != "/b/strata-controller" || n.dataDir != filepath.Join("d", "controller-2") ||
		n.logPath != filepath.Join("d", "logs", "controller-2.log") || n.clientAddr() != "127.0.0.1:9202" ||
		!slices.Equal(n.addrs, []devAddr{{"127.0.0.1:9202", "gRPC"}, {"127.0.0.1:9302", "Raft"}}) {
		t.Fatalf("node %+v", n)
	}
	if want := []string{"format", "--data-dir", filepath.Join("d", "controller-2"), "--cluster-id", "CID", "--node-id", "2",
		"--controller-quorum-voters", voters}; !slices.Equal(n.formatArgs, want) {
		t.Fatalf("format args %q\nwant %q", n.formatArgs, want)
	}
	if want := []string{"run", "--node-id", "2", "--cluster-id", "CID", "--data-dir", filepath.Join("d", "controller-2"),
		"--listen", "127.0.0.1:9202", "--controller-quorum-voters", voters, "--log-level", "warn", "--log-format", "json",
		"--num-partitions=3"}; !slices.Equal(n.runArgs, want) {
		t.Fatalf("run args %q\nwant %q", n.runArgs, want)
	}
	if n.props.ClusterID != "CID" || n.props.NodeID != 2 || metaprops.FormatVoters(n.props.Voters) != voters {
		t.Fatalf("props %+v", n.props)
	}

	for _, tc := range []struct{ count, base int }{{3, 9200}, {1, 1}, {9, 40000}} {
		nodes := devControllers(devOptions{dataDir: "d", controllers: tc.count, basePort: tc.base}, "b", "CID")
		if c, b, ok := devLayoutOf(nodes[0].props.Voters); !ok || c != tc.count || b != tc.base {
			t.Errorf("layout of %d controllers from %d: got %d from %d (%t)", tc.count, tc.base, c, b, ok)
		}
	}
	for _, v := range []string{"1@127.0.0.1:9301,2@127.0.0.1:9303", "1@10.0.0.1:9301", "2@127.0.0.1:9301"} {
		voters, err := metaprops.ParseVoters(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, ok := devLayoutOf(voters); ok {
			t.Errorf("%s: strata dev did not make these", v)
		}
	}
}

func TestFindDaemon(t *testing.T) {
	bin := fakeBinDir(t)
	if p, err := findDaemon(devControllerBinary, bin); err != nil || p != filepath.Join(bin, devControllerBinary) {
		t.Fatalf("--bin-dir: %q, %v", p, err)
	}
	empty := t.TempDir()
	if _, err := findDaemon(devControllerBinary, empty); err == nil || err.Error() != "--bin-dir "+empty+" has no executable strata-controller" {
		t.Fatalf("empty --bin-dir: %v", err)
	}
	// Next to the running executable: this test binary is next to itself.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	self, _ = filepath.EvalSymlinks(self)
	if p, err := findDaemon(filepath.Base(self), ""); err != nil || p != self {
		t.Fatalf("next to strata: %q, %v; want %s", p, err, self)
	}
	t.Setenv("PATH", bin)
	if p, err := findDaemon(devControllerBinary, ""); err != nil || p != filepath.Join(bin, devControllerBinary) {
		t.Fatalf("on PATH: %q, %v", p, err)
	}
	t.Setenv("PATH", empty)
	_, err = findDaemon(devControllerBinary, "")
	if want := "cannot find strata-controller in " + filepath.Dir(self) + " nor on PATH: build it (make build) or give --bin-dir"; err == nil || err.Error() != want {
		t.Fatalf("nowhere: %v\nwant %s", err, want)
	}
}

func TestDevRunsStopsAndKeepsItsData(t *testing.T) {
	// The daemons must not see the shell's STRATA_* variables.
	t.Setenv("STRATA_LISTEN", "127.0.0.1:1")
	bin := fakeBinDir(t)
	dir := filepath.Join(t.TempDir(), "dev")
	base := freeBasePort(t, 3)
	args := []string{"--data-dir", dir, "--base-port", strconv.Itoa(base), "--bin-dir", bin}

	r := startDev(t, readyAdmin(dir, 3, false), args...)
	r.waitReady(t)
	out := r.stdout.String()
	id := strings.TrimSpace(readFile(t, filepath.Join(dir, devClusterIDFile)))
	for _, want := range []string{
		"Using " + filepath.Join(bin, devControllerBinary) + "\n",
		fmt.Sprintf("Making a new dev cluster in %s: cluster id %s\n", dir, id),
		fmt.Sprintf("Started controller 2 (pid %d): gRPC 127.0.0.1:%d, Raft 127.0.0.1:%d; log %s\n",
			pids(t, out)[1], base+2, base+102, filepath.Join(dir, "logs", "controller-2.log")),
		"\nStrata dev cluster ready. Cluster id: " + id + "\n",
		fmt.Sprintf("bootstrap controllers: 127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d\n(brokers: not built yet)\n", base+1, base+2, base+3),
		fmt.Sprintf(" --bootstrap-controller 127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d quorum describe --status\n", base+1, base+2, base+3),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	first := pids(t, out)
	if len(first) != 3 {
		t.Fatalf("pids %v", first)
	}
	r.cancel()
	if code := r.wait(t); code != ExitOK || r.stderr.String() != "" {
		t.Fatalf("exit %d, stderr %q", code, r.stderr.String())
	}
	if out := r.stdout.String(); !strings.HasSuffix(out, "Stopping 3 controllers (Ctrl-C again kills at once)...\nStopped. The data stays in "+dir+".\n") {
		t.Fatalf("stdout ends:\n%s", out)
	}
	assertGone(t, first)
	log := readFile(t, filepath.Join(dir, "logs", "controller-3.log"))
	if want := "Formatted " + filepath.Join(dir, "controller-3") + "\nfake controller running\nfake controller stopping\n"; log != want {
		t.Fatalf("controller 3 log %q, want %q", log, want)
	}

	// The second run reuses the data: same cluster, no formatting, and
	// fresh logs.
	r = startDev(t, readyAdmin(dir, 3, false), args...)
	r.waitReady(t)
	if out := r.stdout.String(); !strings.Contains(out, fmt.Sprintf("Reusing the dev cluster in %s: cluster id %s\n", dir, id)) {
		t.Fatalf("second run:\n%s", out)
	}
	r.cancel()
	if code := r.wait(t); code != ExitOK {
		t.Fatalf("second run: exit %d, stderr %q", code, r.stderr.String())
	}
	assertGone(t, pids(t, r.stdout.String()))
	if log := readFile(t, filepath.Join(dir, "logs", "controller-3.log")); log != "fake controller running\nfake controller stopping\n" {
		t.Fatalf("second run: controller 3 log %q", log)
	}
}

func TestDevDaemonExits(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "dev")
	r := startDev(t, readyAdmin(dir, 3, false), "--data-dir", dir, "--base-port", strconv.Itoa(freeBasePort(t, 3)),
		"--bin-dir", fakeBinDir(t), "--controller-arg=--fake-fail=2")
	if code := r.wait(t); code != ExitFailed {
		t.Fatalf("exit %d", code)
	}
	logPath := filepath.Join(dir, "logs", "controller-2.log")
	if want := "strata: controller 2 exited: exit status 1 (strata-controller: boom); see " + logPath + "\n"; r.stderr.String() != want {
		t.Fatalf("stderr %q\nwant   %q", r.stderr.String(), want)
	}
	out := r.stdout.String()
	if !strings.Contains(out, "Stopping 2 controllers (Ctrl-C again kills at once)...\n") || strings.Contains(out, "Stopped.") {
		t.Fatalf("stdout:\n%s", out)
	}
	assertGone(t, pids(t, out))
}

func TestDevKillsDaemonsThatDoNotStop(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "dev")
	r := startDev(t, readyAdmin(dir, 2, false), "--data-dir", dir, "--controllers", "2", "--base-port", strconv.Itoa(freeBasePort(t, 2)),
		"--bin-dir", fakeBinDir(t), "--controller-arg=--fake-ignore-term", "--stop-timeout=200ms")
	r.waitReady(t)
	r.cancel()
	if code := r.wait(t); code != ExitFailed {
		t.Fatalf("exit %d", code)
	}
	want := fmt.Sprintf("strata: controller 1 did not stop within 200ms of SIGTERM and was killed (see %s); "+
		"controller 2 did not stop within 200ms of SIGTERM and was killed (see %s)\n",
		filepath.Join(dir, "logs", "controller-1.log"), filepath.Join(dir, "logs", "controller-2.log"))
	if r.stderr.String() != want {
		t.Fatalf("stderr %q\nwant   %q", r.stderr.String(), want)
	}
	assertGone(t, pids(t, r.stdout.String()))
}

// TestDevSecondSignalKills sends SIGINT to this process while strata dev
// waits for daemons that ignore SIGTERM: it kills them at once. Not
// parallel: the signal reaches every strata dev of the process.
func TestDevSecondSignalKills(t *testing.T) {
	// This process must not die of the signals.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	defer signal.Stop(sigs)
	dir := filepath.Join(t.TempDir(), "dev")
	r := startDev(t, readyAdmin(dir, 2, false), "--data-dir", dir, "--controllers", "2", "--base-port", strconv.Itoa(freeBasePort(t, 2)),
		"--bin-dir", fakeBinDir(t), "--controller-arg=--fake-ignore-term", "--stop-timeout=1m")
	r.waitReady(t)
	r.cancel()
	// Until strata dev listens for the second signal, the signals are
	// lost; send them until it returns.
	poll(t, 20*time.Second, func() error {
		if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		select {
		case code := <-r.done:
			r.done <- code
			return nil
		case <-time.After(20 * time.Millisecond):
			return errors.New("strata dev still runs")
		}
	})
	if code := r.wait(t); code != ExitFailed {
		t.Fatalf("exit %d", code)
	}
	want := fmt.Sprintf("strata: controller 1 was still running at the second signal and was killed (see %s); "+
		"controller 2 was still running at the second signal and was killed (see %s)\n",
		filepath.Join(dir, "logs", "controller-1.log"), filepath.Join(dir, "logs", "controller-2.log"))
	if r.stderr.String() != want {
		t.Fatalf("stderr %q\nwant   %q", r.stderr.String(), want)
	}
	assertGone(t, pids(t, r.stdout.String()))
}

func TestDevNotReadyInTime(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "dev")
	r := startDev(t, readyAdmin(dir, 3, true), "--data-dir", dir, "--base-port", strconv.Itoa(freeBasePort(t, 3)),
		"--bin-dir", fakeBinDir(t), "--start-timeout=300ms")
	if code := r.wait(t); code != ExitFailed {
		t.Fatalf("exit %d", code)
	}
	if want := "strata: the cluster was not ready within 300ms: 0 of 3 controllers registered; see the logs in " +
		filepath.Join(dir, "logs") + "\n"; r.stderr.String() != want {
		t.Fatalf("stderr %q\nwant   %q", r.stderr.String(), want)
	}
	assertGone(t, pids(t, r.stdout.String()))
}

func TestDevInterruptedBeforeReady(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "dev")
	r := startDev(t, readyAdmin(dir, 3, true), "--data-dir", dir, "--base-port", strconv.Itoa(freeBasePort(t, 3)),
		"--bin-dir", fakeBinDir(t))
	poll(t, 20*time.Second, func() error {
		if len(pids(t, r.stdout.String())) < 3 {
			return errors.New("not started")
		}
		return nil
	})
	r.cancel()
	if code := r.wait(t); code != ExitOK || r.stderr.String() != "" || !strings.HasSuffix(r.stdout.String(), "Stopped. The data stays in "+dir+".\n") {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, r.stderr.String(), r.stdout.String())
	}
	assertGone(t, pids(t, r.stdout.String()))
}

func TestDevPortTaken(t *testing.T) {
	t.Parallel()
	base := freeBasePort(t, 3)
	l, err := net.Listen("tcp", devAddress(base+102))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dir := filepath.Join(t.TempDir(), "dev")
	r := run(t, nil, nil, "dev", "--data-dir", dir, "--base-port", strconv.Itoa(base), "--bin-dir", fakeBinDir(t))
	want := fmt.Sprintf("strata: cannot listen on 127.0.0.1:%d (controller 2 Raft): bind: address already in use; "+
		"is another strata dev running? Stop it, or pick another --base-port\n", base+102)
	if r.code != ExitFailed || r.stderr != want || r.stdout != "" {
		t.Fatalf("exit %d\nstderr %q\nwant   %q\nstdout %q", r.code, r.stderr, want, r.stdout)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the data dir was made: %v", err)
	}
}

// TestDevDataDirMismatches checks the data dirs that strata dev refuses,
// before it starts anything.
func TestDevDataDirMismatches(t *testing.T) {
	t.Parallel()
	bin := fakeBinDir(t)
	layout := func(dir string, count, base int, id string) {
		t.Helper()
		if err := writeClusterID(dir, id); err != nil {
			t.Fatal(err)
		}
		for _, n := range devControllers(devOptions{dataDir: dir, controllers: count, basePort: base}, "b", id) {
			if err := metaprops.Format(n.dataDir, n.props, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	dev := func(dir string, args ...string) string {
		t.Helper()
		r := run(t, nil, nil, append([]string{"dev", "--data-dir", dir, "--bin-dir", bin}, args...)...)
		if r.code != ExitFailed || r.stdout != "" {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		return strings.TrimSuffix(strings.TrimPrefix(r.stderr, "strata: "), "\n")
	}

	dir := filepath.Join(t.TempDir(), "dev")
	layout(dir, 3, 9200, metaprops.NewClusterID())
	for _, args := range [][]string{{"--base-port", "9300"}, {"--controllers", "5"}, {"--controllers", "1"}} {
		if got, want := dev(dir, args...), dir+" was made with --controllers 3 --base-port 9200: run with those, or remove "+dir+" to start afresh"; got != want {
			t.Errorf("%q: %s\nwant %s", args, got, want)
		}
	}

	dir = filepath.Join(t.TempDir(), "dev")
	other := metaprops.NewClusterID()
	layout(dir, 3, 9200, other)
	id := metaprops.NewClusterID()
	if err := writeClusterID(dir, id); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%s belongs to cluster %s, not to %s (%s): remove %s to start afresh",
		filepath.Join(dir, "controller-1"), other, id, filepath.Join(dir, devClusterIDFile), dir)
	if got := dev(dir); got != want {
		t.Errorf("another cluster: %s\nwant %s", got, want)
	}

	if err := os.WriteFile(filepath.Join(dir, devClusterIDFile), []byte("nope\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := dev(dir); !strings.HasPrefix(got, filepath.Join(dir, devClusterIDFile)+": invalid cluster id \"nope\"") ||
		!strings.HasSuffix(got, "; remove "+dir+" to start afresh") {
		t.Errorf("bad cluster.id: %s", got)
	}

	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := dev(dir), dir+" is not empty and has no cluster.id, so it is no strata dev cluster: give another --data-dir, or remove "+dir; got != want {
		t.Errorf("foreign dir: %s\nwant %s", got, want)
	}

	if got, want := dev(t.TempDir(), "--bin-dir", t.TempDir()), "has no executable strata-controller"; !strings.HasSuffix(got, want) {
		t.Errorf("no binary: %s", got)
	}
}
