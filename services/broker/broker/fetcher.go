package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/recordbatch"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/services/broker/broker/internal/partition"
)

// Replicate, the follower's side
//
// The broker runs one fetcher per broker it follows partitions of. After
// each reconciliation (replicas.update) every partition this broker follows
// is handed to the fetcher of its leader, and taken from any other. A
// fetcher keeps one Replicate stream open to its leader and sends one
// request at a time with all its partitions, each at its log end offset and
// latest epoch; it appends what comes back (after checking the batches'
// CRCs), truncates where the leader says the log diverged, and takes the
// leader's high watermark. A partition the leader refuses (not the leader,
// a fenced epoch) waits for the metadata to name a new leader or epoch; one
// the leader does not know yet is asked again after a pause.

const (
	replicaMaxWait           = 500 * time.Millisecond
	replicaPartitionMaxBytes = 8 << 20
	replicaRetryPause        = 200 * time.Millisecond
	replicaRefusedPause      = 2 * time.Second
	replicaReconnectMax      = 2 * time.Second
)

// replicas owns the fetchers.
type replicas struct {
	s *Server

	mu       sync.Mutex
	ctx      context.Context
	fetchers map[int32]*fetcher // by leader
	wg       sync.WaitGroup
}

func newReplicas(ctx context.Context, s *Server) *replicas {
	return &replicas{s: s, ctx: ctx, fetchers: make(map[int32]*fetcher)}
}

// wait waits for the fetchers to stop, once ctx has ended.
func (r *replicas) wait() { r.wg.Wait() }

// update hands every partition this broker follows to the fetcher of its
// leader, starting fetchers as needed; fetchers left without partitions stop.
func (r *replicas) update() {
	want := make(map[int32]map[partKey]followed)
	for _, p := range r.s.parts.All() {
		leader, epoch, ok := p.FollowerOf()
		if !ok {
			continue
		}
		if want[leader] == nil {
			want[leader] = make(map[partKey]followed)
		}
		want[leader][partKey{p.Topic, p.ID}] = followed{p: p, epoch: epoch}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil {
		return
	}
	for leader, f := range r.fetchers {
		if _, ok := want[leader]; !ok {
			f.stop()
			delete(r.fetchers, leader)
		}
	}
	for leader, parts := range want {
		f, ok := r.fetchers[leader]
		if !ok {
			f = newFetcher(r.s, leader)
			r.fetchers[leader] = f
			ctx, cancel := context.WithCancel(r.ctx)
			f.cancel = cancel
			r.wg.Add(1)
			go func() { defer r.wg.Done(); f.run(ctx) }()
		}
		f.set(parts)
	}
}

type partKey struct {
	topic metadata.TopicID
	id    int32
}

// followed is a partition as a fetcher follows it.
type followed struct {
	p     *partition.Partition
	epoch int32     // the leader epoch it is followed in
	until time.Time // no fetch before (after an error)
}

// fetcher replicates the partitions one leader broker leads.
type fetcher struct {
	s      *Server
	leader int32
	cancel context.CancelFunc

	mu    sync.Mutex
	parts map[partKey]*followed
	wake  chan struct{} // a send when parts change
}

func newFetcher(s *Server, leader int32) *fetcher {
	return &fetcher{s: s, leader: leader, parts: make(map[partKey]*followed), wake: make(chan struct{}, 1)}
}

func (f *fetcher) stop() { f.cancel() }

// set replaces the partitions. New ones, and those whose leader epoch
// changed, are fetched at once: the request in flight is abandoned.
func (f *fetcher) set(parts map[partKey]followed) {
	f.mu.Lock()
	changed := false // something to fetch that the request in flight lacks
	for k := range f.parts {
		if _, ok := parts[k]; !ok {
			delete(f.parts, k)
		}
	}
	for k, p := range parts {
		if old, ok := f.parts[k]; ok && old.epoch == p.epoch {
			continue
		}
		fp := p
		f.parts[k] = &fp
		changed = true
	}
	f.mu.Unlock()
	if changed {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

// request builds the next request from the partitions due now; nil when
// none is, with the time the next one is due (zero: none).
func (f *fetcher) request(now time.Time) (*stratav1.ReplicateRequest, map[partKey]*followed, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	req := &stratav1.ReplicateRequest{
		ReplicaId: f.s.cfg.NodeID, BrokerEpoch: f.s.Epoch(), MaxWaitMs: int32(replicaMaxWait / time.Millisecond),
		MinBytes: 1, MaxBytes: replicateMaxBytesCap,
	}
	sent := make(map[partKey]*followed)
	var next time.Time
	for k, fp := range f.parts {
		if now.Before(fp.until) {
			if next.IsZero() || fp.until.Before(next) {
				next = fp.until
			}
			continue
		}
		l := fp.p.Log
		req.Partitions = append(req.Partitions, &stratav1.ReplicaFetchPartition{
			TopicId: k.topic.Bytes(), PartitionId: k.id, FetchOffset: l.LogEndOffset(),
			LastFetchedEpoch: l.LatestEpoch(), CurrentLeaderEpoch: fp.epoch,
			LogStartOffset: l.LogStartOffset(), PartitionMaxBytes: replicaPartitionMaxBytes,
		})
		sent[k] = fp
	}
	if len(sent) == 0 {
		return nil, nil, next
	}
	return req, sent, next
}

func (f *fetcher) run(ctx context.Context) {
	log := f.s.log.With("leader", f.leader)
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := f.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errRestart) {
			backoff = 50 * time.Millisecond
			continue
		}
		log.Info("replica fetch stream ended; reconnecting", "err", err, "after", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, replicaReconnectMax)
	}
}

// session runs one Replicate stream until it fails or ctx ends.
func (f *fetcher) session(ctx context.Context) error {
	br, ok := f.s.appliedImage().Broker(f.leader)
	if !ok || br.Address == "" {
		return fmt.Errorf("broker %d is not registered", f.leader)
	}
	cc, err := f.s.peers.conn(br.Address)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := stratav1.NewBrokerServiceClient(cc).Replicate(sctx)
	if err != nil {
		return err
	}
	for {
		req, sent, next := f.request(time.Now())
		if req == nil {
			if err := f.idle(ctx, next); err != nil {
				return err
			}
			continue
		}
		if err := stream.Send(req); err != nil {
			return err
		}
		resp, interrupted, err := f.recv(stream, cancel)
		if err != nil {
			if interrupted {
				return errRestart
			}
			if e := rpc.FromError(err); e != nil && e.Code == stratav1.ErrorCode_ERROR_CODE_STALE_BROKER_EPOCH {
				return fmt.Errorf("the leader has a newer broker epoch for this broker: %w", err)
			}
			return err
		}
		f.handleAll(resp, sent)
		if interrupted {
			return errRestart
		}
	}
}

// errRestart ends a session whose partitions changed during a request.
var errRestart = errors.New("the partitions changed: a new stream")

// recv waits for the answer to the request in flight. Partitions added
// meanwhile (set) cancel the stream, so that they are fetched at once rather
// than after the leader's long poll of up to replicaMaxWait: a new leader's
// acks=all waits for exactly that first fetch. interrupted says the stream
// was cancelled (the answer, if it came first, is still good).
func (f *fetcher) recv(stream grpc.BidiStreamingClient[stratav1.ReplicateRequest, stratav1.ReplicateResponse],
	cancel context.CancelFunc) (resp *stratav1.ReplicateResponse, interrupted bool, err error) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-f.wake:
			interrupted = true
			cancel()
		case <-done:
		}
	}()
	resp, err = stream.Recv()
	close(done)
	<-exited
	return resp, interrupted, err
}

// handleAll applies the answers of one response. Partitions with data are
// appended concurrently: badger commits concurrent transactions in one
// write, so the next request goes out after about one commit, not one per
// partition.
func (f *fetcher) handleAll(resp *stratav1.ReplicateResponse, sent map[partKey]*followed) {
	var wg sync.WaitGroup
	for _, res := range resp.GetPartitions() {
		id, err := metadata.TopicIDFromBytes(res.GetTopicId())
		if err != nil {
			continue
		}
		fp, ok := sent[partKey{id, res.GetPartitionId()}]
		if !ok {
			continue
		}
		if len(res.GetRecords()) == 0 {
			f.handle(fp, res)
			continue
		}
		wg.Go(func() { f.handle(fp, res) })
	}
	wg.Wait()
}

// idle waits until the partitions change or next (when not zero).
func (f *fetcher) idle(ctx context.Context, next time.Time) error {
	var due <-chan time.Time
	if !next.IsZero() {
		t := time.NewTimer(time.Until(next))
		defer t.Stop()
		due = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-f.wake:
	case <-due:
	}
	return nil
}

// handle applies one partition's answer.
func (f *fetcher) handle(fp *followed, res *stratav1.ReplicaFetchPartitionResult) {
	p := fp.p
	err := f.apply(fp, res)
	switch {
	case err == nil:
		return
	case errors.Is(err, partition.ErrNotFollower):
		// The metadata moved on; update() hands it over.
	case errors.Is(err, errRefused):
		// Until the metadata names a new leader or epoch (update() replaces
		// the entry then), or a while passed in case the leader was behind.
		f.mu.Lock()
		fp.until = time.Now().Add(replicaRefusedPause)
		f.mu.Unlock()
	default:
		level := slog.LevelWarn
		if errors.Is(err, errLeaderBehind) {
			level = slog.LevelDebug // the leader applies the metadata a moment later
		}
		f.s.log.Log(context.Background(), level, "replicating a partition failed; retrying",
			"topic", p.Name, "partition", p.ID, "leader", f.leader, "err", err)
		f.mu.Lock()
		fp.until = time.Now().Add(replicaRetryPause)
		f.mu.Unlock()
	}
}

var (
	errRefused      = errors.New("the leader refused the fetch")
	errLeaderBehind = errors.New("the leader has not applied this metadata yet")
)

func (f *fetcher) apply(fp *followed, res *stratav1.ReplicaFetchPartitionResult) error {
	p := fp.p
	switch res.GetErrorCode() {
	case stratav1.ErrorCode_ERROR_CODE_NONE:
	case stratav1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE:
		if start := res.GetLogStartOffset(); start > p.Log.LogEndOffset() {
			f.s.log.Info("the leader's log starts after this replica's end; restarting the log there",
				"topic", p.Name, "partition", p.ID, "offset", start)
			return p.RestartAsFollowerAt(start, fp.epoch)
		}
		return fmt.Errorf("%s: %s", res.GetErrorCode(), res.GetErrorMessage())
	case stratav1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER, stratav1.ErrorCode_ERROR_CODE_FENCED_LEADER_EPOCH:
		return fmt.Errorf("%w: %s", errRefused, res.GetErrorMessage())
	case stratav1.ErrorCode_ERROR_CODE_UNKNOWN_LEADER_EPOCH, stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION:
		return fmt.Errorf("%w: %s: %s", errLeaderBehind, res.GetErrorCode(), res.GetErrorMessage())
	default:
		return fmt.Errorf("%s: %s", res.GetErrorCode(), res.GetErrorMessage())
	}
	if d := res.GetDivergingEpoch(); d != nil {
		to := partition.TruncationOffset(p.Log, d.GetEpoch(), d.GetEndOffset())
		f.s.log.Info("the log diverged from the leader's; truncating",
			"topic", p.Name, "partition", p.ID, "leader_epoch_end", d.GetEpoch(), "leader_end_offset", d.GetEndOffset(),
			"log_end_offset", p.Log.LogEndOffset(), "truncate_to", to)
		return p.TruncateAsFollower(to, fp.epoch)
	}
	records := res.GetRecords()
	for batch, err := range recordbatch.All(records) {
		if err != nil {
			return fmt.Errorf("batches from the leader: %w", err)
		}
		if err := recordbatch.Verify(batch); err != nil {
			return fmt.Errorf("batch from the leader: %w", err)
		}
	}
	return p.AppendAsFollower(records, fp.epoch, res.GetHighWatermark())
}

// peers keeps one client connection per other broker's address.
type peers struct {
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

func (p *peers) conn(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cc, ok := p.conns[addr]; ok {
		return cc, nil
	}
	cc, err := rpc.Dial(addr, rpc.DialConfig{MaxRecvMsgSize: replicateMaxBytesCap + 1<<20})
	if err != nil {
		return nil, err
	}
	if p.conns == nil {
		p.conns = make(map[string]*grpc.ClientConn)
	}
	p.conns[addr] = cc
	return cc, nil
}

func (p *peers) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, cc := range p.conns {
		_ = cc.Close()
		delete(p.conns, addr)
	}
}
