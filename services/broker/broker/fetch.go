package broker

import (
	"errors"
	"reflect"
	"time"

	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/recordbatch"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/services/broker/broker/internal/partlog"
)

// Fetch
//
// A Fetch stream is a sequence of long polls over the same partitions. Each
// response is sent once min_bytes of batches are readable (below the high
// watermark: consumers never see more; with no transactions yet, the last
// stable offset of READ_COMMITTED is the high watermark too), a partition
// failed, or max_wait_ms passed; the stream then goes on from the offsets after the batches sent.
// The first response follows min_bytes and max_wait_ms as Kafka does (0 and
// 0 answer at once); the later ones wait for at least one byte, and at most
// max_wait_ms (fetchIdleWait when it is 0) before an empty response that
// carries the high watermarks, so an idle stream neither spins nor stays
// silent.
//
// A response holds at most max_bytes of batches (capped at
// fetchMaxBytesCap), and each partition at most partition_max_bytes (0:
// max_bytes), except that the first batch of the first partition with data
// is always sent whole, so that a large batch cannot block a consumer. The
// partitions take turns at being first.
//
// A partition that fails (NOT_LEADER_OR_FOLLOWER with the leader's hint, a
// fenced or unknown leader epoch, OFFSET_OUT_OF_RANGE with the log start
// offset and high watermark in the message, ...) is answered with its error
// and leaves the stream; the stream ends (OK) when no partition is left, and
// with BROKER_NOT_AVAILABLE when the broker stops.

const (
	// fetchMaxBytesCap bounds a response below the gRPC message limit
	// (Kafka's fetch.max.bytes default).
	fetchMaxBytesCap = 50 << 20
	// fetchIdleWait is how long a stream with max_wait_ms 0 waits for data
	// after its first response.
	fetchIdleWait = 500 * time.Millisecond
)

// fetchPart is one partition of a Fetch stream.
type fetchPart struct {
	topic    string
	id       int32
	offset   int64
	epoch    int32
	maxBytes int
	topicID  metadata.TopicID // the topic as first resolved; a new topic with the same name is another
	failed   bool
	next     int64 // the offset after the batches of the pending response
}

func (b *brokerService) Fetch(req *stratav1.FetchRequest, stream grpc.ServerStreamingServer[stratav1.FetchResponse]) error {
	s := b.s
	if req.GetMaxBytes() <= 0 {
		return rpc.New(stratav1.ErrorCode_ERROR_CODE_INVALID_FETCH_SIZE, msgInvalidFetchSize)
	}
	maxBytes := min(int(req.GetMaxBytes()), fetchMaxBytesCap)
	var parts []*fetchPart
	type key struct {
		topic string
		id    int32
	}
	seen := make(map[key]bool)
	for _, t := range req.GetTopics() {
		for _, p := range t.GetPartitions() {
			k := key{t.GetName(), p.GetPartitionId()}
			if seen[k] {
				continue // Kafka keeps one entry per partition
			}
			seen[k] = true
			pm := int(p.GetPartitionMaxBytes())
			if pm == 0 {
				pm = maxBytes
			}
			parts = append(parts, &fetchPart{
				topic: t.GetName(), id: p.GetPartitionId(), offset: p.GetFetchOffset(),
				epoch: p.GetCurrentLeaderEpoch(), maxBytes: pm,
			})
		}
	}
	first := 0 // the partition read first, in turns
	for round := 0; len(parts) > 0; round++ {
		if isClosed(s.stopping) {
			return errStopping
		}
		minBytes := int(req.GetMinBytes())
		wait := time.Duration(req.GetMaxWaitMs()) * time.Millisecond
		if round > 0 {
			minBytes = max(minBytes, 1)
			if wait <= 0 {
				wait = fetchIdleWait
			}
		}
		deadline := time.Now().Add(wait)
		var resp *stratav1.FetchResponse
		for {
			var n int
			var failed bool
			var changed []<-chan struct{}
			resp, n, failed, changed = s.fetchRound(parts, first, maxBytes)
			if n >= minBytes || failed || !time.Now().Before(deadline) {
				break
			}
			if err := s.waitChange(stream, changed, deadline); err != nil {
				return err
			}
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
		kept := parts[:0]
		for _, p := range parts {
			if !p.failed {
				p.offset = p.next
				kept = append(kept, p)
			}
		}
		clear(parts[len(kept):])
		parts = kept
		if len(parts) > 0 {
			first = (first + 1) % len(parts)
		}
	}
	return nil
}

// waitChange waits until one of changed is closed or deadline passes; it
// fails when the stream ends or the broker stops.
func (s *Server) waitChange(stream grpc.ServerStream, changed []<-chan struct{}, deadline time.Time) error {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	ctx := stream.Context()
	cases := make([]reflect.SelectCase, 0, len(changed)+3)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(s.stopping)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)},
	)
	for _, ch := range changed {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
	}
	switch i, _, _ := reflect.Select(cases); i {
	case 0:
		return ctx.Err()
	case 1:
		return errStopping
	}
	return nil
}

// fetchRound reads every partition of a stream once from its offset and
// builds the response. It returns the bytes of batches read, whether a
// partition failed (it is marked and answered with its error), and the
// channels that signal a change of the partitions read (taken before
// reading, so that no change is missed).
func (s *Server) fetchRound(parts []*fetchPart, first, maxBytes int) (resp *stratav1.FetchResponse, total int, failed bool, changed []<-chan struct{}) {
	img := s.appliedImage()
	resp = &stratav1.FetchResponse{}
	byTopic := make(map[string]*stratav1.FetchTopicResult)
	for i := range parts {
		fp := parts[(first+i)%len(parts)]
		tr := byTopic[fp.topic]
		if tr == nil {
			tr = &stratav1.FetchTopicResult{Name: fp.topic}
			byTopic[fp.topic] = tr
			resp.Topics = append(resp.Topics, tr)
		}
		res, ch := s.fetchPartition(img, fp, total, maxBytes)
		tr.Partitions = append(tr.Partitions, res)
		if ch != nil {
			changed = append(changed, ch)
		}
		if res.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE {
			fp.failed, failed = true, true
		}
		total += len(res.GetRecords())
	}
	return resp, total, failed, changed
}

// fetchPartition reads one partition of a stream; total is what the
// response holds so far.
func (s *Server) fetchPartition(img *metadata.Image, fp *fetchPart, total, maxBytes int) (*stratav1.FetchPartitionResult, <-chan struct{}) {
	res := &stratav1.FetchPartitionResult{PartitionId: fp.id, HighWatermark: -1, LogStartOffset: -1}
	fp.failed, fp.next = false, fp.offset
	fail := func(e *rpc.Error) (*stratav1.FetchPartitionResult, <-chan struct{}) {
		res.ErrorCode, res.ErrorMessage, res.CurrentLeader = e.Code, e.Message, e.Leader
		return res, nil
	}
	if fp.maxBytes < 0 {
		return fail(rpc.New(stratav1.ErrorCode_ERROR_CODE_INVALID_FETCH_SIZE, msgInvalidFetchSize))
	}
	ref, e := s.leaderFor(img, fp.topic, fp.id, fp.epoch)
	if e != nil {
		return fail(e)
	}
	if fp.topicID == metadata.ZeroTopicID {
		fp.topicID = ref.topic.ID
	} else if fp.topicID != ref.topic.ID {
		return fail(rpc.New(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION, "topic "+fp.topic+" was deleted and created again"))
	}
	ch := ref.p.Changed()
	l := ref.p.Log
	hw, logStart, leo := l.HighWatermark(), l.LogStartOffset(), l.LogEndOffset()
	res.HighWatermark, res.LogStartOffset = hw, logStart
	if fp.offset >= logStart && fp.offset <= leo && fp.offset >= hw {
		return res, ch // nothing committed to read yet
	}
	limit := fp.maxBytes
	if total > 0 {
		limit = min(limit, maxBytes-total)
		if limit <= 0 {
			return res, ch // the response is full; this partition's turn comes
		}
	}
	data, err := l.Read(fp.offset, limit, hw)
	if err != nil {
		if oor, ok := errors.AsType[*partlog.OffsetOutOfRangeError](err); ok {
			return fail(offsetOutOfRange(oor, ref.tp))
		}
		return fail(s.logError(ref.tp, err))
	}
	if total > 0 && len(data) > limit {
		return res, ch // one batch larger than what is left: next time, first
	}
	res.Records = data
	fp.next = nextOffset(data, fp.offset)
	return res, ch
}

// offsetOutOfRange is OFFSET_OUT_OF_RANGE with the valid range.
func offsetOutOfRange(e *partlog.OffsetOutOfRangeError, tp string) *rpc.Error {
	return rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE,
		"Fetch offset %d is out of range for partition %s: log start offset %d, high watermark %d, log end offset %d",
		e.Offset, tp, e.LogStartOffset, e.HighWatermark, e.LogEndOffset)
}

// nextOffset is the offset after the last of batches, or offset when there
// are none.
func nextOffset(batches []byte, offset int64) int64 {
	next := offset
	for b, err := range recordbatch.All(batches) {
		if err != nil {
			break
		}
		if h, err := recordbatch.ParseHeader(b); err == nil {
			next = max(next, h.LastOffset()+1)
		}
	}
	return next
}
