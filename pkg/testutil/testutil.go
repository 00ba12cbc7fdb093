// Package testutil holds helpers shared by Strata's tests: waiting for a
// condition with a deadline instead of sleeping, loopback listeners, and
// goroutine leak checks.
package testutil

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// WaitFor polls cond every few milliseconds until it returns nil, and fails
// the test with cond's last error when timeout passes first.
func WaitFor(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	if err := Poll(timeout, cond); err != nil {
		t.Fatalf("condition not met within %v: %v", timeout, err)
	}
}

// Poll calls cond until it returns nil or timeout passes; it returns cond's
// last error in that case. The interval starts at 1 ms and doubles up to
// 50 ms so fast conditions are seen fast and slow ones cost little.
func Poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	interval := time.Millisecond
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(interval)
		interval = min(2*interval, 50*time.Millisecond)
	}
}

// Listen returns a TCP listener on 127.0.0.1 with a free port.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on loopback: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago,
// for components that must bind the address themselves. No two calls in a
// process return the same port, and the ports come from below Linux's
// ephemeral range (32768 and up), so neither the kernel's port-0 choices
// nor the outgoing connections of a busy test take them in the meantime.
func FreeAddr(t testing.TB) string {
	t.Helper()
	freePorts.Lock()
	defer freePorts.Unlock()
	for range 1000 {
		port := freePortLow + freePorts.rnd.IntN(freePortHigh-freePortLow)
		if freePorts.given[port] {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue // in use by someone else
		}
		_ = l.Close()
		freePorts.given[port] = true
		return addr
	}
	t.Fatalf("no free loopback port in [%d, %d) after 1000 tries", freePortLow, freePortHigh)
	return ""
}

const freePortLow, freePortHigh = 20000, 32000

var freePorts = struct {
	sync.Mutex
	given map[int]bool
	rnd   *rand.Rand
}{
	given: make(map[int]bool),
	// Seeded per process: test binaries running side by side pick
	// different sequences.
	rnd: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid()))),
}

// VerifyNoLeaks is for TestMain: it runs the tests and fails when any
// goroutine is left running afterwards.
func VerifyNoLeaks(m *testing.M, opts ...goleak.Option) {
	goleak.VerifyTestMain(m, opts...)
}
