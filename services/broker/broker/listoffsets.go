package broker

import (
	"context"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/recordbatch"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/services/broker/broker/internal/partlog"
)

// The special timestamps of ListOffsets, as Kafka's.
const (
	latestTimestamp        = -1
	earliestTimestamp      = -2
	maxTimestamp           = -3
	earliestLocalTimestamp = -4 // Kafka's tiered storage: the local log start, ours
)

// ListOffsets answers, on the leader, the latest offset (the high
// watermark: no transactions, so it is also the last stable offset), the
// earliest (the log start offset), the offset of the record with the
// largest timestamp, or the first offset whose record's timestamp is at or
// after the one given, among the committed records (-1 when none is). A
// leader whose high watermark has not reached the start of its epoch yet
// (just elected, its followers not caught up) answers OFFSET_NOT_AVAILABLE,
// as Kafka does.
func (b *brokerService) ListOffsets(_ context.Context, req *stratav1.ListOffsetsRequest) (*stratav1.ListOffsetsResponse, error) {
	s := b.s
	img := s.appliedImage()
	resp := &stratav1.ListOffsetsResponse{}
	for _, t := range req.GetTopics() {
		tr := &stratav1.ListOffsetsTopicResult{Name: t.GetName()}
		resp.Topics = append(resp.Topics, tr)
		for _, p := range t.GetPartitions() {
			tr.Partitions = append(tr.Partitions, s.listOffset(img, t.GetName(), p))
		}
	}
	return resp, nil
}

func (s *Server) listOffset(img *metadata.Image, name string, lp *stratav1.ListOffsetsPartition) *stratav1.ListOffsetsPartitionResult {
	res := &stratav1.ListOffsetsPartitionResult{PartitionId: lp.GetPartitionId(), Offset: -1, Timestamp: -1, LeaderEpoch: -1}
	fail := func(e *rpc.Error) *stratav1.ListOffsetsPartitionResult {
		res.ErrorCode, res.ErrorMessage, res.CurrentLeader = e.Code, e.Message, e.Leader
		res.Offset, res.Timestamp, res.LeaderEpoch = -1, -1, -1
		return res
	}
	ref, e := s.leaderFor(img, name, lp.GetPartitionId(), lp.GetCurrentLeaderEpoch())
	if e != nil {
		return fail(e)
	}
	l := ref.p.Log
	hw := l.HighWatermark()
	history := l.EpochHistory()
	if start, ok := epochStart(history, ref.state.LeaderEpoch); ok && start > hw {
		return fail(rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_OFFSET_NOT_AVAILABLE,
			"Failed to fetch offsets for partition %s with leader epoch %d as this partition's high watermark (%d) is lagging behind the start offset from the beginning of this epoch (%d).",
			ref.tp, ref.state.LeaderEpoch, hw, start))
	}
	switch ts := lp.GetTimestamp(); {
	case ts == latestTimestamp:
		res.Offset, res.LeaderEpoch = hw, ref.state.LeaderEpoch
	case ts == earliestTimestamp || ts == earliestLocalTimestamp:
		start := l.LogStartOffset()
		res.Offset, res.LeaderEpoch = start, epochForOffset(history, start)
	case ts == maxTimestamp:
		off, t, err := offsetOfMaxTimestamp(l, hw)
		if err != nil {
			return fail(s.logError(ref.tp, err))
		}
		res.Offset, res.Timestamp = off, t
		if off >= 0 {
			res.LeaderEpoch = epochForOffset(history, off)
		}
	case ts < 0:
		return fail(rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST,
			"unsupported timestamp %d: use -1 (latest), -2 (earliest), -3 (max timestamp) or a time in ms", ts))
	default:
		off, t, err := l.OffsetForTimestamp(ts)
		if err != nil {
			return fail(s.logError(ref.tp, err))
		}
		res.Offset, res.Timestamp = off, t
		if off >= 0 {
			res.LeaderEpoch = epochForOffset(history, off)
		}
	}
	return res
}

// epochStart is the start offset of epoch in the history.
func epochStart(h []partlog.EpochEntry, epoch int32) (int64, bool) {
	for _, e := range h {
		if e.Epoch == epoch {
			return e.StartOffset, true
		}
	}
	return 0, false
}

// epochForOffset is the leader epoch that wrote offset: the latest entry
// that starts at or before it, or -1.
func epochForOffset(h []partlog.EpochEntry, offset int64) int32 {
	epoch := int32(-1)
	for _, e := range h {
		if e.StartOffset > offset {
			break
		}
		epoch = e.Epoch
	}
	return epoch
}

// maxTimestampScanBytes is how much of the log one read of the max
// timestamp scan copies.
const maxTimestampScanBytes = 1 << 20

// offsetOfMaxTimestamp finds the committed record with the largest
// timestamp (the first of them) by reading the batch headers of the log up
// to hw, then decoding the batch that holds it. It reads the whole log: the
// log keeps no time index.
func offsetOfMaxTimestamp(l *partlog.Log, hw int64) (offset, timestamp int64, err error) {
	best, bestBase := int64(-1), int64(-1)
	var bestBatch []byte
	for off := l.LogStartOffset(); off < hw; {
		data, err := l.Read(off, maxTimestampScanBytes, hw)
		if err != nil {
			return -1, -1, err
		}
		if len(data) == 0 {
			break
		}
		next := off
		for b, err := range recordbatch.All(data) {
			if err != nil {
				return -1, -1, err
			}
			h, err := recordbatch.ParseHeader(b)
			if err != nil {
				return -1, -1, err
			}
			if h.MaxTimestamp > best || bestBase < 0 {
				best, bestBase, bestBatch = h.MaxTimestamp, h.BaseOffset, b
			}
			next = h.LastOffset() + 1
		}
		off = next
	}
	if bestBatch == nil {
		return -1, -1, nil
	}
	var d recordbatch.Decoder
	recs, err := d.Decode(nil, bestBatch)
	if err != nil {
		return -1, -1, err
	}
	for _, r := range recs {
		if r.Timestamp == best {
			return bestBase + int64(r.OffsetDelta), best, nil
		}
	}
	return bestBase, best, nil
}
