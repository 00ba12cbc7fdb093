package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/rpc"
)

// router chooses the address of each attempt. It starts with the first
// bootstrap address and is sticky: requests keep going to the address that
// answered last, because a controller answers a write once its own image has
// it, so staying on one server reads your own writes (a standby's image may
// trail the active controller's by a moment). It moves on, round robin, only
// when that address fails, and prefers the active controller once a
// NOT_CONTROLLER answer has named it.
type router struct {
	addrs []string

	mu        sync.Mutex
	cur       int    // index in addrs of the sticky address
	preferred string // the active controller from a hint; "" when none
}

func newRouter(addrs []string) *router {
	return &router{addrs: addrs}
}

// next is the address of the next attempt.
func (r *router) next() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.preferred != "" {
		return r.preferred
	}
	return r.addrs[r.cur]
}

// failed moves away from addr, to hint when it names another address.
func (r *router) failed(addr, hint string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch addr {
	case r.preferred:
		r.preferred = ""
	case r.addrs[r.cur]:
		r.cur = (r.cur + 1) % len(r.addrs)
	}
	if hint != "" && hint != addr {
		r.preferred = hint
	}
}

// caller runs requests with retries over a pool; the admin client embeds
// it, and so will the producer and consumer for their controller calls.
type caller struct {
	cfg   cfg
	pool  *pool
	route *router
}

func newCaller(opts []Opt) (*caller, error) {
	c, err := newCfg(opts)
	if err != nil {
		return nil, err
	}
	p, err := newPool(&c)
	if err != nil {
		return nil, err
	}
	return &caller{cfg: c, pool: p, route: newRouter(c.bootstrap())}, nil
}

// do runs fn on a connection to a bootstrap address, retrying retriable
// failures on the next address (or the active controller a NOT_CONTROLLER
// answer names) until it succeeds, fails for good, runs out of retries or
// ctx ends. Every attempt is bounded by the request timeout. The returned
// error starts with "client: <op>:" and, for a server's or the network's
// failure, wraps an *Error.
func (c *caller) do(ctx context.Context, op string, fn func(context.Context, grpc.ClientConnInterface) error) error {
	tried := make(map[string]bool) // addresses failed since the last backoff
	var prev error                 // the failure of the previous attempt
	backoffs := 0
	for attempt := 0; ; attempt++ {
		if c.pool.isClosed() {
			return fmt.Errorf("client: %s: %w", op, ErrClosed)
		}
		addr := c.route.next()
		e := c.attempt(ctx, addr, fn)
		if e == nil {
			return nil
		}
		if errors.Is(e, ErrClosed) || c.pool.isClosed() {
			return fmt.Errorf("client: %s: %w", op, ErrClosed)
		}
		if ctx.Err() != nil {
			if prev != nil {
				return fmt.Errorf("client: %s: %w (last error: %w)", op, ctx.Err(), prev)
			}
			return fmt.Errorf("client: %s: %w", op, ctx.Err())
		}
		var re *rpc.Error
		if !errors.As(e, &re) {
			return fmt.Errorf("client: %s: %w", op, e)
		}
		err := fromRPC(re)
		if !err.Retriable {
			return fmt.Errorf("client: %s: %w", op, err)
		}
		hint := ""
		if re.Code == stratav1.ErrorCode_ERROR_CODE_NOT_CONTROLLER {
			hint = re.Controller.GetAddress()
		}
		tried[addr] = true
		c.route.failed(addr, hint)
		if attempt >= c.cfg.retries {
			return fmt.Errorf("client: %s: %d attempts failed, the last at %s: %w", op, attempt+1, addr, err)
		}
		prev = err
		following := c.route.next()
		var wait time.Duration
		if tried[following] {
			wait = c.backoff(backoffs)
			backoffs++
			clear(tried)
		}
		c.cfg.logger.Debug("client: retrying", "op", op, "address", addr, "err", err,
			"attempt", attempt+1, "next_address", following, "backoff", wait)
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("client: %s: %w (last error: %w)", op, ctx.Err(), prev)
			case <-t.C:
			}
		}
	}
}

// attempt runs fn once against addr. Connection failures come back as
// NETWORK_EXCEPTION *rpc.Errors, and the connection is dropped.
func (c *caller) attempt(ctx context.Context, addr string, fn func(context.Context, grpc.ClientConnInterface) error) error {
	cc, err := c.pool.get(addr)
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return err
		}
		return rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION, "%v", err)
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.requestTimeout)
	defer cancel()
	err = fn(actx, cc)
	if err == nil {
		return nil
	}
	if status.Code(err) == codes.Canceled && ctx.Err() == nil {
		// Not our cancellation: the connection was closed under the call
		// (another request dropped it, or Close).
		err = rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION, "connection to %s closed: %v", addr, err)
	}
	re := rpc.FromError(err)
	if re.Code == stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION {
		c.pool.drop(addr, cc)
		c.cfg.logger.Warn("client: connection failed", "address", addr, "err", re)
	}
	return re
}

// backoff is the wait before the n-th (from 0) backed-off retry.
func (c *caller) backoff(n int) time.Duration {
	d := c.cfg.backoffMin
	for range n {
		d *= 2
		if d >= c.cfg.backoffMax {
			d = c.cfg.backoffMax
			break
		}
	}
	jitter := 0.8 + 0.4*rand.Float64() //nolint:gosec // jitter needs no cryptographic randomness
	return time.Duration(float64(d) * jitter)
}

func (c *caller) close() error { return c.pool.close() }
