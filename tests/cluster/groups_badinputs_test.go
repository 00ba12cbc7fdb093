package cluster

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/pkg/testutil"
)

// BAD_INPUTS rows about groups (44), and the heartbeat stream's refusals,
// through raw gRPC: each bad request gets its code, and neither the
// committed offsets nor __consumer_offsets change.

// rawMember is a member on a raw heartbeat stream.
type rawMember struct {
	t      testing.TB
	stream grpc.BidiStreamingClient[stratav1.ConsumerGroupHeartbeatRequest, stratav1.ConsumerGroupHeartbeatResponse]
	cancel context.CancelFunc
}

func openRaw(t testing.TB, gc stratav1.GroupServiceClient) *rawMember {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := gc.ConsumerGroupHeartbeat(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r := &rawMember{t: t, stream: stream, cancel: cancel}
	t.Cleanup(cancel)
	return r
}

// send sends a request and returns its answer, skipping heartbeat_now
// messages.
func (r *rawMember) send(req *stratav1.ConsumerGroupHeartbeatRequest) *stratav1.ConsumerGroupHeartbeatResponse {
	r.t.Helper()
	if err := r.stream.Send(req); err != nil {
		r.t.Fatal(err)
	}
	for {
		resp, err := r.stream.Recv()
		if err != nil {
			r.t.Fatal(err)
		}
		if !resp.GetHeartbeatNow() {
			return resp
		}
	}
}

func wantCode(t testing.TB, what string, err error, code stratav1.ErrorCode) *rpc.Error {
	t.Helper()
	e := rpc.FromError(err)
	if err == nil || e.Code != code {
		t.Fatalf("%s: got %v, want %s", what, err, rpc.CodeName(code))
	}
	return e
}

// offsetsLEO is the largest log end offset of each partition of
// __consumer_offsets across brokers 101 and 102: the leader's, which an
// append moves at once (a follower's may still be catching up).
func offsetsLEO(c *Cluster) map[int32]int64 {
	out := make(map[int32]int64)
	for _, id := range []int32{101, 102} {
		for p := int32(0); p < 6; p++ {
			if info, ok := c.RealBroker(id).Server().LogInfo(metadata.ConsumerOffsetsTopic, p); ok {
				out[p] = max(out[p], info.LogEndOffset)
			}
		}
	}
	return out
}

func commitReq(group, member string, epoch int32, offsets map[int32]int64) *stratav1.OffsetCommitRequest {
	t := &stratav1.OffsetCommitTopic{Name: "t"}
	for p := int32(0); p < 4; p++ {
		if o, ok := offsets[p]; ok {
			t.Partitions = append(t.Partitions, &stratav1.OffsetCommitPartition{PartitionId: p, CommittedOffset: o, CommittedLeaderEpoch: -1})
		}
	}
	return &stratav1.OffsetCommitRequest{GroupId: group, MemberId: member, MemberEpoch: epoch, Topics: []*stratav1.OffsetCommitTopic{t}}
}

func TestGroupBadInputs(t *testing.T) {
	c := startGroupCluster(t, 2)
	createTopics(t, c, 101, topicSpec{name: "t", partitions: 4, rf: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const group = "g"

	// FindCoordinator: an empty id, then the real one (it creates
	// __consumer_offsets).
	fc, err := c.groupClient(101).FindCoordinator(ctx, &stratav1.FindCoordinatorRequest{GroupIds: []string{"", group}})
	if err != nil {
		t.Fatal(err)
	}
	if e := fc.GetCoordinators()[0]; e.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_INVALID_GROUP_ID {
		t.Fatalf("empty group id: %v", e)
	}
	var coord int32
	testutil.WaitFor(t, 20*time.Second, func() error {
		fc, err := c.groupClient(101).FindCoordinator(ctx, &stratav1.FindCoordinatorRequest{GroupIds: []string{group}})
		if err != nil {
			return err
		}
		if co := fc.GetCoordinators()[0]; co.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE {
			return fmt.Errorf("%v %s", co.GetErrorCode(), co.GetErrorMessage())
		} else {
			coord = co.GetNodeId()
		}
		return nil
	})
	other := int32(101)
	if coord == 101 {
		other = 102
	}
	gc := c.groupClient(coord)
	// The coordinator has applied __consumer_offsets and loaded the
	// group's partition once it answers for the group.
	testutil.WaitFor(t, 20*time.Second, func() error {
		d, err := gc.DescribeGroups(ctx, &stratav1.DescribeGroupsRequest{GroupIds: []string{group}})
		if err != nil {
			return err
		}
		if code := d.GetGroups()[0].GetErrorCode(); code != stratav1.ErrorCode_ERROR_CODE_GROUP_ID_NOT_FOUND {
			return fmt.Errorf("describe: %v", code)
		}
		return nil
	})

	// The join's refusals: a session timeout out of bounds, an unknown
	// assignor, no topics; a heartbeat from nobody, or with a wrong epoch.
	r := openRaw(t, gc)
	for _, tc := range []struct {
		req  *stratav1.ConsumerGroupHeartbeatRequest
		code stratav1.ErrorCode
	}{
		{&stratav1.ConsumerGroupHeartbeatRequest{GroupId: group, MemberId: "m1", SubscribedTopicNames: []string{"t"}, SessionTimeoutMs: 50},
			stratav1.ErrorCode_ERROR_CODE_INVALID_SESSION_TIMEOUT},
		{&stratav1.ConsumerGroupHeartbeatRequest{GroupId: group, MemberId: "m1", SubscribedTopicNames: []string{"t"}, ServerAssignor: "sticky"},
			stratav1.ErrorCode_ERROR_CODE_UNSUPPORTED_ASSIGNOR},
		{&stratav1.ConsumerGroupHeartbeatRequest{GroupId: group, MemberId: "m1"}, stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST},
		{&stratav1.ConsumerGroupHeartbeatRequest{GroupId: group, MemberId: "nobody", MemberEpoch: 3}, stratav1.ErrorCode_ERROR_CODE_UNKNOWN_MEMBER_ID},
	} {
		if resp := r.send(tc.req); resp.GetErrorCode() != tc.code {
			t.Fatalf("%v: answered %v %s, want %s", tc.req, resp.GetErrorCode(), resp.GetErrorMessage(), rpc.CodeName(tc.code))
		}
	}
	joined := r.send(&stratav1.ConsumerGroupHeartbeatRequest{GroupId: group, MemberId: "m1", SubscribedTopicNames: []string{"t"}, SessionTimeoutMs: 5000})
	epoch := joined.GetMemberEpoch()
	if joined.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE || epoch <= 0 || len(joined.GetAssignment().GetPartitions()) != 1 ||
		len(joined.GetAssignment().GetPartitions()[0].GetPartitions()) != 4 {
		t.Fatalf("join: %v", joined)
	}
	if resp := r.send(&stratav1.ConsumerGroupHeartbeatRequest{GroupId: group, MemberId: "m1", MemberEpoch: epoch + 5}); resp.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_FENCED_MEMBER_EPOCH {
		t.Fatalf("a future epoch: %v", resp)
	}

	// A first commit, then every bad one; the state must stay as it was.
	good := map[int32]int64{0: 10, 1: 11, 2: 12, 3: 13}
	if _, err := gc.OffsetCommit(ctx, commitReq(group, "m1", epoch, good)); err != nil {
		t.Fatal(err)
	}
	fetch := func() map[int32]int64 {
		t.Helper()
		resp, err := gc.OffsetFetch(ctx, &stratav1.OffsetFetchRequest{GroupId: group})
		if err != nil {
			t.Fatal(err)
		}
		out := make(map[int32]int64)
		for _, tr := range resp.GetTopics() {
			for _, p := range tr.GetPartitions() {
				out[p.GetPartitionId()] = p.GetCommittedOffset()
			}
		}
		return out
	}
	if got := fetch(); !maps.Equal(got, good) {
		t.Fatalf("committed %v, want %v", got, good)
	}
	leo := offsetsLEO(c)
	unchanged := func(what string) {
		t.Helper()
		if got := fetch(); !maps.Equal(got, good) {
			t.Fatalf("%s changed the committed offsets: %v, want %v", what, got, good)
		}
		if got := offsetsLEO(c); !maps.Equal(got, leo) {
			t.Fatalf("%s appended to __consumer_offsets: %v, was %v", what, got, leo)
		}
	}
	bad := map[int32]int64{0: 99, 1: 99, 2: 99, 3: 99}

	_, err = c.groupClient(other).OffsetCommit(ctx, commitReq(group, "m1", epoch, bad))
	if e := wantCode(t, "a commit sent to a broker that is not the coordinator", err, stratav1.ErrorCode_ERROR_CODE_NOT_COORDINATOR); e.Leader.GetLeaderId() != coord {
		t.Fatalf("NOT_COORDINATOR names %v, want broker %d", e.Leader, coord)
	}
	unchanged("NOT_COORDINATOR")
	_, err = gc.OffsetCommit(ctx, commitReq("", "m1", epoch, bad))
	wantCode(t, "an empty group id", err, stratav1.ErrorCode_ERROR_CODE_INVALID_GROUP_ID)
	_, err = gc.OffsetCommit(ctx, commitReq(strings.Repeat("x", 2000), "", -1, bad))
	wantCode(t, "a 2000-byte group id", err, stratav1.ErrorCode_ERROR_CODE_INVALID_GROUP_ID)
	_, err = gc.OffsetCommit(ctx, commitReq(group, "m1", epoch-1, bad))
	wantCode(t, "a stale generation", err, stratav1.ErrorCode_ERROR_CODE_ILLEGAL_GENERATION)
	unchanged("ILLEGAL_GENERATION")
	_, err = gc.OffsetCommit(ctx, commitReq(group, "m1", epoch+1, bad))
	wantCode(t, "a future generation", err, stratav1.ErrorCode_ERROR_CODE_ILLEGAL_GENERATION)
	_, err = gc.OffsetCommit(ctx, commitReq(group, "stranger", epoch, bad))
	wantCode(t, "an unknown member", err, stratav1.ErrorCode_ERROR_CODE_UNKNOWN_MEMBER_ID)
	_, err = gc.OffsetCommit(ctx, commitReq(group, "", -1, bad))
	wantCode(t, "a tool's commit while the group has a member", err, stratav1.ErrorCode_ERROR_CODE_UNKNOWN_MEMBER_ID)
	unchanged("UNKNOWN_MEMBER_ID")

	// Oversized metadata fails that partition only.
	req := commitReq(group, "m1", epoch, map[int32]int64{0: 20, 1: 21})
	req.Topics[0].Partitions[1].Metadata = strings.Repeat("m", 5000)
	resp, err := gc.OffsetCommit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if ps := resp.GetTopics()[0].GetPartitions(); ps[0].GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE ||
		ps[1].GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_OFFSET_METADATA_TOO_LARGE {
		t.Fatalf("oversized metadata: %v", resp)
	}
	good[0] = 20
	leo = offsetsLEO(c)
	unchanged("OFFSET_METADATA_TOO_LARGE")

	// An unknown group with a member epoch; describing it.
	dr, err := c.groupClient(101).FindCoordinator(ctx, &stratav1.FindCoordinatorRequest{GroupIds: []string{"nope"}})
	if err != nil {
		t.Fatal(err)
	}
	nope := c.groupClient(dr.GetCoordinators()[0].GetNodeId())
	_, err = nope.OffsetCommit(ctx, commitReq("nope", "m9", 4, bad))
	wantCode(t, "a member commit to a group that does not exist", err, stratav1.ErrorCode_ERROR_CODE_GROUP_ID_NOT_FOUND)
	desc, err := nope.DescribeGroups(ctx, &stratav1.DescribeGroupsRequest{GroupIds: []string{"nope"}})
	if err != nil {
		t.Fatal(err)
	}
	if d := desc.GetGroups()[0]; d.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_GROUP_ID_NOT_FOUND || d.GetState() != "Dead" {
		t.Fatalf("describe an unknown group: %v", d)
	}
	unchanged("GROUP_ID_NOT_FOUND")

	// The member goes silent: after its session timeout it is fenced, and
	// its commit is refused without touching the offsets.
	r.cancel()
	testutil.WaitFor(t, 20*time.Second, func() error {
		d, err := gc.DescribeGroups(ctx, &stratav1.DescribeGroupsRequest{GroupIds: []string{group}})
		if err != nil {
			return err
		}
		if g := d.GetGroups()[0]; len(g.GetMembers()) != 0 || g.GetState() != "Empty" {
			return fmt.Errorf("members %v, state %s", g.GetMembers(), g.GetState())
		}
		return nil
	})
	leo = offsetsLEO(c)
	_, err = gc.OffsetCommit(ctx, commitReq(group, "m1", epoch, bad))
	wantCode(t, "a commit from a fenced member", err, stratav1.ErrorCode_ERROR_CODE_UNKNOWN_MEMBER_ID)
	unchanged("a fenced member's commit")

	// Internal topics: only a registered broker creates them, and only
	// them.
	cc := c.ControllerClient(c.WaitActive(10 * time.Second).ID)
	_, err = cc.CreateInternalTopics(ctx, &stratav1.CreateInternalTopicsRequest{BrokerId: 101, BrokerEpoch: c.RealBroker(101).Server().Epoch() + 9,
		Topics: []*stratav1.CreatableTopic{{Name: metadata.ConsumerOffsetsTopic, NumPartitions: 1, ReplicationFactor: 1}}})
	wantCode(t, "CreateInternalTopics with a stale broker epoch", err, stratav1.ErrorCode_ERROR_CODE_STALE_BROKER_EPOCH)
	_, err = cc.CreateInternalTopics(ctx, &stratav1.CreateInternalTopicsRequest{BrokerId: 101, BrokerEpoch: c.RealBroker(101).Server().Epoch(),
		Topics: []*stratav1.CreatableTopic{{Name: "ordinary", NumPartitions: 1, ReplicationFactor: 1}}})
	wantCode(t, "CreateInternalTopics of an ordinary topic", err, stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST)
	ir, err := cc.CreateInternalTopics(ctx, &stratav1.CreateInternalTopicsRequest{BrokerId: 101, BrokerEpoch: c.RealBroker(101).Server().Epoch(),
		Topics: []*stratav1.CreatableTopic{{Name: metadata.ConsumerOffsetsTopic, NumPartitions: 1, ReplicationFactor: 1}}})
	if err != nil || ir.GetTopics()[0].GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_TOPIC_ALREADY_EXISTS {
		t.Fatalf("creating __consumer_offsets again: %v %v", ir, err)
	}

	// Once the group is empty a tool may reset the offsets.
	good = map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0}
	if _, err := gc.OffsetCommit(ctx, commitReq(group, "", -1, good)); err != nil {
		t.Fatalf("a tool's commit to an empty group: %v", err)
	}
	if got := fetch(); !maps.Equal(got, good) {
		t.Fatalf("after the reset: %v", got)
	}
}
