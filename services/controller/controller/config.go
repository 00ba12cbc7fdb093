package controller

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Config configures a controller. Zero durations and counts take the
// defaults below.
type Config struct {
	// NodeID is this controller's id in the voter set.
	NodeID int32
	// ClusterID, when set, must match the formatted data dir.
	ClusterID string
	// DataDir holds meta.properties and the Raft log and snapshots.
	DataDir string
	// Listen is the gRPC address; Listener, when set, is used instead (tests
	// bind 127.0.0.1:0 themselves).
	Listen   string
	Listener net.Listener
	// AdvertisedAddress is the gRPC address others use; by default the
	// listener's address.
	AdvertisedAddress string
	// Voters maps every controller id to its Raft address.
	Voters map[int32]string
	// RaftAddress is where this controller's Raft listens; by default its
	// entry in Voters.
	RaftAddress string

	// BrokerSessionTimeout fences a broker that has not heartbeaten for
	// this long (default 3 s, Kafka's broker.session.timeout.ms is 9 s).
	BrokerSessionTimeout time.Duration
	// DefaultPartitions and DefaultReplicationFactor apply to topics
	// created with -1 (Kafka's num.partitions and
	// default.replication.factor; default 1 each).
	DefaultPartitions        int32
	DefaultReplicationFactor int32
	// MinInsyncReplicas is the cluster default min.insync.replicas
	// (default 1).
	MinInsyncReplicas int32
	// LeaderRebalanceInterval is how often the active controller moves
	// leadership back to preferred replicas (default 10 s; negative
	// disables it).
	LeaderRebalanceInterval time.Duration

	// MetricsListen serves Prometheus /metrics when set.
	MetricsListen string
	// Logger receives the controller's logs (default slog.Default()).
	Logger *slog.Logger
	// RaftRTT is the Raft tick (default 20 ms); SnapshotEntries how many
	// entries trigger a snapshot (default 10000).
	RaftRTT         time.Duration
	SnapshotEntries uint64
	// WatchWindow is how many recent records are kept for watchers that
	// are close behind (default 50000); a watcher further behind is sent
	// the image.
	WatchWindow int
	// ShutdownTimeout bounds the graceful stop of the gRPC server.
	ShutdownTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.BrokerSessionTimeout <= 0 {
		c.BrokerSessionTimeout = 3 * time.Second
	}
	if c.DefaultPartitions <= 0 {
		c.DefaultPartitions = 1
	}
	if c.DefaultReplicationFactor <= 0 {
		c.DefaultReplicationFactor = 1
	}
	if c.MinInsyncReplicas <= 0 {
		c.MinInsyncReplicas = 1
	}
	if c.LeaderRebalanceInterval == 0 {
		c.LeaderRebalanceInterval = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 5 * time.Second
	}
	if c.RaftAddress == "" {
		c.RaftAddress = c.Voters[c.NodeID]
	}
}

func (c *Config) validate() error {
	switch {
	case c.NodeID <= 0:
		return errors.New("controller: Config.NodeID must be positive (--node-id)")
	case c.DataDir == "":
		return errors.New("controller: Config.DataDir is required (--data-dir)")
	case len(c.Voters) == 0:
		return errors.New("controller: Config.Voters is required (--controller-quorum-voters)")
	case c.Voters[c.NodeID] == "":
		return fmt.Errorf("controller: node %d is not in the voter set (--controller-quorum-voters)", c.NodeID)
	case c.Listen == "" && c.Listener == nil:
		return errors.New("controller: Config.Listen is required (--listen)")
	}
	return nil
}
