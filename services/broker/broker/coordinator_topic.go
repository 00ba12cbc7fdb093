package broker

import (
	"context"
	"fmt"
	"math"
	"unicode/utf16"

	"google.golang.org/grpc"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/services/broker/broker/internal/groups"
)

// partitionFor is the partition of __consumer_offsets that holds a group,
// as Kafka computes it: abs(groupId.hashCode()) % partitions, with Java's
// String.hashCode over the UTF-16 code units and Kafka's abs (which maps
// the smallest int to 0). The same group lands on the same partition
// number as in Kafka.
func partitionFor(group string, partitions int) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(group)) {
		h = 31*h + int32(u)
	}
	switch {
	case h == math.MinInt32:
		h = 0
	case h < 0:
		h = -h
	}
	return h % int32(partitions)
}

// checkGroupID refuses an empty or oversized group id.
func checkGroupID(group string) *rpc.Error {
	switch {
	case group == "":
		return rpc.New(stratav1.ErrorCode_ERROR_CODE_INVALID_GROUP_ID, "the group id is empty")
	case len(group) > groups.MaxGroupIDLength:
		return rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_INVALID_GROUP_ID,
			"the group id is %d bytes long; the limit is %d", len(group), groups.MaxGroupIDLength)
	}
	return nil
}

// offsetsTopic returns __consumer_offsets from the applied image, creating
// it first when it does not exist (on the first FindCoordinator), and
// waiting until the applied image has it.
func (c *coordinator) offsetsTopic(ctx context.Context) (*metadata.Topic, *rpc.Error) {
	if t, ok := c.s.appliedImage().Topic(metadata.ConsumerOffsetsTopic); ok {
		return t, nil
	}
	c.createMu.Lock()
	defer c.createMu.Unlock()
	if t, ok := c.s.appliedImage().Topic(metadata.ConsumerOffsetsTopic); ok {
		return t, nil
	}
	ctx, cancel := context.WithTimeout(ctx, autoCreateTimeout)
	defer cancel()
	if e := c.createOffsetsTopic(ctx); e != nil {
		return nil, e
	}
	for {
		ch := c.s.appliedChanged()
		if t, ok := c.s.appliedImage().Topic(metadata.ConsumerOffsetsTopic); ok {
			return t, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, rpc.New(stratav1.ErrorCode_ERROR_CODE_COORDINATOR_NOT_AVAILABLE,
				"__consumer_offsets is being created; its metadata has not reached this broker yet")
		case <-c.s.stopping:
			return nil, rpc.New(stratav1.ErrorCode_ERROR_CODE_COORDINATOR_NOT_AVAILABLE, "the broker is shutting down")
		}
	}
}

// createOffsetsTopic asks the controllers to create __consumer_offsets with
// the configured partitions and a replication factor of
// OffsetsTopicReplicationFactor, or min(3, registered brokers).
func (c *coordinator) createOffsetsTopic(ctx context.Context) *rpc.Error {
	epoch := c.s.Epoch()
	if epoch == 0 {
		return rpc.New(stratav1.ErrorCode_ERROR_CODE_COORDINATOR_NOT_AVAILABLE, "the broker is not registered with the controllers yet")
	}
	rf := int32(c.cfg.OffsetsTopicReplicationFactor)
	if rf == 0 {
		n := 0
		for b := range c.s.appliedImage().Brokers() {
			if !b.Fenced {
				n++
			}
		}
		rf = int32(min(3, max(n, 1)))
	}
	req := &stratav1.CreateInternalTopicsRequest{
		BrokerId: c.s.cfg.NodeID, BrokerEpoch: epoch,
		Topics: []*stratav1.CreatableTopic{{
			Name: metadata.ConsumerOffsetsTopic, NumPartitions: c.cfg.OffsetsTopicPartitions, ReplicationFactor: rf,
			Configs: []*stratav1.ConfigEntry{{Name: "cleanup.policy", Value: "compact"}},
		}},
	}
	var resp *stratav1.CreateInternalTopicsResponse
	err := c.s.ctl.call(ctx, func(ctx context.Context, cc *grpc.ClientConn) error {
		var err error
		resp, err = stratav1.NewControllerServiceClient(cc).CreateInternalTopics(ctx, req)
		return err
	})
	if err != nil {
		e := rpc.FromError(err)
		return rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_COORDINATOR_NOT_AVAILABLE, "creating __consumer_offsets: %s", e.Error())
	}
	for _, r := range resp.GetTopics() {
		switch r.GetErrorCode() {
		case stratav1.ErrorCode_ERROR_CODE_NONE:
			c.log.Info("created __consumer_offsets", "partitions", r.GetNumPartitions(), "replication_factor", r.GetReplicationFactor())
		case stratav1.ErrorCode_ERROR_CODE_TOPIC_ALREADY_EXISTS:
		default:
			return rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_COORDINATOR_NOT_AVAILABLE, "creating __consumer_offsets: %s: %s",
				rpc.CodeName(r.GetErrorCode()), r.GetErrorMessage())
		}
	}
	return nil
}

// findCoordinator answers one group of FindCoordinator.
func (c *coordinator) findCoordinator(ctx context.Context, group string) *stratav1.Coordinator {
	out := &stratav1.Coordinator{GroupId: group, NodeId: -1}
	fail := func(e *rpc.Error) *stratav1.Coordinator {
		out.ErrorCode, out.ErrorMessage = e.Code, e.Message
		return out
	}
	if e := checkGroupID(group); e != nil {
		return fail(e)
	}
	t, e := c.offsetsTopic(ctx)
	if e != nil {
		return fail(e)
	}
	img := c.s.appliedImage()
	id := partitionFor(group, len(t.Partitions))
	mp, _ := t.Partition(id)
	b, ok := img.Broker(mp.Leader)
	if mp.Leader == metadata.NoLeader || !ok || b.Address == "" {
		return fail(rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_COORDINATOR_NOT_AVAILABLE,
			"__consumer_offsets-%d, which holds group %s, has no leader right now", id, group))
	}
	out.NodeId, out.Address = mp.Leader, b.Address
	return out
}

// shardFor returns the loaded shard of a group: NOT_COORDINATOR (with the
// coordinator's hint) when this broker does not lead its partition,
// COORDINATOR_LOAD_IN_PROGRESS while it loads.
func (c *coordinator) shardFor(group string) (*shard, *rpc.Error) {
	if e := checkGroupID(group); e != nil {
		return nil, e
	}
	t, ok := c.s.appliedImage().Topic(metadata.ConsumerOffsetsTopic)
	if !ok {
		return nil, rpc.New(stratav1.ErrorCode_ERROR_CODE_COORDINATOR_NOT_AVAILABLE,
			"__consumer_offsets does not exist yet: FindCoordinator creates it")
	}
	id := partitionFor(group, len(t.Partitions))
	c.mu.Lock()
	sh := c.shards[id]
	c.mu.Unlock()
	switch {
	case sh == nil:
		return nil, c.notCoordinator(id, fmt.Sprintf("broker %d is not the coordinator of group %s (__consumer_offsets-%d)", c.s.cfg.NodeID, group, id))
	case !sh.isLoaded():
		return nil, rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_COORDINATOR_LOAD_IN_PROGRESS,
			"broker %d is loading the groups of __consumer_offsets-%d", c.s.cfg.NodeID, id)
	}
	return sh, nil
}
