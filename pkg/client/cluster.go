package client

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/strata-log/strata/pkg/api/stratav1"
)

// Cluster describes the cluster: its id, brokers and controllers.
type Cluster struct {
	ID string
	// ActiveControllerID is the active controller's id, or -1 when there
	// is none right now (an election is in progress).
	ActiveControllerID int32
	// Brokers and Controllers are in id order.
	Brokers     []Broker
	Controllers []Controller
	// MetadataOffset is the metadata offset the answer reflects.
	MetadataOffset int64
}

// Broker is a registered broker.
type Broker struct {
	ID      int32
	Address string
	// Rack is empty when the broker has none.
	Rack string
	// Fenced brokers lead no partition and are in no ISR.
	Fenced               bool
	InControlledShutdown bool
	Epoch                int64
}

// Controller is a member of the controller quorum.
type Controller struct {
	ID          int32
	Address     string
	RaftAddress string
}

// ActiveController returns the active controller, when there is one and its
// address is known.
func (c Cluster) ActiveController() (Controller, bool) {
	for _, ctl := range c.Controllers {
		if ctl.ID == c.ActiveControllerID {
			return ctl, true
		}
	}
	return Controller{}, false
}

// DescribeCluster describes the cluster as the answering server knows it.
func (a *Admin) DescribeCluster(ctx context.Context) (Cluster, error) {
	var resp *stratav1.DescribeClusterResponse
	err := a.call(ctx, "DescribeCluster", func(ctx context.Context, c stratav1.AdminServiceClient) (err error) {
		resp, err = c.DescribeCluster(ctx, &stratav1.DescribeClusterRequest{})
		return err
	})
	if err != nil {
		return Cluster{}, err
	}
	out := Cluster{ID: resp.GetClusterId(), ActiveControllerID: resp.GetActiveControllerId(), MetadataOffset: resp.GetMetadataOffset()}
	for _, b := range resp.GetBrokers() {
		out.Brokers = append(out.Brokers, Broker{
			ID: b.GetBrokerId(), Address: b.GetAddress(), Rack: b.GetRack(), Fenced: b.GetFenced(),
			InControlledShutdown: b.GetInControlledShutdown(), Epoch: b.GetBrokerEpoch(),
		})
	}
	for _, c := range resp.GetControllers() {
		out.Controllers = append(out.Controllers, Controller{ID: c.GetControllerId(), Address: c.GetAddress(), RaftAddress: c.GetRaftAddress()})
	}
	slices.SortFunc(out.Brokers, func(x, y Broker) int { return cmp.Compare(x.ID, y.ID) })
	slices.SortFunc(out.Controllers, func(x, y Controller) int { return cmp.Compare(x.ID, y.ID) })
	return out, nil
}

// Quorum describes the controllers' Raft quorum, as Kafka's
// DescribeMetadataQuorum.
type Quorum struct {
	LeaderID int32
	// LeaderEpoch is the Raft term of the leader.
	LeaderEpoch int64
	// HighWatermark is the committed Raft log index.
	HighWatermark int64
	// Voters and Observers are in id order.
	Voters    []QuorumReplica
	Observers []QuorumReplica
	// MetadataOffset is the metadata offset (records, not Raft entries)
	// committed so far.
	MetadataOffset int64
}

// QuorumReplica is one voter's or observer's replication state.
type QuorumReplica struct {
	ID int32
	// LogEndOffset is the last log index the leader knows the replica has,
	// or -1 when unknown.
	LogEndOffset int64
	// Lag is how far the replica is behind the high watermark, or -1 when
	// unknown.
	Lag int64
	// LastFetch and LastCaughtUp are the zero time when unknown.
	LastFetch    time.Time
	LastCaughtUp time.Time
}

// DescribeQuorum describes the controller quorum.
func (a *Admin) DescribeQuorum(ctx context.Context) (Quorum, error) {
	var resp *stratav1.DescribeQuorumResponse
	err := a.call(ctx, "DescribeQuorum", func(ctx context.Context, c stratav1.AdminServiceClient) (err error) {
		resp, err = c.DescribeQuorum(ctx, &stratav1.DescribeQuorumRequest{})
		return err
	})
	if err != nil {
		return Quorum{}, err
	}
	out := Quorum{
		LeaderID: resp.GetLeaderId(), LeaderEpoch: resp.GetLeaderEpoch(), HighWatermark: resp.GetHighWatermark(),
		MetadataOffset: resp.GetMetadataOffset(),
	}
	out.Voters = quorumReplicas(resp.GetCurrentVoters())
	out.Observers = quorumReplicas(resp.GetObservers())
	return out, nil
}

func quorumReplicas(rs []*stratav1.QuorumReplica) []QuorumReplica {
	var out []QuorumReplica
	for _, r := range rs {
		out = append(out, QuorumReplica{
			ID: r.GetReplicaId(), LogEndOffset: r.GetLogEndOffset(), Lag: r.GetLag(),
			LastFetch: fromMillis(r.GetLastFetchTimestampMs()), LastCaughtUp: fromMillis(r.GetLastCaughtUpTimestampMs()),
		})
	}
	slices.SortFunc(out, func(x, y QuorumReplica) int { return cmp.Compare(x.ID, y.ID) })
	return out
}

// fromMillis reads a protocol timestamp: -1 (or 0) is unknown.
func fromMillis(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// ElectionType says which leader an election looks for.
type ElectionType int

const (
	// PreferredElection moves leadership to the first replica when it is
	// in the ISR.
	PreferredElection ElectionType = iota + 1
	// UncleanElection elects any live replica, even one outside the ISR
	// (it may lose data).
	UncleanElection
)

// ElectionResult is one partition's outcome of ElectLeaders.
type ElectionResult struct {
	Topic     string
	Partition int32
	// Err is nil when a leader was elected, else an *Error
	// (ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE, ...).
	Err error
}

func (r ElectionResult) describe() string {
	return fmt.Sprintf("partition %s-%d", r.Topic, r.Partition)
}
func (r ElectionResult) failure() error { return r.Err }

// ElectLeaders runs leader elections on the given partitions (topic ->
// partition ids), or on every partition when partitions is empty. Named
// partitions each get a result; with an empty map only the partitions
// whose leader changed do (as in Kafka).
func (a *Admin) ElectLeaders(ctx context.Context, typ ElectionType, partitions map[string][]int32) (Results[ElectionResult], error) {
	const op = "ElectLeaders"
	req := &stratav1.ElectLeadersRequest{}
	switch typ {
	case PreferredElection:
		req.ElectionType = stratav1.ElectionType_ELECTION_TYPE_PREFERRED
	case UncleanElection:
		req.ElectionType = stratav1.ElectionType_ELECTION_TYPE_UNCLEAN
	default:
		return nil, fmt.Errorf("client: %s: unknown election type %d", op, typ)
	}
	for _, topic := range slices.Sorted(maps.Keys(partitions)) {
		if len(partitions[topic]) == 0 {
			return nil, fmt.Errorf("client: %s: topic %s: no partition ids", op, topic)
		}
		req.Partitions = append(req.Partitions, &stratav1.TopicPartitions{Topic: topic, Partitions: partitions[topic]})
	}
	var resp *stratav1.ElectLeadersResponse
	err := a.call(ctx, op, func(ctx context.Context, c stratav1.AdminServiceClient) (err error) {
		resp, err = c.ElectLeaders(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(Results[ElectionResult], 0, len(resp.GetResults()))
	for _, r := range resp.GetResults() {
		out = append(out, ElectionResult{Topic: r.GetTopic(), Partition: r.GetPartitionId(), Err: resultError(r.GetErrorCode(), r.GetErrorMessage())})
	}
	return out, nil
}
