package broker

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/services/broker/broker/internal/partition"
	"github.com/strata-log/strata/services/broker/broker/internal/partlog"
)

// Replicate, the leader's side
//
// A follower broker keeps one Replicate stream open to each broker it
// follows partitions of, and sends one request at a time: its position in
// each partition (fetch offset, epoch of its last batch, the leader epoch it
// knows). For each partition the leader
//
//   - checks that it leads it in that epoch and that the follower is a
//     replica (NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH,
//     UNKNOWN_LEADER_EPOCH otherwise: the follower waits for metadata);
//   - checks that the follower's log has not diverged: when the end of the
//     follower's last epoch in the leader's log is below its fetch offset, it
//     answers that epoch and end offset instead of data (KIP-320), and the
//     follower truncates there;
//   - records the fetch offset as the follower's log end offset, which may
//     advance the high watermark and admit the follower to the ISR;
//   - sends the batches from the fetch offset up to the log end offset (not
//     the high watermark: followers replicate what is not committed yet),
//     with the high watermark.
//
// A request with no data to send waits up to max_wait_ms for an append to
// any partition of the broker.

const (
	// replicateMaxBytesCap bounds a response below the gRPC message limit.
	replicateMaxBytesCap = 32 << 20
)

func (b *brokerService) Replicate(stream grpc.BidiStreamingServer[stratav1.ReplicateRequest, stratav1.ReplicateResponse]) error {
	s := b.s
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		resp, err := s.replicaFetch(stream, req)
		if err != nil {
			return err
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// replicaPart is one partition of a Replicate request being answered.
type replicaPart struct {
	req   *stratav1.ReplicaFetchPartition
	res   *stratav1.ReplicaFetchPartitionResult
	p     *partition.Partition
	epoch int32 // the leader epoch it was checked in
	done  bool  // answered with an error or a divergence
}

func (s *Server) replicaFetch(stream grpc.ServerStream, req *stratav1.ReplicateRequest) (*stratav1.ReplicateResponse, error) {
	if isClosed(s.stopping) {
		return nil, errStopping
	}
	img := s.appliedImage()
	replica := req.GetReplicaId()
	if br, ok := img.Broker(replica); ok && req.GetBrokerEpoch() < br.Epoch {
		return nil, rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_STALE_BROKER_EPOCH,
			"broker %d fetches with broker epoch %d, the metadata has epoch %d", replica, req.GetBrokerEpoch(), br.Epoch)
	}
	maxBytes := int(req.GetMaxBytes())
	if maxBytes <= 0 || maxBytes > replicateMaxBytesCap {
		maxBytes = replicateMaxBytesCap
	}
	now := time.Now()
	parts := make([]*replicaPart, 0, len(req.GetPartitions()))
	resp := &stratav1.ReplicateResponse{}
	for _, rp := range req.GetPartitions() {
		res := &stratav1.ReplicaFetchPartitionResult{TopicId: rp.GetTopicId(), PartitionId: rp.GetPartitionId(), HighWatermark: -1, LogStartOffset: -1}
		resp.Partitions = append(resp.Partitions, res)
		part := &replicaPart{req: rp, res: res}
		parts = append(parts, part)
		s.checkReplicaFetch(img, replica, part, now)
	}
	deadline := now.Add(time.Duration(req.GetMaxWaitMs()) * time.Millisecond)
	minBytes := max(int(req.GetMinBytes()), 1)
	for {
		changed := s.parts.Changed()
		total, answered := 0, false
		for _, part := range parts {
			if part.done {
				answered = true
				continue
			}
			total += s.readForReplica(part, total, maxBytes)
			answered = answered || part.done
		}
		if total >= minBytes || answered || !time.Now().Before(deadline) {
			return resp, nil
		}
		timer := time.NewTimer(time.Until(deadline))
		select {
		case <-changed:
		case <-timer.C:
		case <-stream.Context().Done():
			timer.Stop()
			return nil, stream.Context().Err()
		case <-s.stopping:
			timer.Stop()
			return nil, errStopping
		}
		timer.Stop()
	}
}

// checkReplicaFetch checks one partition of a follower's request and
// records its position; the partitions that fail or diverge are answered.
func (s *Server) checkReplicaFetch(img *metadata.Image, replica int32, part *replicaPart, now time.Time) {
	rp, res := part.req, part.res
	fail := func(e *rpc.Error) {
		res.ErrorCode, res.ErrorMessage = e.Code, e.Message
		part.done = true
	}
	id, err := metadata.TopicIDFromBytes(rp.GetTopicId())
	if err != nil {
		fail(rpc.New(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_ID, "the topic id is not 16 bytes"))
		return
	}
	t, ok := img.TopicByID(id)
	if !ok {
		fail(rpc.New(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION, msgUnknownTopicOrPartition))
		return
	}
	mp, ok := t.Partition(rp.GetPartitionId())
	p, held := s.parts.Get(id, rp.GetPartitionId())
	if !ok || !held {
		fail(rpc.New(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION, msgUnknownTopicOrPartition))
		return
	}
	tp := topicPartition(t.Name, mp.ID)
	st := p.State()
	if e := checkLeaderEpoch(rp.GetCurrentLeaderEpoch(), st.LeaderEpoch, img, mp); e != nil {
		fail(e)
		return
	}
	if st.Leader != s.cfg.NodeID {
		fail(rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER,
			"broker %d is not the leader of %s", s.cfg.NodeID, tp))
		return
	}
	if !slices.Contains(st.Replicas, replica) {
		fail(rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER,
			"broker %d is not a replica of %s (replicas %v)", replica, tp, st.Replicas))
		return
	}
	part.p, part.epoch = p, st.LeaderEpoch
	l := p.Log
	offset, leo := rp.GetFetchOffset(), l.LogEndOffset()
	if last := rp.GetLastFetchedEpoch(); last >= 0 {
		if epoch, end := l.LastOffsetForEpoch(last); end < offset || epoch < last {
			res.DivergingEpoch = &stratav1.EpochEndOffset{Epoch: epoch, EndOffset: end}
			res.HighWatermark, res.LogStartOffset = l.HighWatermark(), l.LogStartOffset()
			part.done = true
			return
		}
	}
	if offset > leo {
		// No epoch to compare: the follower is ahead of the whole log.
		res.DivergingEpoch = &stratav1.EpochEndOffset{Epoch: -1, EndOffset: leo}
		res.HighWatermark, res.LogStartOffset = l.HighWatermark(), l.LogStartOffset()
		part.done = true
		return
	}
	if start := l.LogStartOffset(); offset < start {
		fail(rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE,
			"Fetch offset %d is below the log start offset %d of %s", offset, start, tp))
		res.LogStartOffset, res.HighWatermark = start, l.HighWatermark()
		return
	}
	ok, mayJoin := p.FollowerFetched(replica, st.LeaderEpoch, offset, now)
	if !ok {
		fail(rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER,
			"broker %d is no longer the leader of %s", s.cfg.NodeID, tp))
		return
	}
	if mayJoin {
		s.isr.nudge()
	}
}

// readForReplica reads a checked partition from the follower's fetch offset
// up to the log end; total is what the response holds so far. It returns the
// bytes read.
func (s *Server) readForReplica(part *replicaPart, total, maxBytes int) int {
	l, res := part.p.Log, part.res
	res.HighWatermark, res.LogStartOffset = l.HighWatermark(), l.LogStartOffset()
	if st := part.p.State(); st.Leader != s.cfg.NodeID || st.LeaderEpoch != part.epoch {
		res.ErrorCode = stratav1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER
		res.ErrorMessage = fmt.Sprintf("broker %d is no longer the leader", s.cfg.NodeID)
		part.done = true
		return 0
	}
	limit := int(part.req.GetPartitionMaxBytes())
	if limit <= 0 {
		limit = maxBytes
	}
	if total > 0 {
		limit = min(limit, maxBytes-total)
		if limit <= 0 {
			return 0
		}
	}
	offset := part.req.GetFetchOffset()
	leo := l.LogEndOffset()
	if offset >= leo {
		return 0
	}
	data, err := l.Read(offset, limit, leo)
	if err != nil {
		e := s.logError(topicPartition(part.p.Name, part.p.ID), err)
		if oor, ok := errors.AsType[*partlog.OffsetOutOfRangeError](err); ok {
			e = rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE,
				"Fetch offset %d is out of range: log start offset %d, log end offset %d", oor.Offset, oor.LogStartOffset, oor.LogEndOffset)
			res.LogStartOffset = oor.LogStartOffset
		}
		res.ErrorCode, res.ErrorMessage = e.Code, e.Message
		part.done = true
		return 0
	}
	if total > 0 && len(data) > limit {
		return 0 // one batch larger than what is left: next time
	}
	res.Records = data
	return len(data)
}
