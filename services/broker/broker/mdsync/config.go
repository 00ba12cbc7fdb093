package mdsync

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"

	"github.com/strata-log/strata/pkg/rpc"
)

// Defaults for the zero values of Config.
const (
	// DefaultSnapshotRecords persists the image once it is this many
	// offsets past the last persisted one.
	DefaultSnapshotRecords = 10000
	// DefaultSnapshotInterval persists a changed image at least this
	// often.
	DefaultSnapshotInterval = time.Minute
	// DefaultBackoffMin and DefaultBackoffMax bound the wait between
	// attempts that fail without progress.
	DefaultBackoffMin = 50 * time.Millisecond
	DefaultBackoffMax = 5 * time.Second
	// DefaultStreamIdleTimeout is three of the controllers' 5 s
	// keep-alive periods: a stream silent for longer is dead.
	DefaultStreamIdleTimeout = 15 * time.Second
)

// Config configures a Syncer. Zero durations and counts take the defaults
// above.
type Config struct {
	// Controllers are controllers' gRPC addresses (host:port); any of them
	// serves the metadata, and they need not be all of them: the Syncer
	// also tries the controllers its image names.
	Controllers []string
	// DataDir holds metadata.snapshot; empty persists nothing (tools and
	// tests).
	DataDir string
	// BrokerID is sent in WatchMetadata requests: a broker's id, or -1 for
	// a tool.
	BrokerID int32
	// Logger receives the Syncer's logs (default slog.Default()).
	Logger *slog.Logger

	// Dial configures the connections to the controllers (TLS, limits,
	// interceptors); DialOptions are appended to rpc.DialOptions(Dial).
	Dial        rpc.DialConfig
	DialOptions []grpc.DialOption

	// SnapshotRecords persists the image once it is this many offsets past
	// the last persisted image; SnapshotInterval persists a changed image
	// at least this often. A negative value turns either trigger off; the
	// image is always persisted when Run returns.
	SnapshotRecords  int64
	SnapshotInterval time.Duration

	// BackoffMin and BackoffMax bound the jittered exponential wait
	// between attempts that fail without progress.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// StreamIdleTimeout abandons a stream that delivers nothing, not even a
	// keep-alive, for this long.
	StreamIdleTimeout time.Duration

	// Knobs are test hooks; nil in production.
	Knobs *Knobs
}

// Knobs change the Syncer's behaviour for tests.
type Knobs struct {
	// InOrder tries the controllers in the order given, starting with the
	// first, instead of starting from a random one.
	InOrder bool
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.SnapshotRecords == 0 {
		c.SnapshotRecords = DefaultSnapshotRecords
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = DefaultSnapshotInterval
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = max(DefaultBackoffMax, c.BackoffMin)
	}
	if c.StreamIdleTimeout == 0 {
		c.StreamIdleTimeout = DefaultStreamIdleTimeout
	}
}

func (c *Config) validate() error {
	switch {
	case len(c.Controllers) == 0:
		return errors.New("mdsync: Config.Controllers is empty (--controllers)")
	case c.BrokerID <= 0 && c.BrokerID != -1:
		return fmt.Errorf("mdsync: Config.BrokerID must be positive, or -1 for a tool (got %d)", c.BrokerID)
	case c.BackoffMin < 0:
		return fmt.Errorf("mdsync: Config.BackoffMin is negative (%v)", c.BackoffMin)
	case c.BackoffMax < c.BackoffMin:
		return fmt.Errorf("mdsync: Config.BackoffMax (%v) is below BackoffMin (%v)", c.BackoffMax, c.BackoffMin)
	case c.StreamIdleTimeout < 0:
		return fmt.Errorf("mdsync: Config.StreamIdleTimeout is negative (%v)", c.StreamIdleTimeout)
	}
	for i, addr := range c.Controllers {
		if addr == "" {
			return fmt.Errorf("mdsync: Config.Controllers[%d] is empty", i)
		}
	}
	// Dial settings (and TLS files) fail here rather than at every attempt.
	if _, err := rpc.DialOptions(c.Dial); err != nil {
		return fmt.Errorf("mdsync: Config.Dial: %w", err)
	}
	return nil
}
