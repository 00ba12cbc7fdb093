package client

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/rpc"
)

// Group membership
//
// A consumer with a Group that Subscribes is a member of the group: two
// goroutines, owned by the Consumer, keep the membership.
//
// The heartbeat loop keeps one ConsumerGroupHeartbeat stream to the group's
// coordinator, with one request in flight at a time: a join (epoch 0),
// then heartbeats carrying the epoch and the partitions the consumer owns,
// every heartbeat interval the coordinator gives, at once when the
// coordinator asks (heartbeat_now) or when the owned partitions changed,
// and a leave on Close. It takes each answer's epoch and, when present, its
// assignment (the target of the reconciler). UNKNOWN_MEMBER_ID and
// FENCED_MEMBER_EPOCH lose the partitions and rejoin; NOT_COORDINATOR and
// a broken stream find the coordinator again and resume with the same
// epoch. Without an answer for the session timeout the partitions are lost
// too (the coordinator has given them away by then).
//
// The reconciler makes the consumer's partitions follow the assignment: it
// first revokes (stops reading the partitions, commits their positions
// with auto commit, runs OnPartitionsRevoked, then reports them gone in
// the next heartbeat, which lets the coordinator give them to another
// member), then adds (fetches their committed offsets, starts reading them
// there, runs OnPartitionsAssigned). It also commits every
// AutoCommitInterval, and on Close commits, revokes and lets the
// heartbeat loop leave.
//
// Lock order: Consumer.mu, then groupMember.mu.

type groupMember struct {
	con   *Consumer
	cfg   *groupCfg
	coord *coordinators

	closing   chan struct{} // closed by close
	stopRec   context.CancelFunc
	recCtx    context.Context // ended by close: the reconciler's calls stop
	recDone   chan struct{}   // closed when the reconciler has finished
	hbDone    chan struct{}   // closed when the heartbeat loop returns
	kickHB    chan struct{}   // cap 1: heartbeat now
	kickRec   chan struct{}   // cap 1: the assignment changed
	startOnce sync.Once
	closeOnce sync.Once

	mu        sync.Mutex
	started   bool
	id        string
	topics    []string
	epoch     int32 // 0 while not a member
	target    []TopicPartition
	targetGen uint64
	lostGen   uint64
	owned     []TopicPartition         // what the consumer reads, sorted
	revoking  map[TopicPartition]int64 // positions of partitions being revoked
	committed map[TopicPartition]int64 // what auto commit last committed
}

func newGroupMember(con *Consumer) *groupMember {
	recCtx, stop := context.WithCancel(con.ctx)
	return &groupMember{
		con: con, cfg: &con.cfg.group, coord: newCoordinators(con.c), id: newMemberID(),
		closing: make(chan struct{}), recCtx: recCtx, stopRec: stop,
		recDone: make(chan struct{}), hbDone: make(chan struct{}),
		kickHB: make(chan struct{}, 1), kickRec: make(chan struct{}, 1),
		committed: make(map[TopicPartition]int64),
	}
}

// newMemberID is a random member id, as Kafka's (a base64 UUID).
func newMemberID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// subscribeGroup is Subscribe for a group member: it sets the
// subscription, starts the membership on the first call and heartbeats it
// to the coordinator.
func (c *Consumer) subscribeGroup(topics []string) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("client: Subscribe: %w", ErrClosed)
	}
	if len(c.parts) > 0 && !c.member.isStarted() {
		c.mu.Unlock()
		return errors.New("client: Subscribe: the consumer has partitions from Assign; a group member gets its partitions from the group")
	}
	m := c.member
	m.mu.Lock()
	m.topics = slices.Compact(slices.Sorted(slices.Values(topics)))
	m.started = true
	m.mu.Unlock()
	c.mu.Unlock()
	c.meta.want(topics...)
	m.startOnce.Do(func() {
		c.wg.Add(2)
		go m.heartbeatLoop()
		go m.reconcileLoop()
	})
	kick(m.kickHB)
	return nil
}

func (m *groupMember) isStarted() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.started
}

// MemberID is the consumer's member id in its group ("" without a Group).
func (c *Consumer) MemberID() string {
	if c.member == nil {
		return ""
	}
	c.member.mu.Lock()
	defer c.member.mu.Unlock()
	return c.member.id
}

// MemberEpoch is the consumer's member epoch in its group: 0 while it is
// not a member (yet).
func (c *Consumer) MemberEpoch() int32 {
	if c.member == nil {
		return 0
	}
	c.member.mu.Lock()
	defer c.member.mu.Unlock()
	return c.member.epoch
}

// close commits and revokes (reconciler), then leaves (heartbeat loop),
// within the request timeout each.
func (m *groupMember) close() {
	m.closeOnce.Do(func() { close(m.closing) })
	if !m.isStarted() {
		return
	}
	kick(m.kickRec)
	kick(m.kickHB)
	t := time.NewTimer(3 * m.con.c.cfg.requestTimeout)
	defer t.Stop()
	select {
	case <-m.hbDone:
	case <-t.C:
		m.con.c.cfg.logger.Warn("client: leaving the group took too long; closing anyway", "group", m.cfg.id)
	}
}

func (m *groupMember) isClosing() bool {
	select {
	case <-m.closing:
		return true
	default:
		return false
	}
}

// request is the next heartbeat: a join while not a member, else the
// epoch and the owned partitions.
func (m *groupMember) request() *stratav1.ConsumerGroupHeartbeatRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	req := &stratav1.ConsumerGroupHeartbeatRequest{
		GroupId: m.cfg.id, MemberId: m.id, MemberEpoch: m.epoch, ClientId: m.con.c.cfg.clientID,
		SessionTimeoutMs: int32(m.cfg.sessionTimeout.Milliseconds()), RebalanceTimeoutMs: int32(m.cfg.rebalanceTimeout.Milliseconds()),
		SubscribedTopicNames: m.topics, ServerAssignor: m.cfg.assignor,
	}
	if m.epoch > 0 {
		req.OwnedPartitions = groupPartitions(m.owned)
	}
	return req
}

// groupPartitions groups sorted partitions by topic.
func groupPartitions(tps []TopicPartition) []*stratav1.GroupTopicPartitions {
	var out []*stratav1.GroupTopicPartitions
	for _, tp := range tps {
		if n := len(out); n == 0 || out[n-1].GetTopic() != tp.Topic {
			out = append(out, &stratav1.GroupTopicPartitions{Topic: tp.Topic})
		}
		last := out[len(out)-1]
		last.Partitions = append(last.Partitions, tp.Partition)
	}
	return out
}

func flattenPartitions(in []*stratav1.GroupTopicPartitions) []TopicPartition {
	var out []TopicPartition
	for _, t := range in {
		for _, p := range t.GetPartitions() {
			out = append(out, TopicPartition{t.GetTopic(), p})
		}
	}
	sortTPs(out)
	return slices.Compact(out)
}

func sortTPs(tps []TopicPartition) {
	slices.SortFunc(tps, func(a, b TopicPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
}

// hbStream is one heartbeat stream and its receiving goroutine.
type hbStream struct {
	addr   string
	cc     *grpc.ClientConn
	stream grpc.BidiStreamingClient[stratav1.ConsumerGroupHeartbeatRequest, stratav1.ConsumerGroupHeartbeatResponse]
	cancel context.CancelFunc
	msgs   chan hbMsg // closed after the first error
	done   chan struct{}
}

type hbMsg struct {
	resp *stratav1.ConsumerGroupHeartbeatResponse
	err  error
}

func (m *groupMember) openStream(ctx context.Context, addr string) (*hbStream, error) {
	cc, err := m.con.c.pool.get(addr)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	stream, err := stratav1.NewGroupServiceClient(cc).ConsumerGroupHeartbeat(sctx)
	if err != nil {
		cancel()
		return nil, err
	}
	st := &hbStream{addr: addr, cc: cc, stream: stream, cancel: cancel, msgs: make(chan hbMsg, 4), done: make(chan struct{})}
	m.con.wg.Add(1)
	go func() {
		defer m.con.wg.Done()
		defer close(st.done)
		defer close(st.msgs)
		for {
			resp, err := stream.Recv()
			select {
			case st.msgs <- hbMsg{resp, err}:
			case <-sctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return st, nil
}

func (st *hbStream) close() {
	st.cancel()
	<-st.done
}

// heartbeatLoop keeps the membership; see the top of the file.
func (m *groupMember) heartbeatLoop() {
	con := m.con
	defer con.wg.Done()
	defer close(m.hbDone)
	var st *hbStream
	defer func() {
		if st != nil {
			st.close()
		}
	}()
	// drop ends the stream and forgets the coordinator; broken also
	// drops the connection (a transport failure), so that the next stream
	// dials afresh instead of waiting out gRPC's reconnect backoff.
	drop := func(broken bool) {
		if st == nil {
			return
		}
		m.coord.forget(m.cfg.id, st.addr, "")
		st.close()
		if broken {
			con.c.pool.drop(st.addr, st.cc)
		}
		st = nil
	}
	interval := m.sessionTimeout() / 3
	lastOK := time.Now()
	failures := 0
	urgent := true
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if con.ctx.Err() != nil {
			return
		}
		if m.isClosing() {
			m.leave(st)
			return
		}
		if !urgent {
			timer.Reset(interval)
			var msgs chan hbMsg
			if st != nil {
				msgs = st.msgs
			}
			select {
			case <-con.ctx.Done():
				return
			case <-m.closing:
				continue
			case <-timer.C:
			case <-m.kickHB:
			case msg, ok := <-msgs:
				switch {
				case !ok || msg.err != nil:
					drop(msg.err != nil && status.Code(msg.err) == codes.Unavailable)
				case !msg.resp.GetHeartbeatNow():
					con.c.cfg.logger.Debug("client: an unexpected heartbeat answer", "group", m.cfg.id)
				}
			}
			timer.Stop()
		}
		urgent = false
		if st == nil {
			if failures > 0 {
				if err := con.c.sleep(m.recCtx, failures-1); err != nil {
					continue
				}
			}
			addr, err := m.coord.find(m.recCtx, m.cfg.id)
			if err == nil {
				if st, err = m.openStream(con.ctx, addr); err != nil {
					m.coord.forget(m.cfg.id, addr, "")
				}
			}
			if err != nil {
				failures++
				urgent = true
				m.checkSession(lastOK)
				con.c.cfg.logger.Debug("client: reaching the group coordinator failed", "group", m.cfg.id, "err", err)
				continue
			}
		}
		resp, err := m.roundTrip(st)
		if err != nil {
			con.c.cfg.logger.Debug("client: heartbeat failed", "group", m.cfg.id, "coordinator", st.addr, "err", err)
			drop(status.Code(err) == codes.Unavailable)
			failures++
			urgent = true
			m.checkSession(lastOK)
			continue
		}
		urgent = resp.nudged
		switch code := resp.resp.GetErrorCode(); {
		case code == stratav1.ErrorCode_ERROR_CODE_NONE:
			failures, lastOK = 0, time.Now()
			if ms := resp.resp.GetHeartbeatIntervalMs(); ms > 0 {
				interval = time.Duration(ms) * time.Millisecond
			}
			m.took(resp.resp)
		case code == stratav1.ErrorCode_ERROR_CODE_UNKNOWN_MEMBER_ID || code == stratav1.ErrorCode_ERROR_CODE_FENCED_MEMBER_EPOCH:
			con.c.cfg.logger.Info("client: the group fenced this member; rejoining", "group", m.cfg.id,
				"member_id", m.id, "err", resultError(code, resp.resp.GetErrorMessage()))
			m.lose()
			urgent = true
		case coordinatorMoved(code):
			drop(false)
			failures++
			urgent = true
			m.checkSession(lastOK)
		default:
			err := fmt.Errorf("client: group %s: %w", m.cfg.id, resultError(code, resp.resp.GetErrorMessage()))
			con.c.cfg.logger.Warn("client: the group refused the member", "err", err)
			m.lose()
			con.mu.Lock()
			con.errs = append(con.errs, err)
			con.signalReadyLocked()
			con.mu.Unlock()
			failures++
			urgent = true
			if err := con.c.sleep(m.recCtx, failures+3); err != nil {
				continue
			}
		}
	}
}

// answer is a heartbeat answer, and whether the coordinator asked for
// another heartbeat meanwhile.
type answer struct {
	resp   *stratav1.ConsumerGroupHeartbeatResponse
	nudged bool
}

// roundTrip sends the next heartbeat and waits for its answer, within the
// request timeout.
func (m *groupMember) roundTrip(st *hbStream) (answer, error) {
	if err := st.stream.Send(m.request()); err != nil {
		return answer{}, err
	}
	t := time.NewTimer(m.con.c.cfg.requestTimeout)
	defer t.Stop()
	var a answer
	for {
		select {
		case msg, ok := <-st.msgs:
			switch {
			case !ok:
				return a, errors.New("the heartbeat stream ended")
			case msg.err != nil:
				return a, msg.err
			case msg.resp.GetHeartbeatNow():
				a.nudged = true
				continue
			}
			a.resp = msg.resp
			return a, nil
		case <-t.C:
			return a, rpc.New(stratav1.ErrorCode_ERROR_CODE_REQUEST_TIMED_OUT, "no heartbeat answer in time")
		case <-m.con.ctx.Done():
			return a, m.con.ctx.Err()
		}
	}
}

// took applies a successful answer: the epoch, and the assignment when it
// changed.
func (m *groupMember) took(resp *stratav1.ConsumerGroupHeartbeatResponse) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.epoch = resp.GetMemberEpoch()
	if resp.GetMemberId() != "" {
		m.id = resp.GetMemberId()
	}
	if a := resp.GetAssignment(); a != nil {
		m.target = flattenPartitions(a.GetPartitions())
		m.targetGen++
		kick(m.kickRec)
	}
}

// lose makes the member rejoin: its partitions are lost.
func (m *groupMember) lose() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.epoch = 0
	m.target = nil
	m.lostGen++
	m.targetGen++
	kick(m.kickRec)
}

func (m *groupMember) sessionTimeout() time.Duration {
	if m.cfg.sessionTimeout > 0 {
		return m.cfg.sessionTimeout
	}
	return 45 * time.Second
}

// checkSession loses the partitions when no heartbeat got through for the
// session timeout: the coordinator has given them to others by now. The
// member keeps its epoch, in case a new coordinator still knows it.
func (m *groupMember) checkSession(lastOK time.Time) {
	if time.Since(lastOK) <= m.sessionTimeout() {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.owned) > 0 {
		m.con.c.cfg.logger.Warn("client: no heartbeat reached the group coordinator for the session timeout; the partitions are lost",
			"group", m.cfg.id, "member_id", m.id)
		m.lostGen++
		kick(m.kickRec)
	}
}

// leave waits for the reconciler to finish (commit, revoke), then sends a
// leave when the member is in the group and LeaveGroupOnClose is on.
func (m *groupMember) leave(st *hbStream) {
	con := m.con
	select {
	case <-m.recDone:
	case <-con.ctx.Done():
		return
	}
	m.mu.Lock()
	epoch := m.epoch
	m.mu.Unlock()
	if epoch <= 0 || !m.cfg.leaveOnClose {
		return
	}
	ctx, cancel := context.WithTimeout(con.ctx, con.c.cfg.requestTimeout)
	defer cancel()
	req := &stratav1.ConsumerGroupHeartbeatRequest{GroupId: m.cfg.id, MemberId: m.id, MemberEpoch: -1}
	for attempt := 0; ctx.Err() == nil && attempt <= 3; attempt++ {
		if st == nil {
			addr, err := m.coord.find(ctx, m.cfg.id)
			if err != nil {
				break
			}
			if st, err = m.openStream(ctx, addr); err != nil {
				m.coord.forget(m.cfg.id, addr, "")
				continue
			}
			defer st.close()
		}
		if err := st.stream.Send(req); err == nil && awaitLeft(ctx, st) {
			m.mu.Lock()
			m.epoch = 0
			m.mu.Unlock()
			return
		}
		m.coord.forget(m.cfg.id, st.addr, "")
		st = nil
	}
	con.c.cfg.logger.Warn("client: could not leave the group; the coordinator removes the member after its session timeout", "group", m.cfg.id)
}

// awaitLeft waits for the answer to a leave: false when the stream broke,
// the coordinator moved or ctx ended first.
func awaitLeft(ctx context.Context, st *hbStream) bool {
	for {
		select {
		case msg, ok := <-st.msgs:
			switch {
			case !ok || msg.err != nil:
				return false
			case msg.resp.GetHeartbeatNow():
				continue
			}
			return !coordinatorMoved(msg.resp.GetErrorCode())
		case <-ctx.Done():
			return false
		}
	}
}

// reconcileLoop makes the consumer's partitions follow the assignment;
// see the top of the file.
func (m *groupMember) reconcileLoop() {
	con := m.con
	defer con.wg.Done()
	defer close(m.recDone)
	var appliedGen, appliedLost uint64
	var tick <-chan time.Time
	if m.cfg.autoCommit {
		t := time.NewTicker(m.cfg.autoCommitInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-con.ctx.Done():
			return
		case <-m.closing:
			m.stopRec()
			m.finish()
			return
		case <-tick:
			m.autoCommit(m.recCtx)
			continue
		case <-m.kickRec:
		}
		m.mu.Lock()
		gen, lost, target := m.targetGen, m.lostGen, slices.Clone(m.target)
		m.mu.Unlock()
		if lost != appliedLost {
			appliedLost = lost
			m.dropLost()
		}
		if gen != appliedGen {
			appliedGen = gen
			m.apply(target)
		}
	}
}

func (m *groupMember) ownedNow() []TopicPartition {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.owned)
}

// apply moves the consumer to target: revocations first, then additions.
func (m *groupMember) apply(target []TopicPartition) {
	owned := m.ownedNow()
	var revoked, added []TopicPartition
	for _, tp := range owned {
		if !slices.Contains(target, tp) {
			revoked = append(revoked, tp)
		}
	}
	for _, tp := range target {
		if !slices.Contains(owned, tp) {
			added = append(added, tp)
		}
	}
	if len(revoked) > 0 {
		positions := m.con.groupRemove(revoked)
		m.mu.Lock()
		m.revoking = positions
		m.mu.Unlock()
		if m.cfg.autoCommit {
			m.commitPositions(m.recCtx, positions, "revoking")
		}
		m.notify(m.recCtx, PartitionsRevoked, revoked)
		m.mu.Lock()
		m.owned = slices.DeleteFunc(m.owned, func(tp TopicPartition) bool { return slices.Contains(revoked, tp) })
		m.revoking = nil
		for _, tp := range revoked {
			delete(m.committed, tp)
		}
		m.mu.Unlock()
		kick(m.kickHB) // the coordinator learns they are free
	}
	if len(added) > 0 {
		committed, err := m.fetchCommitted(m.recCtx, added)
		if err != nil {
			if m.recCtx.Err() != nil {
				return
			}
			m.con.c.cfg.logger.Warn("client: reading the committed offsets failed; the partitions start as AutoOffsetReset says",
				"group", m.cfg.id, "err", err)
		}
		m.con.groupAdd(added, committed)
		m.mu.Lock()
		m.owned = append(m.owned, added...)
		sortTPs(m.owned)
		for tp, o := range committed {
			m.committed[tp] = o
		}
		m.mu.Unlock()
		m.notify(m.recCtx, PartitionsAssigned, added)
	}
}

// dropLost drops every owned partition without committing.
func (m *groupMember) dropLost() {
	owned := m.ownedNow()
	if len(owned) == 0 {
		return
	}
	m.con.groupRemove(owned)
	m.mu.Lock()
	m.owned, m.revoking = nil, nil
	clear(m.committed)
	m.mu.Unlock()
	m.notify(m.recCtx, PartitionsLost, owned)
}

// finish is the reconciler's part of Close: commit (auto commit), stop
// reading, revoke.
func (m *groupMember) finish() {
	con := m.con
	ctx, cancel := context.WithTimeout(con.ctx, con.c.cfg.requestTimeout)
	defer cancel()
	owned := m.ownedNow()
	if len(owned) == 0 {
		return
	}
	positions := con.groupRemove(owned)
	m.mu.Lock()
	m.revoking = positions
	m.mu.Unlock()
	if m.cfg.autoCommit {
		m.commitPositions(ctx, positions, "closing")
	}
	m.notify(ctx, PartitionsRevoked, owned)
	m.mu.Lock()
	m.owned, m.revoking = nil, nil
	m.mu.Unlock()
}

// notify runs the callback of an event, then sends it on the events
// channel.
func (m *groupMember) notify(ctx context.Context, typ RebalanceEventType, tps []TopicPartition) {
	var cb RebalanceCallback
	switch typ {
	case PartitionsAssigned:
		cb = m.cfg.onAssigned
	case PartitionsRevoked:
		cb = m.cfg.onRevoked
	case PartitionsLost:
		cb = m.cfg.onLost
		if cb == nil {
			cb = m.cfg.onRevoked
		}
	}
	if cb != nil {
		cb(ctx, slices.Clone(tps))
	}
	if m.cfg.events != nil {
		select {
		case m.cfg.events <- RebalanceEvent{Type: typ, Partitions: slices.Clone(tps)}:
		case <-ctx.Done():
		}
	}
}

// autoCommit commits the positions of the owned partitions that moved
// since the last commit.
func (m *groupMember) autoCommit(ctx context.Context) {
	positions := m.con.positionsOf(m.ownedNow())
	m.mu.Lock()
	for tp, o := range positions {
		if m.committed[tp] == o {
			delete(positions, tp)
		}
	}
	m.mu.Unlock()
	m.commitPositions(ctx, positions, "auto")
}

func (m *groupMember) commitPositions(ctx context.Context, positions map[TopicPartition]int64, why string) {
	if len(positions) == 0 {
		return
	}
	if err := m.commit(ctx, positions); err != nil {
		if ctx.Err() == nil {
			m.con.c.cfg.logger.Warn("client: committing offsets failed", "group", m.cfg.id, "when", why, "err", err)
		}
		return
	}
	m.mu.Lock()
	for tp, o := range positions {
		m.committed[tp] = o
	}
	m.mu.Unlock()
}

// commit commits offsets as the member (or, while it is not one, from
// outside the group protocol). An ILLEGAL_GENERATION answered to an epoch
// that has moved on since is retried once with the new epoch, for the
// partitions the member still owns (the others' offsets are their new
// owners' to commit).
func (m *groupMember) commit(ctx context.Context, offsets map[TopicPartition]int64) error {
	for attempt := 0; ; attempt++ {
		m.mu.Lock()
		memberID, epoch := m.id, m.epoch
		m.mu.Unlock()
		if epoch <= 0 {
			memberID, epoch = "", -1
		}
		err := m.con.commitAs(ctx, m.cfg.id, memberID, epoch, offsets)
		if attempt > 0 || !errors.Is(err, ErrIllegalGeneration) && !errors.Is(err, ErrStaleMemberEpoch) {
			return err
		}
		m.mu.Lock()
		moved := m.epoch != epoch && m.epoch > 0
		still := make(map[TopicPartition]int64, len(offsets))
		for tp, o := range offsets {
			if _, revoking := m.revoking[tp]; revoking || slices.Contains(m.owned, tp) {
				still[tp] = o
			}
		}
		m.mu.Unlock()
		if !moved || len(still) == 0 {
			return err
		}
		offsets = still
	}
}

// fetchCommitted reads the group's committed offsets of tps, retrying
// retriable failures until ctx ends.
func (m *groupMember) fetchCommitted(ctx context.Context, tps []TopicPartition) (map[TopicPartition]int64, error) {
	for attempt := 0; ; attempt++ {
		out, err := m.con.committedOf(ctx, m.cfg.id, tps)
		if err == nil || !IsRetriable(err) {
			return out, err
		}
		if serr := m.con.c.sleep(ctx, attempt); serr != nil {
			return nil, err
		}
	}
}

// groupRemove stops reading partitions and returns their positions (the
// known ones).
func (c *Consumer) groupRemove(tps []TopicPartition) map[TopicPartition]int64 {
	c.mu.Lock()
	positions := make(map[TopicPartition]int64)
	keep := make([]TopicPartition, 0, len(c.parts))
	for tp, cur := range c.parts {
		if slices.Contains(tps, tp) {
			if cur.pos >= 0 {
				positions[tp] = cur.pos
			}
			continue
		}
		keep = append(keep, tp)
	}
	c.setAssignment(keep)
	c.signalSpaceLocked()
	c.mu.Unlock()
	c.wakeup()
	return positions
}

// groupAdd starts reading partitions, at their committed offsets where
// there are.
func (c *Consumer) groupAdd(tps []TopicPartition, committed map[TopicPartition]int64) {
	c.mu.Lock()
	all := make([]TopicPartition, 0, len(c.parts)+len(tps))
	for tp := range c.parts {
		all = append(all, tp)
	}
	all = append(all, tps...)
	c.setAssignment(all)
	for _, tp := range tps {
		if o, ok := committed[tp]; ok && o >= 0 {
			cur := c.parts[tp]
			cur.pos, cur.fetchPos, cur.seekTo = o, o, 0
		}
	}
	c.mu.Unlock()
	c.meta.want(topicsOf(tps)...)
	c.wakeup()
}

// positionsOf returns the known positions of tps.
func (c *Consumer) positionsOf(tps []TopicPartition) map[TopicPartition]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[TopicPartition]int64, len(tps))
	for _, tp := range tps {
		if cur := c.parts[tp]; cur != nil && cur.pos >= 0 {
			out[tp] = cur.pos
		}
	}
	return out
}
