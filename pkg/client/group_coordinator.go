package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/rpc"
)

// coordinators finds the coordinators of groups (FindCoordinator on any
// broker) and remembers them, and runs group calls on them, finding the
// coordinator again when it moved.
type coordinators struct {
	c *caller

	mu    sync.Mutex
	addrs map[string]string // group -> coordinator address
}

func newCoordinators(c *caller) *coordinators {
	return &coordinators{c: c, addrs: make(map[string]string)}
}

// coordinatorMoved reports whether an error means the call should go to the
// group's coordinator again, found afresh.
func coordinatorMoved(code stratav1.ErrorCode) bool {
	switch code {
	case stratav1.ErrorCode_ERROR_CODE_NOT_COORDINATOR, stratav1.ErrorCode_ERROR_CODE_COORDINATOR_NOT_AVAILABLE,
		stratav1.ErrorCode_ERROR_CODE_COORDINATOR_LOAD_IN_PROGRESS, stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION,
		stratav1.ErrorCode_ERROR_CODE_BROKER_NOT_AVAILABLE, stratav1.ErrorCode_ERROR_CODE_REQUEST_TIMED_OUT:
		return true
	default:
		return false
	}
}

// find returns the address of a group's coordinator: the remembered one,
// or FindCoordinator's answer, asked until it names one or ctx ends.
func (k *coordinators) find(ctx context.Context, group string) (string, error) {
	k.mu.Lock()
	addr, ok := k.addrs[group]
	k.mu.Unlock()
	if ok {
		return addr, nil
	}
	for attempt := 0; ; attempt++ {
		var resp *stratav1.FindCoordinatorResponse
		err := k.c.do(ctx, "FindCoordinator", func(ctx context.Context, cc grpc.ClientConnInterface) (err error) {
			resp, err = stratav1.NewGroupServiceClient(cc).FindCoordinator(ctx, &stratav1.FindCoordinatorRequest{GroupIds: []string{group}})
			return err
		})
		if err != nil {
			return "", err
		}
		var co *stratav1.Coordinator
		if cs := resp.GetCoordinators(); len(cs) == 1 {
			co = cs[0]
		}
		switch {
		case co == nil:
			err = newError(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_SERVER_ERROR, "the broker's answer lacks the group")
		case co.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE:
			err = resultError(co.GetErrorCode(), co.GetErrorMessage())
		default:
			k.remember(group, co.GetAddress())
			return co.GetAddress(), nil
		}
		if !IsRetriable(err) {
			return "", fmt.Errorf("client: FindCoordinator: group %s: %w", group, err)
		}
		if serr := k.c.sleep(ctx, attempt); serr != nil {
			return "", fmt.Errorf("client: FindCoordinator: group %s: %w (last error: %w)", group, serr, err)
		}
	}
}

func (k *coordinators) remember(group, addr string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.addrs[group] = addr
}

// forget drops the remembered coordinator of a group if it still is addr;
// a hint (the partition leader a NOT_COORDINATOR answer names) replaces
// it.
func (k *coordinators) forget(group, addr, hint string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.addrs[group] != addr {
		return
	}
	if hint != "" && hint != addr {
		k.addrs[group] = hint
		return
	}
	delete(k.addrs, group)
}

// call runs fn on the coordinator of group, retrying on the coordinator
// found again when it moved (NOT_COORDINATOR, ...) or broke, within the
// client's retries and ctx. op names the call in errors.
func (k *coordinators) call(ctx context.Context, group, op string, fn func(context.Context, stratav1.GroupServiceClient) error) error {
	var last error
	for attempt := 0; ; attempt++ {
		addr, err := k.find(ctx, group)
		if err != nil {
			if last != nil {
				return fmt.Errorf("client: %s: %w (last error: %w)", op, err, last)
			}
			return fmt.Errorf("client: %s: %w", op, err)
		}
		err = k.c.attempt(ctx, addr, func(ctx context.Context, cc grpc.ClientConnInterface) error {
			return fn(ctx, stratav1.NewGroupServiceClient(cc))
		})
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrClosed) {
			return fmt.Errorf("client: %s: %w", op, ErrClosed)
		}
		var re *rpc.Error
		if !errors.As(err, &re) {
			return fmt.Errorf("client: %s: %w", op, err)
		}
		e := fromRPC(re)
		if !coordinatorMoved(re.Code) || attempt >= k.c.cfg.retries || ctx.Err() != nil {
			return fmt.Errorf("client: %s: %w", op, e)
		}
		last = e
		k.forget(group, addr, re.Leader.GetAddress())
		k.c.cfg.logger.Debug("client: retrying a group call", "op", op, "group", group, "coordinator", addr, "err", e)
		if re.Code != stratav1.ErrorCode_ERROR_CODE_NOT_COORDINATOR || re.Leader.GetAddress() == "" {
			if err := k.c.sleep(ctx, attempt); err != nil {
				return fmt.Errorf("client: %s: %w (last error: %w)", op, err, e)
			}
		}
	}
}

// sleep waits the n-th backoff, or fails when ctx ends first.
func (c *caller) sleep(ctx context.Context, n int) error {
	t := time.NewTimer(c.backoff(n))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
