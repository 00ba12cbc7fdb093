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
	"github.com/strata-log/strata/pkg/testutil"
)

// TestMain runs the test binary as a fake strata-controller or
// strata-broker when it is started under that name (see fakeBinDir).
func TestMain(m *testing.M) {
	switch filepath.Base(os.Args[0]) {
	case devControllerBinary:
		os.Exit(fakeDaemon(metaprops.RoleController, os.Args[1:]))
	case devBrokerBinary:
		os.Exit(fakeDaemon(metaprops.RoleBroker, os.Args[1:]))
	}
	// Under the race detector a process sleeps 1 s as it exits; the fake
	// daemons need not.
	if _, ok := os.LookupEnv("GORACE"); !ok {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	testutil.VerifyNoLeaks(m)
}

const (
	// fakeRunning, in a fake daemon's data dir, holds its pid while it
	// runs.
	fakeRunning = "fake.running"
	// fakeControllersReady, in the dev cluster's dir, says that the fake
	// admin client has told strata dev the controllers are ready.
	fakeControllersReady = "fake-controllers-ready"
)

// fakeDaemon is a strata-controller or strata-broker that formats data
// dirs as the real one does and, as "run", prints "fake ROLE running" and
// waits for SIGTERM. --fake-fail=ID makes node ID exit 1 at once;
// --fake-ignore-term makes it ignore SIGTERM. It checks the order strata
// dev keeps: a broker starts once the controllers are ready, stops while
// every controller runs (controlled shutdown needs them), and a controller
// stops once no broker runs.
func fakeDaemon(role string, args []string) int {
	program := "strata-" + role
	if len(args) == 0 {
		return 2
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "")
	clusterID := fs.String("cluster-id", "", "")
	nodeID := fs.Int("node-id", 0, "")
	voters := fs.String("controller-quorum-voters", "", "")
	controllers := fs.String("controllers", "", "")
	fs.String("listen", "", "")
	fs.String("log-level", "", "")
	fs.String("log-format", "", "")
	failNode := fs.Int("fake-fail", 0, "")
	ignoreTerm := fs.Bool("fake-ignore-term", false, "")
	die := func(err error) int {
		fmt.Fprintln(os.Stderr, program+":", err)
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
	props := metaprops.Props{ClusterID: *clusterID, NodeID: int32(*nodeID), Role: role}
	if role == metaprops.RoleController {
		v, err := metaprops.ParseVoters(*voters)
		if err != nil {
			return die(err)
		}
		props.Voters = v
	}
	switch args[0] {
	case "format":
		if err := metaprops.Format(*dataDir, props, false); err != nil {
			return die(err)
		}
		fmt.Printf("Formatted %s\n", *dataDir)
		return 0
	case "run":
		if _, err := metaprops.Check(*dataDir, props); err != nil {
			return die(err)
		}
		cluster := filepath.Dir(*dataDir)
		if role == metaprops.RoleBroker {
			if *controllers == "" {
				return die(errors.New("no --controllers"))
			}
			if _, err := os.Stat(filepath.Join(cluster, fakeControllersReady)); err != nil {
				return die(errors.New("started before the controllers were ready"))
			}
		}
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		fmt.Printf("fake %s running\n", role)
		if *failNode == *nodeID {
			return die(errors.New("boom"))
		}
		marker := filepath.Join(*dataDir, fakeRunning)
		if err := os.WriteFile(marker, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return die(err)
		}
		for range sigs {
			if *ignoreTerm {
				continue
			}
			os.Remove(marker)
			if err := fakeStopOrder(role, cluster); err != nil {
				return die(err)
			}
			fmt.Printf("fake %s stopping\n", role)
			return 0
		}
	}
	return die(fmt.Errorf("unknown command %q", args[0]))
}

// fakeStopOrder checks, as a daemon of the role stops, that every
// controller of the cluster in dir runs (a broker) or that no broker runs
// (a controller).
func fakeStopOrder(role, dir string) error {
	other := metaprops.RoleController
	if role == metaprops.RoleController {
		other = metaprops.RoleBroker
	}
	dirs, err := filepath.Glob(filepath.Join(dir, other+"-*"))
	if err != nil {
		return err
	}
	running := 0
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, fakeRunning))
		if err != nil {
			continue
		}
		// A daemon that was killed left its marker; strata dev has
		// waited for it, so its pid is gone.
		if pid, err := strconv.Atoi(string(b)); err == nil && syscall.Kill(pid, 0) == nil {
			running++
		}
	}
	switch {
	case role == metaprops.RoleController && running > 0:
		return fmt.Errorf("stopping while %d brokers run", running)
	case role == metaprops.RoleBroker && running < len(dirs):
		return fmt.Errorf("controlled shutdown: %d of %d controllers run", running, len(dirs))
	}
	return nil
}

// fakeBinDir is a directory whose daemons (strata-controller and
// strata-broker unless named) are this test binary.
func fakeBinDir(t *testing.T, names ...string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		names = []string{devControllerBinary, devBrokerBinary}
	}
	dir := t.TempDir()
	for _, name := range names {
		if err := os.Symlink(self, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// freeBasePort returns a base port whose ports for n controllers and
// brokers are free, below the ephemeral range that other tests' free
// ports come from.
func freeBasePort(t *testing.T, controllers, brokers int) int {
	t.Helper()
	for range 100 {
		// Steps of 200 keep the layouts of parallel tests apart.
		base := 20000 + 200*rand.IntN(63)
		var ports []int
		for i := 1; i <= controllers; i++ {
			ports = append(ports, base+i, base+devRaftOffset+i)
		}
		for i := 1; i <= brokers; i++ {
			ports = append(ports, base+devBrokerOffset+i)
		}
		free := true
		for _, port := range ports {
			l, err := net.Listen("tcp", devAddress(port))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return base
		}
	}
	t.Fatal("no free base port found")
	return 0
}

// devFake answers strata dev's readiness checks for the cluster in dir,
// from what the fake daemons wrote in their logs.
type devFake struct {
	t                    *testing.T
	dir                  string
	controllers, brokers int
	ready                fakeReadiness

	mu      sync.Mutex
	calls   int
	seen    map[int32]int // how often a running broker was described
	configs []AdminConfig // the admin clients strata dev made
}

type fakeReadiness int

const (
	readyAll             fakeReadiness = iota // the cluster gets ready
	readyNever                                // no controller registers
	readyControllersOnly                      // the brokers never register
)

func newDevFake(dir string, controllers, brokers int, ready fakeReadiness) *devFake {
	return &devFake{dir: dir, controllers: controllers, brokers: brokers, ready: ready, seen: make(map[int32]int)}
}

func (f *devFake) newAdmin(cfg AdminConfig) (Admin, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.configs = append(f.configs, cfg)
	return &fakeAdmin{t: f.t, describeCluster: func() (client.Cluster, error) { return f.describe(cfg) }}, nil
}

func (f *devFake) adminConfigs() []AdminConfig {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.configs)
}

// describe is the cluster as the controllers see it: controllers
// registered once their logs say they run, an active controller from the
// second call on, and the brokers of a former run (unfenced, with old
// epochs) until the new ones run, then fenced once and unfenced.
func (f *devFake) describe(cfg AdminConfig) (client.Cluster, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	id, err := os.ReadFile(filepath.Join(f.dir, devClusterIDFile))
	if err != nil {
		return client.Cluster{}, err
	}
	running := func(name, role string) bool {
		logs, _ := os.ReadFile(filepath.Join(f.dir, "logs", name+".log"))
		return bytes.Contains(logs, []byte("fake "+role+" running"))
	}
	cl := client.Cluster{ID: strings.TrimSpace(string(id)), ActiveControllerID: 1, MetadataOffset: 50}
	if f.calls == 1 {
		cl.ActiveControllerID = -1
	}
	for i := 1; i <= f.controllers; i++ {
		if f.ready != readyNever && running(fmt.Sprintf("controller-%d", i), metaprops.RoleController) {
			cl.Controllers = append(cl.Controllers, client.Controller{ID: int32(i), Address: "127.0.0.1:" + strconv.Itoa(i)})
		}
	}
	if len(cfg.Servers) > 0 {
		if _, err := os.Stat(filepath.Join(f.dir, fakeControllersReady)); err != nil {
			f.t.Errorf("strata dev asked the brokers before the controllers were ready")
		}
	}
	for i := range f.brokers {
		bid := int32(DevFirstBrokerID + i)
		if f.ready == readyAll && running(fmt.Sprintf("broker-%d", bid), metaprops.RoleBroker) {
			f.seen[bid]++
			cl.Brokers = append(cl.Brokers, client.Broker{ID: bid, Epoch: 100 + int64(bid), Fenced: f.seen[bid] == 1})
		} else {
			cl.Brokers = append(cl.Brokers, client.Broker{ID: bid, Epoch: 7, InControlledShutdown: true})
		}
	}
	if len(cfg.Controllers) > 0 && len(cl.Controllers) == f.controllers && cl.ActiveControllerID >= 0 {
		if err := os.WriteFile(filepath.Join(f.dir, fakeControllersReady), nil, 0o644); err != nil {
			return client.Cluster{}, err
		}
	}
	return cl, nil
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

func startDev(t *testing.T, f *devFake, args ...string) *devRun {
	t.Helper()
	f.t = t
	// A former run's marker must not let the brokers start early.
	os.Remove(filepath.Join(f.dir, fakeControllersReady))
	ctx, cancel := context.WithCancel(context.Background())
	r := &devRun{cancel: cancel, done: make(chan int, 1), label: strconv.Itoa(int(devRuns.Add(1)))}
	go func() {
		// The goroutines of the run inherit the label, which
		// waitNoGoroutines looks for.
		pprof.Do(ctx, pprof.Labels(devRunLabel, r.label), func(ctx context.Context) {
			r.done <- Main(ctx, append([]string{"dev"}, args...), Env{
				Stdout: &r.stdout, Stderr: &r.stderr, NewAdmin: f.newAdmin,
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
	testutil.WaitFor(t, 20*time.Second, func() error {
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

// waitNoGoroutines checks that no goroutine of the run outlives it:
// those left end just after Main returns.
func (r *devRun) waitNoGoroutines(t *testing.T) {
	t.Helper()
	label := fmt.Sprintf("%q:%q", devRunLabel, r.label)
	testutil.WaitFor(t, 5*time.Second, func() error {
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

var pidLine = regexp.MustCompile(`Started (?:controller|broker) \d+ \(pid (\d+)\)`)

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
		{[]string{"--brokers=-1"}, "--brokers must be between 0 and 89, not -1"},
		{[]string{"--brokers=90"}, "--brokers must be between 0 and 89, not 90"},
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
	o := devOptions{dataDir: "d", controllers: 3, brokers: 3, basePort: 9200, logLevel: "warn", logFormat: "json",
		controllerArgs: listFlag{"--num-partitions=3"}, brokerArgs: listFlag{"--auto-create-topics"}}
	nodes := devLayout(o, "/b/strata-controller", "/b/strata-broker", "CID")
	if len(nodes) != 6 {
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
	if n.props.ClusterID != "CID" || n.props.NodeID != 2 || n.props.Role != metaprops.RoleController ||
		metaprops.FormatVoters(n.props.Voters) != voters {
		t.Fatalf("props %+v", n.props)
	}

	b := nodes[4]
	if b.name() != "broker 102" || b.bin != "/b/strata-broker" || b.dataDir != filepath.Join("d", "broker-102") ||
		b.logPath != filepath.Join("d", "logs", "broker-102.log") || b.clientAddr() != "127.0.0.1:9212" ||
		!slices.Equal(b.addrs, []devAddr{{"127.0.0.1:9212", "gRPC"}}) {
		t.Fatalf("broker %+v", b)
	}
	if want := []string{"format", "--data-dir", filepath.Join("d", "broker-102"), "--cluster-id", "CID", "--node-id", "102"}; !slices.Equal(b.formatArgs, want) {
		t.Fatalf("broker format args %q\nwant %q", b.formatArgs, want)
	}
	if want := []string{"run", "--node-id", "102", "--cluster-id", "CID", "--data-dir", filepath.Join("d", "broker-102"),
		"--listen", "127.0.0.1:9212", "--controllers", "127.0.0.1:9201,127.0.0.1:9202,127.0.0.1:9203",
		"--log-level", "warn", "--log-format", "json", "--auto-create-topics"}; !slices.Equal(b.runArgs, want) {
		t.Fatalf("broker run args %q\nwant %q", b.runArgs, want)
	}
	if b.props.ClusterID != "CID" || b.props.NodeID != 102 || b.props.Role != metaprops.RoleBroker || b.props.Voters != nil {
		t.Fatalf("broker props %+v", b.props)
	}
	if got := clientAddrs(withRole(nodes, metaprops.RoleBroker)); !slices.Equal(got, []string{"127.0.0.1:9211", "127.0.0.1:9212", "127.0.0.1:9213"}) {
		t.Fatalf("broker addresses %q", got)
	}
	o.brokers = 0
	if nodes := devLayout(o, "c", "", "CID"); len(nodes) != 3 || len(withRole(nodes, metaprops.RoleBroker)) != 0 {
		t.Fatalf("--brokers 0: %d nodes", len(nodes))
	}
	// The most brokers stay below the Raft ports of the controllers.
	o.brokers = MaxDevBrokers
	last := devLayout(o, "c", "b", "CID")[3+MaxDevBrokers-1]
	if last.id != 189 || last.clientAddr() != "127.0.0.1:9299" {
		t.Fatalf("last broker %d at %s", last.id, last.clientAddr())
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
	for _, tc := range []struct {
		ids   []int32
		count int
		ok    bool
	}{{nil, 0, true}, {[]int32{101}, 1, true}, {[]int32{101, 102, 103}, 3, true}, {[]int32{101, 103}, 0, false}, {[]int32{102}, 0, false}} {
		if count, ok := devBrokerCount(tc.ids); count != tc.count || ok != tc.ok {
			t.Errorf("brokers %v: %d, %t; want %d, %t", tc.ids, count, ok, tc.count, tc.ok)
		}
	}
}

func TestDevBrokersReady(t *testing.T) {
	brokers := devLayout(devOptions{dataDir: "d", controllers: 1, brokers: 2, basePort: 9200}, "c", "b", "CID")[1:]
	for _, tc := range []struct {
		cl   client.Cluster
		want string
	}{
		{client.Cluster{ID: "other"}, "the brokers answer for cluster other, not CID"},
		{client.Cluster{ID: "CID"}, "0 of 2 brokers registered"},
		// Registrations of a former run are not the brokers starting now.
		{client.Cluster{ID: "CID", Brokers: []client.Broker{{ID: 101, Epoch: 40}, {ID: 102, Epoch: 51}}}, "1 of 2 brokers registered"},
		{client.Cluster{ID: "CID", Brokers: []client.Broker{{ID: 101, Epoch: 52, Fenced: true}, {ID: 102, Epoch: 51}}},
			"1 of 2 brokers unfenced (the others are catching up with the metadata)"},
		{client.Cluster{ID: "CID", Brokers: []client.Broker{{ID: 7, Epoch: 60}, {ID: 101, Epoch: 52}, {ID: 102, Epoch: 51}}}, ""},
	} {
		err := devBrokersReady(tc.cl, "CID", brokers, 50)
		if got := fmt.Sprint(err); (tc.want == "" && err != nil) || (tc.want != "" && got != tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cl, err, tc.want)
		}
	}
}

func TestFindDaemon(t *testing.T) {
	bin := fakeBinDir(t)
	if p, err := findDaemon(devControllerBinary, bin); err != nil || p != filepath.Join(bin, devControllerBinary) {
		t.Fatalf("--bin-dir: %q, %v", p, err)
	}
	if p, err := findDaemon(devBrokerBinary, bin); err != nil || p != filepath.Join(bin, devBrokerBinary) {
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
	_, err = findDaemon(devBrokerBinary, "")
	if want := "cannot find strata-broker in " + filepath.Dir(self) + " nor on PATH: build it (make build) or give --bin-dir"; err == nil || err.Error() != want {
		t.Fatalf("nowhere: %v\nwant %s", err, want)
	}
}

func TestDevRunsStopsAndKeepsItsData(t *testing.T) {
	// The daemons must not see the shell's STRATA_* variables.
	t.Setenv("STRATA_LISTEN", "127.0.0.1:1")
	bin := fakeBinDir(t)
	dir := filepath.Join(t.TempDir(), "dev")
	base := freeBasePort(t, 3, 3)
	args := []string{"--data-dir", dir, "--base-port", strconv.Itoa(base), "--bin-dir", bin}
	servers := fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", base+11, base+12, base+13)
	controllers := fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", base+1, base+2, base+3)

	fake := newDevFake(dir, 3, 3, readyAll)
	r := startDev(t, fake, args...)
	r.waitReady(t)
	out := r.stdout.String()
	// Ready means every broker runs, registered since this run began.
	for id := 101; id <= 103; id++ {
		if log := readFile(t, filepath.Join(dir, "logs", fmt.Sprintf("broker-%d.log", id))); !strings.Contains(log, "fake broker running\n") {
			t.Errorf("ready, but broker %d's log is %q", id, log)
		}
	}
	id := strings.TrimSpace(readFile(t, filepath.Join(dir, devClusterIDFile)))
	first := pids(t, out)
	if len(first) != 6 {
		t.Fatalf("pids %v", first)
	}
	self := devProgram()
	for _, want := range []string{
		"Using " + filepath.Join(bin, devControllerBinary) + "\nUsing " + filepath.Join(bin, devBrokerBinary) + "\n",
		fmt.Sprintf("Making a new dev cluster in %s: cluster id %s\n", dir, id),
		fmt.Sprintf("Started controller 2 (pid %d): gRPC 127.0.0.1:%d, Raft 127.0.0.1:%d; log %s\n",
			first[1], base+2, base+102, filepath.Join(dir, "logs", "controller-2.log")),
		fmt.Sprintf("Started controller 3 (pid %d): gRPC 127.0.0.1:%d, Raft 127.0.0.1:%d; log %s\nStarted broker 101 (pid %d): gRPC 127.0.0.1:%d; log %s\n",
			first[2], base+3, base+103, filepath.Join(dir, "logs", "controller-3.log"), first[3], base+11, filepath.Join(dir, "logs", "broker-101.log")),
		"\nStrata dev cluster ready. Cluster id: " + id + "\nbootstrap servers: " + servers + "\nbootstrap controllers: " + controllers + "\n\nTry:\n",
		"  " + self + " --bootstrap-server " + servers + " cluster describe\n",
		"  " + self + " --bootstrap-server " + servers + " topics create --topic demo --partitions 3 --replication-factor 3 --if-not-exists\n",
		"  " + self + " --bootstrap-server " + servers + " topics describe --topic demo\n",
		"  " + self + " --bootstrap-controller " + controllers + " quorum describe --status\n",
		"  tail -f " + filepath.Join(dir, "logs", "broker-101.log") + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	// The controllers' readiness comes from the controllers, the
	// brokers' from the brokers.
	if cfgs := fake.adminConfigs(); len(cfgs) != 2 || !slices.Equal(cfgs[0].Controllers, strings.Split(controllers, ",")) ||
		len(cfgs[0].Servers) != 0 || !slices.Equal(cfgs[1].Servers, strings.Split(servers, ",")) || len(cfgs[1].Controllers) != 0 {
		t.Errorf("admin clients %+v", cfgs)
	}
	r.cancel()
	if code := r.wait(t); code != ExitOK || r.stderr.String() != "" {
		t.Fatalf("exit %d, stderr %q", code, r.stderr.String())
	}
	if out := r.stdout.String(); !strings.HasSuffix(out, "Stopping 3 brokers and 3 controllers (Ctrl-C again kills at once)...\nStopped. The data stays in "+dir+".\n") {
		t.Fatalf("stdout ends:\n%s", out)
	}
	assertGone(t, first)
	log := readFile(t, filepath.Join(dir, "logs", "controller-3.log"))
	if want := "Formatted " + filepath.Join(dir, "controller-3") + "\nfake controller running\nfake controller stopping\n"; log != want {
		t.Fatalf("controller 3 log %q, want %q", log, want)
	}
	log = readFile(t, filepath.Join(dir, "logs", "broker-102.log"))
	if want := "Formatted " + filepath.Join(dir, "broker-102") + "\nfake broker running\nfake broker stopping\n"; log != want {
		t.Fatalf("broker 102 log %q, want %q", log, want)
	}

	// The second run reuses the data: same cluster, no formatting, and
	// fresh logs.
	r = startDev(t, newDevFake(dir, 3, 3, readyAll), args...)
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
	if log := readFile(t, filepath.Join(dir, "logs", "broker-103.log")); log != "fake broker running\nfake broker stopping\n" {
		t.Fatalf("second run: broker 103 log %q", log)
	}
}

// TestDevWithoutBrokers runs the controllers alone, which needs no
// strata-broker.
func TestDevWithoutBrokers(t *testing.T) {
	t.Parallel()
	bin := fakeBinDir(t, devControllerBinary)
	dir := filepath.Join(t.TempDir(), "dev")
	base := freeBasePort(t, 1, 0)
	r := startDev(t, newDevFake(dir, 1, 0, readyAll), "--data-dir", dir, "--controllers", "1", "--brokers", "0",
		"--base-port", strconv.Itoa(base), "--bin-dir", bin)
	r.waitReady(t)
	out := r.stdout.String()
	ctl := fmt.Sprintf("127.0.0.1:%d", base+1)
	for _, want := range []string{
		"(no brokers: --brokers 0)\nbootstrap controllers: " + ctl + "\n\nTry:\n",
		" --bootstrap-controller " + ctl + " cluster describe\n",
		"  tail -f " + filepath.Join(dir, "logs", "controller-1.log") + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "broker 10") || strings.Contains(out, devBrokerBinary) || strings.Contains(out, "bootstrap servers") {
		t.Errorf("stdout:\n%s", out)
	}
	r.cancel()
	if code := r.wait(t); code != ExitOK || !strings.HasSuffix(r.stdout.String(), "Stopping controller 1 (Ctrl-C again kills at once)...\nStopped. The data stays in "+dir+".\n") {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, r.stderr.String(), r.stdout.String())
	}
	assertGone(t, pids(t, r.stdout.String()))

	// The brokers need their daemon.
	res := run(t, nil, nil, "dev", "--data-dir", dir, "--controllers", "1", "--base-port", strconv.Itoa(base), "--bin-dir", bin)
	if want := "strata: --bin-dir " + bin + " has no executable strata-broker\n"; res.code != ExitFailed || res.stderr != want {
		t.Fatalf("exit %d, stderr %q, want %q", res.code, res.stderr, want)
	}
}

func TestDevDaemonExits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		arg, node, log, stopping string
		started                  int
	}{
		{"--controller-arg=--fake-fail=2", "controller 2", "controller-2.log", "Stopping 2 controllers", 3},
		{"--broker-arg=--fake-fail=102", "broker 102", "broker-102.log", "Stopping 2 brokers and 3 controllers", 6},
	} {
		t.Run(tc.node, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "dev")
			r := startDev(t, newDevFake(dir, 3, 3, readyAll), "--data-dir", dir, "--base-port", strconv.Itoa(freeBasePort(t, 3, 3)),
				"--bin-dir", fakeBinDir(t), tc.arg)
			if code := r.wait(t); code != ExitFailed {
				t.Fatalf("exit %d", code)
			}
			logPath := filepath.Join(dir, "logs", tc.log)
			program := "strata-" + strings.Fields(tc.node)[0]
			if want := "strata: " + tc.node + " exited: exit status 1 (" + program + ": boom); see " + logPath + "\n"; r.stderr.String() != want {
				t.Fatalf("stderr %q\nwant   %q", r.stderr.String(), want)
			}
			out := r.stdout.String()
			if !strings.Contains(out, tc.stopping+" (Ctrl-C again kills at once)...\n") || strings.Contains(out, "Stopped.") {
				t.Fatalf("stdout:\n%s", out)
			}
			p := pids(t, out)
			if len(p) != tc.started {
				t.Fatalf("%d daemons started, want %d:\n%s", len(p), tc.started, out)
			}
			assertGone(t, p)
		})
	}
}

func TestDevKillsDaemonsThatDoNotStop(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "dev")
	r := startDev(t, newDevFake(dir, 2, 1, readyAll), "--data-dir", dir, "--controllers", "2", "--brokers", "1",
		"--base-port", strconv.Itoa(freeBasePort(t, 2, 1)), "--bin-dir", fakeBinDir(t),
		"--controller-arg=--fake-ignore-term", "--broker-arg=--fake-ignore-term", "--stop-timeout=200ms")
	r.waitReady(t)
	r.cancel()
	if code := r.wait(t); code != ExitFailed {
		t.Fatalf("exit %d", code)
	}
	want := fmt.Sprintf("strata: broker 101 did not stop within 200ms of SIGTERM and was killed (see %s); "+
		"controller 1 did not stop within 200ms of SIGTERM and was killed (see %s); "+
		"controller 2 did not stop within 200ms of SIGTERM and was killed (see %s)\n",
		filepath.Join(dir, "logs", "broker-101.log"), filepath.Join(dir, "logs", "controller-1.log"), filepath.Join(dir, "logs", "controller-2.log"))
	if r.stderr.String() != want {
		t.Fatalf("stderr %q\nwant   %q", r.stderr.String(), want)
	}
	assertGone(t, pids(t, r.stdout.String()))
}

// TestDevSecondSignalKills sends SIGINT to this process while strata dev
// waits for daemons that ignore SIGTERM: it kills them all at once. Not
// parallel: the signal reaches every strata dev of the process.
func TestDevSecondSignalKills(t *testing.T) {
	// This process must not die of the signals.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	defer signal.Stop(sigs)
	dir := filepath.Join(t.TempDir(), "dev")
	r := startDev(t, newDevFake(dir, 2, 1, readyAll), "--data-dir", dir, "--controllers", "2", "--brokers", "1",
		"--base-port", strconv.Itoa(freeBasePort(t, 2, 1)), "--bin-dir", fakeBinDir(t),
		"--controller-arg=--fake-ignore-term", "--broker-arg=--fake-ignore-term", "--stop-timeout=1m")
	r.waitReady(t)
	r.cancel()
	// Until strata dev listens for the second signal, the signals are
	// lost; send them until it returns.
	testutil.WaitFor(t, 20*time.Second, func() error {
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
	want := fmt.Sprintf("strata: broker 101 was still running at the second signal and was killed (see %s); "+
		"controller 1 was still running at the second signal and was killed (see %s); "+
		"controller 2 was still running at the second signal and was killed (see %s)\n",
		filepath.Join(dir, "logs", "broker-101.log"), filepath.Join(dir, "logs", "controller-1.log"), filepath.Join(dir, "logs", "controller-2.log"))
	if r.stderr.String() != want {
		t.Fatalf("stderr %q\nwant   %q", r.stderr.String(), want)
	}
	assertGone(t, pids(t, r.stdout.String()))
}

func TestDevNotReadyInTime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		ready   fakeReadiness
		why     string
		started int
	}{
		{"controllers", readyNever, "0 of 3 controllers registered", 3},
		// The brokers of a former run, still registered, do not count.
		{"brokers", readyControllersOnly, "0 of 3 brokers registered", 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "dev")
			r := startDev(t, newDevFake(dir, 3, 3, tc.ready), "--data-dir", dir, "--base-port", strconv.Itoa(freeBasePort(t, 3, 3)),
				"--bin-dir", fakeBinDir(t), "--start-timeout=500ms")
			if code := r.wait(t); code != ExitFailed {
				t.Fatalf("exit %d", code)
			}
			if want := "strata: the cluster was not ready within 500ms: " + tc.why + "; see the logs in " +
				filepath.Join(dir, "logs") + "\n"; r.stderr.String() != want {
				t.Fatalf("stderr %q\nwant   %q", r.stderr.String(), want)
			}
			p := pids(t, r.stdout.String())
			if len(p) != tc.started {
				t.Fatalf("%d daemons started, want %d:\n%s", len(p), tc.started, r.stdout.String())
			}
			assertGone(t, p)
		})
	}
}

func TestDevInterruptedBeforeReady(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		ready    fakeReadiness
		started  int
		stopping string
	}{
		{"controllers", readyNever, 3, "Stopping 3 controllers"},
		{"brokers", readyControllersOnly, 6, "Stopping 3 brokers and 3 controllers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "dev")
			r := startDev(t, newDevFake(dir, 3, 3, tc.ready), "--data-dir", dir, "--base-port", strconv.Itoa(freeBasePort(t, 3, 3)),
				"--bin-dir", fakeBinDir(t))
			testutil.WaitFor(t, 20*time.Second, func() error {
				if len(pids(t, r.stdout.String())) < tc.started {
					return errors.New("not started")
				}
				return nil
			})
			r.cancel()
			out := r.stdout.String()
			if code := r.wait(t); code != ExitOK || r.stderr.String() != "" ||
				!strings.HasSuffix(r.stdout.String(), tc.stopping+" (Ctrl-C again kills at once)...\nStopped. The data stays in "+dir+".\n") {
				t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, r.stderr.String(), out)
			}
			assertGone(t, pids(t, r.stdout.String()))
		})
	}
}

func TestDevPortTaken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		offset int
		what   string
	}{{102, "controller 2 Raft"}, {12, "broker 102 gRPC"}} {
		t.Run(tc.what, func(t *testing.T) {
			base := freeBasePort(t, 3, 3)
			l, err := net.Listen("tcp", devAddress(base+tc.offset))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			dir := filepath.Join(t.TempDir(), "dev")
			r := run(t, nil, nil, "dev", "--data-dir", dir, "--base-port", strconv.Itoa(base), "--bin-dir", fakeBinDir(t))
			want := fmt.Sprintf("strata: cannot listen on 127.0.0.1:%d (%s): bind: address already in use; "+
				"is another strata dev running? Stop it, or pick another --base-port\n", base+tc.offset, tc.what)
			if r.code != ExitFailed || r.stderr != want || r.stdout != "" {
				t.Fatalf("exit %d\nstderr %q\nwant   %q\nstdout %q", r.code, r.stderr, want, r.stdout)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the data dir was made: %v", err)
			}
		})
	}
}

// TestDevDataDirMismatches checks the data dirs that strata dev refuses,
// before it starts anything.
func TestDevDataDirMismatches(t *testing.T) {
	t.Parallel()
	bin := fakeBinDir(t)
	layout := func(dir string, controllers, brokers, base int, id string) {
		t.Helper()
		if err := writeClusterID(dir, id); err != nil {
			t.Fatal(err)
		}
		for _, n := range devLayout(devOptions{dataDir: dir, controllers: controllers, brokers: brokers, basePort: base}, "c", "b", id) {
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
	layout(dir, 3, 3, 9200, metaprops.NewClusterID())
	for _, args := range [][]string{{"--base-port", "9300"}, {"--controllers", "5"}, {"--controllers", "1"},
		{"--brokers", "2"}, {"--brokers", "4"}, {"--brokers", "0"}, {"--controllers", "1", "--brokers", "1"}} {
		if got, want := dev(dir, args...), dir+" was made with --controllers 3 --brokers 3 --base-port 9200: run with those, or remove "+dir+" to start afresh"; got != want {
			t.Errorf("%q: %s\nwant %s", args, got, want)
		}
	}
	if err := os.RemoveAll(filepath.Join(dir, "broker-102")); err != nil {
		t.Fatal(err)
	}
	if got, want := dev(dir), dir+" has the data of brokers 101, 103, which strata dev does not make: remove "+dir+" to start afresh"; got != want {
		t.Errorf("a broker removed: %s\nwant %s", got, want)
	}

	// A DIR without brokers (from --brokers 0, or from before strata dev
	// ran brokers) gets them; the check of its layout names --brokers 0.
	dir = filepath.Join(t.TempDir(), "dev")
	layout(dir, 3, 0, 9200, metaprops.NewClusterID())
	if got, want := dev(dir, "--base-port", "9300"), dir+" was made with --controllers 3 --brokers 0 --base-port 9200: run with those, or remove "+dir+" to start afresh"; got != want {
		t.Errorf("no brokers: %s\nwant %s", got, want)
	}
	o := devOptions{dataDir: dir, controllers: 3, brokers: 3, basePort: 9200}
	dd, nodes, err := inspectDataDir(o, func(id string) []*devNode { return devLayout(o, "c", "b", id) })
	if err != nil || dd.fresh || len(nodes) != 6 || len(dd.unformatted) != 3 || !slices.Equal(dd.unformatted, withRole(nodes, metaprops.RoleBroker)) {
		t.Fatalf("brokers added: %+v, %d nodes, %v", dd, len(nodes), err)
	}

	dir = filepath.Join(t.TempDir(), "dev")
	other := metaprops.NewClusterID()
	layout(dir, 3, 3, 9200, other)
	id := metaprops.NewClusterID()
	if err := writeClusterID(dir, id); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%s belongs to cluster %s, not to %s (%s): remove %s to start afresh",
		filepath.Join(dir, "controller-1"), other, id, filepath.Join(dir, devClusterIDFile), dir)
	if got := dev(dir); got != want {
		t.Errorf("another cluster: %s\nwant %s", got, want)
	}
	// A broker of another cluster.
	for i := 1; i <= 3; i++ {
		if err := os.RemoveAll(filepath.Join(dir, fmt.Sprintf("controller-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	want = fmt.Sprintf("%s belongs to cluster %s, not to %s (%s): remove %s to start afresh",
		filepath.Join(dir, "broker-101"), other, id, filepath.Join(dir, devClusterIDFile), dir)
	if got := dev(dir); got != want {
		t.Errorf("a broker of another cluster: %s\nwant %s", got, want)
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
