// Package cluster starts Strata clusters inside one test process: real
// controllers (dragonboat Raft over loopback, gRPC on 127.0.0.1), each in a
// formatted temporary data dir, stopped and waited for when the test ends.
package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metaprops"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/pkg/testutil"
	"github.com/strata-log/strata/services/controller/controller"
)

// Options shape a cluster.
type Options struct {
	// Controllers is the number of voters (default 3).
	Controllers int
	// BrokerSessionTimeout for the controllers (default 3 s).
	BrokerSessionTimeout time.Duration
	// SnapshotEntries and WatchWindow tune snapshots and the watch window.
	SnapshotEntries uint64
	WatchWindow     int
	// DefaultReplicationFactor for topics created with -1.
	DefaultReplicationFactor int32
	// LeaderRebalanceInterval for the controllers (default 10 s).
	LeaderRebalanceInterval time.Duration
	// Logs, when true, sends the daemons' logs to stderr.
	Logs bool
}

// Cluster is a running test cluster.
type Cluster struct {
	t           testing.TB
	opts        Options
	ClusterID   string
	Voters      map[int32]string
	Controllers map[int32]*Controller
	logs        logBuffer

	brokersMu sync.Mutex
	brokers   map[int32]*Broker
}

// Controller is one controller of a test cluster.
type Controller struct {
	ID   int32
	Dir  string
	Addr string

	mu     sync.Mutex // guards srv: tests stop controllers while brokers look for the active one
	srv    *controller.Server
	cancel context.CancelFunc
	done   chan error
	conn   *grpc.ClientConn
}

// Server is the running controller, nil while stopped.
func (c *Controller) Server() *controller.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.srv
}

// Running reports whether the controller runs.
func (c *Controller) Running() bool { return c.Server() != nil }

func (c *Controller) setServer(s *controller.Server) {
	c.mu.Lock()
	c.srv = s
	c.mu.Unlock()
}

// Start formats and starts a cluster and waits until it has an active
// controller.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Controllers == 0 {
		opts.Controllers = 3
	}
	c := &Cluster{
		t: t, opts: opts, ClusterID: metaprops.NewClusterID(),
		Voters: make(map[int32]string), Controllers: make(map[int32]*Controller),
	}
	root := t.TempDir()
	for i := 1; i <= opts.Controllers; i++ {
		id := int32(i)
		c.Voters[id] = testutil.FreeAddr(t)
		c.Controllers[id] = &Controller{ID: id, Dir: filepath.Join(root, fmt.Sprintf("controller-%d", id))}
	}
	for id, ctl := range c.Controllers {
		if err := metaprops.Format(ctl.Dir, metaprops.Props{
			ClusterID: c.ClusterID, NodeID: id, Role: metaprops.RoleController, Voters: c.Voters,
		}, false); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c.stopAll()
		if t.Failed() {
			t.Logf("daemon logs:\n%s", c.logs.String())
		}
	})
	for id := range c.Controllers {
		c.StartController(id)
	}
	c.WaitActive(20 * time.Second)
	// Ready: every controller knows every controller's address.
	testutil.WaitFor(t, 10*time.Second, func() error {
		for id, ctl := range c.Controllers {
			for other := range c.Controllers {
				if _, ok := ctl.Server().Image().Controller(other); !ok {
					return fmt.Errorf("controller %d does not know controller %d yet", id, other)
				}
			}
		}
		return nil
	})
	return c
}

func (c *Cluster) logger(id int32) *slog.Logger {
	var w io.Writer = &c.logs
	if c.opts.Logs {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})).With("test_node", id)
}

// logBuffer keeps the daemons' logs for a failed test to show.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// StartController starts (or restarts) a stopped controller on its data dir
// and address.
func (c *Cluster) StartController(id int32) {
	c.t.Helper()
	ctl := c.Controllers[id]
	if ctl.Running() {
		c.t.Fatalf("controller %d is running", id)
	}
	addr := ctl.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var l net.Listener
	err := testutil.Poll(5*time.Second, func() error {
		var err error
		l, err = net.Listen("tcp", addr) // the old port may linger briefly
		return err
	})
	if err != nil {
		c.t.Fatalf("controller %d: listen: %v", id, err)
	}
	srv, err := controller.New(controller.Config{
		NodeID: id, ClusterID: c.ClusterID, DataDir: ctl.Dir, Listener: l, Voters: c.Voters,
		BrokerSessionTimeout: c.opts.BrokerSessionTimeout, SnapshotEntries: c.opts.SnapshotEntries,
		WatchWindow: c.opts.WatchWindow, DefaultReplicationFactor: c.opts.DefaultReplicationFactor,
		LeaderRebalanceInterval: c.opts.LeaderRebalanceInterval,
		Logger:                  c.logger(id), ShutdownTimeout: 2 * time.Second,
	})
	if err != nil {
		_ = l.Close()
		c.t.Fatalf("controller %d: %v", id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ctl.setServer(srv)
	ctl.cancel, ctl.done, ctl.Addr = cancel, make(chan error, 1), srv.Addr()
	go func() { ctl.done <- srv.Run(ctx) }()
	if ctl.conn == nil {
		conn, err := rpc.Dial(ctl.Addr, rpc.DialConfig{})
		if err != nil {
			c.t.Fatal(err)
		}
		ctl.conn = conn
	}
}

// StopController stops a controller cleanly and waits for it.
func (c *Cluster) StopController(id int32) {
	c.t.Helper()
	ctl := c.Controllers[id]
	if !ctl.Running() {
		return
	}
	ctl.cancel()
	select {
	case err := <-ctl.done:
		if err != nil {
			c.t.Errorf("controller %d stopped with: %v", id, err)
		}
	case <-time.After(30 * time.Second):
		c.t.Fatalf("controller %d did not stop within 30s", id)
	}
	ctl.setServer(nil)
}

func (c *Cluster) stopAll() {
	for id, ctl := range c.Controllers {
		c.StopController(id)
		if ctl.conn != nil {
			_ = ctl.conn.Close()
		}
	}
}

// Active waits for an active controller among the running ones and
// returns it.
func (c *Cluster) WaitActive(timeout time.Duration) *Controller {
	c.t.Helper()
	var active *Controller
	testutil.WaitFor(c.t, timeout, func() error {
		for _, ctl := range c.Controllers {
			if srv := ctl.Server(); srv != nil && srv.IsActive() {
				active = ctl
				return nil
			}
		}
		return fmt.Errorf("no active controller")
	})
	return active
}

// Standby returns a running controller that is not active.
func (c *Cluster) Standby() *Controller {
	c.t.Helper()
	for _, ctl := range c.Controllers {
		if srv := ctl.Server(); srv != nil && !srv.IsActive() {
			return ctl
		}
	}
	c.t.Fatal("no running standby controller")
	return nil
}

// Admin is an AdminService client for a controller.
func (c *Cluster) Admin(id int32) stratav1.AdminServiceClient {
	return stratav1.NewAdminServiceClient(c.Controllers[id].conn)
}

// ControllerClient is a ControllerService client for a controller.
func (c *Cluster) ControllerClient(id int32) stratav1.ControllerServiceClient {
	return stratav1.NewControllerServiceClient(c.Controllers[id].conn)
}

// Bootstrap is every controller's gRPC address, comma-separated.
func (c *Cluster) Bootstrap() string {
	s := ""
	for id := int32(1); id <= int32(len(c.Controllers)); id++ {
		if s != "" {
			s += ","
		}
		s += c.Controllers[id].Addr
	}
	return s
}
