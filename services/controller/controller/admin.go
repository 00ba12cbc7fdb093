package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/services/controller/controller/internal/fsm"
)

// adminService serves AdminService on every controller. Reads answer from
// the local image; writes go through the Raft log, which passes a
// standby's proposal to the active controller.
type adminService struct {
	stratav1.UnimplementedAdminServiceServer
	s *Server
}

func (a *adminService) CreateTopics(ctx context.Context, req *stratav1.CreateTopicsRequest) (*stratav1.CreateTopicsResponse, error) {
	cmd := &stratav1.CreateTopicsCommand{
		Topics:                   req.GetTopics(),
		DefaultPartitions:        a.s.cfg.DefaultPartitions,
		DefaultReplicationFactor: a.s.cfg.DefaultReplicationFactor,
		DefaultMinInsyncReplicas: a.s.cfg.MinInsyncReplicas,
	}
	for range req.GetTopics() {
		cmd.TopicIds = append(cmd.TopicIds, metadata.NewTopicID().Bytes())
	}
	res, err := a.s.write(ctx, &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_CreateTopics{CreateTopics: cmd}}, req.GetValidateOnly())
	if err != nil {
		return nil, err
	}
	if req.GetValidateOnly() {
		// Nothing was created: do not hand out ids of topics that do not exist.
		for _, t := range res.GetCreateTopics().GetTopics() {
			t.TopicId = nil
		}
	}
	return res.GetCreateTopics(), nil
}

func (a *adminService) DeleteTopics(ctx context.Context, req *stratav1.DeleteTopicsRequest) (*stratav1.DeleteTopicsResponse, error) {
	cmd := &stratav1.DeleteTopicsCommand{Names: req.GetNames()}
	img := a.s.readImage(ctx)
	for _, name := range req.GetNames() {
		var id []byte
		if t, ok := img.Topic(name); ok {
			id = t.ID.Bytes()
		}
		cmd.TopicIds = append(cmd.TopicIds, id)
	}
	res, err := a.s.write(ctx, &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_DeleteTopics{DeleteTopics: cmd}}, false)
	if err != nil {
		return nil, err
	}
	return res.GetDeleteTopics(), nil
}

func (a *adminService) CreatePartitions(ctx context.Context, req *stratav1.CreatePartitionsRequest) (*stratav1.CreatePartitionsResponse, error) {
	res, err := a.s.write(ctx, &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_CreatePartitions{
		CreatePartitions: &stratav1.CreatePartitionsCommand{Topics: req.GetTopics()},
	}}, req.GetValidateOnly())
	if err != nil {
		return nil, err
	}
	return res.GetCreatePartitions(), nil
}

func (a *adminService) IncrementalAlterConfigs(ctx context.Context, req *stratav1.IncrementalAlterConfigsRequest) (*stratav1.IncrementalAlterConfigsResponse, error) {
	res, err := a.s.write(ctx, &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_AlterConfigs{
		AlterConfigs: &stratav1.AlterConfigsCommand{Resources: req.GetResources()},
	}}, req.GetValidateOnly())
	if err != nil {
		return nil, err
	}
	return res.GetAlterConfigs(), nil
}

func (a *adminService) ElectLeaders(ctx context.Context, req *stratav1.ElectLeadersRequest) (*stratav1.ElectLeadersResponse, error) {
	res, err := a.s.write(ctx, &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_ElectLeaders{
		ElectLeaders: &stratav1.ElectLeadersCommand{ElectionType: req.GetElectionType(), Partitions: req.GetPartitions()},
	}}, false)
	if err != nil {
		return nil, err
	}
	return res.GetElectLeaders(), nil
}

// write proposes a command and waits until this controller's image has it, so
// a read that follows on the same controller sees it. validateOnly plans
// the command on the local image and commits nothing.
func (s *Server) write(ctx context.Context, cmd *stratav1.MetadataCommand, validateOnly bool) (*stratav1.CommandResult, error) {
	if validateOnly {
		_, res := fsm.Plan(s.Image(), cmd)
		if res.GetErrorCode() != stratav1.ErrorCode_ERROR_CODE_NONE {
			return nil, rpc.New(res.GetErrorCode(), res.GetErrorMessage())
		}
		return res, nil
	}
	pctx, cancel := context.WithTimeout(ctx, proposeTimeout)
	defer cancel()
	res, err := s.propose(pctx, cmd)
	if err != nil {
		return nil, err
	}
	s.waitFor(pctx, res.GetOffset())
	return res, nil
}

// readImage returns an image with every write committed before the call
// (a ReadIndex through the leader), so that a read on one controller sees a
// write acknowledged by another. Without a quorum it falls back to the
// local image, as a metadata cache would.
func (s *Server) readImage(ctx context.Context) *metadata.Image {
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if st, err := s.raft().Read(rctx); err == nil {
		return st.Image
	}
	return s.Image()
}

func (a *adminService) ListTopics(ctx context.Context, req *stratav1.ListTopicsRequest) (*stratav1.ListTopicsResponse, error) {
	resp := &stratav1.ListTopicsResponse{}
	for t := range a.s.readImage(ctx).Topics() {
		internal := metadata.IsInternalTopic(t.Name)
		if internal && !req.GetIncludeInternal() {
			continue
		}
		resp.Topics = append(resp.Topics, &stratav1.TopicListing{Name: t.Name, TopicId: t.ID.Bytes(), Internal: internal})
	}
	return resp, nil
}

func (a *adminService) DescribeTopics(ctx context.Context, req *stratav1.DescribeTopicsRequest) (*stratav1.DescribeTopicsResponse, error) {
	img := a.s.readImage(ctx)
	resp := &stratav1.DescribeTopicsResponse{}
	if len(req.GetNames()) == 0 {
		for t := range img.Topics() {
			if metadata.IsInternalTopic(t.Name) && !req.GetIncludeInternal() {
				continue
			}
			resp.Topics = append(resp.Topics, DescribeTopic(img, t))
		}
		return resp, nil
	}
	for _, name := range req.GetNames() {
		t, ok := img.Topic(name)
		if !ok {
			resp.Topics = append(resp.Topics, &stratav1.TopicDescription{Name: name,
				ErrorCode: stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION, ErrorMessage: "This server does not host this topic-partition."})
			continue
		}
		resp.Topics = append(resp.Topics, DescribeTopic(img, t))
	}
	return resp, nil
}

// DescribeTopic describes a topic from an image: partitions with leaders,
// replicas, ISR and offline replicas, and the configs set on it.
func DescribeTopic(img *metadata.Image, t *metadata.Topic) *stratav1.TopicDescription {
	d := &stratav1.TopicDescription{Name: t.Name, TopicId: t.ID.Bytes(), Internal: metadata.IsInternalTopic(t.Name)}
	for _, p := range t.Partitions {
		pd := &stratav1.PartitionDescription{
			PartitionId: p.ID, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
			Replicas: slices.Clone(p.Replicas), Isr: slices.Clone(p.ISR),
		}
		for _, r := range p.Replicas {
			if b, ok := img.Broker(r); !ok || b.Fenced {
				pd.OfflineReplicas = append(pd.OfflineReplicas, r)
			}
		}
		d.Partitions = append(d.Partitions, pd)
	}
	for _, k := range slices.Sorted(maps.Keys(t.Configs)) {
		d.Configs = append(d.Configs, &stratav1.ConfigEntry{Name: k, Value: t.Configs[k]})
	}
	return d
}

func (a *adminService) DescribeCluster(ctx context.Context, _ *stratav1.DescribeClusterRequest) (*stratav1.DescribeClusterResponse, error) {
	s := a.s
	img := s.readImage(ctx)
	active, _ := s.activeAddress()
	resp := &stratav1.DescribeClusterResponse{ClusterId: s.clusterID, ActiveControllerId: active, MetadataOffset: img.Offset()}
	for b := range img.Brokers() {
		resp.Brokers = append(resp.Brokers, &stratav1.BrokerDescription{
			BrokerId: b.ID, Address: b.Address, Rack: b.Rack, Fenced: b.Fenced,
			InControlledShutdown: b.InControlledShutdown, BrokerEpoch: b.Epoch,
		})
	}
	for c := range img.Controllers() {
		resp.Controllers = append(resp.Controllers, &stratav1.ControllerDescription{ControllerId: c.ID, Address: c.Address, RaftAddress: c.RaftAddress})
	}
	return resp, nil
}

// DescribeQuorum asks every voter for its position: the leader's applied
// index is the high watermark, and each voter's lag is how far behind it
// is. A voter that does not answer shows lag -1.
func (a *adminService) DescribeQuorum(ctx context.Context, _ *stratav1.DescribeQuorumRequest) (*stratav1.DescribeQuorumResponse, error) {
	s := a.s
	leaderID, term, ok := s.raft().Leader()
	if !ok {
		return nil, rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_NOT_CONTROLLER, "the quorum has no leader right now")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ids := slices.Sorted(maps.Keys(s.cfg.Voters))
	answers := make([]*stratav1.DescribeReplicaResponse, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = s.describeVoter(ctx, id)
		}()
	}
	wg.Wait()
	resp := &stratav1.DescribeQuorumResponse{LeaderId: int32(leaderID), LeaderEpoch: int64(term), MetadataOffset: s.Image().Offset()}
	// The high watermark is the leader's applied index; when the leader
	// does not answer, the highest index any voter applied (the committed
	// index is at least that).
	for i, id := range ids {
		if ans := answers[i]; ans != nil && (id == int32(leaderID) || resp.HighWatermark == 0) {
			resp.HighWatermark = max(resp.HighWatermark, ans.GetAppliedIndex())
		}
	}
	now := time.Now().UnixMilli()
	for i, id := range ids {
		r := &stratav1.QuorumReplica{ReplicaId: id, LogEndOffset: -1, Lag: -1, LastFetchTimestampMs: -1, LastCaughtUpTimestampMs: -1}
		if ans := answers[i]; ans != nil {
			r.LogEndOffset = ans.GetAppliedIndex()
			r.Lag = max(0, resp.HighWatermark-ans.GetAppliedIndex())
			r.LastFetchTimestampMs = now
		}
		r.LastCaughtUpTimestampMs = s.caughtUp.observe(id, r.Lag == 0, now)
		resp.CurrentVoters = append(resp.CurrentVoters, r)
	}
	return resp, nil
}

// caughtUpTimes remembers when this controller last saw each voter caught
// up, for DescribeQuorum's LastCaughtUpTimestamp.
type caughtUpTimes struct {
	mu   sync.Mutex
	last map[int32]int64
}

// observe records a voter's state at now and returns when it was last
// seen caught up (-1 for never).
func (c *caughtUpTimes) observe(id int32, caughtUp bool, now int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		c.last = make(map[int32]int64)
	}
	if caughtUp {
		c.last[id] = now
	}
	if t, ok := c.last[id]; ok {
		return t
	}
	return -1
}

func (s *Server) describeVoter(ctx context.Context, id int32) *stratav1.DescribeReplicaResponse {
	if id == s.cfg.NodeID {
		r, _ := (&controllerService{s: s}).DescribeReplica(ctx, nil)
		return r
	}
	c, ok := s.Image().Controller(id)
	if !ok || c.Address == "" {
		return nil
	}
	conn, err := s.peers.get(c.Address)
	if err != nil {
		return nil
	}
	r, err := stratav1.NewControllerServiceClient(conn).DescribeReplica(ctx, &stratav1.DescribeReplicaRequest{})
	if err != nil {
		return nil
	}
	return r
}

func (a *adminService) DescribeConfigs(ctx context.Context, req *stratav1.DescribeConfigsRequest) (*stratav1.DescribeConfigsResponse, error) {
	img := a.s.readImage(ctx)
	resp := &stratav1.DescribeConfigsResponse{}
	want := func(name string) bool { return len(req.GetNames()) == 0 || slices.Contains(req.GetNames(), name) }
	for _, res := range req.GetResources() {
		r := &stratav1.DescribeConfigsResult{Resource: res}
		resp.Results = append(resp.Results, r)
		switch res.GetType() {
		case stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_TOPIC:
			t, ok := img.Topic(res.GetName())
			if !ok {
				r.ErrorCode, r.ErrorMessage = stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION, "This server does not host this topic-partition."
				continue
			}
			defaults := img.BrokerConfigs("")
			for _, def := range metadata.TopicConfigDefs() {
				if !want(def.Name) {
					continue
				}
				c := &stratav1.DescribedConfig{Name: def.Name, Value: def.Default, Source: stratav1.ConfigSource_CONFIG_SOURCE_DEFAULT_CONFIG, Documentation: def.Doc}
				if v, ok := t.Configs[def.Name]; ok {
					c.Value, c.Source = v, stratav1.ConfigSource_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG
				} else if v, ok := firstSet(defaults, def.BrokerSynonyms()); ok {
					c.Value, c.Source = v, stratav1.ConfigSource_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG
				} else if def.Name == "min.insync.replicas" {
					c.Value, c.Source = strconv.Itoa(int(a.s.cfg.MinInsyncReplicas)), stratav1.ConfigSource_CONFIG_SOURCE_STATIC_BROKER_CONFIG
				}
				r.Configs = append(r.Configs, c)
			}
		case stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_BROKER:
			configs := img.BrokerConfigs(res.GetName())
			source := stratav1.ConfigSource_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG
			if res.GetName() == "" {
				source = stratav1.ConfigSource_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG
			}
			for _, k := range slices.Sorted(maps.Keys(configs)) {
				if want(k) {
					r.Configs = append(r.Configs, &stratav1.DescribedConfig{Name: k, Value: configs[k], Source: source})
				}
			}
		default:
			r.ErrorCode, r.ErrorMessage = stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, fmt.Sprintf("unsupported config resource type %v", res.GetType())
		}
	}
	return resp, nil
}

// firstSet returns the value of the first name set in m.
func firstSet(m map[string]string, names []string) (string, bool) {
	for _, n := range names {
		if v, ok := m[n]; ok {
			return v, true
		}
	}
	return "", false
}
