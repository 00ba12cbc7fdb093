// Package partition holds the partitions a broker replicates: their logs
// and what the metadata says about them (leader, leader epoch, ISR), kept
// in step with the image by Manager.Reconcile. It is where produce, fetch
// and (later) replication meet: a Partition appends as leader, advances the
// high watermark and wakes fetchers waiting for data.
package partition

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/services/broker/broker/internal/partlog"
)

// ErrNotLeader is returned by AppendAsLeader on a broker that does not lead
// the partition (any more).
var ErrNotLeader = errors.New("partition: not the leader")

// State is what the metadata says about a partition, as this broker last
// applied it.
type State struct {
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	Replicas       []int32
	ISR            []int32
}

// Partition is one partition this broker holds a replica of.
type Partition struct {
	Topic metadata.TopicID
	Name  string
	ID    int32
	Log   *partlog.Log
	self  int32 // this broker's id

	mu      sync.Mutex
	state   State
	changed chan struct{} // closed and replaced when data, HW or leadership change
	bell    *bell         // the manager's: rung with changed
	lead    leaderState   // as leader: the followers and the ISR change in flight
}

// State returns the partition's metadata state.
func (p *Partition) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// IsLeader reports whether this broker leads the partition.
func (p *Partition) IsLeader() bool { return p.State().Leader == p.self }

// Changed returns a channel closed at the next change of the log end, the
// high watermark or the leadership: fetchers wait on it.
func (p *Partition) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

func (p *Partition) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
	if p.bell != nil {
		p.bell.ring()
	}
}

// AppendAsLeader appends verified batches with the current leader epoch, if
// this broker leads with epoch, and advances the high watermark when the
// ISR is this broker alone (replication advances it otherwise). A retry of
// an idempotent producer's batches appends nothing and answers the
// originals' offsets (partlog.Log.Append).
func (p *Partition) AppendAsLeader(batches []byte, epoch int32) (partlog.AppendInfo, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state.Leader != p.self || p.state.LeaderEpoch != epoch {
		return partlog.AppendInfo{}, ErrNotLeader
	}
	info, err := p.Log.Append(batches, epoch)
	if err != nil || info.Duplicate {
		return info, err
	}
	p.advanceHWLocked()
	p.notifyLocked()
	return info, nil
}

// update applies a new metadata state. A broker that becomes leader records
// its epoch at the log end (as Kafka's makeLeader) and starts tracking its
// followers afresh. An ISR older than one this leader already learnt from
// an AlterPartition answer is ignored (the image is behind).
func (p *Partition) update(s State) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.state
	if s.Leader == old.Leader && s.LeaderEpoch == old.LeaderEpoch && s.PartitionEpoch < old.PartitionEpoch {
		s.ISR, s.PartitionEpoch = old.ISR, old.PartitionEpoch
	}
	p.state = s
	newLeadership := s.Leader == p.self && (old.Leader != p.self || old.LeaderEpoch != s.LeaderEpoch)
	if newLeadership {
		if err := p.Log.AssignEpoch(s.LeaderEpoch); err != nil && !errors.Is(err, partlog.ErrStaleLeaderEpoch) {
			return fmt.Errorf("partition %s-%d: assign leader epoch %d: %w", p.Name, p.ID, s.LeaderEpoch, err)
		}
	}
	p.leadershipChangedLocked(old, newLeadership)
	p.advanceHWLocked()
	if old.Leader != s.Leader || old.LeaderEpoch != s.LeaderEpoch || !slices.Equal(old.ISR, s.ISR) {
		p.notifyLocked()
	}
	return nil
}

type key struct {
	topic metadata.TopicID
	id    int32
}

// Manager keeps the broker's partitions in step with the metadata image.
type Manager struct {
	self  int32
	store *partlog.Store
	log   *slog.Logger

	mu    sync.RWMutex
	parts map[key]*Partition

	bell bell // rung at every change of any partition
}

// Changed returns a channel closed at the next change (data, high
// watermark, leadership) of any partition: the long polls of followers,
// which cover many partitions, wait on it.
func (m *Manager) Changed() <-chan struct{} { return m.bell.wait() }

// NewManager manages the partitions of broker self stored in store.
func NewManager(self int32, store *partlog.Store, log *slog.Logger) *Manager {
	return &Manager{self: self, store: store, log: log, parts: make(map[key]*Partition)}
}

// Get returns the partition if this broker holds a replica of it.
func (m *Manager) Get(topic metadata.TopicID, id int32) (*Partition, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p, ok := m.parts[key{topic, id}]
	return p, ok
}

// All returns the partitions, in no particular order.
func (m *Manager) All() []*Partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*Partition, 0, len(m.parts))
	for _, p := range m.parts {
		out = append(out, p)
	}
	return out
}

// Reconcile makes the held partitions match img: it opens the logs of
// partitions this broker now replicates, updates leadership and ISR, and
// deletes the data of partitions it no longer replicates (deleted topics,
// reassigned replicas), on disk as well as in memory.
//
// Data on disk of a partition that no image applied here has named (left
// from before a restart) is deleted only when caughtUp says img has reached
// the controllers' committed offset: a broker that restarts without a
// recent persisted image starts from an old or empty one, which does not
// know the topics its data belongs to yet.
func (m *Manager) Reconcile(img *metadata.Image, caughtUp bool) error {
	want := make(map[key]bool)
	var errs []error
	for t := range img.TopicsByID() {
		for _, mp := range t.Partitions {
			if !mp.IsReplica(m.self) {
				continue
			}
			k := key{t.ID, mp.ID}
			want[k] = true
			p, err := m.open(t, mp.ID)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if err := p.update(State{
				Leader: mp.Leader, LeaderEpoch: mp.LeaderEpoch, PartitionEpoch: mp.PartitionEpoch,
				Replicas: mp.Replicas, ISR: mp.ISR,
			}); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// Partitions on disk or in memory that the image no longer gives us.
	onDisk, err := m.store.Partitions()
	if err != nil {
		errs = append(errs, err)
	}
	stale := make(map[key]bool)
	for _, id := range onDisk {
		if k := (key{id.Topic, id.Partition}); !want[k] && caughtUp {
			stale[k] = true
		}
	}
	m.mu.Lock()
	for k := range m.parts {
		if !want[k] {
			stale[k] = true
		}
	}
	for k := range stale {
		if p, ok := m.parts[k]; ok {
			p.mu.Lock()
			p.state = State{Leader: metadata.NoLeader}
			p.notifyLocked()
			p.mu.Unlock()
			delete(m.parts, k)
		}
	}
	m.mu.Unlock()
	for k := range stale {
		if err := m.store.DeletePartition(k.topic, k.id); err != nil {
			errs = append(errs, err)
			continue
		}
		m.log.Info("deleted the data of a partition this broker no longer replicates", "topic_id", k.topic.String(), "partition", k.id)
	}
	return errors.Join(errs...)
}

func (m *Manager) open(t *metadata.Topic, id int32) (*Partition, error) {
	k := key{t.ID, id}
	if p, ok := m.Get(t.ID, id); ok {
		return p, nil
	}
	l, err := m.store.Partition(t.ID, id)
	if err != nil {
		return nil, err
	}
	p := &Partition{Topic: t.ID, Name: t.Name, ID: id, Log: l, self: m.self, changed: make(chan struct{}), bell: &m.bell, state: State{Leader: metadata.NoLeader}}
	m.mu.Lock()
	defer m.mu.Unlock()
	if existing, ok := m.parts[k]; ok {
		return existing, nil
	}
	m.parts[k] = p
	return p, nil
}
