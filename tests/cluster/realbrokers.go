package cluster

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metaprops"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/pkg/testutil"
	"github.com/strata-log/strata/services/broker/broker"
)

// Broker is a real broker daemon of a test cluster, run in-process.
type Broker struct {
	ID   int32
	Dir  string
	Addr string
	Rack string

	mu     sync.Mutex
	srv    *broker.Server
	cancel context.CancelFunc
	done   chan error
	conn   *grpc.ClientConn
	knobs  func(*broker.Config)
}

// Server is the running broker, nil while stopped.
func (b *Broker) Server() *broker.Server {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.srv
}

// AddBroker formats a data dir for broker id and starts a real broker in
// this process, then waits until the controllers have it unfenced. configure,
// when set, adjusts its Config (test knobs).
func (c *Cluster) AddBroker(id int32, rack string, configure func(*broker.Config)) *Broker {
	c.t.Helper()
	b := &Broker{ID: id, Rack: rack, Dir: filepath.Join(c.t.TempDir(), fmt.Sprintf("broker-%d", id)), knobs: configure}
	if err := metaprops.Format(b.Dir, metaprops.Props{ClusterID: c.ClusterID, NodeID: id, Role: metaprops.RoleBroker}, false); err != nil {
		c.t.Fatal(err)
	}
	c.brokersMu.Lock()
	if c.brokers == nil {
		c.brokers = make(map[int32]*Broker)
	}
	c.brokers[id] = b
	c.brokersMu.Unlock()
	c.t.Cleanup(func() { c.StopRealBroker(id) })
	c.StartRealBroker(id)
	return b
}

// RealBroker returns a broker added with AddBroker.
func (c *Cluster) RealBroker(id int32) *Broker {
	c.brokersMu.Lock()
	defer c.brokersMu.Unlock()
	return c.brokers[id]
}

// StartRealBroker (re)starts a stopped broker on its data dir and address
// and waits until it is registered and unfenced.
func (c *Cluster) StartRealBroker(id int32) {
	c.t.Helper()
	b := c.RealBroker(id)
	addr := b.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var l net.Listener
	if err := testutil.Poll(5*time.Second, func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		c.t.Fatalf("broker %d: listen: %v", id, err)
	}
	var ctls []string
	for _, ctl := range c.Controllers {
		ctls = append(ctls, ctl.Addr)
	}
	sort.Strings(ctls)
	cfg := broker.Config{
		NodeID: id, ClusterID: c.ClusterID, DataDir: b.Dir, Listener: l, Controllers: ctls, Rack: b.Rack,
		HeartbeatInterval: 100 * time.Millisecond, Logger: c.logger(id), ShutdownTimeout: 5 * time.Second,
	}
	if b.knobs != nil {
		b.knobs(&cfg)
	}
	srv, err := broker.New(cfg)
	if err != nil {
		_ = l.Close()
		c.t.Fatalf("broker %d: %v", id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.mu.Lock()
	b.srv, b.cancel, b.done, b.Addr = srv, cancel, make(chan error, 1), srv.Addr()
	b.mu.Unlock()
	go func() { b.done <- srv.Run(ctx) }()
	if b.conn == nil {
		conn, err := rpc.Dial(b.Addr, rpc.DialConfig{})
		if err != nil {
			c.t.Fatal(err)
		}
		b.conn = conn
		c.t.Cleanup(func() { _ = conn.Close() })
	}
	testutil.WaitFor(c.t, 20*time.Second, func() error {
		if srv.Fenced() || srv.Epoch() == 0 {
			return fmt.Errorf("broker %d not registered and unfenced yet", id)
		}
		return nil
	})
}

// StopRealBroker stops a broker cleanly (controlled shutdown first) and
// waits for it.
func (c *Cluster) StopRealBroker(id int32) {
	c.t.Helper()
	b := c.RealBroker(id)
	b.mu.Lock()
	srv, cancel, done := b.srv, b.cancel, b.done
	b.srv = nil
	b.mu.Unlock()
	if srv == nil {
		return
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			c.t.Errorf("broker %d stopped with: %v", id, err)
		}
	case <-time.After(30 * time.Second):
		c.t.Fatalf("broker %d did not stop within 30s", id)
	}
}

// BrokerClient is a BrokerService client for a real broker.
func (c *Cluster) BrokerClient(id int32) stratav1.BrokerServiceClient {
	return stratav1.NewBrokerServiceClient(c.RealBroker(id).conn)
}

// BrokerAdmin is an AdminService client on a real broker (it forwards to
// the controllers).
func (c *Cluster) BrokerAdmin(id int32) stratav1.AdminServiceClient {
	return stratav1.NewAdminServiceClient(c.RealBroker(id).conn)
}

// BootstrapServers is every real broker's address, comma-separated.
func (c *Cluster) BootstrapServers() string {
	c.brokersMu.Lock()
	defer c.brokersMu.Unlock()
	var addrs []string
	for _, b := range c.brokers {
		addrs = append(addrs, b.Addr)
	}
	sort.Strings(addrs)
	return strings.Join(addrs, ",")
}
