package broker

import (
	"context"
	"time"

	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/services/broker/broker/internal/partition"
)

// ISR maintenance
//
// One goroutine proposes the ISR changes of the partitions this broker
// leads: a follower that has not been caught up for replica.lag.time.max.ms
// (a topic config, default 10 s) leaves, a follower that caught up with the
// high watermark in this leader epoch joins. It looks every
// isrCheckInterval, and at once when a follower fetch says one may join.
// All the changes of a round go in one AlterPartition request to the active
// controller. While the controllers have no quorum the request fails, the
// changes stay in flight (the high watermark counts the larger ISR) and are
// sent again after isrResend; produce and fetch go on meanwhile.

const (
	isrCheckInterval = 250 * time.Millisecond
	isrResend        = 3 * time.Second
	isrCallTimeout   = 5 * time.Second
)

type isrManager struct {
	s       *Server
	nudgeCh chan struct{}
}

func newISRManager(s *Server) *isrManager {
	return &isrManager{s: s, nudgeCh: make(chan struct{}, 1)}
}

// nudge asks for a round now.
func (m *isrManager) nudge() {
	select {
	case m.nudgeCh <- struct{}{}:
	default:
	}
}

func (m *isrManager) run(ctx context.Context) {
	tick := time.NewTicker(isrCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-m.nudgeCh:
		}
		m.round(ctx, time.Now())
	}
}

// round proposes every change due now and applies the answers.
func (m *isrManager) round(ctx context.Context, now time.Time) {
	s := m.s
	if s.Epoch() == 0 {
		return
	}
	img := s.appliedImage()
	eligible := func(id int32) bool {
		br, ok := img.Broker(id)
		return ok && !br.Fenced && !br.InControlledShutdown
	}
	var changes []partition.ISRChange
	for _, p := range s.parts.All() {
		lag := 10 * time.Second
		if t, ok := img.TopicByID(p.Topic); ok {
			lag = time.Duration(s.topicConfigs.get(img, t).ReplicaLagTimeMaxMs) * time.Millisecond
		}
		if c, ok := p.ProposeISR(now, lag, isrResend, eligible); ok {
			changes = append(changes, c)
		}
	}
	if len(changes) == 0 {
		return
	}
	req := &stratav1.AlterPartitionRequest{BrokerId: s.cfg.NodeID, BrokerEpoch: s.Epoch()}
	byTopic := make(map[metadata.TopicID]*stratav1.AlterPartitionTopic)
	type key struct {
		topic metadata.TopicID
		id    int32
	}
	pending := make(map[key]partition.ISRChange, len(changes))
	for _, c := range changes {
		t := byTopic[c.P.Topic]
		if t == nil {
			t = &stratav1.AlterPartitionTopic{TopicId: c.P.Topic.Bytes()}
			byTopic[c.P.Topic] = t
			req.Topics = append(req.Topics, t)
		}
		t.Partitions = append(t.Partitions, &stratav1.AlterPartitionPartition{
			PartitionId: c.P.ID, LeaderEpoch: c.LeaderEpoch, PartitionEpoch: c.PartitionEpoch, NewIsr: c.ISR,
		})
		pending[key{c.P.Topic, c.P.ID}] = c
		s.log.Info("proposing an ISR change", "topic", c.P.Name, "partition", c.P.ID, "isr", c.ISR, "leader_epoch", c.LeaderEpoch)
	}
	var resp *stratav1.AlterPartitionResponse
	cctx, cancel := context.WithTimeout(ctx, isrCallTimeout)
	defer cancel()
	err := s.ctl.call(cctx, func(ctx context.Context, cc *grpc.ClientConn) error {
		var err error
		resp, err = stratav1.NewControllerServiceClient(cc).AlterPartition(ctx, req)
		return err
	})
	if err != nil {
		// In flight still: sent again after isrResend.
		if ctx.Err() == nil {
			s.log.Warn("AlterPartition failed; the ISR changes stay in flight", "err", err)
		}
		return
	}
	for _, tr := range resp.GetTopics() {
		id, err := metadata.TopicIDFromBytes(tr.GetTopicId())
		if err != nil {
			continue
		}
		for _, pr := range tr.GetPartitions() {
			c, ok := pending[key{id, pr.GetPartitionId()}]
			if !ok {
				continue
			}
			done := pr.GetErrorCode() == stratav1.ErrorCode_ERROR_CODE_NONE
			if !done {
				s.log.Info("the controller refused an ISR change", "topic", c.P.Name, "partition", c.P.ID,
					"code", pr.GetErrorCode().String(), "message", pr.GetErrorMessage())
			}
			c.P.ISRChanged(c, done, pr.GetIsr(), pr.GetPartitionEpoch())
		}
	}
}
