package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc"

	"github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/rpc"
)

// errGroupsNeedBrokers refuses the group calls of an admin client that
// only knows controllers: groups live on brokers.
var errGroupsNeedBrokers = errors.New("consumer groups live on brokers: use BootstrapServers, not BootstrapControllers")

// GroupListing is one group of ListGroups.
type GroupListing struct {
	GroupID string
	// State is Empty, Reconciling or Stable.
	State string
	// Type is "consumer".
	Type string
}

// GroupMemberDescription is one member of a described group.
type GroupMemberDescription struct {
	MemberID string
	ClientID string
	// Host is the member's address as the coordinator sees it
	// ("/127.0.0.1", as Kafka prints it).
	Host   string
	Epoch  int32
	Topics []string
	// Assignment is what the member may read now; TargetAssignment what
	// the assignor gave it; PendingRevocation what it is giving up.
	Assignment        []TopicPartition
	TargetAssignment  []TopicPartition
	PendingRevocation []TopicPartition
}

// GroupDescription is one group of DescribeGroups.
type GroupDescription struct {
	GroupID string
	// State is Empty, Reconciling, Stable, or Dead for a group that does
	// not exist (Err is then GROUP_ID_NOT_FOUND).
	State           string
	Epoch           int32
	AssignmentEpoch int32
	Assignor        string
	// Coordinator is the id of the broker that coordinates the group.
	Coordinator int32
	Members     []GroupMemberDescription
	Err         error
}

func (r GroupDescription) describe() string { return "group " + r.GroupID }
func (r GroupDescription) failure() error   { return r.Err }

func (a *Admin) groupCoordinators() (*coordinators, error) {
	if len(a.c.cfg.controllers) > 0 {
		return nil, errGroupsNeedBrokers
	}
	return newCoordinators(a.c), nil
}

// ListGroups lists the groups of the cluster: it asks every broker for the
// groups it coordinates (as Kafka's admin client does).
func (a *Admin) ListGroups(ctx context.Context) ([]GroupListing, error) {
	if len(a.c.cfg.controllers) > 0 {
		return nil, fmt.Errorf("client: ListGroups: %w", errGroupsNeedBrokers)
	}
	meta := newBrokerMeta(a.c, false)
	if err := meta.refresh(ctx, 0); err != nil {
		return nil, fmt.Errorf("client: ListGroups: %w", err)
	}
	meta.mu.Lock()
	brokers := make(map[int32]string, len(meta.brokers))
	for id, addr := range meta.brokers {
		brokers[id] = addr
	}
	meta.mu.Unlock()
	var out []GroupListing
	for _, id := range slices.Sorted(mapKeys(brokers)) {
		addr := brokers[id]
		var resp *stratav1.ListGroupsResponse
		var err error
		for attempt := 0; ; attempt++ {
			err = a.c.attempt(ctx, addr, func(ctx context.Context, cc grpc.ClientConnInterface) (err error) {
				resp, err = stratav1.NewGroupServiceClient(cc).ListGroups(ctx, &stratav1.ListGroupsRequest{})
				return err
			})
			if err == nil || attempt >= a.c.cfg.retries || !IsRetriable(errOf(err)) {
				break
			}
			if serr := a.c.sleep(ctx, attempt); serr != nil {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("client: ListGroups: broker %d at %s: %w", id, addr, errOf(err))
		}
		for _, g := range resp.GetGroups() {
			out = append(out, GroupListing{GroupID: g.GetGroupId(), State: g.GetState(), Type: g.GetGroupType()})
		}
	}
	slices.SortFunc(out, func(x, y GroupListing) int { return strings.Compare(x.GroupID, y.GroupID) })
	return out, nil
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// DescribeGroups describes groups on their coordinators: state, epochs and
// members with their assignments. A group that does not exist has state
// Dead and Err GROUP_ID_NOT_FOUND.
func (a *Admin) DescribeGroups(ctx context.Context, ids ...string) (Results[GroupDescription], error) {
	k, err := a.groupCoordinators()
	if err != nil {
		return nil, fmt.Errorf("client: DescribeGroups: %w", err)
	}
	out := make(Results[GroupDescription], 0, len(ids))
	for _, id := range ids {
		var d *stratav1.DescribedGroup
		var coordinator string
		err := k.call(ctx, id, "DescribeGroups", func(ctx context.Context, gc stratav1.GroupServiceClient) error {
			resp, err := gc.DescribeGroups(ctx, &stratav1.DescribeGroupsRequest{GroupIds: []string{id}})
			if err != nil {
				return err
			}
			if len(resp.GetGroups()) != 1 {
				return rpc.New(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_SERVER_ERROR, "the coordinator's answer lacks the group")
			}
			d = resp.GetGroups()[0]
			if coordinatorMoved(d.GetErrorCode()) {
				return rpc.New(d.GetErrorCode(), d.GetErrorMessage())
			}
			coordinator, _ = k.find(ctx, id)
			return nil
		})
		if err != nil {
			if e := CodeOf(err); e == stratav1.ErrorCode_ERROR_CODE_INVALID_GROUP_ID {
				out = append(out, GroupDescription{GroupID: id, State: "Dead", Err: errOf(err)})
				continue
			}
			return nil, err
		}
		out = append(out, groupDescription(d, a.coordinatorID(ctx, coordinator)))
	}
	return out, nil
}

// coordinatorID is the broker id of the broker at addr, -1 when unknown.
func (a *Admin) coordinatorID(ctx context.Context, addr string) int32 {
	meta := newBrokerMeta(a.c, false)
	if meta.refresh(ctx, 0) != nil {
		return -1
	}
	meta.mu.Lock()
	defer meta.mu.Unlock()
	for id, b := range meta.brokers {
		if b == addr {
			return id
		}
	}
	return -1
}

func groupDescription(d *stratav1.DescribedGroup, coordinator int32) GroupDescription {
	out := GroupDescription{
		GroupID: d.GetGroupId(), State: d.GetState(), Epoch: d.GetGroupEpoch(), AssignmentEpoch: d.GetAssignmentEpoch(),
		Assignor: d.GetAssignorName(), Coordinator: coordinator, Err: resultError(d.GetErrorCode(), d.GetErrorMessage()),
	}
	for _, m := range d.GetMembers() {
		out.Members = append(out.Members, GroupMemberDescription{
			MemberID: m.GetMemberId(), ClientID: m.GetClientId(), Host: m.GetClientHost(), Epoch: m.GetMemberEpoch(),
			Topics: m.GetSubscribedTopicNames(), Assignment: flattenPartitions(m.GetAssignment()),
			TargetAssignment: flattenPartitions(m.GetTargetAssignment()), PendingRevocation: flattenPartitions(m.GetPendingRevocation()),
		})
	}
	return out
}

// ListGroupOffsets returns a group's committed offsets: every partition
// with one (an unknown group has none).
func (a *Admin) ListGroupOffsets(ctx context.Context, group string) (map[TopicPartition]CommittedOffset, error) {
	k, err := a.groupCoordinators()
	if err != nil {
		return nil, fmt.Errorf("client: ListGroupOffsets: %w", err)
	}
	return fetchOffsets(ctx, k, group, nil)
}

// AlterGroupOffsets sets a group's committed offsets (as
// kafka-consumer-groups --reset-offsets): the coordinator takes them only
// while the group has no members (UNKNOWN_MEMBER_ID otherwise).
func (a *Admin) AlterGroupOffsets(ctx context.Context, group string, offsets map[TopicPartition]int64) error {
	k, err := a.groupCoordinators()
	if err != nil {
		return fmt.Errorf("client: AlterGroupOffsets: %w", err)
	}
	for tp, o := range offsets {
		if tp.Topic == "" || tp.Partition < 0 || o < 0 {
			return fmt.Errorf("client: AlterGroupOffsets: invalid offset %d for partition %s", o, tp)
		}
	}
	return commitOffsets(ctx, k, group, "", -1, offsets)
}

// ListOffsets finds an offset of each partition on its leader: spec is
// OffsetEarliest (the log start offset) or OffsetLatest (the high
// watermark, Kafka's log end offset for consumers).
func (a *Admin) ListOffsets(ctx context.Context, spec int64, tps ...TopicPartition) (map[TopicPartition]int64, error) {
	if spec != OffsetEarliest && spec != OffsetLatest {
		return nil, fmt.Errorf("client: ListOffsets: spec %d: use OffsetEarliest or OffsetLatest", spec)
	}
	if len(a.c.cfg.controllers) > 0 {
		return nil, errors.New("client: ListOffsets: offsets live on brokers: use BootstrapServers, not BootstrapControllers")
	}
	meta := newBrokerMeta(a.c, false)
	out := make(map[TopicPartition]int64, len(tps))
	left := slices.Clone(tps)
	var last error
	for attempt := 0; len(left) > 0; attempt++ {
		if attempt > 0 {
			if attempt > a.c.cfg.retries {
				return nil, fmt.Errorf("client: ListOffsets: %w", last)
			}
			if err := a.c.sleep(ctx, attempt-1); err != nil {
				return nil, fmt.Errorf("client: ListOffsets: %w (last error: %w)", err, last)
			}
		}
		_, gen := meta.topic("")
		if err := meta.refresh(ctx, gen, topicsOf(left)...); err != nil {
			return nil, fmt.Errorf("client: ListOffsets: %w", err)
		}
		byLeader := make(map[int32][]TopicPartition)
		var retry []TopicPartition
		for _, tp := range left {
			if ti, _ := meta.topic(tp.Topic); ti != nil && ti.err != nil && !IsRetriable(ti.err) {
				return nil, fmt.Errorf("client: ListOffsets: topic %s: %w", tp.Topic, ti.err)
			}
			leader, _, _, ok := meta.leader(tp.Topic, tp.Partition)
			if !ok {
				retry = append(retry, tp)
				last = fmt.Errorf("partition %s: %w", tp, newError(stratav1.ErrorCode_ERROR_CODE_LEADER_NOT_AVAILABLE, "no leader known"))
				continue
			}
			byLeader[leader] = append(byLeader[leader], tp)
		}
		for leader, group := range byLeader {
			addr, _ := meta.brokerAddr(leader)
			req := &stratav1.ListOffsetsRequest{IsolationLevel: stratav1.IsolationLevel_ISOLATION_LEVEL_READ_UNCOMMITTED}
			for _, tp := range group {
				req.Topics = append(req.Topics, &stratav1.ListOffsetsTopic{Name: tp.Topic, Partitions: []*stratav1.ListOffsetsPartition{
					{PartitionId: tp.Partition, Timestamp: spec, CurrentLeaderEpoch: -1},
				}})
			}
			var resp *stratav1.ListOffsetsResponse
			err := a.c.attempt(ctx, addr, func(ctx context.Context, cc grpc.ClientConnInterface) (err error) {
				resp, err = stratav1.NewBrokerServiceClient(cc).ListOffsets(ctx, req)
				return err
			})
			if err != nil {
				retry, last = append(retry, group...), errOf(err)
				continue
			}
			for _, t := range resp.GetTopics() {
				for _, p := range t.GetPartitions() {
					tp := TopicPartition{t.GetName(), p.GetPartitionId()}
					switch e := resultError(p.GetErrorCode(), p.GetErrorMessage()); {
					case e == nil:
						out[tp] = p.GetOffset()
					case IsRetriable(e):
						retry, last = append(retry, tp), fmt.Errorf("partition %s: %w", tp, e)
					default:
						return nil, fmt.Errorf("client: ListOffsets: %w", &PartitionError{TopicPartition: tp, Err: e})
					}
				}
			}
		}
		left = retry
	}
	return out, nil
}
