package client

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/strata-log/strata/pkg/rpc"
)

// Defaults of the options.
const (
	DefaultDialTimeout     = 5 * time.Second
	DefaultRequestTimeout  = 30 * time.Second
	DefaultRetries         = 10
	DefaultRetryBackoffMin = 100 * time.Millisecond
	DefaultRetryBackoffMax = time.Second
	DefaultClientID        = "strata-go"
)

// Opt configures a client. Every client of this package (Admin today, the
// producer and consumer later) takes the same Opt values; options that only
// one kind of client understands will have their own namespaced types that
// also implement Opt.
type Opt interface {
	apply(*cfg)
}

type optFunc func(*cfg)

func (f optFunc) apply(c *cfg) { f(c) }

// cfg is the validated configuration shared by every client.
type cfg struct {
	servers     []string
	controllers []string

	dialTimeout    time.Duration
	requestTimeout time.Duration
	retries        int
	backoffMin     time.Duration
	backoffMax     time.Duration

	logger   *slog.Logger
	dial     rpc.DialConfig
	grpcOpts []grpc.DialOption
	clientID string
}

func defaultCfg() cfg {
	return cfg{
		dialTimeout:    DefaultDialTimeout,
		requestTimeout: DefaultRequestTimeout,
		retries:        DefaultRetries,
		backoffMin:     DefaultRetryBackoffMin,
		backoffMax:     DefaultRetryBackoffMax,
		logger:         slog.New(slog.DiscardHandler),
		clientID:       DefaultClientID,
	}
}

func newCfg(opts []Opt) (cfg, error) {
	c := defaultCfg()
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c, c.validate()
}

// bootstrap is the addresses requests start from: the servers or the
// controllers, whichever was configured.
func (c *cfg) bootstrap() []string {
	if len(c.controllers) > 0 {
		return c.controllers
	}
	return c.servers
}

// validate is the one place options are checked; each error names the
// option at fault.
func (c *cfg) validate() error {
	switch {
	case len(c.servers) == 0 && len(c.controllers) == 0:
		return errors.New("client: no bootstrap addresses: set BootstrapServers or BootstrapControllers")
	case len(c.servers) > 0 && len(c.controllers) > 0:
		return errors.New("client: BootstrapServers and BootstrapControllers are both set; use one of them")
	case c.dialTimeout <= 0:
		return fmt.Errorf("client: DialTimeout must be positive, not %v", c.dialTimeout)
	case c.requestTimeout <= 0:
		return fmt.Errorf("client: RequestTimeout must be positive, not %v", c.requestTimeout)
	case c.retries < 0:
		return fmt.Errorf("client: Retries must not be negative, not %d", c.retries)
	case c.backoffMin <= 0:
		return fmt.Errorf("client: RetryBackoff minimum must be positive, not %v", c.backoffMin)
	case c.backoffMax < c.backoffMin:
		return fmt.Errorf("client: RetryBackoff maximum %v is below the minimum %v", c.backoffMax, c.backoffMin)
	case c.logger == nil:
		return errors.New("client: Logger is nil")
	}
	for _, list := range []struct {
		opt   string
		addrs []string
	}{{"BootstrapServers", c.servers}, {"BootstrapControllers", c.controllers}} {
		for _, a := range list.addrs {
			if err := checkAddress(a); err != nil {
				return fmt.Errorf("client: %s: %w", list.opt, err)
			}
		}
	}
	return nil
}

func checkAddress(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	switch {
	case err != nil:
		return fmt.Errorf("address %q is not HOST:PORT", addr)
	case port == "":
		return fmt.Errorf("address %q has no port", addr)
	}
	return nil
}

// splitAddresses splits each argument on commas, trims spaces, drops empty
// entries and duplicates, and keeps the order.
func splitAddresses(addrs []string) []string {
	var out []string
	seen := make(map[string]bool)
	for _, a := range addrs {
		for part := range strings.SplitSeq(a, ",") {
			part = strings.TrimSpace(part)
			if part == "" || seen[part] {
				continue
			}
			seen[part] = true
			out = append(out, part)
		}
	}
	return out
}

// BootstrapServers sets the brokers to start from (HOST:PORT each; an
// argument may also be a comma-separated list, as on Kafka's command line).
// Brokers serve the admin API too and pass writes to the active controller.
func BootstrapServers(addrs ...string) Opt {
	return optFunc(func(c *cfg) { c.servers = append(c.servers, splitAddresses(addrs)...) })
}

// BootstrapControllers sets the controllers to start from, for
// administration without any broker (Kafka 3.7's --bootstrap-controller).
// Any controller answers: a standby forwards writes to the active one.
func BootstrapControllers(addrs ...string) Opt {
	return optFunc(func(c *cfg) { c.controllers = append(c.controllers, splitAddresses(addrs)...) })
}

// DialTimeout bounds how long one connection attempt may take (default
// DefaultDialTimeout). An address that does not connect in time is skipped
// for the next one.
func DialTimeout(d time.Duration) Opt {
	return optFunc(func(c *cfg) { c.dialTimeout = d })
}

// RequestTimeout bounds one attempt of a request (default
// DefaultRequestTimeout). The whole call, retries included, is bounded by
// its context.
func RequestTimeout(d time.Duration) Opt {
	return optFunc(func(c *cfg) { c.requestTimeout = d })
}

// Retries is how many times a request is retried after a retriable failure
// (default DefaultRetries); 0 sends each request once.
func Retries(n int) Opt {
	return optFunc(func(c *cfg) { c.retries = n })
}

// RetryBackoff sets the wait before a retry: min after the first failure,
// doubling up to max, with ±20% jitter (default DefaultRetryBackoffMin and
// DefaultRetryBackoffMax). Moving on to an address not yet tried in this
// round, or to the active controller named by a NOT_CONTROLLER answer, does
// not wait.
func RetryBackoff(minBackoff, maxBackoff time.Duration) Opt {
	return optFunc(func(c *cfg) { c.backoffMin, c.backoffMax = minBackoff, maxBackoff })
}

// Logger receives the client's debug and warning logs (retries, dropped
// connections). By default nothing is logged.
func Logger(l *slog.Logger) Opt {
	return optFunc(func(c *cfg) { c.logger = l })
}

// DialConfig sets TLS, keepalive and message size limits of the client's
// connections (see rpc.DialConfig). The zero value, the default, is
// plaintext.
func DialConfig(dc rpc.DialConfig) Opt {
	return optFunc(func(c *cfg) { c.dial = dc })
}

// GRPCDialOptions adds raw gRPC dial options after the client's own (a
// custom dialer in tests, say).
func GRPCDialOptions(opts ...grpc.DialOption) Opt {
	return optFunc(func(c *cfg) { c.grpcOpts = append(c.grpcOpts, opts...) })
}

// ClientID names the application in the servers' logs, as Kafka's
// client.id; it is sent as the gRPC user agent (default DefaultClientID).
func ClientID(id string) Opt {
	return optFunc(func(c *cfg) { c.clientID = id })
}
