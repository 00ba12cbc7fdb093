package client

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-log/strata/pkg/rpc"
)

func TestOptionsAreValidatedInOnePlace(t *testing.T) {
	ok := BootstrapServers("127.0.0.1:9092")
	cases := []struct {
		name string
		opts []Opt
		want string // substring of the error; "" for success
	}{
		{"servers", []Opt{ok}, ""},
		{"controllers", []Opt{BootstrapControllers("a:1,b:2", " c:3 ")}, ""},
		{"ipv6", []Opt{BootstrapServers("[::1]:9092")}, ""},
		{"nothing", nil, "no bootstrap addresses"},
		{"empty list", []Opt{BootstrapServers(" , ")}, "no bootstrap addresses"},
		{"both", []Opt{ok, BootstrapControllers("a:1")}, "both set"},
		{"no port", []Opt{BootstrapServers("localhost")}, `BootstrapServers: address "localhost" is not HOST:PORT`},
		{"empty port", []Opt{BootstrapControllers("localhost:")}, `BootstrapControllers: address "localhost:" has no port`},
		{"dial timeout", []Opt{ok, DialTimeout(0)}, "DialTimeout must be positive"},
		{"request timeout", []Opt{ok, RequestTimeout(-time.Second)}, "RequestTimeout must be positive"},
		{"retries", []Opt{ok, Retries(-1)}, "Retries must not be negative"},
		{"no retries", []Opt{ok, Retries(0)}, ""},
		{"backoff min", []Opt{ok, RetryBackoff(0, time.Second)}, "RetryBackoff minimum must be positive"},
		{"backoff max", []Opt{ok, RetryBackoff(time.Second, time.Millisecond)}, "below the minimum"},
		{"logger", []Opt{ok, Logger(nil)}, "Logger is nil"},
		{"dial config", []Opt{ok, DialConfig(rpc.DialConfig{CertFile: "c.pem"})}, "DialConfig: rpc: DialConfig.KeyFile is empty"},
		{"nil option", []Opt{ok, nil}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewAdmin(tc.opts...)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("NewAdmin: %v", err)
				}
				_ = a.Close()
				return
			}
			if err == nil {
				_ = a.Close()
				t.Fatalf("NewAdmin succeeded, want an error with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "client: ") {
				t.Fatalf("error %q, want one with %q", err, tc.want)
			}
		})
	}
}

func TestBootstrapAddressesAreSplitAndDeduplicated(t *testing.T) {
	c, err := newCfg([]Opt{BootstrapControllers("a:1, b:2", "b:2", "c:3,,a:1")})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a:1", "b:2", "c:3"}; !slices.Equal(c.bootstrap(), want) {
		t.Fatalf("bootstrap %q, want %q", c.bootstrap(), want)
	}
}

func TestRequestOptionsAreCheckedPerMethod(t *testing.T) {
	a := newTestAdmin(t, BootstrapServers("127.0.0.1:1"))
	if _, err := a.CreateTopics(ctxT(t), nil, IncludeInternal()); err == nil ||
		err.Error() != "client: CreateTopics does not take the IncludeInternal option" {
		t.Fatalf("err %v", err)
	}
	if _, err := a.ListTopics(ctxT(t), ValidateOnly()); err == nil ||
		err.Error() != "client: ListTopics does not take the ValidateOnly option" {
		t.Fatalf("err %v", err)
	}
}
