package client

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/strata-log/strata/pkg/rpc"
)

// pool holds one gRPC connection per address, shared by every request of a
// client. A connection that fails is dropped, so the next request to that
// address dials afresh instead of waiting out gRPC's reconnect backoff.
type pool struct {
	opts []grpc.DialOption

	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	closed bool
}

func newPool(c *cfg) (*pool, error) {
	dc := c.dial
	if dc.UserAgent == "" {
		dc.UserAgent = c.clientID
	}
	opts, err := rpc.DialOptions(dc)
	if err != nil {
		return nil, fmt.Errorf("client: DialConfig: %w", err)
	}
	bo := backoff.DefaultConfig
	// gRPC gives a connection attempt max(MinConnectTimeout, the current
	// reconnect backoff): a small base delay lets DialTimeout rule.
	bo.BaseDelay = 100 * time.Millisecond
	opts = append(opts, grpc.WithConnectParams(grpc.ConnectParams{
		Backoff: bo,
		// A connection attempt that has not succeeded by then fails, and
		// so do the calls waiting for it: a black-holed address costs
		// DialTimeout, not the whole request timeout.
		MinConnectTimeout: c.dialTimeout,
	}))
	opts = append(opts, c.grpcOpts...)
	return &pool{opts: opts, conns: make(map[string]*grpc.ClientConn)}, nil
}

// get returns the connection to addr, making one if needed. Like
// grpc.NewClient, it does not connect: the first call does.
func (p *pool) get(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if cc, ok := p.conns[addr]; ok {
		return cc, nil
	}
	cc, err := grpc.NewClient(addr, p.opts...)
	if err != nil {
		return nil, fmt.Errorf("client: connect to %s: %w", addr, err)
	}
	p.conns[addr] = cc
	return cc, nil
}

// drop closes the connection to addr if it still is cc.
func (p *pool) drop(addr string, cc *grpc.ClientConn) {
	p.mu.Lock()
	if p.conns[addr] != cc {
		cc = nil
	} else {
		delete(p.conns, addr)
	}
	p.mu.Unlock()
	if cc != nil {
		_ = cc.Close()
	}
}

func (p *pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// close closes every connection; calls in flight fail. It is idempotent.
func (p *pool) close() error {
	p.mu.Lock()
	conns := p.conns
	p.conns, p.closed = nil, true
	p.mu.Unlock()
	var errs []error
	for _, cc := range conns {
		errs = append(errs, cc.Close())
	}
	return errors.Join(errs...)
}
