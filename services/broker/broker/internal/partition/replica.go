package partition

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/strata-log/strata/services/broker/broker/internal/partlog"
)

// Replication, as Kafka does it.
//
// As leader, a partition tracks each follower's log end offset (the fetch
// offset of its latest fetch) and when it was last caught up, and keeps the
// high watermark at the smallest log end offset of the ISR. ISR changes go
// to the controller (AlterPartition); while one is in flight the high
// watermark counts the larger of the two ISRs (the "maximal ISR"), so that
// neither the committed ISR nor the proposed one can lose a record the high
// watermark covers.
//
// As follower, a partition appends what the leader sends and truncates
// where its log diverged, only while the metadata still names the leader and
// epoch the data came from.

// ErrNotFollower is returned by the follower's writes when the metadata no
// longer makes this broker a follower in the epoch the data belongs to.
var ErrNotFollower = errors.New("partition: not a follower in this leader epoch")

// follower is what a leader knows of one follower.
type follower struct {
	leo          int64 // -1 until its first fetch in this leader epoch
	lastFetch    time.Time
	lastFetchLEO int64 // the leader's log end offset at the last fetch
	lastCaughtUp time.Time
}

// leaderState is what a partition keeps while this broker leads it.
type leaderState struct {
	followers  map[int32]*follower
	epochStart int64 // the log end offset when this leader epoch began
	pending    []int32
	sentAt     time.Time // when pending was last sent
}

// leadershipChangedLocked resets the follower tracking when this broker
// starts leading in a new epoch (an ISR member counts as caught up from now,
// as in Kafka) and clears it when it stops leading. A new partition epoch
// settles the ISR change in flight.
func (p *Partition) leadershipChangedLocked(old State, newLeadership bool) {
	switch {
	case p.state.Leader != p.self:
		p.lead = leaderState{}
	case newLeadership:
		now := time.Now()
		p.lead = leaderState{followers: make(map[int32]*follower), epochStart: p.Log.LogEndOffset()}
		for _, r := range p.state.Replicas {
			if r == p.self {
				continue
			}
			f := &follower{leo: -1, lastFetchLEO: -1}
			if slices.Contains(p.state.ISR, r) {
				f.lastCaughtUp = now
			}
			p.lead.followers[r] = f
		}
	default:
		if p.state.PartitionEpoch != old.PartitionEpoch {
			p.lead.pending = nil
		}
		for _, r := range p.state.Replicas { // a reassignment may add replicas
			if _, ok := p.lead.followers[r]; !ok && r != p.self {
				p.lead.followers[r] = &follower{leo: -1, lastFetchLEO: -1}
			}
		}
	}
}

// maximalISRLocked is the ISR the high watermark counts: the committed one
// and the one in flight together.
func (p *Partition) maximalISRLocked() []int32 {
	if p.lead.pending == nil {
		return p.state.ISR
	}
	out := slices.Clone(p.state.ISR)
	for _, r := range p.lead.pending {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// advanceHWLocked moves the high watermark of a leader up to the smallest
// log end offset of the maximal ISR (its own included). A follower whose
// log end offset is not known yet holds it where it is.
func (p *Partition) advanceHWLocked() bool {
	if p.state.Leader != p.self {
		return false
	}
	hw := p.Log.LogEndOffset()
	for _, r := range p.maximalISRLocked() {
		if r == p.self {
			continue
		}
		f, ok := p.lead.followers[r]
		if !ok || f.leo < 0 {
			return false
		}
		hw = min(hw, f.leo)
	}
	old := p.Log.HighWatermark()
	return p.Log.SetHighWatermark(hw) > old
}

// FollowerFetched records that follower replica fetched from offset
// fetchOffset in leaderEpoch (its log holds everything below it), updates
// when it was last caught up (as Kafka's updateFollowerFetchState: caught up
// now when it reached the log end, or at its previous fetch when it reached
// the log end of then), and advances the high watermark. It returns false
// when this broker no longer leads in leaderEpoch, and whether the follower
// may join the ISR now.
func (p *Partition) FollowerFetched(replica, leaderEpoch int32, fetchOffset int64, now time.Time) (ok, mayJoin bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state.Leader != p.self || p.state.LeaderEpoch != leaderEpoch {
		return false, false
	}
	f, ok := p.lead.followers[replica]
	if !ok {
		return false, false
	}
	leo := p.Log.LogEndOffset()
	switch {
	case fetchOffset >= leo:
		f.lastCaughtUp = now
	case f.lastFetchLEO >= 0 && fetchOffset >= f.lastFetchLEO:
		f.lastCaughtUp = f.lastFetch
	}
	f.leo, f.lastFetch, f.lastFetchLEO = fetchOffset, now, leo
	if p.advanceHWLocked() {
		p.notifyLocked()
	}
	return true, p.mayJoinLocked(replica, f)
}

// mayJoinLocked reports whether a follower outside the ISR has caught up
// enough to join it: up to the high watermark and into this leader epoch.
func (p *Partition) mayJoinLocked(r int32, f *follower) bool {
	return p.lead.pending == nil && !slices.Contains(p.state.ISR, r) &&
		f.leo >= 0 && f.leo >= p.Log.HighWatermark() && f.leo >= p.lead.epochStart
}

// ISRChange is an ISR change a leader proposes to the controller.
type ISRChange struct {
	P              *Partition
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// ProposeISR returns the ISR change this leader wants: followers not caught
// up within lagMax leave, followers caught up (and eligible) join. It marks
// the change in flight; a change in flight is proposed again after resend
// (its answer may have been lost). It returns false when there is nothing
// to propose.
func (p *Partition) ProposeISR(now time.Time, lagMax, resend time.Duration, eligible func(int32) bool) (ISRChange, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state.Leader != p.self {
		return ISRChange{}, false
	}
	if p.lead.pending != nil {
		if now.Sub(p.lead.sentAt) < resend {
			return ISRChange{}, false
		}
		p.lead.sentAt = now
		return p.changeLocked(p.lead.pending), true
	}
	isr := make([]int32, 0, len(p.state.Replicas))
	changed := false
	for _, r := range p.state.ISR {
		f, ok := p.lead.followers[r]
		if r != p.self && ok && now.Sub(f.lastCaughtUp) > lagMax {
			changed = true
			continue
		}
		isr = append(isr, r)
	}
	for _, r := range p.state.Replicas {
		if f, ok := p.lead.followers[r]; ok && !slices.Contains(isr, r) && !slices.Contains(p.state.ISR, r) &&
			p.mayJoinLocked(r, f) && eligible(r) {
			isr = append(isr, r)
			changed = true
		}
	}
	if !changed {
		return ISRChange{}, false
	}
	p.lead.pending, p.lead.sentAt = isr, now
	return p.changeLocked(isr), true
}

func (p *Partition) changeLocked(isr []int32) ISRChange {
	return ISRChange{P: p, LeaderEpoch: p.state.LeaderEpoch, PartitionEpoch: p.state.PartitionEpoch, ISR: slices.Clone(isr)}
}

// ISRChanged applies the controller's answer to change c: on success the
// committed ISR and partition epoch (the metadata brings the same later);
// on failure the change is dropped, to be proposed again from the state the
// metadata gives.
func (p *Partition) ISRChanged(c ISRChange, ok bool, isr []int32, partitionEpoch int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state.Leader != p.self || p.state.LeaderEpoch != c.LeaderEpoch || !slices.Equal(p.lead.pending, c.ISR) {
		return
	}
	p.lead.pending = nil
	if ok && partitionEpoch > p.state.PartitionEpoch {
		p.state.ISR, p.state.PartitionEpoch = slices.Clone(isr), partitionEpoch
	}
	if p.advanceHWLocked() || ok {
		p.notifyLocked()
	}
}

// FollowerOf returns the leader and leader epoch this broker follows in the
// partition, and false when it leads it or it has no leader.
func (p *Partition) FollowerOf() (leader, epoch int32, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state.Leader == p.self || p.state.Leader < 0 {
		return 0, 0, false
	}
	return p.state.Leader, p.state.LeaderEpoch, true
}

// AppendAsFollower appends batches fetched from the leader of leaderEpoch
// (partlog.Log.AppendReplica), if this broker still follows it in that
// epoch, and then raises the high watermark to leaderHW (capped at the log
// end).
func (p *Partition) AppendAsFollower(batches []byte, leaderEpoch int32, leaderHW int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkFollowerLocked(leaderEpoch); err != nil {
		return err
	}
	if len(batches) > 0 {
		if err := p.Log.AppendReplica(batches); err != nil {
			return err
		}
	}
	p.Log.SetHighWatermark(leaderHW)
	p.notifyLocked()
	return nil
}

// TruncateAsFollower truncates the log to offset, if this broker still
// follows the leader of leaderEpoch.
func (p *Partition) TruncateAsFollower(offset int64, leaderEpoch int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkFollowerLocked(leaderEpoch); err != nil {
		return err
	}
	return p.Log.TruncateTo(offset)
}

// RestartAsFollowerAt empties the log and restarts it at offset (the
// leader's log start offset, above this log's end), if this broker still
// follows the leader of leaderEpoch.
func (p *Partition) RestartAsFollowerAt(offset int64, leaderEpoch int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkFollowerLocked(leaderEpoch); err != nil {
		return err
	}
	return p.Log.TruncateFullyAndStartAt(offset)
}

func (p *Partition) checkFollowerLocked(leaderEpoch int32) error {
	if p.state.Leader == p.self || p.state.Leader < 0 || p.state.LeaderEpoch != leaderEpoch {
		return ErrNotFollower
	}
	return nil
}

// TruncationOffset is where a follower truncates when the leader says its
// log diverges: the leader's end offset of leaderEpoch (the largest epoch
// not above the follower's last fetched one), lowered to the follower's own
// end of that epoch, as Kafka's follower does (KIP-101, KIP-320). When the
// follower does not have the leader's epoch it truncates to the end of its
// own largest epoch below it, and the next fetch checks again.
func TruncationOffset(l *partlog.Log, leaderEpoch int32, leaderEnd int64) int64 {
	leo := l.LogEndOffset()
	if leaderEpoch < 0 {
		return min(leaderEnd, leo)
	}
	epoch, end := l.LastOffsetForEpoch(leaderEpoch)
	switch {
	case epoch < 0:
		return min(l.HighWatermark(), leo)
	case epoch == leaderEpoch:
		return min(leaderEnd, end, leo)
	default:
		return min(end, leo)
	}
}

// bell is a broadcast: wait returns a channel that ring closes.
type bell struct {
	mu sync.Mutex
	ch chan struct{}
}

func (b *bell) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *bell) ring() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}

// CommittedAsLeader reports, at one instant, the partition's state, whether
// this broker still leads it in leaderEpoch, and if so whether the high
// watermark has reached end. The high watermark only rises while a broker
// leads in one epoch (a follower's truncation lowers it), so a batch seen
// committed here was committed by this leadership: a follower's high
// watermark, past batches that were truncated away, never counts.
func (p *Partition) CommittedAsLeader(leaderEpoch int32, end int64) (st State, leading, committed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st = p.state
	if st.Leader != p.self || st.LeaderEpoch != leaderEpoch {
		return st, false, false
	}
	return st, true, p.Log.HighWatermark() >= end
}
