package broker

import (
	"context"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/rpc"
)

// Metadata answers what clients bootstrap from: the unfenced brokers, and
// for the requested topics (every topic when none is named; internal ones
// only with include_internal) their partitions' leaders, leader epochs,
// replicas, ISRs and offline replicas, from the applied image. A named topic
// that does not exist is UNKNOWN_TOPIC_OR_PARTITION, or is created first
// when the request allows it and the broker runs with AutoCreateTopics; an
// illegal name is INVALID_TOPIC_EXCEPTION.
func (b *brokerService) Metadata(ctx context.Context, req *stratav1.MetadataRequest) (*stratav1.MetadataResponse, error) {
	s := b.s
	img := s.appliedImage()
	var names []string // requested, without duplicates, in order
	seen := make(map[string]bool)
	for _, n := range req.GetTopics() {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	var createFails map[string]*rpc.Error
	if req.GetAllowAutoTopicCreation() && s.cfg.AutoCreateTopics {
		var missing []string
		for _, n := range names {
			if _, ok := img.Topic(n); !ok && topicNameError(n) == nil {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			createFails = s.autoCreate(ctx, missing)
			img = s.appliedImage()
		}
	}

	resp := &stratav1.MetadataResponse{ClusterId: s.clusterID, ControllerId: s.ActiveController(), MetadataOffset: img.Offset()}
	for br := range img.Brokers() {
		if !br.Fenced {
			resp.Brokers = append(resp.Brokers, &stratav1.BrokerEndpoint{BrokerId: br.ID, Address: br.Address, Rack: br.Rack})
		}
	}
	if len(req.GetTopics()) == 0 {
		for t := range img.Topics() {
			if !metadata.IsInternalTopic(t.Name) || req.GetIncludeInternal() {
				resp.Topics = append(resp.Topics, topicMetadata(img, t))
			}
		}
		return resp, nil
	}
	for _, n := range names {
		if e := topicNameError(n); e != nil {
			resp.Topics = append(resp.Topics, &stratav1.TopicMetadata{Name: n, ErrorCode: e.Code, ErrorMessage: e.Message})
			continue
		}
		t, ok := img.Topic(n)
		switch {
		case ok:
			resp.Topics = append(resp.Topics, topicMetadata(img, t))
		case createFails[n] != nil:
			e := createFails[n]
			resp.Topics = append(resp.Topics, &stratav1.TopicMetadata{Name: n, ErrorCode: e.Code, ErrorMessage: e.Message})
		default:
			resp.Topics = append(resp.Topics, &stratav1.TopicMetadata{
				Name: n, ErrorCode: stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION, ErrorMessage: msgUnknownTopicOrPartition,
			})
		}
	}
	return resp, nil
}

func topicMetadata(img *metadata.Image, t *metadata.Topic) *stratav1.TopicMetadata {
	tm := &stratav1.TopicMetadata{Name: t.Name, TopicId: t.ID.Bytes(), Internal: metadata.IsInternalTopic(t.Name)}
	for _, p := range t.Partitions {
		pm := &stratav1.PartitionMetadata{
			PartitionId: p.ID, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Replicas: p.Replicas, Isr: p.ISR,
		}
		if p.Leader == metadata.NoLeader {
			pm.ErrorCode, pm.ErrorMessage = stratav1.ErrorCode_ERROR_CODE_LEADER_NOT_AVAILABLE, msgLeaderNotAvailable
		}
		for _, r := range p.Replicas {
			if br, ok := img.Broker(r); !ok || br.Fenced {
				pm.OfflineReplicas = append(pm.OfflineReplicas, r)
			}
		}
		tm.Partitions = append(tm.Partitions, pm)
	}
	return tm
}
