package testutil

import (
	"errors"
	"net"
	"testing"
	"time"
)

func TestMain(m *testing.M) { VerifyNoLeaks(m) }

func TestPoll(t *testing.T) {
	calls := 0
	err := Poll(time.Second, func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
	want := errors.New("never")
	if err := Poll(20*time.Millisecond, func() error { return want }); !errors.Is(err, want) {
		t.Fatalf("err %v, want the condition's last error", err)
	}
}

func TestListen(t *testing.T) {
	l := Listen(t)
	if host := l.Addr().String(); host[:10] != "127.0.0.1:" {
		t.Fatalf("listening on %s", host)
	}
}

func TestFreeAddrNeverRepeatsAndIsBindable(t *testing.T) {
	seen := make(map[string]bool)
	for range 200 {
		addr := FreeAddr(t)
		if seen[addr] {
			t.Fatalf("FreeAddr returned %s twice", addr)
		}
		seen[addr] = true
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("FreeAddr's %s cannot be bound: %v", addr, err)
		}
		_ = l.Close()
	}
}
