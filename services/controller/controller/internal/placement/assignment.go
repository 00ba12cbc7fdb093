package placement

import "slices"

// Assignment is a client's explicit replica list for one partition.
type Assignment struct {
	Partition int32
	Replicas  []int32
}

// ValidateAssignment checks the explicit assignment of a new topic, as
// Kafka's KRaft controller does, and returns the replica lists indexed by
// partition id (copies: the caller may keep them). The partition ids must be
// 0 to n-1, each once, in any order; each partition's replicas must pass
// ValidateReplicas, and all partitions must have as many replicas as the
// first one given. isRegistered says whether a broker id is registered
// (fenced or not, as in Kafka). The first error is that of the first
// assignment, in the order given, found wrong; it wraps
// ErrInvalidReplicaAssignment.
func ValidateAssignment(assignments []Assignment, isRegistered func(brokerID int32) bool) ([][]int32, error) {
	if len(assignments) == 0 {
		return nil, errorf(ErrInvalidReplicaAssignment, "The manual partition assignment includes no partitions.")
	}
	out := make([][]int32, len(assignments))
	rf := len(assignments[0].Replicas)
	seen := make(map[int32]bool, len(assignments))
	for _, a := range assignments {
		if seen[a.Partition] {
			return nil, errorf(ErrInvalidReplicaAssignment, "Found multiple manual partition assignments for partition %d", a.Partition)
		}
		seen[a.Partition] = true
		if err := ValidateReplicas(a.Replicas, isRegistered, rf); err != nil {
			return nil, err
		}
		if a.Partition >= 0 && int(a.Partition) < len(out) {
			out[a.Partition] = slices.Clone(a.Replicas)
		}
	}
	// len(assignments) distinct ids: all in range exactly when they are
	// 0..n-1.
	for _, r := range out {
		if r == nil {
			return nil, errorf(ErrInvalidReplicaAssignment, "partitions should be a consecutive 0-based integer sequence")
		}
	}
	return out, nil
}

// ValidateReplicas checks one partition's explicit replica list: not empty,
// every broker registered, no broker twice, and replicationFactor replicas
// unless replicationFactor is 0. Brokers are checked in id order, so the
// error names the smallest offending id. Use it for each partition added
// to an existing topic, with the topic's replication factor. Errors wrap
// ErrInvalidReplicaAssignment.
func ValidateReplicas(replicas []int32, isRegistered func(brokerID int32) bool, replicationFactor int) error {
	if len(replicas) == 0 {
		return errorf(ErrInvalidReplicaAssignment, "The manual partition assignment includes an empty replica list.")
	}
	sorted := slices.Clone(replicas)
	slices.Sort(sorted)
	for i, id := range sorted {
		if !isRegistered(id) {
			return errorf(ErrInvalidReplicaAssignment,
				"The manual partition assignment includes broker %d, but no such broker is registered.", id)
		}
		if i > 0 && sorted[i-1] == id {
			return errorf(ErrInvalidReplicaAssignment,
				"The manual partition assignment includes the broker %d more than once.", id)
		}
	}
	if replicationFactor != 0 && len(replicas) != replicationFactor {
		return errorf(ErrInvalidReplicaAssignment,
			"The manual partition assignment includes a partition with %d replica(s), but this is not consistent with previous partitions, which have %d replica(s).",
			len(replicas), replicationFactor)
	}
	return nil
}
