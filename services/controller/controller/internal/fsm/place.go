package fsm

import (
	"errors"
	"fmt"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/services/controller/controller/internal/placement"
)

// place chooses replicas for new partitions among the brokers that may take
// them: registered, unfenced and not shutting down.
func place(img *metadata.Image, partitions, rf int, start int32, topic metadata.TopicID) ([][]int32, error) {
	var brokers []placement.Broker
	for b := range img.Brokers() {
		if !b.Fenced && !b.InControlledShutdown {
			brokers = append(brokers, placement.Broker{ID: b.ID, Rack: b.Rack})
		}
	}
	return placement.Place(placement.Request{
		Brokers: brokers, Partitions: partitions, ReplicationFactor: rf, StartPartition: start, Seed: seed(topic),
	})
}

// placementCode is the error code of a placement error: INVALID_PARTITIONS
// for the partition count (too many replicas for one request, ids past
// 2^31), INVALID_REPLICATION_FACTOR otherwise.
func placementCode(err error) stratav1.ErrorCode {
	if errors.Is(err, placement.ErrInvalidPartitions) {
		return stratav1.ErrorCode_ERROR_CODE_INVALID_PARTITIONS
	}
	return stratav1.ErrorCode_ERROR_CODE_INVALID_REPLICATION_FACTOR
}

func registered(img *metadata.Image) func(int32) bool {
	return func(id int32) bool { _, ok := img.Broker(id); return ok }
}

// explicitAssignment checks a client's replica lists. For a new topic
// (start 0) the partition ids must be 0..n-1; for new partitions of a topic
// they are taken in order and their ids, when set, must follow start.
func explicitAssignment(img *metadata.Image, as []*stratav1.ReplicaAssignment, start int32) ([][]int32, error) {
	if start == 0 {
		in := make([]placement.Assignment, len(as))
		for i, a := range as {
			in[i] = placement.Assignment{Partition: a.GetPartitionId(), Replicas: a.GetBrokerIds()}
		}
		return placement.ValidateAssignment(in, registered(img))
	}
	out := make([][]int32, len(as))
	rf := len(as[0].GetBrokerIds())
	for i, a := range as {
		if id := a.GetPartitionId(); id != 0 && id != start+int32(i) {
			return nil, fmt.Errorf("assignment for partition %d does not follow the existing %d partitions in order", id, start)
		}
		if err := placement.ValidateReplicas(a.GetBrokerIds(), registered(img), rf); err != nil {
			return nil, err
		}
		out[i] = append([]int32(nil), a.GetBrokerIds()...)
	}
	return out, nil
}
