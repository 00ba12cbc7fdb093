package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/recordbatch"
	"github.com/strata-log/strata/pkg/rpc"
)

// The sender loop is the one goroutine that takes sealed batches from the
// partitions' queues, builds the produce requests, hands them to the
// brokers' streams, and handles the answers: completing deliveries,
// scheduling retries, asking for metadata, and (idempotence) managing the
// producer id, epoch and sequence numbers. Lock order: Producer.mu, then
// brokerMeta.mu.

// pidState is where the producer stands with its producer id.
type pidState int

const (
	pidNone     pidState = iota // not asked yet
	pidAsking                   // InitProducerId in progress
	pidReady                    // id and epoch known
	pidDisabled                 // not idempotent
)

// producerIDRes is an InitProducerId outcome.
type producerIDRes struct {
	id    int64
	epoch int16
	// unsupported: the brokers do not implement InitProducerId.
	unsupported bool
}

type sender struct {
	p *Producer

	pid     pidState
	id      int64
	epoch   int16
	streams map[int32]*brokerStream
	corr    int64
}

func newSender(p *Producer) *sender {
	s := &sender{p: p, streams: make(map[int32]*brokerStream), id: recordbatch.NoProducerID, epoch: recordbatch.NoProducerEpoch}
	if !p.cfg.idempotent {
		s.pid = pidDisabled
	}
	return s
}

func (s *sender) loop() {
	p := s.p
	defer p.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := s.drain()
		timer.Reset(untilOrHour(next)) // Go 1.23+: no stale tick after Reset
		select {
		case <-p.ctx.Done():
			s.stop()
			return
		case <-p.wake:
		case <-timer.C:
		case r := <-p.results:
			s.handle(r)
		case r := <-p.pids:
			s.gotProducerID(r)
		}
	}
}

// stop fails every batch left with ErrClosed and waits for the streams.
func (s *sender) stop() {
	p := s.p
	for _, bs := range s.streams {
		bs.wait()
	}
	p.mu.Lock()
	var left []*batch
	for _, ps := range p.parts {
		left = append(left, ps.batches...)
		ps.batches = nil
	}
	p.mu.Unlock()
	for _, b := range left {
		p.complete(b, -1, ErrClosed)
	}
}

// candidate is a partition whose head batch can be sent now.
type candidate struct {
	ps *partState
	b  *batch
}

// drain sends the batches that are ready and returns when it next needs
// to look (a linger or backoff ending), or the zero time.
func (s *sender) drain() time.Time {
	p := s.p
	now := time.Now()
	var next time.Time
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	var expired []*batch
	var expiredErr []error
	byLeader := make(map[int32][]candidate)
	needMeta, needPID := false, false
	p.mu.Lock()
	flushing := p.flushes > 0 || p.closing
	for _, ps := range p.parts {
		for len(ps.batches) > 0 && !ps.inflight {
			b := ps.batches[0]
			if now.After(b.deadline) {
				ps.batches = ps.batches[1:]
				p.sealLocked(b)
				expired = append(expired, b)
				expiredErr = append(expiredErr, s.expiry(b, now))
				continue
			}
			ready := b.sealed || len(ps.batches) > 1 || flushing || !now.Before(b.created.Add(p.cfg.linger))
			if !ready {
				later(b.created.Add(p.cfg.linger))
				break
			}
			later(b.deadline)
			if now.Before(ps.retryAt) {
				later(ps.retryAt)
				break
			}
			if s.pid != pidReady && s.pid != pidDisabled {
				needPID = true // waiting for the producer id
				break
			}
			leader, _, _, ok := p.meta.leader(ps.tp.Topic, ps.tp.Partition)
			if !ok {
				needMeta = true
				later(now.Add(p.c.cfg.backoffMin))
				break
			}
			p.sealLocked(b)
			byLeader[leader] = append(byLeader[leader], candidate{ps, b})
			break
		}
	}
	p.mu.Unlock()
	for i, b := range expired {
		if b.uncertain {
			s.bumpEpoch()
		}
		p.complete(b, -1, expiredErr[i])
	}
	if needMeta {
		p.askRefresh()
	}
	if needPID && s.pid == pidNone {
		s.askProducerID()
	}
	for leader, cands := range byLeader {
		s.sendTo(leader, cands)
	}
	return next
}

// expiry is the error of a batch whose delivery timeout passed.
func (s *sender) expiry(b *batch, now time.Time) error {
	msg := fmt.Sprintf("Expiring %d record(s) for %s: %d ms has passed since batch creation", len(b.deliveries), b.tp, now.Sub(b.created).Milliseconds())
	err := newError(stratav1.ErrorCode_ERROR_CODE_REQUEST_TIMED_OUT, msg)
	err.Retriable = false
	if b.lastErr != nil {
		return fmt.Errorf("%w (last error: %w)", err, b.lastErr)
	}
	return err
}

// sendTo puts the candidates of one leader into requests on its stream, as
// many as its free in-flight slots allow; the others wait for the next
// drain.
func (s *sender) sendTo(leader int32, cands []candidate) {
	p := s.p
	addr, ok := p.meta.brokerAddr(leader)
	if !ok {
		p.askRefresh()
		return
	}
	bs := s.streams[leader]
	if bs != nil && bs.addr != addr {
		bs.stop()
		bs = nil
	}
	if bs == nil {
		bs = newBrokerStream(p, leader, addr)
		s.streams[leader] = bs
	}
	// Oldest first, so that a busy stream serves the partitions that
	// waited longest.
	slices.SortFunc(cands, func(x, y candidate) int { return x.b.created.Compare(y.b.created) })
	for len(cands) > 0 && bs.inflight < p.cfg.maxInFlight {
		req := &produceReq{acks: p.cfg.acks}
		size := 0
		for len(cands) > 0 {
			c := cands[0]
			if err := s.build(c); err != nil {
				cands = cands[1:]
				s.removeHead(c.ps, c.b)
				p.complete(c.b, -1, err)
				continue
			}
			if len(req.batches) > 0 && size+len(c.b.data) > p.cfg.maxRequestSize {
				break
			}
			size += len(c.b.data)
			req.batches = append(req.batches, c)
			cands = cands[1:]
		}
		if len(req.batches) == 0 {
			break
		}
		p.mu.Lock()
		for _, c := range req.batches {
			c.ps.inflight = true
			c.b.attempts++
		}
		p.mu.Unlock()
		s.corr++
		req.corr = s.corr
		req.msg = req.encode(int32(p.c.cfg.requestTimeout.Milliseconds()))
		bs.inflight++
		bs.reqs <- req // never blocks: inflight < maxInFlight = cap
	}
}

// build encodes a sealed batch once, and stamps the producer id, epoch and
// base sequence (again when the epoch changed since).
func (s *sender) build(c candidate) error {
	b := c.b
	if b.data == nil {
		data, err := b.b.Build(nil)
		if err != nil {
			return fmt.Errorf("client: build batch: %w", err)
		}
		b.data = data
		b.b = nil // the records are in data now
	}
	if s.pid == pidReady && (!b.stamped || b.epoch != s.epoch) {
		ps := c.ps
		if ps.seqEpoch != s.epoch {
			ps.seqEpoch, ps.seq = s.epoch, 0
		}
		stampProducer(b.data, s.id, s.epoch, ps.seq)
		b.stamped, b.epoch = true, s.epoch
	}
	return nil
}

// Offsets of the producer fields and the CRC in a batch header (see
// pkg/recordbatch's layout).
const (
	batchCRCOffset        = 17
	batchAttributesOffset = 21
	batchProducerIDOffset = 43
	batchEpochOffset      = 51
	batchSequenceOffset   = 53
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// stampProducer writes the producer id, epoch and base sequence into an
// encoded batch and recomputes its CRC.
func stampProducer(data []byte, id int64, epoch int16, seq int32) {
	be := binary.BigEndian
	be.PutUint64(data[batchProducerIDOffset:], uint64(id))
	be.PutUint16(data[batchEpochOffset:], uint16(epoch))
	be.PutUint32(data[batchSequenceOffset:], uint32(seq))
	be.PutUint32(data[batchCRCOffset:], crc32.Checksum(data[batchAttributesOffset:], castagnoli))
}

// removeHead drops b, the head of ps, from its queue.
func (s *sender) removeHead(ps *partState, b *batch) {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(ps.batches) > 0 && ps.batches[0] == b {
		ps.batches = ps.batches[1:]
	}
	ps.inflight = false
}

// handle processes one stream result: a produce answer, a send of acks=0,
// or the failure of a request.
func (s *sender) handle(r streamResult) {
	p := s.p
	if s.streams[r.stream.id] == r.stream {
		r.stream.inflight-- // a stopped stream's slots went with it
	}
	results := make(map[TopicPartition]*stratav1.ProducePartitionResult)
	for _, t := range r.resp.GetTopics() {
		for _, pr := range t.GetPartitions() {
			results[TopicPartition{t.GetName(), pr.GetPartitionId()}] = pr
		}
	}
	refresh := false
	for _, c := range r.req.batches {
		b, ps := c.b, c.ps
		var err error
		base := int64(-1)
		switch {
		case r.err != nil:
			err = r.err
			b.uncertain = true // the request may have been appended
		case r.sent:
			// acks=0: delivered once sent.
		default:
			pr := results[b.tp]
			if pr == nil {
				err = newError(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_SERVER_ERROR, "the broker's answer lacks the partition")
				break
			}
			switch code := pr.GetErrorCode(); code {
			case stratav1.ErrorCode_ERROR_CODE_NONE:
				base = pr.GetBaseOffset()
			case stratav1.ErrorCode_ERROR_CODE_DUPLICATE_SEQUENCE_NUMBER:
				// The broker has the batch already: delivered, offset
				// unknown.
			default:
				err = resultError(code, pr.GetErrorMessage())
				if code == stratav1.ErrorCode_ERROR_CODE_REQUEST_TIMED_OUT || code == stratav1.ErrorCode_ERROR_CODE_NOT_ENOUGH_REPLICAS_AFTER_APPEND {
					b.uncertain = true
				}
			}
		}
		if err == nil {
			s.removeHead(ps, b)
			p.mu.Lock()
			if b.stamped && b.epoch == ps.seqEpoch {
				ps.seq += int32(len(b.deliveries))
			}
			p.mu.Unlock()
			p.complete(b, base, nil)
			continue
		}
		now := time.Now()
		if IsRetriable(err) && now.Before(b.deadline) {
			b.lastErr = err
			refresh = true
			p.mu.Lock()
			ps.inflight = false
			ps.retryAt = now.Add(p.c.backoff(b.attempts - 1))
			p.mu.Unlock()
			p.c.cfg.logger.Debug("client: retrying produce", "partition", b.tp.String(), "attempt", b.attempts, "err", err)
			continue
		}
		if IsRetriable(err) {
			err = fmt.Errorf("%w (last error: %w)", s.expiry(b, now), err)
		}
		s.removeHead(ps, b)
		if b.uncertain || errors.Is(err, ErrOutOfOrderSequenceNumber) || errors.Is(err, ErrUnknownProducerID) {
			// The broker's sequence for the partition is unknown now:
			// start a new epoch, as Kafka's producer does.
			s.bumpEpoch()
		}
		p.complete(b, -1, err)
	}
	if refresh {
		p.askRefresh()
	}
}

// askProducerID starts InitProducerId in a goroutine; the loop gets the
// answer on p.pids.
func (s *sender) askProducerID() {
	p := s.p
	s.pid = pidAsking
	id, epoch := s.id, s.epoch
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		r, ok := s.initProducerID(id, epoch)
		if !ok {
			return
		}
		select {
		case p.pids <- r:
		case <-p.ctx.Done():
		}
	}()
}

// bumpEpoch asks for the next epoch of the producer id, unless one is
// being asked for already or the producer is not idempotent.
func (s *sender) bumpEpoch() {
	if s.pid == pidReady {
		s.askProducerID()
	}
}

func (s *sender) gotProducerID(r producerIDRes) {
	p := s.p
	if r.unsupported {
		p.c.cfg.logger.Warn("client: the brokers do not implement InitProducerId; the producer goes on without idempotence")
		s.pid = pidDisabled
		return
	}
	s.id, s.epoch, s.pid = r.id, r.epoch, pidReady
	p.c.cfg.logger.Debug("client: producer id", "producer_id", r.id, "epoch", r.epoch)
}

// initProducerID asks the brokers for a producer id (or the next epoch of
// id), trying each known broker and backing off between rounds until one
// answers or the producer closes (ok false).
func (s *sender) initProducerID(id int64, epoch int16) (res producerIDRes, ok bool) {
	p := s.p
	req := &stratav1.InitProducerIdRequest{ProducerId: id, ProducerEpoch: int32(epoch)}
	for round := 0; ; round++ {
		for _, addr := range p.meta.addresses() {
			var resp *stratav1.InitProducerIdResponse
			err := p.c.attempt(p.ctx, addr, func(ctx context.Context, cc grpc.ClientConnInterface) (err error) {
				resp, err = stratav1.NewBrokerServiceClient(cc).InitProducerId(ctx, req)
				return err
			})
			if p.ctx.Err() != nil {
				return res, false
			}
			var re *rpc.Error
			switch {
			case err == nil && resp.GetErrorCode() == stratav1.ErrorCode_ERROR_CODE_NONE:
				return producerIDRes{id: resp.GetProducerId(), epoch: int16(resp.GetProducerEpoch())}, true
			case err == nil:
				err = resultError(resp.GetErrorCode(), resp.GetErrorMessage())
			case errors.As(err, &re) && re.GRPCCode() == codes.Unimplemented:
				return producerIDRes{unsupported: true}, true
			}
			p.c.cfg.logger.Debug("client: InitProducerId failed", "address", addr, "err", err)
		}
		t := time.NewTimer(p.c.backoff(round))
		select {
		case <-p.ctx.Done():
			t.Stop()
			return res, false
		case <-t.C:
		}
	}
}

// produceReq is one produce request on a broker's stream.
type produceReq struct {
	corr    int64
	acks    Acks
	batches []candidate
	msg     *stratav1.ProduceRequest
	sentAt  time.Time
}

// encode builds the request's message: one entry per partition, grouped by
// topic in the order of the batches.
func (r *produceReq) encode(timeoutMs int32) *stratav1.ProduceRequest {
	msg := &stratav1.ProduceRequest{Acks: int32(r.acks), TimeoutMs: timeoutMs}
	byTopic := make(map[string]*stratav1.ProduceTopic)
	for _, c := range r.batches {
		t := byTopic[c.b.tp.Topic]
		if t == nil {
			t = &stratav1.ProduceTopic{Name: c.b.tp.Topic}
			byTopic[c.b.tp.Topic] = t
			msg.Topics = append(msg.Topics, t)
		}
		t.Partitions = append(t.Partitions, &stratav1.ProducePartition{PartitionId: c.b.tp.Partition, Records: c.b.data})
	}
	return msg
}
