package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/recordbatch"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/services/broker/broker/internal/partition"
	"github.com/strata-log/strata/services/broker/broker/internal/partlog"
)

// Produce
//
// A partition's records are checked whole before anything is appended, as
// Kafka's LogValidator does, in its order: the leader and (acks=all)
// min.insync.replicas, then for each batch its size against
// max.message.bytes, recordbatch.Verify (length, CRC, codec, record count),
// CheckClient (control batches, sequence numbers), and a bounded decode of
// the records (recordbatch.Decoder: every varint and length, the record
// count against the bytes, and decompression under maxInflatedBatch, which
// stops decompression bombs). The decoded records give the per-record
// checks: a key on compacted topics, CreateTime timestamps within
// message.timestamp.before/after.max.ms. One bad batch rejects the
// partition's whole append; the other partitions of the request go on.
//
// Decoding every batch is Kafka's choice too (its validator iterates every
// record). It costs little next to the append: an uncompressed 64 KiB batch
// of 1 KiB records decodes at about 11 GB/s (the CRC is ~26 GB/s), and the
// price of a compressed one is its decompression (0.5-2.5 GB/s by codec),
// which is also the only way to see a bomb before consumers do.
//
// Acks: 0 and 1 are answered after the local append (acks=0 still gets an
// answer, so that ProduceStream's answers stay one per request, in order;
// a client that asked for acks=0 may ignore it); -1 once the high watermark
// passes the appended batches, or REQUEST_TIMED_OUT at timeout_ms (30 s when
// 0), NOT_LEADER_OR_FOLLOWER when the leadership moves meanwhile, and
// NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below
// min.insync.replicas by then.
//
// Idempotent producers: CheckClient refuses a producer id with a negative
// sequence (BAD_INPUTS row 9); the partition log then checks each batch's
// producer epoch and sequence against the producer's state (rows 10, 12 and
// 13: OUT_OF_ORDER_SEQUENCE_NUMBER or INVALID_PRODUCER_EPOCH, nothing
// appended) and answers an exact retry of one of the producer's last five
// batches with the original base offset, appending nothing (row 11); with
// acks=-1 the retry still waits for the high watermark to pass the
// originals.

const (
	// defaultProduceTimeout applies to acks=-1 when timeout_ms is 0.
	defaultProduceTimeout = 30 * time.Second
	// maxInflatedBatch bounds what one compressed batch may decompress to:
	// the limit of a default recordbatch.Decoder, so that the broker takes
	// no batch its consumers could not read.
	maxInflatedBatch = recordbatch.DefaultMaxDecompressedSize
	// produceStreamDepth is how many received requests of one
	// ProduceStream may wait for their answer (acks=-1) before the stream
	// stops reading.
	produceStreamDepth = 256
	// produceStreamAppendingBytes bounds the records of the requests of one
	// ProduceStream that were received and are not appended yet: the
	// memory a stream holds beyond gRPC's flow control window.
	produceStreamAppendingBytes = 32 << 20
	// produceStreamLanes is the most append lanes of one ProduceStream: how
	// many of its partitions append at the same time.
	produceStreamLanes = 8
	// poolInflatedLimit: a decoder that decompressed more than this is not
	// pooled, so one large batch does not pin its buffer.
	poolInflatedLimit = 4 << 20
)

func (b *brokerService) Produce(ctx context.Context, req *stratav1.ProduceRequest) (*stratav1.ProduceResponse, error) {
	pr := b.s.produce(ctx, req)
	b.s.awaitAcks(ctx, pr)
	return pr.resp, nil
}

// ProduceStream answers each request in the order received. A receiving
// goroutine reads the requests and hands each partition to the stream's
// append lanes (appendLanes), so that the partitions of one request, and of
// requests in a row, are checked and appended at the same time, while each
// partition's appends keep the order of the requests. This goroutine takes
// the requests in order, waits until all of a request's partitions were
// appended, then for its acknowledgements (acks=-1), and sends its answer:
// acks=-1 requests pipeline too.
//
// The receiver ends with the stream: at the client's end of sending (then
// every answer is sent before the stream ends), or right after the handler
// returns (the stream is then cancelled and its Recv fails). It waits for
// the lanes before it ends, and Server.Run waits for it.
func (b *brokerService) ProduceStream(stream grpc.BidiStreamingServer[stratav1.ProduceStreamRequest, stratav1.ProduceStreamResponse]) error {
	s := b.s
	ctx := stream.Context()
	queue := make(chan *produced, produceStreamDepth)
	lanes := newAppendLanes(ctx, s)
	var recvErr error // written before queue is closed
	s.streams.Add(1)
	go func() {
		defer s.streams.Done()
		defer close(queue)
		defer lanes.close() // every dispatched partition is appended before queue closes
		for {
			req, err := stream.Recv()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					recvErr = err
				}
				return
			}
			if isClosed(s.stopping) {
				recvErr = errStopping
				return
			}
			pr := s.prepareProduce(ctx, req.GetRequest())
			pr.id, pr.appended = req.GetCorrelationId(), make(chan struct{})
			if !lanes.acquire(pr) {
				return
			}
			select {
			case queue <- pr:
			case <-ctx.Done():
				lanes.release(pr)
				return
			}
			lanes.dispatch(pr)
		}
	}()
	send := func(pr *produced) error {
		select {
		case <-pr.appended:
		case <-ctx.Done():
			return ctx.Err()
		}
		pr.collect()
		s.awaitAcks(ctx, pr)
		return stream.Send(&stratav1.ProduceStreamResponse{CorrelationId: pr.id, Response: pr.resp})
	}
	for {
		select {
		case pr, ok := <-queue:
			if !ok {
				return recvErr
			}
			if err := send(pr); err != nil {
				return err
			}
		case <-s.stopping:
			// Answer what was received already, then end the stream.
			for {
				select {
				case pr, ok := <-queue:
					if !ok {
						return errStopping
					}
					if err := send(pr); err != nil {
						return err
					}
				default:
					return errStopping
				}
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// produced is a produce request: its partitions to append, its answer,
// and what is left to wait for (acks=-1).
type produced struct {
	resp     *stratav1.ProduceResponse
	parts    []partitionAppend // in request order
	waits    []ackWait         // set by collect
	deadline time.Time

	// ProduceStream only: the correlation id, the partitions not appended
	// yet, appended, closed once they all are, and the bytes the request
	// holds of its stream's budget (appendLanes.acquire).
	id       int64
	pending  atomic.Int32
	appended chan struct{}
	weight   int64
}

// partitionAppend is one partition of a produce request, checked and
// appended by producePartition.
type partitionAppend struct {
	img       *metadata.Image
	acks      int32
	topic     *stratav1.ProduceTopicResult
	rp        *stratav1.ProducePartition // nil once appended
	createErr *rpc.Error
	now       time.Time

	res  *stratav1.ProducePartitionResult
	wait *ackWait
}

// run checks and appends the partition and drops its records.
func (a *partitionAppend) run(s *Server) {
	a.res, a.wait = s.producePartition(a.img, a.acks, a.topic.GetName(), a.rp, a.createErr, a.now)
	a.rp = nil
}

// abandon answers a partition that was not appended because its stream
// ended first (no client reads the answer).
func (a *partitionAppend) abandon() {
	a.res = &stratav1.ProducePartitionResult{PartitionId: a.rp.GetPartitionId(), LogStartOffset: -1}
	setProduceError(a.res, rpc.New(stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION, "the produce stream ended before the append"))
	a.rp = nil
}

// collect puts the results of the partitions, all run, into the answer in
// request order, and gathers what acks=-1 waits for.
func (pr *produced) collect() {
	for i := range pr.parts {
		a := &pr.parts[i]
		a.topic.Partitions = append(a.topic.Partitions, a.res)
		if a.wait != nil {
			pr.waits = append(pr.waits, *a.wait)
		}
	}
	pr.parts = nil
}

// ackWait is one partition of an acks=-1 request waiting for its high
// watermark.
type ackWait struct {
	res    *stratav1.ProducePartitionResult
	p      *partition.Partition
	epoch  int32
	end    int64 // the offset after the appended batches
	minISR int
	tp     string
}

// produce checks and appends every partition of req, one after the other.
func (s *Server) produce(ctx context.Context, req *stratav1.ProduceRequest) *produced {
	pr := s.prepareProduce(ctx, req)
	for i := range pr.parts {
		pr.parts[i].run(s)
	}
	pr.collect()
	return pr
}

// prepareProduce resolves what every partition of req needs for its append
// (the applied image, topics created on first use) and lists them; nothing
// is appended yet.
func (s *Server) prepareProduce(ctx context.Context, req *stratav1.ProduceRequest) *produced {
	now := time.Now()
	timeout := time.Duration(req.GetTimeoutMs()) * time.Millisecond
	if timeout <= 0 {
		timeout = defaultProduceTimeout
	}
	pr := &produced{resp: &stratav1.ProduceResponse{}, deadline: now.Add(timeout)}
	img := s.appliedImage()
	var createFails map[string]*rpc.Error
	if s.cfg.AutoCreateTopics {
		var missing []string
		seen := make(map[string]bool)
		for _, t := range req.GetTopics() {
			n := t.GetName()
			if _, ok := img.Topic(n); !ok && !seen[n] && topicNameError(n) == nil {
				seen[n] = true
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			createFails = s.autoCreate(ctx, missing)
			img = s.appliedImage()
		}
	}
	for _, t := range req.GetTopics() {
		tr := &stratav1.ProduceTopicResult{Name: t.GetName(), Partitions: make([]*stratav1.ProducePartitionResult, 0, len(t.GetPartitions()))}
		pr.resp.Topics = append(pr.resp.Topics, tr)
		for _, p := range t.GetPartitions() {
			pr.parts = append(pr.parts, partitionAppend{
				img: img, acks: req.GetAcks(), topic: tr, rp: p, createErr: createFails[t.GetName()], now: now,
			})
		}
	}
	return pr
}

func (s *Server) producePartition(img *metadata.Image, acks int32, name string, rp *stratav1.ProducePartition,
	createErr *rpc.Error, now time.Time) (*stratav1.ProducePartitionResult, *ackWait) {
	res := &stratav1.ProducePartitionResult{PartitionId: rp.GetPartitionId(), BaseOffset: -1, LogAppendTimeMs: -1, LogStartOffset: -1}
	fail := func(e *rpc.Error) (*stratav1.ProducePartitionResult, *ackWait) {
		setProduceError(res, e)
		return res, nil
	}
	if createErr != nil {
		return fail(createErr)
	}
	ref, e := s.leaderFor(img, name, rp.GetPartitionId(), -1)
	if e != nil {
		return fail(e)
	}
	cfg := s.topicConfigs.get(img, ref.topic)
	if acks == -1 && len(ref.state.ISR) < cfg.MinInsyncReplicas {
		return fail(rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_NOT_ENOUGH_REPLICAS,
			"The size of the current ISR %v is insufficient to satisfy the min.isr requirement of %d for partition %s",
			ref.state.ISR, cfg.MinInsyncReplicas, ref.tp))
	}
	records := rp.GetRecords()
	if e := validateRecords(records, ref.tp, &cfg, now); e != nil {
		return fail(e)
	}
	appendTime := int64(-1)
	if cfg.MessageTimestampType == metadata.TimestampLogAppendTime {
		appendTime = now.UnixMilli()
		stampLogAppendTime(records, appendTime)
	}
	info, err := ref.p.AppendAsLeader(records, ref.state.LeaderEpoch)
	if err != nil {
		if errors.Is(err, partition.ErrNotLeader) {
			return fail(s.notLeaderNow(name, rp.GetPartitionId(), ref.tp))
		}
		if pe, ok := errors.AsType[*partlog.ProducerError](err); ok {
			return fail(rpc.New(rpc.CodeOf(err), pe.Message(ref.tp)))
		}
		return fail(s.logError(ref.tp, err))
	}
	if info.Duplicate {
		appendTime = -1 // the retry was not appended now: Kafka answers -1
	}
	res.BaseOffset, res.LogAppendTimeMs, res.LogStartOffset = info.FirstOffset, appendTime, ref.p.Log.LogStartOffset()
	if acks == -1 {
		// A retry waits for its originals, which may not be committed yet.
		return res, &ackWait{res: res, p: ref.p, epoch: ref.state.LeaderEpoch, end: info.LastOffset + 1, minISR: cfg.MinInsyncReplicas, tp: ref.tp}
	}
	return res, nil
}

func setProduceError(res *stratav1.ProducePartitionResult, e *rpc.Error) {
	res.ErrorCode, res.ErrorMessage, res.CurrentLeader = e.Code, e.Message, e.Leader
	res.BaseOffset, res.LogAppendTimeMs = -1, -1
}

// notLeaderNow answers NOT_LEADER_OR_FOLLOWER with the leader of the
// latest applied image, for a leadership lost after the first check.
func (s *Server) notLeaderNow(name string, id int32, tp string) *rpc.Error {
	img := s.appliedImage()
	var hint *stratav1.LeaderHint
	if t, ok := img.Topic(name); ok {
		if mp, ok := t.Partition(id); ok {
			hint = leaderHint(img, mp)
		}
	}
	return rpc.NotLeader(hint, fmt.Sprintf("broker %d is no longer the leader of %s", s.cfg.NodeID, tp))
}

// awaitAcks waits until the acks=-1 partitions of pr are committed (their
// high watermark passed the appended batches), and fills in their results.
func (s *Server) awaitAcks(ctx context.Context, pr *produced) {
	if len(pr.waits) == 0 {
		return
	}
	timer := time.NewTimer(time.Until(pr.deadline))
	defer timer.Stop()
	expired := false
	for i := range pr.waits {
		w := &pr.waits[i]
		for {
			ch := w.p.Changed()
			// Leadership first: a broker that lost the leadership may
			// have truncated the batches and taken a new leader's high
			// watermark past them since.
			st, leading, committed := w.p.CommittedAsLeader(w.epoch, w.end)
			if committed {
				if len(st.ISR) < w.minISR {
					setProduceError(w.res, rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
						"The size of the current ISR %v is insufficient to satisfy the min.isr requirement of %d for partition %s",
						st.ISR, w.minISR, w.tp))
				}
				break
			}
			if !leading {
				e := rpc.NotLeader(&stratav1.LeaderHint{LeaderId: st.Leader, LeaderEpoch: st.LeaderEpoch},
					fmt.Sprintf("the leadership of %s moved before the in-sync replicas had the batches", w.tp))
				if br, ok := s.appliedImage().Broker(st.Leader); ok {
					e.Leader.Address = br.Address
				}
				setProduceError(w.res, e)
				break
			}
			if expired {
				setProduceError(w.res, rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_REQUEST_TIMED_OUT,
					"the in-sync replicas of %s did not reach offset %d in time (high watermark %d)", w.tp, w.end, w.p.Log.HighWatermark()))
				break
			}
			select {
			case <-ch:
			case <-timer.C:
				expired = true
			case <-ctx.Done():
				expired = true
			case <-s.stopping:
				expired = true
			}
		}
	}
}

// validateRecords checks the records of one partition of a produce request;
// see the top of this file. tp names the partition in messages.
func validateRecords(records []byte, tp string, cfg *metadata.TopicConfig, now time.Time) *rpc.Error {
	if len(records) == 0 {
		return rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_INVALID_RECORD,
			"Produce requests must have at least one record batch per partition in topic partition %s", tp)
	}
	d := decoders.Get().(*pooledDecoder)
	inflated := 0
	defer func() {
		clear(d.recs)
		d.recs = d.recs[:0]
		if inflated <= poolInflatedLimit {
			decoders.Put(d)
		}
	}()
	checkTime := cfg.MessageTimestampType != metadata.TimestampLogAppendTime
	nowMs := now.UnixMilli()
	lo, hi := nowMs-cfg.MessageTimestampBeforeMaxMs, nowMs+cfg.MessageTimestampAfterMaxMs
	if cfg.MessageTimestampAfterMaxMs > math.MaxInt64-nowMs {
		hi = math.MaxInt64
	}
	for batch, err := range recordbatch.All(records) {
		if err != nil {
			return batchError(err, tp)
		}
		if len(batch) > cfg.MaxMessageBytes {
			return rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_MESSAGE_TOO_LARGE,
				"The record batch size in the append to %s is %d bytes which exceeds the maximum configured value of %d.",
				tp, len(batch), cfg.MaxMessageBytes)
		}
		if err := recordbatch.Verify(batch); err != nil {
			return batchError(err, tp)
		}
		h, _ := recordbatch.ParseHeader(batch) // Verify parsed it
		if err := recordbatch.CheckClient(h); err != nil {
			return batchError(err, tp)
		}
		clear(d.recs)
		recs, err := d.d.Decode(d.recs[:0], batch)
		d.recs = recs
		if err != nil {
			inflated = math.MaxInt // the buffer may hold a bomb's output
			return batchError(err, tp)
		}
		compressed := h.Compression() != recordbatch.None
		for _, r := range recs {
			if compressed {
				inflated += len(r.Key) + len(r.Value)
			}
			if cfg.CleanupCompact && r.Key == nil {
				return rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_INVALID_RECORD,
					"Compacted topic cannot accept message without key in topic partition %s", tp)
			}
			if checkTime && r.Timestamp != -1 && (r.Timestamp < lo || r.Timestamp > hi) {
				return rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_INVALID_TIMESTAMP,
					"Timestamp %d of message with offset %d is out of range. The timestamp should be within [%d, %d]",
					r.Timestamp, h.BaseOffset+int64(r.OffsetDelta), lo, hi)
			}
		}
	}
	return nil
}

// batchError turns a recordbatch error into the partition's error, with
// Kafka's " in topic partition T-0" suffix.
func batchError(err error, tp string) *rpc.Error {
	code := rpc.CodeOf(err)
	if code != stratav1.ErrorCode_ERROR_CODE_INVALID_RECORD {
		code = stratav1.ErrorCode_ERROR_CODE_CORRUPT_MESSAGE
	}
	return rpc.New(code, err.Error()+" in topic partition "+tp)
}

// pooledDecoder is a Decoder with its record slice, reused across requests.
type pooledDecoder struct {
	d    recordbatch.Decoder
	recs []recordbatch.Record
}

var decoders = sync.Pool{New: func() any {
	return &pooledDecoder{d: recordbatch.Decoder{MaxDecompressedSize: maxInflatedBatch}}
}}

// The batch header fields a LogAppendTime topic rewrites, at their offsets
// in the record batch format (pkg/recordbatch): the attributes, whose bit 3
// is the timestamp type, the max timestamp, and the CRC that covers both.
const (
	batchCRCOffset          = 17
	batchAttributesOffset   = 21
	batchMaxTimestampOffset = 35
	attrLogAppendTime       = 0x08
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// stampLogAppendTime sets every batch of records (verified) to
// LogAppendTime with the broker's time, as Kafka does for a topic with
// message.timestamp.type=LogAppendTime: the timestamp type bit, the max
// timestamp (every record's timestamp then), and the CRC. The records
// themselves are not touched.
func stampLogAppendTime(records []byte, ts int64) {
	for batch, err := range recordbatch.All(records) {
		if err != nil {
			return
		}
		attrs := binary.BigEndian.Uint16(batch[batchAttributesOffset:]) | attrLogAppendTime
		binary.BigEndian.PutUint16(batch[batchAttributesOffset:], attrs)
		binary.BigEndian.PutUint64(batch[batchMaxTimestampOffset:], uint64(ts))
		binary.BigEndian.PutUint32(batch[batchCRCOffset:], crc32.Checksum(batch[batchAttributesOffset:], castagnoli))
	}
}
