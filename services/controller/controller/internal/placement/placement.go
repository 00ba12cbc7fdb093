// Package placement chooses the brokers that hold the replicas of new
// partitions, and checks replica assignments given by clients.
//
// It is pure and deterministic: the metadata state machine runs it on every
// controller, so the same input must give the same output everywhere. There
// is no randomness (the seed stands in for Kafka's random start index and
// replica shift), no clock and no map-order iteration, and the order in which
// the candidate brokers are given does not matter.
//
// # Algorithm
//
// The candidates are sorted by id and arranged in Kafka's rack-alternated
// order: racks sorted by name, then one broker of each rack in turn (for
// racks a: 1, 2 and b: 3 that is 1, 3, 2). Without racks this is id order.
// From the seed come a start index and a replica shift, as Kafka's random
// ones.
//
//   - Preferred leaders go round the arranged list: partition p's first
//     replica is the broker at (p + start) mod N. Consecutive partitions have
//     consecutive leaders, so each broker leads floor(P/N) or ceil(P/N) of
//     the P partitions placed in one call, and a later call for more
//     partitions (StartPartition > 0) goes on where a call for all of them
//     would have.
//   - Followers are chosen one at a time, never a broker already in the
//     partition. Among the others, the first rule that tells two apart
//     decides: (1) a rack the partition does not use yet, so that it spans
//     min(RF, racks) racks; (2) the rack, then (3) the broker, that needs
//     the replica most: one still short of its share of the P*RF replicas
//     before one that is not, the one with the least slack (places left in
//     later partitions less replicas still needed) first, else the one least
//     over its share; (4) nearest, going round the arranged list, to where
//     Kafka's algorithm with the same start and shift puts this replica.
//
// A broker's share is floor or ceil of P*RF/N, the ceil ones going round
// the arranged list from the first leader (so that they include every
// broker that leads ceil(P/N) partitions); a rack's share is the sum of its
// brokers'. The greedy choice reaches every share exactly without racks,
// and with racks of equal size when RF <= racks (checked exhaustively on
// small clusters, and by fuzzing). With RF > racks of equal size it is rarely
// one replica off; with racks of uneven size, rack diversity comes first, as
// in Kafka: a lone broker on its own rack holds a replica of every
// partition once RF reaches the number of racks.
//
// # Racks
//
// Racks are used only when every candidate has one. When some have a rack
// and some do not, Place fails as Kafka's rack-aware assignment does
// ("Not all brokers have rack information for replica rack aware
// assignment."), with an error wrapping ErrIncompleteRackInfo: placing such a
// cluster rack-unaware would quietly lose the rack diversity the operator
// configured, and treating "no rack" as one more rack would pile replicas on
// the brokers without one. The controller should answer
// INVALID_REPLICATION_FACTOR with the message.
package placement

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
)

var (
	// ErrInvalidReplicationFactor is wrapped by errors about the
	// replication factor (Kafka's INVALID_REPLICATION_FACTOR).
	ErrInvalidReplicationFactor = errors.New("invalid replication factor")
	// ErrInvalidPartitions is wrapped by errors about the number of
	// partitions or the first partition id (Kafka's INVALID_PARTITIONS).
	ErrInvalidPartitions = errors.New("invalid partitions")
	// ErrIncompleteRackInfo is wrapped by the error of Place when some
	// candidates have a rack and others do not.
	ErrIncompleteRackInfo = errors.New("incomplete rack information")
	// ErrInvalidReplicaAssignment is wrapped by errors about explicit
	// replica assignments (Kafka's INVALID_REPLICA_ASSIGNMENT).
	ErrInvalidReplicaAssignment = errors.New("invalid replica assignment")
)

// placementError's text is exactly Kafka's message, so that it can go into
// a response as it is; errors.Is finds the sentinel.
type placementError struct {
	sentinel error
	msg      string
}

func (e *placementError) Error() string { return e.msg }
func (e *placementError) Unwrap() error { return e.sentinel }

func errorf(sentinel error, format string, args ...any) error {
	return &placementError{sentinel: sentinel, msg: fmt.Sprintf(format, args...)}
}

// MaxReplicas bounds Partitions*ReplicationFactor in one Place call, so
// that a request cannot make the state machine, which every controller
// runs, allocate without bound or stall: Place takes time proportional to
// Partitions*ReplicationFactor*brokers.
const MaxReplicas = 1 << 20

// Broker is a candidate for new replicas: in the controller, a registered
// broker that is neither fenced nor in controlled shutdown.
type Broker struct {
	ID int32
	// Rack is "" when the broker has none.
	Rack string
}

// Request says what to place.
type Request struct {
	// Brokers are the candidates, in any order.
	Brokers []Broker
	// Partitions is the number of partitions to place.
	Partitions int
	// ReplicationFactor is the number of replicas of each partition.
	ReplicationFactor int
	// StartPartition is the id of the first partition placed: 0 for a new
	// topic, the current partition count when partitions are added.
	StartPartition int32
	// Seed stands in for Kafka's random start index and replica shift; the
	// caller derives it from the topic (its id, say), so that each topic's
	// partitions start on a different broker.
	Seed uint64
}

// Place chooses the replicas of partitions StartPartition,
// StartPartition+1, ..., StartPartition+Partitions-1. replicas[i] is the
// replica list of partition StartPartition+i; its first broker is the
// preferred leader. The same request, with the brokers in any order, always
// gives the same answer.
//
// Errors wrap ErrInvalidPartitions (also when Partitions*ReplicationFactor
// exceeds MaxReplicas), ErrInvalidReplicationFactor or
// ErrIncompleteRackInfo. Their text is Kafka's message where Kafka has one,
// such as "Unable to replicate the partition 4 time(s): The target
// replication factor of 4 cannot be reached because only 3 broker(s) are
// registered."
func Place(req Request) ([][]int32, error) {
	n, p, rf := len(req.Brokers), req.Partitions, req.ReplicationFactor
	switch {
	case p <= 0:
		return nil, errorf(ErrInvalidPartitions, "Number of partitions was set to an invalid non-positive value.")
	case req.StartPartition < 0:
		return nil, errorf(ErrInvalidPartitions, "The first partition id %d is negative.", req.StartPartition)
	case int64(req.StartPartition)+int64(p) > math.MaxInt32:
		return nil, errorf(ErrInvalidPartitions, "Partition ids from %d to %d do not fit in 32 bits.",
			req.StartPartition, int64(req.StartPartition)+int64(p)-1)
	case rf <= 0:
		return nil, errorf(ErrInvalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value.")
	case rf > n:
		return nil, errorf(ErrInvalidReplicationFactor,
			"Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are registered.",
			rf, rf, n)
	case int64(p)*int64(rf) > MaxReplicas:
		return nil, errorf(ErrInvalidPartitions,
			"%d partitions with replication factor %d make %d replicas, more than the %d one request may create.",
			p, rf, int64(p)*int64(rf), MaxReplicas)
	}
	brokers, err := arrange(req.Brokers)
	if err != nil {
		return nil, err
	}
	return newPlacer(brokers, p, rf, req.StartPartition, req.Seed).place(), nil
}

// arranged is a candidate in the rack-alternated list; rack is an index
// into the sorted rack names.
type arranged struct {
	id   int32
	rack int
}

// arrange sorts the brokers and alternates them by rack, as Kafka's
// getRackAlternatedBrokerList: racks by name, brokers by id in each rack,
// one broker of each rack in turn.
func arrange(in []Broker) ([]arranged, error) {
	brokers := slices.Clone(in)
	slices.SortFunc(brokers, func(a, b Broker) int { return cmp.Compare(a.ID, b.ID) })
	withRack := 0
	for i, b := range brokers {
		if i > 0 && brokers[i-1].ID == b.ID {
			return nil, fmt.Errorf("placement: broker %d is a candidate twice", b.ID)
		}
		if b.Rack != "" {
			withRack++
		}
	}
	if withRack == 0 {
		out := make([]arranged, len(brokers))
		for i, b := range brokers {
			out[i] = arranged{id: b.ID}
		}
		return out, nil
	}
	if withRack != len(brokers) {
		return nil, errorf(ErrIncompleteRackInfo, "Not all brokers have rack information for replica rack aware assignment.")
	}
	// Stable: brokers stay in id order within each rack.
	slices.SortStableFunc(brokers, func(a, b Broker) int { return cmp.Compare(a.Rack, b.Rack) })
	var racks [][]int32
	for i, b := range brokers {
		if i == 0 || brokers[i-1].Rack != b.Rack {
			racks = append(racks, nil)
		}
		racks[len(racks)-1] = append(racks[len(racks)-1], b.ID)
	}
	out := make([]arranged, 0, len(brokers))
	for round := 0; len(out) < len(brokers); round++ {
		for r, ids := range racks {
			if round < len(ids) {
				out = append(out, arranged{id: ids[round], rack: r})
			}
		}
	}
	return out, nil
}

// placer holds the state of one Place call. Brokers are referred to by
// their index in the arranged list, racks by their index in name order.
type placer struct {
	brokers  []arranged
	n, p, rf int
	first    int // first partition id
	origin   int // index of the first partition's leader
	shift    int // Kafka's replica shift for partition id 0

	// For each broker: follower replicas still due to reach its share, and
	// partitions from the current one on that it leads.
	need, leadsLeft []int
	// The same summed over each rack, and each rack's size.
	rackNeed, rackLeadsLeft, rackSize []int

	// The current partition: its brokers, and its replicas on each rack.
	inPart []bool
	onRack []int
}

func newPlacer(brokers []arranged, p, rf int, first int32, seed uint64) *placer {
	n := len(brokers)
	racks := 0
	for _, b := range brokers {
		racks = max(racks, b.rack+1)
	}
	s1 := mix(seed)
	s2 := mix(s1)
	start := int(s1 % uint64(n))
	pl := &placer{
		brokers: brokers, n: n, p: p, rf: rf, first: int(first),
		origin:        (int(first)%n + start) % n,
		shift:         int(s2 % uint64(n)),
		need:          make([]int, n),
		leadsLeft:     make([]int, n),
		rackNeed:      make([]int, racks),
		rackLeadsLeft: make([]int, racks),
		rackSize:      make([]int, racks),
		inPart:        make([]bool, n),
		onRack:        make([]int, racks),
	}
	// Shares of the p*rf replicas, floor or ceil of p*rf/n each; the ceil
	// ones go round the arranged list from the first leader, so they
	// include every broker that leads ceil(p/n) partitions. need counts
	// the follower replicas still due; it starts non-negative since a ceil
	// leader count never exceeds the share.
	total := p * rf
	for k, b := range brokers {
		d := (k - pl.origin + n) % n
		leads := p / n
		if d < p%n {
			leads++
		}
		share := total / n
		if d < total%n {
			share++
		}
		pl.leadsLeft[k] = leads
		pl.need[k] = share - leads
		pl.rackLeadsLeft[b.rack] += leads
		pl.rackNeed[b.rack] += share - leads
		pl.rackSize[b.rack]++
	}
	return pl
}

// mix is SplitMix64's finalizer: small or similar seeds give unrelated
// start indexes and shifts.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func (pl *placer) place() [][]int32 {
	out := make([][]int32, pl.p)
	// One backing array for all replica lists.
	ids := make([]int32, pl.p*pl.rf)
	members := make([]int, 0, pl.rf)
	for i := range pl.p {
		leader := (pl.origin + i) % pl.n
		members = append(members[:0], leader)
		pl.add(leader)
		// Kafka's replica shift grows by one every n partitions.
		shift := pl.shift + (pl.first+i)/pl.n
		for j := 1; j < pl.rf; j++ {
			// Kafka puts replica j at 1 + (shift + j - 1) mod (n - 1) after
			// the leader.
			kafka := (leader + 1 + (shift+j-1)%(pl.n-1)) % pl.n
			best := -1
			for k := range pl.n {
				if !pl.inPart[k] && (best < 0 || pl.better(k, best, kafka, i)) {
					best = k
				}
			}
			members = append(members, best)
			pl.add(best)
			pl.need[best]--
			pl.rackNeed[pl.brokers[best].rack]--
		}
		replicas := ids[i*pl.rf : (i+1)*pl.rf : (i+1)*pl.rf]
		for j, k := range members {
			replicas[j] = pl.brokers[k].id
			pl.inPart[k] = false
			pl.onRack[pl.brokers[k].rack]--
		}
		out[i] = replicas
		pl.leadsLeft[leader]--
		pl.rackLeadsLeft[pl.brokers[leader].rack]--
	}
	return out
}

func (pl *placer) add(k int) {
	pl.inPart[k] = true
	pl.onRack[pl.brokers[k].rack]++
}

// better reports whether broker a is a better next follower than b for
// partition index i, Kafka's choice being the broker at index kafka.
func (pl *placer) better(a, b, kafka, i int) bool {
	ra, rb := pl.brokers[a].rack, pl.brokers[b].rack
	if ra != rb {
		// 1. Rack diversity: a rack the partition does not use yet.
		if usedA, usedB := pl.onRack[ra] > 0, pl.onRack[rb] > 0; usedA != usedB {
			return usedB
		}
		// 2. The rack that needs the replica most.
		if c := urgency(pl.rackNeed[ra], pl.rackSlack(ra, i), pl.rackNeed[rb], pl.rackSlack(rb, i)); c != 0 {
			return c < 0
		}
	}
	// 3. The broker that needs it most.
	if c := urgency(pl.need[a], pl.slack(a, i), pl.need[b], pl.slack(b, i)); c != 0 {
		return c < 0
	}
	// 4. Nearest to Kafka's choice.
	return (a-kafka+pl.n)%pl.n < (b-kafka+pl.n)%pl.n
}

// urgency compares two candidates by what they still need and their
// slack: one short of its share comes before one that is not; between two
// short of it, the one with less slack; between two that are not, the one
// least over it. It returns -1 when the first is more urgent.
func urgency(needA, slackA, needB, slackB int) int {
	switch {
	case needA > 0 && needB > 0:
		return cmp.Compare(slackA, slackB)
	case needA > 0:
		return -1
	case needB > 0:
		return 1
	default:
		return cmp.Compare(needB, needA)
	}
}

// slack is how many more follower replicas broker k could take, from
// partition index i on, than it needs: it can follow each partition once,
// except those it leads.
func (pl *placer) slack(k, i int) int {
	return (pl.p - i - pl.leadsLeft[k]) - pl.need[k]
}

// rackSlack is the same for rack r. When RF <= racks, each remaining
// partition can take one follower from r, except those led from r. When
// RF > racks, every partition has one replica on each rack, the leader's
// or a follower, and up to min(RF-racks, rack size-1) more.
func (pl *placer) rackSlack(r, i int) int {
	racks := len(pl.rackSize)
	left, led := pl.p-i, pl.rackLeadsLeft[r]
	if pl.rf <= racks {
		return left - led - pl.rackNeed[r]
	}
	return left - led + left*min(pl.rf-racks, pl.rackSize[r]-1) - pl.rackNeed[r]
}
