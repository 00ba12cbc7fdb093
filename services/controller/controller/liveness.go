package controller

import (
	"context"
	"sync"
	"time"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
)

// liveness tracks broker heartbeats on the active controller. Heartbeat
// state is not logged: a new active controller gives every broker a fresh
// session.
type liveness struct {
	timeout time.Duration
	now     func() time.Time

	mu   sync.Mutex
	last map[int32]session
}

type session struct {
	epoch int64
	at    time.Time
}

func newLiveness(timeout time.Duration) *liveness {
	return &liveness{timeout: timeout, now: time.Now, last: make(map[int32]session)}
}

// reset starts a fresh session for every broker (on becoming active).
func (l *liveness) reset(img *metadata.Image) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.last = make(map[int32]session)
	for b := range img.Brokers() {
		l.last[b.ID] = session{epoch: b.Epoch, at: now}
	}
}

func (l *liveness) touch(id int32, epoch int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last[id] = session{epoch: epoch, at: l.now()}
}

// expired reports whether the broker's session (with this epoch) is over:
// no heartbeat within the timeout.
func (l *liveness) expired(id int32, epoch int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.last[id]
	if !ok || s.epoch != epoch {
		return true
	}
	return l.now().Sub(s.at) > l.timeout
}

// expiredBrokers lists unfenced brokers whose session is over, by id.
func (l *liveness) expiredBrokers(img *metadata.Image) []*metadata.Broker {
	var out []*metadata.Broker
	for b := range img.Brokers() {
		if !b.Fenced && l.expired(b.ID, b.Epoch) {
			out = append(out, b)
		}
	}
	return out
}

// activeLoop runs the active controller's duties while this controller
// leads: fencing expired brokers and moving leadership back to preferred
// replicas.
func (s *Server) activeLoop(ctx context.Context) {
	for ctx.Err() == nil {
		changed := s.raft().LeaderChanged()
		if s.raft().IsLeader() {
			s.lead(ctx, changed)
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// lead runs until leadership changes (changed is closed) or ctx ends.
func (s *Server) lead(ctx context.Context, changed <-chan struct{}) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-changed:
			cancel()
		case <-lctx.Done():
		}
	}()
	// A NoOp commits everything the previous leader left, so the image
	// this controller acts on is complete.
	if _, err := s.raft().Propose(lctx, &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_NoOp{NoOp: &stratav1.NoOpCommand{}}}); err != nil {
		return
	}
	s.live.reset(s.Image())
	s.log.Info("became the active controller", "metadata_offset", s.Image().Offset())

	check := min(s.cfg.BrokerSessionTimeout/10, 250*time.Millisecond)
	fence := time.NewTicker(check)
	defer fence.Stop()
	var rebalance <-chan time.Time
	if s.cfg.LeaderRebalanceInterval > 0 {
		t := time.NewTicker(s.cfg.LeaderRebalanceInterval)
		defer t.Stop()
		rebalance = t.C
	}
	for {
		select {
		case <-lctx.Done():
			return
		case <-fence.C:
			for _, b := range s.live.expiredBrokers(s.Image()) {
				s.log.Warn("broker session expired; fencing it", "broker_id", b.ID, "broker_epoch", b.Epoch)
				pctx, pcancel := context.WithTimeout(lctx, proposeTimeout)
				_, err := s.raft().Propose(pctx, &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_FenceBroker{
					FenceBroker: &stratav1.FenceBrokerCommand{BrokerId: b.ID, BrokerEpoch: b.Epoch},
				}})
				pcancel()
				if err != nil && lctx.Err() == nil {
					s.log.Warn("fencing failed", "broker_id", b.ID, "err", err)
				}
			}
		case <-rebalance:
			s.rebalanceLeaders(lctx)
		}
	}
}

// rebalanceLeaders moves leadership back to preferred replicas that are in
// the ISR and live (Kafka's auto.leader.rebalance).
func (s *Server) rebalanceLeaders(ctx context.Context) {
	img := s.Image()
	needed := false
	for t := range img.Topics() {
		for _, p := range t.Partitions {
			pref := p.PreferredLeader()
			if p.Leader != pref && p.InISR(pref) {
				if b, ok := img.Broker(pref); ok && !b.Fenced && !b.InControlledShutdown {
					needed = true
					break
				}
			}
		}
		if needed {
			break
		}
	}
	if !needed {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, proposeTimeout)
	defer cancel()
	res, err := s.raft().Propose(pctx, &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_ElectLeaders{ElectLeaders: &stratav1.ElectLeadersCommand{
		ElectionType: stratav1.ElectionType_ELECTION_TYPE_PREFERRED,
	}}})
	if err != nil {
		return
	}
	if n := len(res.GetElectLeaders().GetResults()); n > 0 {
		s.log.Info("moved leadership back to preferred replicas", "partitions", n)
	}
}
