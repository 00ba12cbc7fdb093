package broker

import (
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/strata-log/strata/services/broker/broker/internal/partlog"
)

// FsyncPolicy says when appends reach the disk.
type FsyncPolicy = partlog.FsyncPolicy

// Fsync policies.
const (
	// FsyncNever leaves syncing to the OS, as Kafka does by default: an
	// acknowledged batch survives a crash of the process, not of the machine.
	FsyncNever = partlog.FsyncNever
	// FsyncEveryBatch syncs before every acknowledgement.
	FsyncEveryBatch = partlog.FsyncEveryBatch
)

// Config configures a broker. Zero values take the defaults below.
type Config struct {
	// NodeID is this broker's id.
	NodeID int32
	// ClusterID, when set, must match the formatted data dir.
	ClusterID string
	// DataDir holds meta.properties, the metadata image and the partitions.
	DataDir string
	// Listen is the gRPC address; Listener, when set, is used instead.
	Listen   string
	Listener net.Listener
	// AdvertisedAddress is the address clients and other brokers use; by
	// default the listener's address.
	AdvertisedAddress string
	// Controllers are any controllers' gRPC addresses.
	Controllers []string
	// Rack is this broker's rack, for rack-aware placement.
	Rack string

	// AutoCreateTopics creates unknown topics on metadata requests and
	// produce (Kafka's auto.create.topics.enable; default off).
	AutoCreateTopics bool
	// DefaultPartitions and DefaultReplicationFactor apply to auto-created
	// topics (-1: the controllers' defaults).
	DefaultPartitions        int32
	DefaultReplicationFactor int32

	// Fsync is the durability policy of appends: FsyncNever leaves it to
	// the OS, as Kafka does; FsyncEveryBatch syncs before acknowledging.
	Fsync FsyncPolicy
	// HeartbeatInterval is how often the broker heartbeats (default 500 ms).
	HeartbeatInterval time.Duration
	// RetentionCheckInterval is how often retention runs (default 30 s).
	RetentionCheckInterval time.Duration
	// MaxRequestBytes bounds a gRPC request (default 64 MiB).
	MaxRequestBytes int

	// MetricsListen serves Prometheus /metrics when set.
	MetricsListen string
	// Logger receives the broker's logs (default slog.Default()).
	Logger *slog.Logger
	// ShutdownTimeout bounds controlled shutdown and the graceful stop.
	ShutdownTimeout time.Duration

	// Groups configures the consumer group coordinator.
	Groups GroupConfig
}

func (c *Config) setDefaults() {
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 500 * time.Millisecond
	}
	if c.RetentionCheckInterval <= 0 {
		c.RetentionCheckInterval = 30 * time.Second
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = 64 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.DefaultPartitions == 0 {
		c.DefaultPartitions = -1
	}
	if c.DefaultReplicationFactor == 0 {
		c.DefaultReplicationFactor = -1
	}
	c.Groups.setDefaults()
}

func (c *Config) validate() error {
	switch {
	case c.NodeID < 0:
		return errors.New("broker: Config.NodeID must not be negative (--node-id)")
	case c.DataDir == "":
		return errors.New("broker: Config.DataDir is required (--data-dir)")
	case len(c.Controllers) == 0:
		return errors.New("broker: Config.Controllers is required (--controllers)")
	case c.Listen == "" && c.Listener == nil:
		return errors.New("broker: Config.Listen is required (--listen)")
	}
	return c.Groups.validate()
}
