package e2e

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

	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/pkg/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

// binaries are the built commands.
type binaries struct {
	strata     string
	controller string
	broker     string
}

// build compiles the binaries into a temporary directory, from the
// workspace this test runs in.
func build(t *testing.T) binaries {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool must be on PATH to build the binaries: %v", err)
	}
	dir := t.TempDir()
	b := binaries{strata: filepath.Join(dir, "strata"), controller: filepath.Join(dir, "strata-controller"), broker: filepath.Join(dir, "strata-broker")}
	for out, pkg := range map[string]string{b.strata: "../../cmd/strata", b.controller: "../../services/controller", b.broker: "../../services/broker"} {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		cmd := exec.CommandContext(ctx, goTool, "build", "-o", out, pkg)
		output, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, output)
		}
	}
	return b
}

// cli is the outcome of one command line.
type cli struct {
	stdout, stderr string
	code           int
}

// run runs a binary to completion (within 30 s) with extra environment
// variables.
func run(t *testing.T, env []string, bin string, args ...string) cli {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
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
		t.Fatalf("%s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	return r
}

// mustRun runs a command that must succeed and returns its stdout.
func mustRun(t *testing.T, bin string, args ...string) string {
	t.Helper()
	r := run(t, nil, bin, args...)
	if r.code != 0 {
		t.Fatalf("%s %s: exit %d\nstdout: %s\nstderr: %s", filepath.Base(bin), strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// daemon is a running process.
type daemon struct {
	name   string
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{} // closed once Wait returned; err is then set
	err    error
}

func start(t *testing.T, name, bin string, args ...string) *daemon {
	t.Helper()
	d := &daemon{name: name, cmd: exec.Command(bin, args...), logs: &syncBuffer{}, exited: make(chan struct{})}
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		d.kill()
		if t.Failed() {
			t.Logf("%s logs:\n%s", name, d.logs.String())
		}
	})
	return d
}

// kill sends SIGKILL (as kill -9) unless the process has exited, and waits.
func (d *daemon) kill() {
	select {
	case <-d.exited:
	default:
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (d *daemon) stop(t *testing.T, within time.Duration) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("%s: SIGTERM: %v", d.name, err)
	}
	select {
	case <-d.exited:
		if d.err != nil {
			t.Errorf("%s exited with %v after SIGTERM", d.name, d.err)
		}
	case <-time.After(within):
		t.Errorf("%s did not exit within %v of SIGTERM", d.name, within)
		d.kill()
	}
}

// controllerSet is a formatted quorum of controller processes.
type controllerSet struct {
	bin    binaries
	voters string
	grpc   []string
	raft   []string
	dirs   []string
	procs  []*daemon
}

// startControllers formats n controllers of cluster clusterID with the real
// binary and starts them on free loopback ports.
func startControllers(t *testing.T, bin binaries, clusterID string, n int) *controllerSet {
	t.Helper()
	s := &controllerSet{bin: bin, grpc: make([]string, n), raft: make([]string, n), dirs: make([]string, n), procs: make([]*daemon, n)}
	var voters []string
	for i := range n {
		s.grpc[i], s.raft[i] = testutil.FreeAddr(t), testutil.FreeAddr(t)
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, s.raft[i]))
	}
	s.voters = strings.Join(voters, ",")
	root := t.TempDir()
	for i := range n {
		id := strconv.Itoa(i + 1)
		s.dirs[i] = filepath.Join(root, "controller-"+id)
		out := mustRun(t, bin.controller, "format", "--data-dir", s.dirs[i], "--cluster-id", clusterID, "--node-id", id,
			"--controller-quorum-voters", s.voters)
		if want := fmt.Sprintf("Formatted %s for cluster %s, controller %s\n", s.dirs[i], clusterID, id); out != want {
			t.Fatalf("format printed %q, want %q", out, want)
		}
		s.start(t, i)
	}
	return s
}

// start (re)starts controller i (0-based) on its data dir and addresses.
func (s *controllerSet) start(t *testing.T, i int) {
	t.Helper()
	id := strconv.Itoa(i + 1)
	s.procs[i] = start(t, "controller "+id, s.bin.controller, "run", "--node-id", id, "--data-dir", s.dirs[i],
		"--listen", s.grpc[i], "--controller-quorum-voters", s.voters, "--log-level", "warn", "--log-format", "text")
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// broker speaks the broker side of the ControllerService (register,
// heartbeat) without storing anything, until there is a broker daemon: it
// follows the active controller through NOT_CONTROLLER hints.
type broker struct {
	id     int32
	cancel context.CancelFunc
	done   chan struct{}
}

func startBroker(t *testing.T, clusterID string, controllers []string, id int32, rack string) *broker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &broker{id: id, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		b.loop(ctx, clusterID, controllers, rack)
	}()
	t.Cleanup(b.stop)
	return b
}

func (b *broker) stop() {
	b.cancel()
	<-b.done
}

func (b *broker) loop(ctx context.Context, clusterID string, controllers []string, rack string) {
	conns := make(map[string]*grpc.ClientConn)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	conn := func(addr string) (stratav1.ControllerServiceClient, error) {
		if c, ok := conns[addr]; ok {
			return stratav1.NewControllerServiceClient(c), nil
		}
		c, err := rpc.Dial(addr, rpc.DialConfig{})
		if err != nil {
			return nil, err
		}
		conns[addr] = c
		return stratav1.NewControllerServiceClient(c), nil
	}
	incarnation := metadata.NewTopicID().String()
	target, next := controllers[0], 0
	var epoch int64
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		client, err := conn(target)
		if err != nil {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if epoch == 0 {
			var resp *stratav1.RegisterBrokerResponse
			resp, err = client.RegisterBroker(rctx, &stratav1.RegisterBrokerRequest{
				BrokerId: b.id, ClusterId: clusterID, IncarnationId: incarnation,
				Address: fmt.Sprintf("127.0.0.1:%d", 19000+b.id), Rack: rack,
			})
			if err == nil {
				epoch = resp.GetBrokerEpoch()
			}
		} else {
			// The broker has applied the metadata up to its own
			// registration, which is what unfencing waits for.
			_, err = client.BrokerHeartbeat(rctx, &stratav1.BrokerHeartbeatRequest{BrokerId: b.id, BrokerEpoch: epoch, MetadataOffset: epoch})
		}
		cancel()
		if err == nil || ctx.Err() != nil {
			continue
		}
		e := rpc.FromError(err)
		switch {
		case e.Code == stratav1.ErrorCode_ERROR_CODE_NOT_CONTROLLER && e.Controller.GetAddress() != "":
			target = e.Controller.GetAddress()
		case e.Code == stratav1.ErrorCode_ERROR_CODE_STALE_BROKER_EPOCH:
			epoch = 0
		default:
			next = (next + 1) % len(controllers)
			target = controllers[next]
		}
	}
}
