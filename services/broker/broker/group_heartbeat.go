package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/services/broker/broker/internal/groups"
)

// ConsumerGroupHeartbeat serves one member's session. A receiving
// goroutine (counted in coordinator.streams) passes the requests on; this
// one answers each in order, asks the member to heartbeat when the
// coordinator nudges its session, and ends the stream with NOT_COORDINATOR
// when the shard goes (the leadership moved) or another stream of the same
// member took over.
func (g *groupService) ConsumerGroupHeartbeat(stream grpc.BidiStreamingServer[stratav1.ConsumerGroupHeartbeatRequest, stratav1.ConsumerGroupHeartbeatResponse]) error {
	s := g.s
	c := s.groups
	ctx := stream.Context()
	reqs := make(chan *stratav1.ConsumerGroupHeartbeatRequest)
	var recvErr error // written before reqs is closed
	c.streams.Go(func() {
		defer close(reqs)
		for {
			req, err := stream.Recv()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					recvErr = err
				}
				return
			}
			select {
			case reqs <- req:
			case <-ctx.Done():
				return
			}
		}
	})
	sess := &session{host: clientHost(ctx), nudge: make(chan struct{}, 1), gone: make(chan struct{})}
	defer c.detach(sess)
	for {
		var shardGone <-chan struct{}
		if sess.sh != nil {
			shardGone = sess.sh.gone
		}
		select {
		case req, ok := <-reqs:
			if !ok {
				return recvErr
			}
			resp, stop := c.heartbeat(ctx, sess, req)
			if err := stream.Send(resp); err != nil {
				return err
			}
			if stop {
				return nil
			}
		case <-sess.nudge:
			if err := stream.Send(&stratav1.ConsumerGroupHeartbeatResponse{HeartbeatNow: true}); err != nil {
				return err
			}
		case <-shardGone:
			return endSession(stream, sess.sh.notCoordinator())
		case <-sess.gone:
			return endSession(stream, rpc.New(stratav1.ErrorCode_ERROR_CODE_NOT_COORDINATOR, "another heartbeat stream of this member took over"))
		case <-s.stopping:
			return errStopping
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// endSession sends e as the stream's last answer.
func endSession(stream grpc.BidiStreamingServer[stratav1.ConsumerGroupHeartbeatRequest, stratav1.ConsumerGroupHeartbeatResponse], e *rpc.Error) error {
	return stream.Send(&stratav1.ConsumerGroupHeartbeatResponse{ErrorCode: e.Code, ErrorMessage: e.Message})
}

// clientHost is the client's address as Kafka shows it: "/" and the IP.
func clientHost(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(p.Addr.String())
	if err != nil {
		host = p.Addr.String()
	}
	return "/" + host
}

// detach forgets a session that ended.
func (c *coordinator) detach(sess *session) {
	sh := sess.sh
	if sh == nil {
		return
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.sessions[sess.group][sess.member] == sess {
		delete(sh.sessions[sess.group], sess.member)
	}
}

// attachLocked makes sess the session of its member; a session it
// replaces ends.
func (sh *shard) attachLocked(sess *session) {
	m := sh.sessions[sess.group]
	if m == nil {
		m = make(map[string]*session)
		sh.sessions[sess.group] = m
	}
	if old := m[sess.member]; old != nil && old != sess {
		close(old.gone)
	}
	m[sess.member] = sess
}

// heartbeat answers one request of a session; stop ends the stream after
// the answer (the member must find its coordinator again).
func (c *coordinator) heartbeat(ctx context.Context, sess *session, req *stratav1.ConsumerGroupHeartbeatRequest) (*stratav1.ConsumerGroupHeartbeatResponse, bool) {
	fail := func(e *rpc.Error, stop bool) (*stratav1.ConsumerGroupHeartbeatResponse, bool) {
		return &stratav1.ConsumerGroupHeartbeatResponse{
			ErrorCode: e.Code, ErrorMessage: e.Message, MemberId: req.GetMemberId(), MemberEpoch: req.GetMemberEpoch(),
		}, stop
	}
	group, epoch := req.GetGroupId(), req.GetMemberEpoch()
	if sess.group != "" && (group != sess.group || req.GetMemberId() != sess.member) {
		return fail(rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST,
			"this stream is member %s of group %s; a stream carries one member", sess.member, sess.group), true)
	}
	sh, e := c.shardFor(group)
	if e != nil {
		return fail(e, true)
	}
	join, e := c.joinSpec(req, sess)
	if e != nil {
		return fail(e, false)
	}
	env := c.env(time.Now())

	sh.mu.Lock()
	if sh.dropped {
		sh.mu.Unlock()
		return fail(sh.notCoordinator(), true)
	}
	if sess.sh != sh {
		sess.sh, sess.sent = sh, false
	}
	g := sh.st.Groups[group]
	var m *groups.Member
	var res groups.Result
	var err error
	switch {
	case epoch == 0:
		if len(join.Topics) == 0 {
			sh.mu.Unlock()
			return fail(rpc.New(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "a member joins with the topics it subscribes to"), false)
		}
		if g == nil {
			g = groups.NewGroup(group)
			sh.st.Groups[group] = g
		}
		m, res = g.JoinGroup(join, env)
		c.log.Info("a member joined a group", "group", group, "member_id", m.ID, "client_id", m.ClientID, "host", m.ClientHost, "group_epoch", g.Epoch)
	case epoch == -1:
		if g != nil {
			if res, err = g.Leave(join.MemberID, env); err == nil {
				c.log.Info("a member left a group", "group", group, "member_id", join.MemberID, "group_epoch", g.Epoch)
			}
			err = nil // leaving twice is fine
		}
	case epoch > 0 && g == nil:
		err = fmt.Errorf("%w: group %s has no members", groups.ErrUnknownMember, group)
	case epoch > 0:
		m, res, err = g.Heartbeat(join, epoch, groups.FromProto(req.GetOwnedPartitions()), env)
	default:
		err = fmt.Errorf("member epoch %d: send 0 to join, -1 to leave, or the epoch the coordinator gave", epoch)
	}
	if err != nil {
		sh.mu.Unlock()
		if epoch < -1 {
			return fail(rpc.New(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, err.Error()), false)
		}
		return fail(groupError(err), false)
	}
	if res.Changed {
		if e := sh.writeGroupLocked(g); e != nil {
			sh.mu.Unlock()
			return fail(e, true)
		}
	}
	sh.nudgeLocked(group, res.Notify)
	resp := &stratav1.ConsumerGroupHeartbeatResponse{MemberId: join.MemberID, MemberEpoch: -1}
	var assigned []groups.TP
	if m != nil {
		sess.group, sess.member = group, m.ID
		sh.attachLocked(sess)
		resp.MemberId, resp.MemberEpoch = m.ID, m.Epoch
		resp.HeartbeatIntervalMs = int32(c.cfg.heartbeatInterval(m.SessionTimeout).Milliseconds())
		assigned = slices.Clone(m.Assigned)
		if !sess.sent || sess.sentEpoch != m.Epoch || !slices.Equal(sess.sentAssigned, assigned) {
			resp.Assignment = &stratav1.MemberAssignment{Partitions: groups.ToProto(assigned)}
		}
	} else if sh.sessions[group][join.MemberID] == sess {
		delete(sh.sessions[group], join.MemberID)
	}
	end := sh.written[group]
	sh.mu.Unlock()
	if end > 0 {
		if e := sh.await(ctx, end); e != nil {
			return fail(e, true)
		}
	}
	if m != nil {
		sess.sent, sess.sentEpoch, sess.sentAssigned = true, resp.GetMemberEpoch(), assigned
	}
	return resp, false
}

// joinSpec checks the member's settings and fills in the defaults.
func (c *coordinator) joinSpec(req *stratav1.ConsumerGroupHeartbeatRequest, sess *session) (groups.Join, *rpc.Error) {
	j := groups.Join{
		MemberID: req.GetMemberId(), ClientID: req.GetClientId(), ClientHost: sess.host,
		Assignor: req.GetServerAssignor(),
	}
	if j.MemberID == "" && req.GetMemberEpoch() == 0 {
		j.MemberID = metadata.NewTopicID().String()
	}
	if j.MemberID == "" {
		return j, rpc.New(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_MEMBER_ID, "a heartbeat names its member id")
	}
	if len(req.GetSubscribedTopicNames()) > 0 {
		j.Topics = req.GetSubscribedTopicNames()
		for _, t := range j.Topics {
			if e := topicNameError(t); e != nil {
				return j, e
			}
		}
	}
	if ms := req.GetSessionTimeoutMs(); ms != 0 {
		d := time.Duration(ms) * time.Millisecond
		if d < c.cfg.MinSessionTimeout || d > c.cfg.MaxSessionTimeout {
			return j, rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_INVALID_SESSION_TIMEOUT,
				"The session timeout %d ms is not within the range allowed by the broker [%d, %d] ms (group.min.session.timeout.ms and group.max.session.timeout.ms).",
				ms, c.cfg.MinSessionTimeout.Milliseconds(), c.cfg.MaxSessionTimeout.Milliseconds())
		}
		j.SessionTimeout = d
	} else if req.GetMemberEpoch() == 0 {
		j.SessionTimeout = c.cfg.SessionTimeout
	}
	switch ms := req.GetRebalanceTimeoutMs(); {
	case ms < 0:
		return j, rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "rebalance_timeout_ms %d is negative", ms)
	case ms > 0:
		j.RebalanceTimeout = time.Duration(ms) * time.Millisecond
	case req.GetMemberEpoch() == 0:
		j.RebalanceTimeout = c.cfg.RebalanceTimeout
	}
	if j.Assignor == "" && req.GetMemberEpoch() == 0 {
		j.Assignor = c.cfg.DefaultAssignor
	}
	if _, ok := groups.LookupAssignor(j.Assignor); !ok && j.Assignor != "" {
		return j, rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_UNSUPPORTED_ASSIGNOR,
			"assignor %q is not supported: use one of %v", j.Assignor, groups.AssignorNames())
	}
	return j, nil
}
