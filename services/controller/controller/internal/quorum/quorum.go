// Package quorum runs the controllers' Raft shard on dragonboat: it starts
// the NodeHost with deliberately small settings, proposes commands, and
// tracks who leads.
package quorum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/logger"
	"github.com/lni/dragonboat/v4/raftio"
	"google.golang.org/protobuf/proto"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/services/controller/controller/internal/fsm"
)

// ShardID is the one Raft shard of the metadata log.
const ShardID uint64 = 1

// proposeAttempt bounds one proposal attempt. dragonboat drops a proposal
// made while there is no leader without answering, so this is how long such
// a proposal waits before it is sent again; a metadata commit normally takes
// about a millisecond.
const proposeAttempt = 750 * time.Millisecond

// ErrClosed is returned by Propose after Close.
var ErrClosed = errors.New("quorum: closed")

// Config configures the Raft replica of one controller.
type Config struct {
	// NodeID is this controller's id (its Raft replica id); > 0.
	NodeID uint64
	// RaftAddress is where this replica listens for Raft traffic.
	RaftAddress string
	// Voters maps every voter's id to its Raft address, this one included.
	Voters map[uint64]string
	// Dir holds the Raft log (LogDB) and snapshots.
	Dir string
	// RTT is the Raft tick: heartbeats go every tick and an election starts
	// after 10 to 20 ticks without a leader. 20 ms by default, so a dead
	// leader is replaced in well under a second on a local network.
	RTT time.Duration
	// SnapshotEntries is how many log entries trigger a snapshot; the log
	// before a snapshot is compacted, so restart and catch-up cost grows
	// with the image, not with history. 10000 by default.
	SnapshotEntries uint64
	Machine         *fsm.Machine
	Logger          *slog.Logger
}

// Quorum is a started Raft replica.
type Quorum struct {
	cfg Config
	nh  *dragonboat.NodeHost
	log *slog.Logger

	leader atomic.Pointer[raftio.LeaderInfo]
	mu     sync.Mutex
	change chan struct{} // closed and replaced when the leader changes
	closed atomic.Bool
}

// Start opens the Raft log in cfg.Dir and starts the replica. It returns
// without waiting for a leader.
func Start(cfg Config) (*Quorum, error) {
	if cfg.NodeID == 0 {
		return nil, errors.New("quorum: NodeID must be positive")
	}
	if _, ok := cfg.Voters[cfg.NodeID]; !ok {
		return nil, fmt.Errorf("quorum: node %d is not among the voters", cfg.NodeID)
	}
	if cfg.RTT <= 0 {
		cfg.RTT = 20 * time.Millisecond
	}
	if cfg.SnapshotEntries == 0 {
		cfg.SnapshotEntries = 10000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	setLogger(cfg.Logger)
	q := &Quorum{cfg: cfg, log: cfg.Logger, change: make(chan struct{})}
	dir := filepath.Join(cfg.Dir, "raft")
	nhc := config.NodeHostConfig{
		WALDir:              dir,
		NodeHostDir:         dir,
		RTTMillisecond:      uint64(cfg.RTT / time.Millisecond),
		RaftAddress:         cfg.RaftAddress,
		RaftEventListener:   q,
		MaxSendQueueSize:    64 << 20,
		MaxReceiveQueueSize: 64 << 20,
		Expert: config.ExpertConfig{
			// One small LogDB shard: the metadata log is one Raft shard with
			// small entries, and the default (16 shards of 4 x 128 MiB write
			// buffers) reserves gigabytes per NodeHost.
			LogDB: smallLogDB(),
			// One worker per stage is plenty for one shard and keeps a
			// 3-controller test process light.
			Engine: config.EngineConfig{ExecShards: 1, CommitShards: 1, ApplyShards: 1, SnapshotShards: 1, CloseShards: 1},
		},
	}
	nh, err := dragonboat.NewNodeHost(nhc)
	if err != nil {
		return nil, fmt.Errorf("quorum: start node host: %w", err)
	}
	q.nh = nh
	rc := config.Config{
		ReplicaID:          cfg.NodeID,
		ShardID:            ShardID,
		ElectionRTT:        10,
		HeartbeatRTT:       1,
		CheckQuorum:        true,
		PreVote:            true,
		SnapshotEntries:    cfg.SnapshotEntries,
		CompactionOverhead: cfg.SnapshotEntries / 2,
		// Snapshots are image records; compress them, they repeat a lot.
		SnapshotCompressionType: config.Snappy,
		MaxInMemLogSize:         64 << 20,
	}
	members := make(map[uint64]dragonboat.Target, len(cfg.Voters))
	for id, addr := range cfg.Voters {
		members[id] = addr
	}
	if err := nh.StartConcurrentReplica(members, false, cfg.Machine.Factory(), rc); err != nil {
		nh.Close()
		return nil, fmt.Errorf("quorum: start replica: %w", err)
	}
	return q, nil
}

func smallLogDB() config.LogDBConfig {
	c := config.GetTinyMemLogDBConfig()
	c.Shards = 1
	c.KVWriteBufferSize = 4 << 20
	c.KVMaxWriteBufferNumber = 2
	c.KVMaxBytesForLevelBase = 64 << 20
	c.KVTargetFileSizeBase = 4 << 20
	c.KVKeepLogFileNum = 4
	c.MaxSaveBufferSize = 16 << 20
	return c
}

// LeaderUpdated implements raftio.IRaftEventListener; dragonboat calls it
// from its own goroutines, so it only records and signals.
func (q *Quorum) LeaderUpdated(info raftio.LeaderInfo) {
	if info.ShardID != ShardID {
		return
	}
	q.leader.Store(&info)
	q.mu.Lock()
	close(q.change)
	q.change = make(chan struct{})
	q.mu.Unlock()
}

// Leader returns the current leader's id and term; ok is false while there
// is none.
func (q *Quorum) Leader() (id uint64, term uint64, ok bool) {
	li := q.leader.Load()
	if li == nil || li.LeaderID == 0 {
		return 0, 0, false
	}
	return li.LeaderID, li.Term, true
}

// IsLeader reports whether this replica leads.
func (q *Quorum) IsLeader() bool {
	id, _, ok := q.Leader()
	return ok && id == q.cfg.NodeID
}

// LeaderChanged returns a channel closed at the next leader change.
func (q *Quorum) LeaderChanged() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.change
}

// Propose commits cmd and returns its result. A proposal made on a standby
// is passed to the leader by dragonboat: standbys forward writes through
// the Raft log. Transient failures (no leader yet, a busy or just-elected
// leader) are retried until ctx ends.
func (q *Quorum) Propose(ctx context.Context, cmd *stratav1.MetadataCommand) (*stratav1.CommandResult, error) {
	data, err := proto.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("quorum: encode command: %w", err)
	}
	backoff := 5 * time.Millisecond
	for {
		if q.closed.Load() {
			return nil, ErrClosed
		}
		// A proposal forwarded to a leader that dies is lost without an
		// answer: end the attempt when the leader changes (and after a
		// bound) and retry with the next leader.
		changed := q.LeaderChanged()
		actx, cancel := context.WithTimeout(ctx, proposeAttempt)
		go func() {
			select {
			case <-changed:
				cancel()
			case <-actx.Done():
			}
		}()
		res, err := q.nh.SyncPropose(actx, q.nh.GetNoOPSession(ShardID), data)
		cancel()
		if err == nil {
			return fsm.DecodeResult(res)
		}
		if !retriable(err) {
			return nil, fmt.Errorf("quorum: propose: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("quorum: propose: %w (last attempt: %w)", ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

func retriable(err error) bool {
	return errors.Is(err, dragonboat.ErrShardNotReady) || errors.Is(err, dragonboat.ErrSystemBusy) ||
		errors.Is(err, dragonboat.ErrTimeout) || errors.Is(err, dragonboat.ErrRejected) ||
		errors.Is(err, dragonboat.ErrAborted) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, dragonboat.ErrShardNotFound) || errors.Is(err, dragonboat.ErrCanceled) ||
		errors.Is(err, context.Canceled)
}

// Read returns the state machine's state once it has applied everything
// committed when Read was called (a ReadIndex round trip to the leader), so
// a read on a standby sees every write acknowledged before it.
func (q *Quorum) Read(ctx context.Context) (*fsm.State, error) {
	v, err := q.nh.SyncRead(ctx, ShardID, nil)
	if err != nil {
		return nil, fmt.Errorf("quorum: read: %w", err)
	}
	st, ok := v.(*fsm.State)
	if !ok {
		return nil, fmt.Errorf("quorum: read: unexpected state %T", v)
	}
	return st, nil
}

// Close stops the replica and the node host. It is idempotent.
func (q *Quorum) Close() {
	if q.closed.Swap(true) {
		return
	}
	q.nh.Close()
}

var setLoggerOnce sync.Once

// setLogger routes dragonboat's process-wide logging to slog: errors only
// from the packages that report routine events (elections, dropped
// proposals while there is no leader, unreachable peers) as warnings, and
// warnings from the others.
func setLogger(l *slog.Logger) {
	setLoggerOnce.Do(func() {
		logger.SetLoggerFactory(func(pkg string) logger.ILogger {
			level := logger.WARNING
			switch pkg {
			case "raft", "transport", "config", "dragonboat", "rsm":
				level = logger.ERROR
			}
			return &dbLogger{log: l.With("raft", pkg), level: level}
		})
	})
}
