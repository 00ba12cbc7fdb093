package groups

import (
	"slices"
)

// uniform is the sticky uniform assignor, the default (Kafka's "uniform"
// server assignor): partitions spread as evenly as the subscriptions allow,
// and a partition stays with its member where that keeps the balance.
//
// It works in three steps:
//
//  1. Keep: every member keeps the partitions of its current assignment
//     that still exist and that it still subscribes to.
//  2. Place: the partitions nobody kept go, the ones with the fewest
//     eligible members first, to the least loaded eligible member.
//  3. Balance: while a member holds at least two more partitions than a
//     member it can reach, load moves from the first to the second along a
//     chain of members, each handing the next a partition it is eligible
//     for (with identical subscriptions, one direct move).
//
// With identical subscriptions the result differs by at most one partition
// between members, and moving from the previous assignment costs only the
// moves step 3 needs. Each chain lowers the sum of the squared loads, so
// the balance step ends.
type uniform struct{}

func (uniform) Name() string { return UniformAssignor }

func (uniform) Assign(spec AssignSpec) map[string][]TP {
	out := emptyResult(spec)
	subs := subscribers(spec)
	if len(subs) == 0 {
		return out
	}
	eligible := make(map[string]map[string]bool) // topic -> member ids
	for t, ms := range subs {
		eligible[t] = make(map[string]bool, len(ms))
		for _, id := range ms {
			eligible[t][id] = true
		}
	}
	owner := make(map[TP]string)
	load := make(map[string]int, len(spec.Members))
	owned := make(map[string]map[TP]bool, len(spec.Members))
	for _, m := range spec.Members {
		owned[m.ID] = make(map[TP]bool)
	}
	give := func(tp TP, id string) {
		owner[tp] = id
		owned[id][tp] = true
		load[id]++
	}

	// 1. Keep.
	for _, m := range spec.Members {
		for _, tp := range m.Current {
			if tp.Partition < 0 || tp.Partition >= spec.Partitions[tp.Topic] || !eligible[tp.Topic][m.ID] {
				continue
			}
			if _, taken := owner[tp]; taken {
				continue
			}
			give(tp, m.ID)
		}
	}

	// 2. Place, the most constrained partitions first.
	var free []TP
	for _, t := range sortedTopics(subs) {
		for p := range spec.Partitions[t] {
			if _, taken := owner[TP{t, p}]; !taken {
				free = append(free, TP{t, p})
			}
		}
	}
	slices.SortStableFunc(free, func(a, b TP) int { return len(subs[a.Topic]) - len(subs[b.Topic]) })
	for _, tp := range free {
		best := ""
		for _, id := range subs[tp.Topic] {
			if best == "" || load[id] < load[best] || load[id] == load[best] && id < best {
				best = id
			}
		}
		give(tp, best)
	}

	// 3. Balance.
	order := make([]string, len(spec.Members))
	for i, m := range spec.Members {
		order[i] = m.ID
	}
	for {
		chain := nextMoves(order, owned, load, subs)
		if chain == nil {
			break
		}
		for _, mv := range chain {
			delete(owned[mv.from], mv.tp)
			load[mv.from]--
			owned[mv.to][mv.tp] = true
			load[mv.to]++
		}
	}
	for id, tps := range owned {
		list := make([]TP, 0, len(tps))
		for tp := range tps {
			list = append(list, tp)
		}
		out[id] = SortTPs(list)
	}
	return out
}

// move is one partition moving from one member to another.
type move struct {
	tp       TP
	from, to string
}

// nextMoves finds a chain of moves that takes one partition's worth of
// load from the most loaded member that can give some to a member with at
// least two fewer partitions: a breadth-first search from it, where a
// member reaches another by handing it a partition that member is eligible
// for (its last such partition). The chain changes the load of its two
// ends only. It returns nil when the assignment is balanced.
func nextMoves(order []string, owned map[string]map[TP]bool, load map[string]int, subs map[string][]string) []move {
	byLoad := slices.Clone(order)
	slices.SortStableFunc(byLoad, func(a, b string) int { return load[b] - load[a] })
	for _, from := range byLoad {
		type edge struct {
			prev string
			tp   TP
		}
		parent := map[string]edge{from: {}}
		queue := []string{from}
		best := ""
		for len(queue) > 0 {
			u := queue[0]
			queue = queue[1:]
			if u != from && load[u] <= load[from]-2 && (best == "" || load[u] < load[best]) {
				best = u
			}
			tps := make([]TP, 0, len(owned[u]))
			for p := range owned[u] {
				tps = append(tps, p)
			}
			SortTPs(tps)
			for i := len(tps) - 1; i >= 0; i-- {
				for _, v := range subs[tps[i].Topic] {
					if _, seen := parent[v]; !seen {
						parent[v] = edge{u, tps[i]}
						queue = append(queue, v)
					}
				}
			}
		}
		if best == "" {
			continue
		}
		var chain []move
		for v := best; v != from; v = parent[v].prev {
			chain = append(chain, move{tp: parent[v].tp, from: parent[v].prev, to: v})
		}
		return chain
	}
	return nil
}
