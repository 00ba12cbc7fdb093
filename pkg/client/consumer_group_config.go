package client

import (
	"context"
	"fmt"
	"time"
)

// Defaults of the group options, Kafka's where Kafka has one.
const (
	// DefaultAutoCommitInterval is Kafka's auto.commit.interval.ms.
	DefaultAutoCommitInterval = 5 * time.Second
	// DefaultRebalanceTimeout is how long a member may take to give up
	// revoked partitions (Kafka's max.poll.interval.ms).
	DefaultRebalanceTimeout = 5 * time.Minute
)

// RebalanceEventType says what happened to partitions in a RebalanceEvent.
type RebalanceEventType int

// The rebalance events.
const (
	// PartitionsAssigned: the group gave the consumer partitions; it reads
	// them from their committed offsets (AutoOffsetReset without one).
	PartitionsAssigned RebalanceEventType = iota + 1
	// PartitionsRevoked: the consumer gave partitions up, after committing
	// their positions when auto commit is on.
	PartitionsRevoked
	// PartitionsLost: the consumer lost partitions without a chance to
	// commit (it was fenced, or its session expired); another member may
	// already read them.
	PartitionsLost
)

// String names the event type.
func (t RebalanceEventType) String() string {
	switch t {
	case PartitionsAssigned:
		return "assigned"
	case PartitionsRevoked:
		return "revoked"
	case PartitionsLost:
		return "lost"
	}
	return fmt.Sprintf("RebalanceEventType(%d)", int(t))
}

// RebalanceEvent is a change of a group member's partitions.
type RebalanceEvent struct {
	Type       RebalanceEventType
	Partitions []TopicPartition
}

// RebalanceCallback is called with the partitions assigned, revoked or lost.
// It runs on the consumer's rebalance goroutine: the group waits for a
// revocation's callback (up to RebalanceTimeout) before it gives the
// partitions to another member, so a callback may commit offsets.
type RebalanceCallback func(ctx context.Context, partitions []TopicPartition)

// groupCfg is the consumer's group configuration.
type groupCfg struct {
	id                 string
	sessionTimeout     time.Duration // 0: the broker's default
	rebalanceTimeout   time.Duration
	assignor           string // "": the broker's default
	autoCommit         bool
	autoCommitInterval time.Duration
	onAssigned         RebalanceCallback
	onRevoked          RebalanceCallback
	onLost             RebalanceCallback
	events             chan<- RebalanceEvent
	leaveOnClose       bool
}

func defaultGroupCfg() groupCfg {
	return groupCfg{
		rebalanceTimeout: DefaultRebalanceTimeout, autoCommit: true,
		autoCommitInterval: DefaultAutoCommitInterval, leaveOnClose: true,
	}
}

func (g *groupCfg) validate() error {
	switch {
	case g.sessionTimeout < 0 || g.sessionTimeout > time.Duration(1<<31-1)*time.Millisecond:
		return fmt.Errorf("client: SessionTimeout must be positive (or 0 for the broker's default), not %v", g.sessionTimeout)
	case g.rebalanceTimeout <= 0 || g.rebalanceTimeout > time.Duration(1<<31-1)*time.Millisecond:
		return fmt.Errorf("client: RebalanceTimeout must be positive, not %v", g.rebalanceTimeout)
	case g.autoCommitInterval <= 0:
		return fmt.Errorf("client: AutoCommitInterval must be positive, not %v", g.autoCommitInterval)
	case g.id == "" && (g.onAssigned != nil || g.onRevoked != nil || g.onLost != nil || g.events != nil):
		return fmt.Errorf("client: rebalance callbacks and events need a Group")
	}
	return nil
}

func groupOpt(f func(*groupCfg)) ConsumerOpt {
	return consumerOpt(func(c *consumerCfg) { f(&c.group) })
}

// Group makes the consumer a member of a consumer group (Kafka's group.id):
// Subscribe then joins the group, whose coordinator assigns the partitions
// among its members, and the consumer starts each partition at the group's
// committed offset. It also names the group CommitSync and Committed use
// with Assign.
func Group(id string) ConsumerOpt {
	return groupOpt(func(g *groupCfg) { g.id = id })
}

// SessionTimeout is how long the group coordinator waits without a
// heartbeat before it removes the member and gives its partitions to the
// others (Kafka's session.timeout.ms; default 0, the broker's, 45 s). The
// broker bounds it (group.min.session.timeout.ms, 6 s by default).
func SessionTimeout(d time.Duration) ConsumerOpt {
	return groupOpt(func(g *groupCfg) { g.sessionTimeout = d })
}

// RebalanceTimeout is how long the member may take to give up revoked
// partitions (commit, callbacks) before the coordinator fences it (default
// DefaultRebalanceTimeout, as Kafka's max.poll.interval.ms).
func RebalanceTimeout(d time.Duration) ConsumerOpt {
	return groupOpt(func(g *groupCfg) { g.rebalanceTimeout = d })
}

// GroupAssignor names the server-side assignor the member asks for:
// "uniform" (sticky and balanced, the default), "range" or "roundrobin"
// (Kafka's group.remote.assignor). The group uses the one most members ask
// for.
func GroupAssignor(name string) ConsumerOpt {
	return groupOpt(func(g *groupCfg) { g.assignor = name })
}

// AutoCommit turns committing the positions automatically on or off
// (Kafka's enable.auto.commit; default on): every AutoCommitInterval, before
// partitions are revoked, and on Close.
func AutoCommit(on bool) ConsumerOpt {
	return groupOpt(func(g *groupCfg) { g.autoCommit = on })
}

// AutoCommitInterval is how often positions are committed automatically
// (Kafka's auto.commit.interval.ms; default DefaultAutoCommitInterval).
func AutoCommitInterval(d time.Duration) ConsumerOpt {
	return groupOpt(func(g *groupCfg) { g.autoCommitInterval = d })
}

// OnPartitionsAssigned is called once partitions were added to the
// consumer's assignment, before records of them are returned (a Seek in it
// changes where they start).
func OnPartitionsAssigned(fn RebalanceCallback) ConsumerOpt {
	return groupOpt(func(g *groupCfg) { g.onAssigned = fn })
}

// OnPartitionsRevoked is called when partitions are taken away, after they
// stopped being read and (with auto commit) their positions were committed,
// and before the group gives them to another member: commit here when
// committing by hand. It is also called for the partitions the consumer
// owns when it closes.
func OnPartitionsRevoked(fn RebalanceCallback) ConsumerOpt {
	return groupOpt(func(g *groupCfg) { g.onRevoked = fn })
}

// OnPartitionsLost is called when the consumer lost partitions without
// giving them up (fenced, or its session expired): committing their
// offsets fails by then. Without it, OnPartitionsRevoked is called, as
// Kafka's default onPartitionsLost does.
func OnPartitionsLost(fn RebalanceCallback) ConsumerOpt {
	return groupOpt(func(g *groupCfg) { g.onLost = fn })
}

// RebalanceEvents sends every change of the member's partitions to ch, in
// order, after the callbacks ran. The consumer waits for ch to take an
// event (or for Close), so read it: a revocation completes only once its
// event was taken.
func RebalanceEvents(ch chan<- RebalanceEvent) ConsumerOpt {
	return groupOpt(func(g *groupCfg) { g.events = ch })
}

// LeaveGroupOnClose makes Close leave the group (default true), so the
// coordinator gives the partitions to the others at once. With false, the
// member stays until its session timeout, as a member that crashed would
// (Kafka's internal.leave.group.on.close, and Kafka 4.1's
// CloseOptions.REMAIN_IN_GROUP).
func LeaveGroupOnClose(leave bool) ConsumerOpt {
	return groupOpt(func(g *groupCfg) { g.leaveOnClose = leave })
}
