package rpc

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestServeStopsOnCancelAfterBeforeStop(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	h := RegisterHealth(s)
	h.SetServing("")
	ctx, cancel := context.WithCancel(context.Background())
	var sawServing bool
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, s, l, h, 5*time.Second, func(ctx context.Context) {
			// The server still answers while beforeStop runs.
			conn, err := Dial(l.Addr().String(), DialConfig{})
			if err != nil {
				return
			}
			defer conn.Close()
			resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			sawServing = err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
		})
	}()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if !sawServing {
		t.Fatal("beforeStop did not see a serving server")
	}
}

func TestServeReportsAServeError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Close() // Serve fails at once on a closed listener
	if err := Serve(context.Background(), grpc.NewServer(), l, nil, time.Second, nil); err == nil {
		t.Fatal("want an error from a closed listener")
	}
}
