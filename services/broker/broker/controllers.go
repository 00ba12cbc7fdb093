package broker

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/rpc"
)

// controllers calls the controllers: it keeps one connection per address,
// sticks to the controller that last answered, follows NOT_CONTROLLER
// hints and moves on to the next address when one fails.
type controllers struct {
	seeds []string
	known func() []string // addresses learnt from the metadata

	mu      sync.Mutex
	conns   map[string]*grpc.ClientConn
	current string
}

func newControllers(seeds []string, known func() []string) *controllers {
	return &controllers{seeds: seeds, known: known, conns: make(map[string]*grpc.ClientConn)}
}

func (c *controllers) conn(addr string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cc, ok := c.conns[addr]; ok {
		return cc, nil
	}
	cc, err := rpc.Dial(addr, rpc.DialConfig{})
	if err != nil {
		return nil, err
	}
	c.conns[addr] = cc
	return cc, nil
}

func (c *controllers) addresses() []string {
	c.mu.Lock()
	cur := c.current
	c.mu.Unlock()
	addrs := slices.Clone(c.seeds)
	for _, a := range c.known() {
		if !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	if i := slices.Index(addrs, cur); i > 0 {
		addrs = append(addrs[i:], addrs[:i]...)
	}
	return addrs
}

// call runs fn against controllers until it succeeds, fails with an error
// no other controller would answer differently, or ctx ends.
func (c *controllers) call(ctx context.Context, fn func(context.Context, *grpc.ClientConn) error) error {
	backoff := 20 * time.Millisecond
	for {
		var last error
		for _, addr := range c.addresses() {
			err := c.try(ctx, addr, fn)
			if err == nil {
				return nil
			}
			last = err
			e := rpc.FromError(err)
			if e == nil || !movable(e) {
				return err
			}
			if hint := e.Controller.GetAddress(); hint != "" && hint != addr {
				if err := c.try(ctx, hint, fn); err == nil {
					return nil
				} else {
					last = err
				}
			}
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), last)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

func (c *controllers) try(ctx context.Context, addr string, fn func(context.Context, *grpc.ClientConn) error) error {
	cc, err := c.conn(addr)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := fn(actx, cc); err != nil {
		return err
	}
	c.mu.Lock()
	c.current = addr
	c.mu.Unlock()
	return nil
}

// movable reports whether another controller may answer differently.
func movable(e *rpc.Error) bool {
	switch e.Code {
	case stratav1.ErrorCode_ERROR_CODE_NOT_CONTROLLER, stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION,
		stratav1.ErrorCode_ERROR_CODE_REQUEST_TIMED_OUT, stratav1.ErrorCode_ERROR_CODE_BROKER_NOT_AVAILABLE:
		return true
	default:
		return false
	}
}

func (c *controllers) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for addr, cc := range c.conns {
		_ = cc.Close()
		delete(c.conns, addr)
	}
}
