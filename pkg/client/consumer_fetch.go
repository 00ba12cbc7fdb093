package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/recordbatch"
	"github.com/strata-log/strata/pkg/rpc"
)

// The consumer's manager is the goroutine that decides what is fetched
// where: it finds the partitions of subscribed topics, looks up starting
// positions (ListOffsets), and keeps one fetcher per leader broker whose
// Fetch stream carries exactly the partitions that broker leads. Fetchers
// queue decoded records for Poll and report failures by setting the
// cursors' backoff and kicking the manager. Lock order: Consumer.mu, then
// fetcher.mu, then brokerMeta.mu.

type manager struct {
	con       *Consumer
	fetchers  map[int32]*fetcher
	refreshed time.Time // the last periodic metadata refresh
}

func (m *manager) loop() {
	con := m.con
	defer con.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := m.reconcile()
		timer.Reset(untilOrHour(next)) // Go 1.23+: no stale tick after Reset
		changes := con.meta.changes()
		select {
		case <-con.ctx.Done():
			for _, f := range m.fetchers {
				f.stop()
			}
			return
		case <-con.kick:
		case <-changes:
		case <-timer.C:
		}
	}
}

// fetchStart is where a fetcher starts a partition.
type fetchStart struct {
	gen    uint64
	offset int64
	epoch  int32
}

// listItem is a position to look up.
type listItem struct {
	tp     TopicPartition
	gen    uint64
	target int64 // OffsetEarliest or OffsetLatest
}

// reconcile brings the fetchers in line with the cursors and returns when
// it next needs to look, or the zero time.
func (m *manager) reconcile() time.Time {
	con := m.con
	now := time.Now()
	var next time.Time
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	m.discover(now, later)

	lists := make(map[int32][]listItem)
	desired := make(map[int32]map[TopicPartition]fetchStart)
	needMeta := false
	con.mu.Lock()
	for tp, cur := range con.parts {
		if cur.paused {
			continue
		}
		if now.Before(cur.retryAt) {
			later(cur.retryAt)
			continue
		}
		leader, _, epoch, ok := con.meta.leader(tp.Topic, tp.Partition)
		if cur.pos < 0 && cur.seekTo == 0 && con.cfg.reset == OffsetResetNone {
			cur.paused = true
			con.errs = append(con.errs, &PartitionError{TopicPartition: tp, Err: ErrNoOffsetForPartition})
			con.signalReadyLocked()
			continue
		}
		if !ok {
			needMeta = true
			later(now.Add(con.c.cfg.backoffMin))
			continue
		}
		if cur.pos < 0 {
			target := cur.seekTo
			if target == 0 {
				target = OffsetLatest
				if con.cfg.reset == OffsetResetEarliest {
					target = OffsetEarliest
				}
			}
			lists[leader] = append(lists[leader], listItem{tp: tp, gen: cur.gen, target: target})
			continue
		}
		cur.epoch = epoch
		if desired[leader] == nil {
			desired[leader] = make(map[TopicPartition]fetchStart)
		}
		desired[leader][tp] = fetchStart{gen: cur.gen, epoch: epoch}
	}
	con.mu.Unlock()
	if needMeta {
		con.askRefresh()
	}
	for leader, items := range lists {
		m.listOffsets(leader, items)
		later(now) // look again: the positions are known now, or backing off
	}

	for leader, f := range m.fetchers {
		if f.ended() || !f.serves(desired[leader]) {
			f.stop()
			delete(m.fetchers, leader)
		}
	}
	for leader, parts := range desired {
		if m.fetchers[leader] != nil {
			continue
		}
		addr, ok := con.meta.brokerAddr(leader)
		if !ok {
			con.askRefresh()
			later(now.Add(con.c.cfg.backoffMin))
			continue
		}
		if f := m.startFetcher(leader, addr, parts); f != nil {
			m.fetchers[leader] = f
		}
	}
	return next
}

// discover adds the partitions of subscribed topics, and refreshes their
// metadata every MetadataMaxAge.
func (m *manager) discover(now time.Time, later func(time.Time)) {
	con := m.con
	con.mu.Lock()
	topics := con.topics
	con.mu.Unlock()
	if len(topics) == 0 {
		return
	}
	if now.Sub(m.refreshed) >= con.cfg.metadataMaxAge {
		m.refreshed = now
		con.askRefresh()
	}
	later(m.refreshed.Add(con.cfg.metadataMaxAge))
	var all []TopicPartition
	missing := false
	for _, t := range topics {
		ti, _ := con.meta.topic(t)
		if ti == nil || ti.err != nil {
			missing = true
			continue
		}
		for i := range ti.partitions {
			all = append(all, TopicPartition{t, int32(i)})
		}
	}
	if missing {
		con.askRefresh()
		later(now.Add(con.c.cfg.backoffMax))
	}
	con.mu.Lock()
	defer con.mu.Unlock()
	if !slicesEqualSet(con.topics, topics) {
		return // changed meanwhile: the next round sees it
	}
	for _, tp := range all {
		if con.parts[tp] == nil {
			con.setAssignment(all)
			return
		}
	}
}

func slicesEqualSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// listOffsets looks up positions on a leader.
func (m *manager) listOffsets(leader int32, items []listItem) {
	con := m.con
	addr, ok := con.meta.brokerAddr(leader)
	req := &stratav1.ListOffsetsRequest{IsolationLevel: stratav1.IsolationLevel_ISOLATION_LEVEL_READ_UNCOMMITTED}
	byTopic := make(map[string]*stratav1.ListOffsetsTopic)
	for _, it := range items {
		t := byTopic[it.tp.Topic]
		if t == nil {
			t = &stratav1.ListOffsetsTopic{Name: it.tp.Topic}
			byTopic[it.tp.Topic] = t
			req.Topics = append(req.Topics, t)
		}
		t.Partitions = append(t.Partitions, &stratav1.ListOffsetsPartition{PartitionId: it.tp.Partition, Timestamp: it.target, CurrentLeaderEpoch: -1})
	}
	var resp *stratav1.ListOffsetsResponse
	err := errors.New("leader address unknown")
	if ok {
		err = con.c.attempt(con.ctx, addr, func(ctx context.Context, cc grpc.ClientConnInterface) (err error) {
			resp, err = stratav1.NewBrokerServiceClient(cc).ListOffsets(ctx, req)
			return err
		})
	}
	results := make(map[TopicPartition]*stratav1.ListOffsetsPartitionResult)
	for _, t := range resp.GetTopics() {
		for _, p := range t.GetPartitions() {
			results[TopicPartition{t.GetName(), p.GetPartitionId()}] = p
		}
	}
	now := time.Now()
	con.mu.Lock()
	defer con.mu.Unlock()
	for _, it := range items {
		cur := con.parts[it.tp]
		if cur == nil || cur.gen != it.gen || cur.pos >= 0 {
			continue
		}
		r := results[it.tp]
		var perr error
		switch {
		case err != nil:
			perr = err
		case r == nil:
			perr = newError(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_SERVER_ERROR, "the broker's answer lacks the partition")
		case r.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE:
			perr = resultError(r.GetErrorCode(), r.GetErrorMessage())
		case r.GetOffset() < 0:
			perr = newError(stratav1.ErrorCode_ERROR_CODE_OFFSET_NOT_AVAILABLE, "no offset in the answer")
		}
		if perr == nil {
			cur.pos, cur.fetchPos, cur.seekTo, cur.failures = r.GetOffset(), r.GetOffset(), 0, 0
			continue
		}
		if con.ctx.Err() != nil {
			return
		}
		if e := errOf(perr); !IsRetriable(e) {
			cur.paused = true
			con.errs = append(con.errs, &PartitionError{TopicPartition: it.tp, Err: e})
			con.signalReadyLocked()
			continue
		}
		cur.failures++
		cur.retryAt = now.Add(con.c.backoff(cur.failures - 1))
		con.c.cfg.logger.Debug("client: list offsets failed", "partition", it.tp.String(), "err", perr)
	}
	con.askRefresh()
}

// fetcher runs one Fetch stream on a leader broker for a set of
// partitions. Partitions that fail leave it (dead); the manager replaces
// it when the set it should serve changes.
type fetcher struct {
	con    *Consumer
	leader int32
	addr   string
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	start map[TopicPartition]fetchStart // the partitions it serves and where it started
	live  map[TopicPartition]bool
	next  map[TopicPartition]int64 // the offset after the last batch received

	dec recordbatch.Decoder
}

// startFetcher starts a fetcher from the cursors' current fetch positions.
func (m *manager) startFetcher(leader int32, addr string, parts map[TopicPartition]fetchStart) *fetcher {
	con := m.con
	ctx, cancel := context.WithCancel(con.ctx)
	f := &fetcher{
		con: con, leader: leader, addr: addr, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		start: make(map[TopicPartition]fetchStart), live: make(map[TopicPartition]bool), next: make(map[TopicPartition]int64),
	}
	con.mu.Lock()
	for tp, fs := range parts {
		cur := con.parts[tp]
		if cur == nil || cur.gen != fs.gen || cur.fetchPos < 0 {
			continue
		}
		fs.offset = cur.fetchPos
		f.start[tp] = fs
		f.live[tp] = true
		f.next[tp] = cur.fetchPos
	}
	con.mu.Unlock()
	if len(f.start) == 0 {
		cancel()
		return nil
	}
	con.wg.Add(1)
	go f.run()
	return f
}

func (f *fetcher) stop() {
	f.cancel()
	<-f.done
}

func (f *fetcher) ended() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// serves reports whether the fetcher reads exactly want: the same
// partitions, live, at the same generations.
func (f *fetcher) serves(want map[TopicPartition]fetchStart) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for tp, ok := range f.live {
		if !ok {
			continue
		}
		n++
		w, in := want[tp]
		if !in || w.gen != f.start[tp].gen {
			return false
		}
	}
	return n == len(want)
}

func (f *fetcher) run() {
	con := f.con
	defer con.wg.Done()
	defer close(f.done)
	cfg := &con.cfg
	req := &stratav1.FetchRequest{
		MaxWaitMs: int32(cfg.maxWait.Milliseconds()), MinBytes: int32(cfg.minBytes), MaxBytes: int32(cfg.maxBytes),
		IsolationLevel: stratav1.IsolationLevel_ISOLATION_LEVEL_READ_UNCOMMITTED, ClientId: con.c.cfg.clientID,
	}
	byTopic := make(map[string]*stratav1.FetchTopic)
	for _, tp := range sortedParts(f.start) {
		fs := f.start[tp]
		t := byTopic[tp.Topic]
		if t == nil {
			t = &stratav1.FetchTopic{Name: tp.Topic}
			byTopic[tp.Topic] = t
			req.Topics = append(req.Topics, t)
		}
		t.Partitions = append(t.Partitions, &stratav1.FetchPartition{
			PartitionId: tp.Partition, FetchOffset: fs.offset, CurrentLeaderEpoch: fs.epoch, PartitionMaxBytes: int32(cfg.partitionMaxBytes),
		})
	}
	cc, err := con.c.pool.get(f.addr)
	if err != nil {
		f.failAll(rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION, "%v", err))
		return
	}
	stream, err := stratav1.NewBrokerServiceClient(cc).Fetch(f.ctx, req)
	if err != nil {
		f.failStream(cc, err)
		return
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return // every partition left the stream, each with its error
			}
			f.failStream(cc, err)
			return
		}
		for _, t := range resp.GetTopics() {
			for _, pr := range t.GetPartitions() {
				f.handle(TopicPartition{t.GetName(), pr.GetPartitionId()}, pr)
			}
		}
	}
}

func sortedParts(m map[TopicPartition]fetchStart) []TopicPartition {
	out := slices.Collect(maps.Keys(m))
	slices.SortFunc(out, func(a, b TopicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return cmp.Compare(a.Partition, b.Partition)
	})
	return out
}

// failStream handles the end of the stream with an error: unless the
// manager stopped it, every live partition backs off and the metadata is
// refreshed; a broken connection is dropped so the next stream dials
// afresh.
func (f *fetcher) failStream(cc *grpc.ClientConn, err error) {
	if f.ctx.Err() != nil {
		return
	}
	re := rpc.FromError(err)
	if re.Code == stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION || re.GRPCCode() == codes.Unavailable {
		f.con.c.pool.drop(f.addr, cc)
	}
	f.failAll(re)
}

// failAll backs off every live partition of the fetcher.
func (f *fetcher) failAll(err error) {
	con := f.con
	if f.ctx.Err() != nil {
		return
	}
	con.c.cfg.logger.Debug("client: fetch stream failed", "broker", f.leader, "address", f.addr, "err", err)
	now := time.Now()
	con.mu.Lock()
	f.mu.Lock()
	for tp, ok := range f.live {
		if !ok {
			continue
		}
		f.live[tp] = false
		if cur := con.parts[tp]; cur != nil && cur.gen == f.start[tp].gen {
			cur.failures++
			cur.retryAt = now.Add(con.c.backoff(cur.failures - 1))
		}
	}
	f.mu.Unlock()
	con.mu.Unlock()
	con.askRefresh()
	con.wakeup()
}

// handle takes one partition's part of a fetch response.
func (f *fetcher) handle(tp TopicPartition, pr *stratav1.FetchPartitionResult) {
	con := f.con
	f.mu.Lock()
	gen, known := f.start[tp].gen, f.live[tp]
	from := f.next[tp]
	f.mu.Unlock()
	if !known {
		return
	}
	if code := pr.GetErrorCode(); code != stratav1.ErrorCode_ERROR_CODE_NONE {
		f.partitionFailed(tp, gen, resultError(code, pr.GetErrorMessage()))
		return
	}
	if len(pr.GetRecords()) == 0 {
		return
	}
	recs, next, bytes, err := f.decode(tp, pr.GetRecords(), from)
	if err != nil {
		f.partitionFailed(tp, gen, err)
		return
	}
	f.mu.Lock()
	f.next[tp] = next
	f.mu.Unlock()
	// Wait for room in the buffer: the stream stalls meanwhile, and the
	// broker with it (gRPC flow control).
	for {
		con.mu.Lock()
		if con.queued < con.cfg.maxBytes || len(con.queue) == 0 {
			break
		}
		space := con.space
		con.mu.Unlock()
		select {
		case <-space:
		case <-f.ctx.Done():
			return
		}
	}
	defer con.mu.Unlock()
	cur := con.parts[tp]
	if cur == nil || cur.gen != gen || f.ctx.Err() != nil {
		return
	}
	cur.fetchPos, cur.failures = next, 0
	if len(recs) > 0 {
		con.queue = append(con.queue, &chunk{tp: tp, gen: gen, recs: recs, bytes: bytes})
		con.queued += bytes
		con.signalReadyLocked()
	}
}

// partitionFailed handles a partition's error: it leaves the stream, and
// either backs off (a retriable error: the leader moved, ...), resets its
// position (OFFSET_OUT_OF_RANGE with a reset policy), or pauses with the
// error for Poll.
func (f *fetcher) partitionFailed(tp TopicPartition, gen uint64, err error) {
	con := f.con
	f.mu.Lock()
	f.live[tp] = false
	f.mu.Unlock()
	con.mu.Lock()
	defer func() {
		con.mu.Unlock()
		con.wakeup()
	}()
	cur := con.parts[tp]
	if cur == nil || cur.gen != gen || f.ctx.Err() != nil {
		return
	}
	con.c.cfg.logger.Debug("client: fetch of a partition failed", "partition", tp.String(), "broker", f.leader, "err", err)
	switch {
	case errors.Is(err, ErrOffsetOutOfRange) && con.cfg.reset != OffsetResetNone:
		cur.gen++
		cur.pos, cur.fetchPos, cur.seekTo = -1, -1, 0
		con.dropQueuedLocked(tp)
	case IsRetriable(err):
		cur.failures++
		cur.retryAt = time.Now().Add(con.c.backoff(cur.failures - 1))
		con.askRefresh()
	default:
		cur.paused = true
		con.errs = append(con.errs, &PartitionError{TopicPartition: tp, Err: err})
		con.signalReadyLocked()
	}
}

// decode decodes the batches of a partition, keeping the records at or
// after from; it returns them, the offset after the last batch, and their
// size in bytes.
func (f *fetcher) decode(tp TopicPartition, data []byte, from int64) ([]Record, int64, int, error) {
	var out []Record
	next, size := from, 0
	var recs []recordbatch.Record
	for b, err := range recordbatch.All(data) {
		if err != nil {
			return nil, 0, 0, fmt.Errorf("fetch %s: %w", tp, newError(stratav1.ErrorCode_ERROR_CODE_CORRUPT_MESSAGE, err.Error()))
		}
		h, err := recordbatch.ParseHeader(b)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("fetch %s: %w", tp, newError(stratav1.ErrorCode_ERROR_CODE_CORRUPT_MESSAGE, err.Error()))
		}
		if h.Control() {
			next = max(next, h.LastOffset()+1)
			continue
		}
		recs, err = f.dec.Decode(recs[:0], b)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("fetch %s: %w", tp, newError(stratav1.ErrorCode_ERROR_CODE_CORRUPT_MESSAGE, err.Error()))
		}
		copyBytes := h.Compression() != recordbatch.None // the decoder's buffer is reused
		for _, r := range recs {
			off := h.BaseOffset + int64(r.OffsetDelta)
			if off < from {
				continue
			}
			rec := Record{
				Topic: tp.Topic, Partition: tp.Partition, Offset: off, Key: r.Key, Value: r.Value,
				Timestamp: time.UnixMilli(r.Timestamp), LeaderEpoch: h.PartitionLeaderEpoch,
			}
			if copyBytes {
				rec.Key, rec.Value = cloneBytes(r.Key), cloneBytes(r.Value)
			}
			for _, hd := range r.Headers {
				rec.Headers = append(rec.Headers, Header{Key: hd.Key, Value: cloneBytes(hd.Value)})
			}
			size += len(rec.Key) + len(rec.Value) + recordOverhead
			out = append(out, rec)
		}
		next = max(next, h.LastOffset()+1)
	}
	clear(recs)
	return out, next, size, nil
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
