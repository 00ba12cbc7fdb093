package client

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/pkg/testutil"
)

func TestDeadAddressFirstThenLiveAnswers(t *testing.T) {
	live := startFake(t)
	a := newTestAdmin(t, BootstrapControllers(deadAddr(t), live.addr), RetryBackoff(time.Hour, time.Hour))
	start := time.Now()
	c, err := a.DescribeCluster(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != live.addr {
		t.Fatalf("answered by %q, want %q", c.ID, live.addr)
	}
	// Moving on to an untried address does not back off (an hour here).
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v", d)
	}
	// Sticky: the next call goes straight to the live address.
	before := live.calls.Load()
	if _, err := a.DescribeCluster(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got := live.calls.Load() - before; got != 1 {
		t.Fatalf("live server got %d calls, want 1", got)
	}
}

func TestSilentAddressCostsTheDialTimeout(t *testing.T) {
	// A listener that accepts connections and never speaks: gRPC's
	// handshake waits, as with a black-holed address.
	silent := testutil.Listen(t)
	var held []net.Conn
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = silent.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	})
	live := startFake(t)
	a := newTestAdmin(t, BootstrapControllers(silent.Addr().String(), live.addr), DialTimeout(300*time.Millisecond), RequestTimeout(time.Minute))
	start := time.Now()
	c, err := a.DescribeCluster(ctxT(t))
	if err != nil || c.ID != live.addr {
		t.Fatalf("describe: %v %+v", err, c)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the silent address cost %v, want about the dial timeout", d)
	}
}

func TestNotControllerHintIsFollowedAndRemembered(t *testing.T) {
	standby, active, other := startFake(t), startFake(t), startFake(t)
	standby.describeCluster = func() (*stratav1.DescribeClusterResponse, error) {
		return nil, rpc.NotController(2, active.addr)
	}
	// active is not in the bootstrap list: only the hint leads there.
	a := newTestAdmin(t, BootstrapControllers(standby.addr, other.addr), RetryBackoff(time.Hour, time.Hour))
	for range 3 {
		c, err := a.DescribeCluster(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if c.ID != active.addr {
			t.Fatalf("answered by %q, want the active controller %q", c.ID, active.addr)
		}
	}
	if standby.calls.Load() != 1 || active.calls.Load() != 3 || other.calls.Load() != 0 {
		t.Fatalf("calls: standby %d, active %d, other %d; want 1, 3, 0", standby.calls.Load(), active.calls.Load(), other.calls.Load())
	}
}

func TestNonRetriableErrorEndsTheCallAtOnce(t *testing.T) {
	f1, f2 := startFake(t), startFake(t)
	for _, f := range []*fakeServer{f1, f2} {
		f.createTopics = func(*stratav1.CreateTopicsRequest) (*stratav1.CreateTopicsResponse, error) {
			return nil, rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "no topics to create")
		}
	}
	a := newTestAdmin(t, BootstrapControllers(f1.addr, f2.addr))
	_, err := a.CreateTopics(ctxT(t), nil)
	if !errors.Is(err, ErrInvalidRequest) || !errors.Is(err, rpc.ErrInvalidRequest) {
		t.Fatalf("err %v, want INVALID_REQUEST", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Name != "INVALID_REQUEST" || e.Message != "no topics to create" || e.Retriable {
		t.Fatalf("err %#v", e)
	}
	if want := "client: CreateTopics: INVALID_REQUEST: no topics to create"; err.Error() != want {
		t.Fatalf("err %q, want %q", err, want)
	}
	if f1.calls.Load()+f2.calls.Load() != 1 {
		t.Fatalf("%d attempts, want 1", f1.calls.Load()+f2.calls.Load())
	}
}

func TestRetriableErrorsRetryUntilTheBudgetEnds(t *testing.T) {
	f := startFake(t)
	f.describeCluster = func() (*stratav1.DescribeClusterResponse, error) {
		return nil, rpc.NotController(-1, "")
	}
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := newTestAdmin(t, BootstrapControllers(f.addr), Retries(3), Logger(logger))
	_, err := a.DescribeCluster(ctxT(t))
	if !errors.Is(err, ErrNotController) || !IsRetriable(err) {
		t.Fatalf("err %v, want a retriable NOT_CONTROLLER", err)
	}
	if !strings.Contains(err.Error(), "4 attempts failed") {
		t.Fatalf("err %q does not count the attempts", err)
	}
	if n := f.calls.Load(); n != 4 {
		t.Fatalf("%d attempts, want 4", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Count(logs.String(), "client: retrying"); got != 3 {
		t.Fatalf("%d retry logs, want 3:\n%s", got, logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestNoServerAnswersGivesANetworkException(t *testing.T) {
	a := newTestAdmin(t, BootstrapControllers(deadAddr(t), deadAddr(t)), Retries(2))
	_, err := a.DescribeCluster(ctxT(t))
	if !errors.Is(err, ErrNetworkException) || CodeOf(err) != stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION {
		t.Fatalf("err %v, want NETWORK_EXCEPTION", err)
	}
	if !strings.HasPrefix(err.Error(), "client: DescribeCluster: 3 attempts failed, the last at 127.0.0.1:") {
		t.Fatalf("err %q", err)
	}
}

func TestContextEndsTheRetries(t *testing.T) {
	a := newTestAdmin(t, BootstrapControllers(deadAddr(t)), Retries(1_000_000), RetryBackoff(10*time.Millisecond, 10*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := a.DescribeCluster(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the context's deadline", err)
	}
	if !errors.Is(err, ErrNetworkException) {
		t.Fatalf("err %v does not carry the last failure", err)
	}
}

func TestClosedAdminFails(t *testing.T) {
	f := startFake(t)
	a := newTestAdmin(t, BootstrapControllers(f.addr))
	if _, err := a.DescribeCluster(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := a.DescribeCluster(ctxT(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("err %v, want ErrClosed", err)
	}
}

func TestBackoffDoublesUpToTheMaximum(t *testing.T) {
	c := &caller{cfg: cfg{backoffMin: 100 * time.Millisecond, backoffMax: time.Second}}
	for n, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		got := c.backoff(n)
		if got < want*8/10 || got > want*12/10 {
			t.Errorf("backoff(%d) = %v, want %v ±20%%", n, got, want)
		}
	}
}

func TestRouterMovesOnAndFollowsHints(t *testing.T) {
	r := newRouter([]string{"a:1", "b:1", "c:1"})
	steps := []struct {
		failed, hint, want string
	}{
		{"a:1", "", "b:1"},
		{"b:1", "x:1", "x:1"}, // a hint wins
		{"x:1", "", "c:1"},    // a failing hint is forgotten; b:1 failed before
		{"c:1", "c:1", "a:1"}, // a hint naming the failed address is ignored
	}
	if got := r.next(); got != "a:1" {
		t.Fatalf("first address %s", got)
	}
	for _, s := range steps {
		r.failed(s.failed, s.hint)
		if got := r.next(); got != s.want {
			t.Fatalf("after %s failed (hint %q): next %s, want %s", s.failed, s.hint, got, s.want)
		}
	}
}
