package broker

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/recordbatch"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/services/broker/broker/internal/groups"
)

// groupService serves GroupService: coordinator discovery on any broker,
// and the group calls on their coordinator (see coordinator.go).
type groupService struct {
	stratav1.UnimplementedGroupServiceServer
	s *Server
}

// groupError maps the errors of package groups to their codes.
func groupError(err error) *rpc.Error {
	code := stratav1.ErrorCode_ERROR_CODE_UNKNOWN_SERVER_ERROR
	switch {
	case errors.Is(err, groups.ErrUnknownMember):
		code = stratav1.ErrorCode_ERROR_CODE_UNKNOWN_MEMBER_ID
	case errors.Is(err, groups.ErrFencedEpoch):
		code = stratav1.ErrorCode_ERROR_CODE_FENCED_MEMBER_EPOCH
	case errors.Is(err, groups.ErrIllegalGeneration):
		code = stratav1.ErrorCode_ERROR_CODE_ILLEGAL_GENERATION
	case errors.Is(err, groups.ErrGroupNotFound):
		code = stratav1.ErrorCode_ERROR_CODE_GROUP_ID_NOT_FOUND
	}
	return rpc.New(code, err.Error())
}

func (g *groupService) FindCoordinator(ctx context.Context, req *stratav1.FindCoordinatorRequest) (*stratav1.FindCoordinatorResponse, error) {
	resp := &stratav1.FindCoordinatorResponse{}
	for _, id := range req.GetGroupIds() {
		resp.Coordinators = append(resp.Coordinators, g.s.groups.findCoordinator(ctx, id))
	}
	return resp, nil
}

// OffsetCommit checks the member and its epoch (the whole request fails
// with UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION or GROUP_ID_NOT_FOUND, and
// nothing is written), then each partition (OFFSET_METADATA_TOO_LARGE,
// a negative offset: INVALID_REQUEST), appends the others' offsets and
// answers once they are committed.
func (g *groupService) OffsetCommit(ctx context.Context, req *stratav1.OffsetCommitRequest) (*stratav1.OffsetCommitResponse, error) {
	c := g.s.groups
	sh, e := c.shardFor(req.GetGroupId())
	if e != nil {
		return nil, e
	}
	group := req.GetGroupId()
	resp := &stratav1.OffsetCommitResponse{}
	var tps []groups.TP
	for _, t := range req.GetTopics() {
		for _, p := range t.GetPartitions() {
			tps = append(tps, groups.TP{Topic: t.GetName(), Partition: p.GetPartitionId()})
		}
	}
	now := time.Now()
	sh.mu.Lock()
	if sh.dropped {
		sh.mu.Unlock()
		return nil, sh.notCoordinator()
	}
	if gr := sh.st.Groups[group]; gr != nil {
		if err := gr.ValidateCommit(req.GetMemberId(), req.GetMemberEpoch(), tps); err != nil {
			sh.mu.Unlock()
			return nil, groupError(err)
		}
	} else if req.GetMemberEpoch() >= 0 {
		sh.mu.Unlock()
		return nil, rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_GROUP_ID_NOT_FOUND,
			"group %s does not exist: join it first, or commit with member epoch -1 and no member id", group)
	}
	offsets := make(map[groups.TP]groups.Offset)
	var recs []recordbatch.Record
	for _, t := range req.GetTopics() {
		tr := &stratav1.OffsetCommitTopicResult{Name: t.GetName()}
		resp.Topics = append(resp.Topics, tr)
		for _, p := range t.GetPartitions() {
			pr := &stratav1.OffsetCommitPartitionResult{PartitionId: p.GetPartitionId()}
			tr.Partitions = append(tr.Partitions, pr)
			switch {
			case len(p.GetMetadata()) > c.cfg.OffsetMetadataMaxBytes:
				pr.ErrorCode = stratav1.ErrorCode_ERROR_CODE_OFFSET_METADATA_TOO_LARGE
				pr.ErrorMessage = "The metadata field of the offset request was too large: " +
					strconv.Itoa(len(p.GetMetadata())) + " bytes, the limit is " + strconv.Itoa(c.cfg.OffsetMetadataMaxBytes)
				continue
			case p.GetCommittedOffset() < 0 || p.GetPartitionId() < 0 || t.GetName() == "":
				pr.ErrorCode = stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST
				pr.ErrorMessage = "a committed offset needs a topic, a partition and an offset of at least 0"
				continue
			}
			tp := groups.TP{Topic: t.GetName(), Partition: p.GetPartitionId()}
			o := groups.Offset{Offset: p.GetCommittedOffset(), LeaderEpoch: p.GetCommittedLeaderEpoch(), Metadata: p.GetMetadata(), CommitTime: now}
			offsets[tp] = o
			recs = append(recs, recordbatch.Record{Key: groups.OffsetKey(group, tp), Value: groups.EncodeOffset(o)})
		}
	}
	if len(recs) == 0 {
		sh.mu.Unlock()
		return resp, nil
	}
	end, e := sh.appendLocked(recs, false)
	if e != nil {
		sh.mu.Unlock()
		return nil, e
	}
	sh.pending = append(sh.pending, pendingCommit{end: end, group: group, offsets: offsets})
	sh.mu.Unlock()
	if e := sh.await(ctx, end); e != nil {
		return nil, e
	}
	sh.mu.Lock()
	if !sh.dropped {
		sh.applyCommittedLocked()
	}
	sh.mu.Unlock()
	return resp, nil
}

// OffsetFetch answers the committed offsets asked for (-1 for a partition
// without one), or every committed offset of the group. An unknown group
// has none.
func (g *groupService) OffsetFetch(_ context.Context, req *stratav1.OffsetFetchRequest) (*stratav1.OffsetFetchResponse, error) {
	sh, e := g.s.groups.shardFor(req.GetGroupId())
	if e != nil {
		return nil, e
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.dropped {
		return nil, sh.notCoordinator()
	}
	sh.applyCommittedLocked()
	committed := sh.st.Offsets[req.GetGroupId()]
	resp := &stratav1.OffsetFetchResponse{}
	result := func(tp groups.TP) *stratav1.OffsetFetchPartition {
		o, ok := committed[tp]
		if !ok {
			return &stratav1.OffsetFetchPartition{PartitionId: tp.Partition, CommittedOffset: -1, CommittedLeaderEpoch: -1}
		}
		return &stratav1.OffsetFetchPartition{PartitionId: tp.Partition, CommittedOffset: o.Offset, CommittedLeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata}
	}
	if len(req.GetTopics()) == 0 {
		all := make([]groups.TP, 0, len(committed))
		for tp := range committed {
			all = append(all, tp)
		}
		for _, tp := range groups.SortTPs(all) {
			if n := len(resp.Topics); n == 0 || resp.Topics[n-1].GetName() != tp.Topic {
				resp.Topics = append(resp.Topics, &stratav1.OffsetFetchTopicResult{Name: tp.Topic})
			}
			last := resp.Topics[len(resp.Topics)-1]
			last.Partitions = append(last.Partitions, result(tp))
		}
		return resp, nil
	}
	for _, t := range req.GetTopics() {
		tr := &stratav1.OffsetFetchTopicResult{Name: t.GetName()}
		for _, p := range t.GetPartitions() {
			tr.Partitions = append(tr.Partitions, result(groups.TP{Topic: t.GetName(), Partition: p}))
		}
		resp.Topics = append(resp.Topics, tr)
	}
	return resp, nil
}

// ListGroups lists the groups of the partitions this broker coordinates;
// COORDINATOR_LOAD_IN_PROGRESS while one of them loads (the answer would
// miss its groups).
func (g *groupService) ListGroups(_ context.Context, req *stratav1.ListGroupsRequest) (*stratav1.ListGroupsResponse, error) {
	c := g.s.groups
	c.mu.Lock()
	shards := make([]*shard, 0, len(c.shards))
	for _, sh := range c.shards {
		shards = append(shards, sh)
	}
	c.mu.Unlock()
	resp := &stratav1.ListGroupsResponse{}
	for _, sh := range shards {
		if !sh.isLoaded() {
			return nil, rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_COORDINATOR_LOAD_IN_PROGRESS,
				"broker %d is loading the groups of __consumer_offsets-%d", g.s.cfg.NodeID, sh.id)
		}
		sh.mu.Lock()
		if !sh.dropped {
			for _, id := range sh.st.GroupIDs() {
				state := sh.st.GroupState(id)
				if len(req.GetStatesFilter()) > 0 && !slices.Contains(req.GetStatesFilter(), state) {
					continue
				}
				resp.Groups = append(resp.Groups, &stratav1.ListedGroup{GroupId: id, State: state, GroupType: "consumer"})
			}
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(resp.Groups, func(a, b *stratav1.ListedGroup) int {
		switch {
		case a.GetGroupId() < b.GetGroupId():
			return -1
		case a.GetGroupId() > b.GetGroupId():
			return 1
		}
		return 0
	})
	return resp, nil
}

// DescribeGroups describes each group; one this broker does not
// coordinate gets NOT_COORDINATOR, one that does not exist
// GROUP_ID_NOT_FOUND with state Dead.
func (g *groupService) DescribeGroups(_ context.Context, req *stratav1.DescribeGroupsRequest) (*stratav1.DescribeGroupsResponse, error) {
	resp := &stratav1.DescribeGroupsResponse{}
	for _, id := range req.GetGroupIds() {
		resp.Groups = append(resp.Groups, g.s.groups.describe(id))
	}
	return resp, nil
}

func (c *coordinator) describe(group string) *stratav1.DescribedGroup {
	out := &stratav1.DescribedGroup{GroupId: group, State: groups.StateDead}
	sh, e := c.shardFor(group)
	if e != nil {
		out.ErrorCode, out.ErrorMessage = e.Code, e.Message
		return out
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.dropped {
		e := sh.notCoordinator()
		out.ErrorCode, out.ErrorMessage = e.Code, e.Message
		return out
	}
	if !sh.st.Exists(group) {
		out.ErrorCode, out.ErrorMessage = stratav1.ErrorCode_ERROR_CODE_GROUP_ID_NOT_FOUND, "Group "+group+" not found."
		return out
	}
	out.State = sh.st.GroupState(group)
	gr := sh.st.Groups[group]
	if gr == nil {
		return out
	}
	out.GroupEpoch, out.AssignmentEpoch = gr.Epoch, gr.AssignmentEpoch
	for _, id := range gr.MemberIDs() {
		m := gr.Members[id]
		out.Members = append(out.Members, &stratav1.GroupMember{
			MemberId: m.ID, ClientId: m.ClientID, ClientHost: m.ClientHost, MemberEpoch: m.Epoch,
			SubscribedTopicNames: m.Topics, Assignment: groups.ToProto(m.Assigned),
			TargetAssignment: groups.ToProto(gr.Target[id]), PendingRevocation: groups.ToProto(m.Revoking),
			SessionTimeoutMs: int32(m.SessionTimeout.Milliseconds()),
		})
	}
	out.AssignorName = gr.AssignorName()
	return out
}
