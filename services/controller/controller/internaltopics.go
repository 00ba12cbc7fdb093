package controller

import (
	"context"
	"fmt"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/rpc"
)

// CreateInternalTopics creates internal topics (__consumer_offsets) for a
// broker: the CreateTopics command with allow_internal, which clients
// never get. The broker must be registered with the epoch it names, and
// every name must be an internal topic's.
func (c *controllerService) CreateInternalTopics(ctx context.Context, req *stratav1.CreateInternalTopicsRequest) (*stratav1.CreateInternalTopicsResponse, error) {
	s := c.s
	b, ok := s.Image().Broker(req.GetBrokerId())
	if !ok || b.Epoch != req.GetBrokerEpoch() {
		return nil, rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_STALE_BROKER_EPOCH,
			"broker %d epoch %d is not the registered one; register again", req.GetBrokerId(), req.GetBrokerEpoch())
	}
	for _, t := range req.GetTopics() {
		if !metadata.IsInternalTopic(t.GetName()) {
			return nil, rpc.New(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST,
				fmt.Sprintf("%s is not an internal topic: create it with CreateTopics", t.GetName()))
		}
	}
	cmd := &stratav1.CreateTopicsCommand{
		Topics:                   req.GetTopics(),
		AllowInternal:            true,
		DefaultPartitions:        s.cfg.DefaultPartitions,
		DefaultReplicationFactor: s.cfg.DefaultReplicationFactor,
		DefaultMinInsyncReplicas: s.cfg.MinInsyncReplicas,
	}
	for range req.GetTopics() {
		cmd.TopicIds = append(cmd.TopicIds, metadata.NewTopicID().Bytes())
	}
	res, err := s.write(ctx, &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_CreateTopics{CreateTopics: cmd}}, false)
	if err != nil {
		return nil, err
	}
	for _, t := range res.GetCreateTopics().GetTopics() {
		if t.GetErrorCode() == stratav1.ErrorCode_ERROR_CODE_NONE {
			s.log.Info("internal topic created", "topic", t.GetName(), "broker_id", req.GetBrokerId(),
				"partitions", t.GetNumPartitions(), "replication_factor", t.GetReplicationFactor())
		}
	}
	return &stratav1.CreateInternalTopicsResponse{Topics: res.GetCreateTopics().GetTopics()}, nil
}
