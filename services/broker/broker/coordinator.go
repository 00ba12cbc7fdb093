package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/recordbatch"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/services/broker/broker/internal/groups"
	"github.com/strata-log/strata/services/broker/broker/internal/partition"
	"github.com/strata-log/strata/services/broker/broker/internal/partlog"
)

// The group coordinator
//
// A broker coordinates the groups of every partition of __consumer_offsets
// it leads: for each such partition it keeps a shard, the groups.State
// rebuilt from the partition. After each reconciliation of the partitions
// (reconcileLoop) coordinator.update starts a shard for every partition
// this broker now leads, in its leader epoch, and drops the others. A new
// shard loads first: it waits until the high watermark reaches the log end
// it started with (everything the previous leaders wrote is committed by
// this one), replays the partition from its log start, and only then takes
// requests (COORDINATOR_LOAD_IN_PROGRESS before).
//
// Writes go through the leader's append, in the shard's leader epoch, with
// acks=all: a shard appends under its lock, so records are in the order of
// the changes, then waits, without the lock, until the high watermark
// passes them, as produce's awaitAcks does. A group's membership changes in
// memory when its record is appended, and every answer that depends on it
// waits until that record is committed; committed offsets only become
// visible (OffsetFetch, describe) once their record is committed. A
// leadership lost meanwhile answers NOT_COORDINATOR, and the next shard
// reads the log again; an append that fails otherwise reloads the shard.
//
// Goroutines: the loaders (one per loading shard) and the sweeper (session
// and rebalance timeouts, topic changes) run until Server.Run stops the
// background; the heartbeat streams' receivers are counted in streams.
// Locks: coordinator.mu guards the shard map; shard.mu a shard's state and
// sessions. Lock order: coordinator.mu, then shard.mu, then the partition's
// locks (an append).

// sweepInterval bounds how long the sweeper sleeps between looks.
const sweepInterval = 250 * time.Millisecond

type coordinator struct {
	s   *Server
	cfg GroupConfig
	log *slog.Logger
	ctx context.Context // the broker's background: ends loaders and the sweeper

	mu     sync.Mutex
	shards map[int32]*shard // by partition of __consumer_offsets

	wg          sync.WaitGroup // loaders
	streams     sync.WaitGroup // heartbeat stream receivers
	wake        chan struct{}  // cap 1: the sweeper has work
	topicsDirty atomic.Bool    // the image changed since the sweeper last looked
	createMu    sync.Mutex     // one creation of __consumer_offsets at a time
}

func newCoordinator(ctx context.Context, s *Server) *coordinator {
	return &coordinator{
		s: s, cfg: s.cfg.Groups, log: s.log.With("component", "group-coordinator"), ctx: ctx,
		shards: make(map[int32]*shard), wake: make(chan struct{}, 1),
	}
}

// shard is the state of one partition of __consumer_offsets this broker
// leads, in one leader epoch.
type shard struct {
	c     *coordinator
	id    int32
	p     *partition.Partition
	epoch int32
	ready chan struct{} // closed once loaded
	gone  chan struct{} // closed when dropped

	mu       sync.Mutex
	st       *groups.State
	sessions map[string]map[string]*session // group -> member -> its stream
	pending  []pendingCommit                // offset records appended, not yet committed, in log order
	written  map[string]int64               // group -> the end of its last metadata record
	dropped  bool
}

// pendingCommit is committed offsets waiting for their record to commit.
type pendingCommit struct {
	end     int64
	group   string
	offsets map[groups.TP]groups.Offset
}

// session is one heartbeat stream's member.
type session struct {
	host  string
	nudge chan struct{} // cap 1: heartbeat now
	gone  chan struct{} // closed when the shard or another stream replaced it

	// Set by the first successful request; the handler's goroutine only.
	group, member string
	sh            *shard
	sentEpoch     int32
	sentAssigned  []groups.TP
	sent          bool
}

// update follows the leadership of __consumer_offsets after a
// reconciliation: a shard for every partition this broker leads, in its
// current epoch.
func (c *coordinator) update(img *metadata.Image) {
	c.topicsDirty.Store(true)
	c.kick()
	type lead struct {
		p     *partition.Partition
		epoch int32
	}
	want := make(map[int32]lead)
	if t, ok := img.Topic(metadata.ConsumerOffsetsTopic); ok {
		for _, mp := range t.Partitions {
			p, held := c.s.parts.Get(t.ID, mp.ID)
			if !held {
				continue
			}
			if st := p.State(); st.Leader == c.s.cfg.NodeID {
				want[mp.ID] = lead{p, st.LeaderEpoch}
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, sh := range c.shards {
		if w, ok := want[id]; !ok || w.p != sh.p || w.epoch != sh.epoch {
			sh.drop()
			delete(c.shards, id)
		}
	}
	for id, w := range want {
		if _, ok := c.shards[id]; !ok {
			c.startLocked(id, w.p, w.epoch)
		}
	}
}

func (c *coordinator) startLocked(id int32, p *partition.Partition, epoch int32) {
	sh := &shard{
		c: c, id: id, p: p, epoch: epoch, ready: make(chan struct{}), gone: make(chan struct{}),
		sessions: make(map[string]map[string]*session), written: make(map[string]int64),
	}
	c.shards[id] = sh
	c.wg.Go(func() { sh.load(c.ctx) })
}

// restart drops a shard whose state may no longer match its log (an
// append failed) and loads it again.
func (c *coordinator) restart(sh *shard) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shards[sh.id] != sh {
		return
	}
	sh.drop()
	delete(c.shards, sh.id)
	if st := sh.p.State(); st.Leader == c.s.cfg.NodeID && st.LeaderEpoch == sh.epoch {
		c.startLocked(sh.id, sh.p, sh.epoch)
	}
}

// wait waits for the loaders and the heartbeat receivers.
func (c *coordinator) wait() {
	c.wg.Wait()
	c.streams.Wait()
}

func (c *coordinator) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// drop ends the shard: its sessions are told to find the new coordinator.
func (sh *shard) drop() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.dropped {
		return
	}
	sh.dropped = true
	close(sh.gone)
	sh.sessions = nil
}

func (sh *shard) isLoaded() bool {
	select {
	case <-sh.ready:
		return true
	default:
		return false
	}
}

// load replays the partition once everything in it is committed, then
// opens the shard.
func (sh *shard) load(ctx context.Context) {
	c := sh.c
	start := time.Now()
	end := sh.p.Log.LogEndOffset()
	for {
		ch := sh.p.Changed()
		_, leading, committed := sh.p.CommittedAsLeader(sh.epoch, end)
		if !leading {
			return // update drops the shard
		}
		if committed {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-sh.gone:
			return
		}
	}
	st := groups.NewState()
	backoff := 50 * time.Millisecond
	for {
		err := sh.replay(st, end)
		if err == nil {
			break
		}
		c.log.Error("loading a partition of __consumer_offsets failed; retrying", "partition", sh.id, "err", err)
		st = groups.NewState()
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		case <-sh.gone:
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	loaded := len(st.GroupIDs())
	sh.mu.Lock()
	if sh.dropped {
		sh.mu.Unlock()
		return
	}
	sh.st = st
	close(sh.ready)
	sh.mu.Unlock()
	c.kick()
	c.log.Info("loaded the groups of a partition of __consumer_offsets", "partition", sh.id, "leader_epoch", sh.epoch,
		"groups", loaded, "log_end_offset", end, "took", time.Since(start).Round(time.Millisecond))
}

// replay applies the records of the partition below end to st. A record
// that does not decode is logged and skipped.
func (sh *shard) replay(st *groups.State, end int64) error {
	now := time.Now()
	dec := recordbatch.Decoder{MaxDecompressedSize: recordbatch.DefaultMaxDecompressedSize}
	var recs []recordbatch.Record
	offset := sh.p.Log.LogStartOffset()
	for offset < end {
		data, err := sh.p.Log.Read(offset, 1<<20, end)
		if err != nil {
			return fmt.Errorf("read from offset %d: %w", offset, err)
		}
		if len(data) == 0 {
			return nil
		}
		for b, err := range recordbatch.All(data) {
			if err != nil {
				return fmt.Errorf("batch near offset %d: %w", offset, err)
			}
			h, err := recordbatch.ParseHeader(b)
			if err != nil {
				return fmt.Errorf("batch near offset %d: %w", offset, err)
			}
			offset = max(offset, h.LastOffset()+1)
			if h.Control() {
				continue
			}
			if recs, err = dec.Decode(recs[:0], b); err != nil {
				return fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
			}
			for _, r := range recs {
				if err := st.Replay(r.Key, r.Value, now); err != nil {
					sh.c.log.Error("skipping a record of __consumer_offsets that does not decode", "partition", sh.id,
						"offset", h.BaseOffset+int64(r.OffsetDelta), "err", err)
				}
			}
		}
	}
	return nil
}

// appendLocked appends records as the leader of the shard's epoch and
// returns the offset after them. Called with sh.mu held, so that records
// are appended in the order of the changes they carry. mutated says the
// records carry a change already made in memory: when they cannot be
// written (but for a lost leadership, which drops the shard anyway), the
// shard loads again from its log, so that memory and log agree.
func (sh *shard) appendLocked(recs []recordbatch.Record, mutated bool) (int64, *rpc.Error) {
	s := sh.c.s
	reload := func() {
		if mutated {
			sh.c.wg.Go(func() { sh.c.restart(sh) }) // not here: the lock order puts coordinator.mu first
		}
	}
	img := s.appliedImage()
	if t, ok := img.TopicByID(sh.p.Topic); ok {
		cfg := s.topicConfigs.get(img, t)
		if st := sh.p.State(); len(st.ISR) < cfg.MinInsyncReplicas {
			reload()
			return 0, rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_COORDINATOR_NOT_AVAILABLE,
				"__consumer_offsets-%d has %d in-sync replicas, fewer than its min.insync.replicas %d", sh.id, len(st.ISR), cfg.MinInsyncReplicas)
		}
	}
	b := recordbatch.NewBuilder(recordbatch.None, nil)
	ts := time.Now().UnixMilli()
	for _, r := range recs {
		r.Timestamp = ts
		b.Append(r)
	}
	batch, err := b.Build(nil)
	if err != nil {
		reload()
		return 0, rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_SERVER_ERROR, "encoding a record of __consumer_offsets: %v", err)
	}
	info, err := sh.p.AppendAsLeader(batch, sh.epoch)
	switch {
	case errors.Is(err, partition.ErrNotLeader), errors.Is(err, partlog.ErrClosed):
		return 0, sh.notCoordinator()
	case err != nil:
		sh.c.log.Error("appending to __consumer_offsets failed", "partition", sh.id, "err", err, "reload", mutated)
		reload()
		return 0, rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_COORDINATOR_NOT_AVAILABLE, "writing to __consumer_offsets-%d failed", sh.id)
	}
	return info.LastOffset + 1, nil
}

// await waits until the records before end are committed in the shard's
// leader epoch.
func (sh *shard) await(ctx context.Context, end int64) *rpc.Error {
	s := sh.c.s
	timer := time.NewTimer(sh.c.cfg.CommitTimeout)
	defer timer.Stop()
	for {
		ch := sh.p.Changed()
		_, leading, committed := sh.p.CommittedAsLeader(sh.epoch, end)
		switch {
		case committed:
			return nil
		case !leading:
			return sh.notCoordinator()
		}
		select {
		case <-ch:
		case <-sh.gone:
			return sh.notCoordinator()
		case <-timer.C:
			return rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_COORDINATOR_NOT_AVAILABLE,
				"the in-sync replicas of __consumer_offsets-%d did not reach offset %d in time", sh.id, end)
		case <-ctx.Done():
			return rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_REQUEST_TIMED_OUT, "the request ended before __consumer_offsets-%d committed it", sh.id)
		case <-s.stopping:
			return rpc.New(stratav1.ErrorCode_ERROR_CODE_COORDINATOR_NOT_AVAILABLE, "the broker is shutting down")
		}
	}
}

// notCoordinator is NOT_COORDINATOR with the partition's leader as the
// applied image names it.
func (sh *shard) notCoordinator() *rpc.Error {
	return sh.c.notCoordinator(sh.id, fmt.Sprintf("broker %d no longer leads __consumer_offsets-%d", sh.c.s.cfg.NodeID, sh.id))
}

func (c *coordinator) notCoordinator(partition int32, msg string) *rpc.Error {
	e := rpc.New(stratav1.ErrorCode_ERROR_CODE_NOT_COORDINATOR, msg)
	img := c.s.appliedImage()
	if t, ok := img.Topic(metadata.ConsumerOffsetsTopic); ok {
		if mp, ok := t.Partition(partition); ok {
			e.Leader = leaderHint(img, mp)
		}
	}
	return e
}

// writeGroupLocked appends the group's metadata record and notes it as
// the group's latest write.
func (sh *shard) writeGroupLocked(g *groups.Group) *rpc.Error {
	end, e := sh.appendLocked([]recordbatch.Record{{Key: groups.GroupKey(g.ID), Value: groups.EncodeGroup(g)}}, true)
	if e != nil {
		return e
	}
	sh.written[g.ID] = end
	return nil
}

// applyCommittedLocked makes the pending offsets whose records are
// committed visible, in log order.
func (sh *shard) applyCommittedLocked() {
	n := 0
	for _, pc := range sh.pending {
		if _, _, ok := sh.p.CommittedAsLeader(sh.epoch, pc.end); !ok {
			break
		}
		for tp, o := range pc.offsets {
			sh.st.SetOffset(pc.group, tp, o)
		}
		n++
	}
	if n > 0 {
		clear(sh.pending[:n])
		sh.pending = sh.pending[n:]
	}
}

// env is what the groups package reads from outside: the time and the
// partition counts of the applied image.
func (c *coordinator) env(now time.Time) groups.Env {
	img := c.s.appliedImage()
	return groups.Env{Now: now, Partitions: func(topic string) int32 {
		if t, ok := img.Topic(topic); ok {
			return int32(len(t.Partitions))
		}
		return 0
	}}
}

// nudgeLocked asks members' sessions to heartbeat now.
func (sh *shard) nudgeLocked(group string, members []string) {
	for _, id := range members {
		if sess := sh.sessions[group][id]; sess != nil {
			select {
			case sess.nudge <- struct{}{}:
			default:
			}
		}
	}
}

// sweep runs until ctx ends: it removes members whose session or
// rebalance timeout passed, and recomputes the assignment of groups whose
// topics changed.
func (c *coordinator) sweep(ctx context.Context) {
	timer := time.NewTimer(sweepInterval)
	defer timer.Stop()
	for {
		next := c.sweepOnce(time.Now())
		wait := sweepInterval
		if !next.IsZero() {
			wait = min(max(time.Until(next)+time.Millisecond, time.Millisecond), sweepInterval)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-c.wake:
			timer.Stop()
		}
	}
}

// sweepOnce looks at every loaded shard once and returns the next member
// deadline.
func (c *coordinator) sweepOnce(now time.Time) time.Time {
	refresh := c.topicsDirty.Swap(false)
	c.mu.Lock()
	shards := make([]*shard, 0, len(c.shards))
	for _, sh := range c.shards {
		shards = append(shards, sh)
	}
	c.mu.Unlock()
	env := c.env(now)
	var next time.Time
	for _, sh := range shards {
		if !sh.isLoaded() {
			continue
		}
		sh.mu.Lock()
		if sh.dropped {
			sh.mu.Unlock()
			continue
		}
		for _, id := range sh.st.GroupIDs() {
			g := sh.st.Groups[id]
			if g == nil {
				continue
			}
			gone, res := g.Expire(env)
			if len(gone) > 0 {
				c.log.Info("removed group members whose session or rebalance timeout passed", "group", id, "members", gone, "group_epoch", g.Epoch)
				sh.nudgeLocked(id, gone) // their next request learns they are gone
				for _, m := range gone {
					delete(sh.sessions[id], m)
				}
			}
			if refresh {
				if r := g.RefreshTopics(env); r.Changed {
					c.log.Info("the topics of a group changed; assigning again", "group", id, "group_epoch", g.Epoch)
					res.Changed = true
					res.Notify = append(res.Notify, r.Notify...)
				}
			}
			if res.Changed {
				if e := sh.writeGroupLocked(g); e != nil {
					c.log.Warn("writing a group's membership failed", "group", id, "err", e)
				}
				sh.nudgeLocked(id, res.Notify)
			}
			if d := g.NextDeadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
				next = d
			}
		}
		sh.mu.Unlock()
	}
	return next
}
