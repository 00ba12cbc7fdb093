package broker

import (
	"fmt"
	"time"

	"github.com/strata-log/strata/services/broker/broker/internal/groups"
)

// GroupConfig configures the group coordinator, with Kafka's names in the
// comments. Zero values take the defaults.
type GroupConfig struct {
	// OffsetsTopicPartitions is the partition count __consumer_offsets is
	// created with (offsets.topic.num.partitions; default 50).
	OffsetsTopicPartitions int32
	// OffsetsTopicReplicationFactor is its replication factor
	// (offsets.topic.replication.factor); 0, the default, is min(3, the
	// registered brokers) when the topic is created.
	OffsetsTopicReplicationFactor int16
	// MinSessionTimeout and MaxSessionTimeout bound the session timeout a
	// member asks for (group.min.session.timeout.ms, default 6 s;
	// group.max.session.timeout.ms, default 30 min).
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// SessionTimeout applies to members that ask for none
	// (group.consumer.session.timeout.ms; default 45 s).
	SessionTimeout time.Duration
	// HeartbeatInterval is how often members heartbeat
	// (group.consumer.heartbeat.interval.ms; default 5 s), at most a third
	// of a member's session timeout.
	HeartbeatInterval time.Duration
	// RebalanceTimeout applies to members that ask for none: how long a
	// member may keep revoked partitions before it is fenced (default
	// 5 min, Kafka's max.poll.interval.ms).
	RebalanceTimeout time.Duration
	// OffsetMetadataMaxBytes bounds a committed offset's metadata string
	// (offset.metadata.max.bytes; default 4096).
	OffsetMetadataMaxBytes int
	// CommitTimeout bounds the wait for the in-sync replicas of a write to
	// __consumer_offsets (offsets.commit.timeout.ms; default 5 s).
	CommitTimeout time.Duration
	// DefaultAssignor is the assignor of groups whose members ask for none
	// (default "uniform"; also "range" and "roundrobin").
	DefaultAssignor string
}

func (c *GroupConfig) setDefaults() {
	if c.OffsetsTopicPartitions <= 0 {
		c.OffsetsTopicPartitions = 50
	}
	if c.MinSessionTimeout <= 0 {
		c.MinSessionTimeout = 6 * time.Second
	}
	if c.MaxSessionTimeout <= 0 {
		c.MaxSessionTimeout = 30 * time.Minute
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = min(max(45*time.Second, c.MinSessionTimeout), c.MaxSessionTimeout)
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = 5 * time.Second
	}
	if c.RebalanceTimeout <= 0 {
		c.RebalanceTimeout = 5 * time.Minute
	}
	if c.OffsetMetadataMaxBytes <= 0 {
		c.OffsetMetadataMaxBytes = 4096
	}
	if c.CommitTimeout <= 0 {
		c.CommitTimeout = 5 * time.Second
	}
	if c.DefaultAssignor == "" {
		c.DefaultAssignor = groups.DefaultAssignor
	}
}

func (c *GroupConfig) validate() error {
	switch {
	case c.OffsetsTopicReplicationFactor < 0:
		return fmt.Errorf("broker: Config.Groups.OffsetsTopicReplicationFactor must not be negative, not %d (--offsets-topic-replication-factor)", c.OffsetsTopicReplicationFactor)
	case c.MinSessionTimeout > c.MaxSessionTimeout:
		return fmt.Errorf("broker: Config.Groups.MinSessionTimeout %v is above MaxSessionTimeout %v (--group-min-session-timeout-ms)", c.MinSessionTimeout, c.MaxSessionTimeout)
	case c.SessionTimeout < c.MinSessionTimeout || c.SessionTimeout > c.MaxSessionTimeout:
		return fmt.Errorf("broker: Config.Groups.SessionTimeout %v is outside [%v, %v] (--group-session-timeout-ms)", c.SessionTimeout, c.MinSessionTimeout, c.MaxSessionTimeout)
	}
	if _, ok := groups.LookupAssignor(c.DefaultAssignor); !ok {
		return fmt.Errorf("broker: Config.Groups.DefaultAssignor %q: use one of %v (--group-assignor)", c.DefaultAssignor, groups.AssignorNames())
	}
	return nil
}

// heartbeatInterval is how often a member with session timeout d
// heartbeats: the configured interval, at most d/3.
func (c *GroupConfig) heartbeatInterval(d time.Duration) time.Duration {
	return max(min(c.HeartbeatInterval, d/3), 10*time.Millisecond)
}
