package groups

import (
	"cmp"
	"slices"
	"strings"
)

// TP is a topic partition.
type TP struct {
	Topic     string
	Partition int32
}

// compareTP orders partitions by topic, then partition.
func compareTP(a, b TP) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

// SortTPs sorts partitions by topic, then partition, in place, and returns
// them.
func SortTPs(tps []TP) []TP {
	slices.SortFunc(tps, compareTP)
	return tps
}

// MemberSpec is what an assignor knows of one member.
type MemberSpec struct {
	ID string
	// Topics are the topics the member subscribes to.
	Topics []string
	// Current is the member's target of the previous assignment, which a
	// sticky assignor keeps where it can.
	Current []TP
}

// AssignSpec is an assignor's input.
type AssignSpec struct {
	// Members, sorted by ID.
	Members []MemberSpec
	// Partitions is the partition count of every subscribed topic that
	// exists.
	Partitions map[string]int32
}

// Assignor computes a target assignment. It is deterministic: the same
// spec gives the same assignment. Every member of the spec has an entry in
// the result (maybe empty), each list sorted, and no partition is given to
// two members or to a member not subscribed to its topic.
type Assignor interface {
	// Name is the name members ask for (group.remote.assignor).
	Name() string
	// Assign computes the target assignment of every member.
	Assign(spec AssignSpec) map[string][]TP
}

// The assignors' names.
const (
	UniformAssignor    = "uniform"
	RangeAssignor      = "range"
	RoundRobinAssignor = "roundrobin"
)

// DefaultAssignor is the assignor a group uses when its members ask for
// none: the sticky uniform one, as Kafka's.
const DefaultAssignor = UniformAssignor

var assignors = map[string]Assignor{
	UniformAssignor:    uniform{},
	RangeAssignor:      rangeAssignor{},
	RoundRobinAssignor: roundRobin{},
}

// LookupAssignor returns the assignor of a name.
func LookupAssignor(name string) (Assignor, bool) {
	a, ok := assignors[name]
	return a, ok
}

// AssignorNames lists the supported assignors, sorted.
func AssignorNames() []string {
	out := make([]string, 0, len(assignors))
	for n := range assignors {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// subscribers returns, for each existing topic, the members subscribed to
// it in member order.
func subscribers(spec AssignSpec) map[string][]string {
	out := make(map[string][]string)
	for _, m := range spec.Members {
		for _, t := range m.Topics {
			if spec.Partitions[t] > 0 && !slices.Contains(out[t], m.ID) {
				out[t] = append(out[t], m.ID)
			}
		}
	}
	return out
}

// sortedTopics returns the keys of m, sorted.
func sortedTopics[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for t := range m {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// emptyResult has an empty entry for every member.
func emptyResult(spec AssignSpec) map[string][]TP {
	out := make(map[string][]TP, len(spec.Members))
	for _, m := range spec.Members {
		out[m.ID] = []TP{}
	}
	return out
}

// rangeAssignor is Kafka's RangeAssignor: for each topic, its partitions in
// order are cut into consecutive ranges, one per subscribed member in id
// order; the first members get one more when the count does not divide.
type rangeAssignor struct{}

func (rangeAssignor) Name() string { return RangeAssignor }

func (rangeAssignor) Assign(spec AssignSpec) map[string][]TP {
	out := emptyResult(spec)
	subs := subscribers(spec)
	for _, t := range sortedTopics(subs) {
		members := subs[t]
		n := int(spec.Partitions[t])
		per, extra := n/len(members), n%len(members)
		p := 0
		for i, id := range members {
			k := per
			if i < extra {
				k++
			}
			for range k {
				out[id] = append(out[id], TP{t, int32(p)})
				p++
			}
		}
	}
	for id := range out {
		SortTPs(out[id])
	}
	return out
}

// roundRobin is Kafka's RoundRobinAssignor: every partition of the
// subscribed topics, sorted by topic and partition, goes to the next member
// in id order (circularly) that subscribes to its topic.
type roundRobin struct{}

func (roundRobin) Name() string { return RoundRobinAssignor }

func (roundRobin) Assign(spec AssignSpec) map[string][]TP {
	out := emptyResult(spec)
	subs := subscribers(spec)
	if len(spec.Members) == 0 {
		return out
	}
	next := 0
	for _, t := range sortedTopics(subs) {
		for p := range spec.Partitions[t] {
			for {
				m := spec.Members[next%len(spec.Members)]
				next++
				if slices.Contains(subs[t], m.ID) {
					out[m.ID] = append(out[m.ID], TP{t, p})
					break
				}
			}
		}
	}
	return out
}
