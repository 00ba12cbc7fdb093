package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
)

// Serve serves s on l until ctx ends, then stops it: beforeStop (if any)
// runs first, while the server still answers (a broker hands its
// leaderships away there), then health turns NOT_SERVING and the server
// stops gracefully. stopTimeout bounds beforeStop and the graceful stop
// together; calls still running after it are cut off. Serve returns the
// server's error, or nil after a stop.
func Serve(ctx context.Context, s *grpc.Server, l net.Listener, h *Health, stopTimeout time.Duration, beforeStop func(context.Context)) error {
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	select {
	case err := <-served:
		if err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("serve on %s: %w", l.Addr(), err)
		}
		return nil
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	if beforeStop != nil {
		beforeStop(sctx)
	}
	GracefulStop(sctx, s, h)
	if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve on %s: %w", l.Addr(), err)
	}
	return nil
}

// Listen returns l, or a new listener on addr when l is nil, with the
// address to advertise: advertised, or the listener's own address.
func Listen(l net.Listener, addr, advertised string) (net.Listener, string, error) {
	if l == nil {
		var err error
		if l, err = net.Listen("tcp", addr); err != nil {
			return nil, "", fmt.Errorf("listen on %s: %w", addr, err)
		}
	}
	if advertised == "" {
		advertised = l.Addr().String()
	}
	return l, advertised, nil
}
