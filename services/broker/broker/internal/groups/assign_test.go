package groups

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func tps(topic string, parts ...int32) []TP {
	out := make([]TP, len(parts))
	for i, p := range parts {
		out[i] = TP{topic, p}
	}
	return out
}

func members(topics []string, ids ...string) []MemberSpec {
	out := make([]MemberSpec, len(ids))
	for i, id := range ids {
		out[i] = MemberSpec{ID: id, Topics: topics}
	}
	return out
}

// checkValid fails unless the assignment gives every partition of the
// subscribed topics to exactly one member subscribed to its topic, and
// lists every member.
func checkValid(t *testing.T, spec AssignSpec, got map[string][]TP) {
	t.Helper()
	if len(got) != len(spec.Members) {
		t.Fatalf("%d members in the result, want %d: %v", len(got), len(spec.Members), got)
	}
	owner := make(map[TP]string)
	for _, m := range spec.Members {
		list, ok := got[m.ID]
		if !ok {
			t.Fatalf("member %s missing from %v", m.ID, got)
		}
		if !slices.IsSortedFunc(list, compareTP) {
			t.Fatalf("member %s's partitions are not sorted: %v", m.ID, list)
		}
		for _, tp := range list {
			if prev, dup := owner[tp]; dup {
				t.Fatalf("%v given to %s and %s", tp, prev, m.ID)
			}
			if !slices.Contains(m.Topics, tp.Topic) {
				t.Fatalf("%v given to %s, which does not subscribe to %s", tp, m.ID, tp.Topic)
			}
			owner[tp] = m.ID
		}
	}
	subs := subscribers(spec)
	for topic, n := range spec.Partitions {
		if len(subs[topic]) == 0 {
			continue
		}
		for p := range n {
			if _, ok := owner[TP{topic, p}]; !ok {
				t.Fatalf("%s-%d is not assigned: %v", topic, p, got)
			}
		}
	}
}

func TestRangeAssignor(t *testing.T) {
	a, _ := LookupAssignor(RangeAssignor)
	spec := AssignSpec{
		Members:    []MemberSpec{{ID: "a", Topics: []string{"t1", "t2"}}, {ID: "b", Topics: []string{"t1", "t2"}}, {ID: "c", Topics: []string{"t1"}}},
		Partitions: map[string]int32{"t1": 7, "t2": 3},
	}
	got := a.Assign(spec)
	checkValid(t, spec, got)
	want := map[string][]TP{
		"a": append(tps("t1", 0, 1, 2), tps("t2", 0, 1)...),
		"b": append(tps("t1", 3, 4), tps("t2", 2)...),
		"c": tps("t1", 5, 6),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("range: %v, want %v", got, want)
	}
}

func TestRoundRobinAssignor(t *testing.T) {
	a, _ := LookupAssignor(RoundRobinAssignor)
	spec := AssignSpec{
		Members:    []MemberSpec{{ID: "a", Topics: []string{"t1", "t2"}}, {ID: "b", Topics: []string{"t2"}}, {ID: "c", Topics: []string{"t1", "t2"}}},
		Partitions: map[string]int32{"t1": 3, "t2": 3, "t3": 5},
	}
	got := a.Assign(spec)
	checkValid(t, spec, got)
	// t1-0 a, t1-1 (b skipped) c, t1-2 a, t2-0 b, t2-1 c, t2-2 a.
	want := map[string][]TP{
		"a": append(tps("t1", 0, 2), tps("t2", 2)...),
		"b": tps("t2", 0),
		"c": append(tps("t1", 1), tps("t2", 1)...),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("roundrobin: %v, want %v", got, want)
	}
}

func loads(got map[string][]TP) (lo, hi int) {
	lo = -1
	for _, l := range got {
		if lo < 0 || len(l) < lo {
			lo = len(l)
		}
		hi = max(hi, len(l))
	}
	return lo, hi
}

// moved counts the partitions whose member differs between two
// assignments (partitions new in b count too).
func moved(a, b map[string][]TP) int {
	owner := make(map[TP]string)
	for id, l := range a {
		for _, tp := range l {
			owner[tp] = id
		}
	}
	n := 0
	for id, l := range b {
		for _, tp := range l {
			if owner[tp] != id {
				n++
			}
		}
	}
	return n
}

func withCurrent(ms []MemberSpec, cur map[string][]TP) []MemberSpec {
	out := slices.Clone(ms)
	for i := range out {
		out[i].Current = cur[out[i].ID]
	}
	return out
}

// TestUniformIsBalancedAndSticky: with identical subscriptions loads differ
// by at most one; a member joining takes only its share from the others,
// and a member leaving gives away only its own partitions.
func TestUniformIsBalancedAndSticky(t *testing.T) {
	a, _ := LookupAssignor(UniformAssignor)
	topics := []string{"orders"}
	parts := map[string]int32{"orders": 60}
	nine := members(topics, "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9")
	spec := AssignSpec{Members: nine, Partitions: parts}
	first := a.Assign(spec)
	checkValid(t, spec, first)
	if lo, hi := loads(first); hi-lo > 1 {
		t.Fatalf("9 members: loads %d..%d", lo, hi)
	}

	ten := withCurrent(members(topics, "m1", "m10", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"), first)
	spec = AssignSpec{Members: ten, Partitions: parts}
	second := a.Assign(spec)
	checkValid(t, spec, second)
	if lo, hi := loads(second); lo != 6 || hi != 6 {
		t.Fatalf("10 members: loads %d..%d, want 6 each", lo, hi)
	}
	if n := moved(first, second); n != 6 {
		t.Fatalf("a joining member moved %d partitions, want its 6", n)
	}

	var leftOver []MemberSpec
	for _, m := range withCurrent(ten, second) {
		if m.ID != "m4" {
			leftOver = append(leftOver, m)
		}
	}
	spec = AssignSpec{Members: leftOver, Partitions: parts}
	third := a.Assign(spec)
	checkValid(t, spec, third)
	if lo, hi := loads(third); hi-lo > 1 {
		t.Fatalf("after a leave: loads %d..%d", lo, hi)
	}
	delete(second, "m4")
	if n := moved(second, third); n != 6 {
		t.Fatalf("a leaving member caused %d moves, want its 6", n)
	}
}

// TestUniformHeterogeneous: members subscribed to different topics get
// only their topics, and the balance step only moves partitions to
// eligible members.
func TestUniformHeterogeneous(t *testing.T) {
	a, _ := LookupAssignor(UniformAssignor)
	spec := AssignSpec{
		Members: []MemberSpec{
			{ID: "a", Topics: []string{"x", "y"}},
			{ID: "b", Topics: []string{"x"}},
			{ID: "c", Topics: []string{"y"}},
			{ID: "d", Topics: []string{"z"}}, // a topic that does not exist
		},
		Partitions: map[string]int32{"x": 4, "y": 8},
	}
	got := a.Assign(spec)
	checkValid(t, spec, got)
	if len(got["d"]) != 0 || len(got["a"]) != 4 || len(got["b"]) != 4 || len(got["c"]) != 4 {
		t.Fatalf("loads a=%d b=%d c=%d d=%d: %v", len(got["a"]), len(got["b"]), len(got["c"]), len(got["d"]), got)
	}
}

// TestAssignorsProperties runs every assignor on random specs: the result
// is valid and deterministic, and the uniform assignor is balanced for
// identical subscriptions and sticky when nothing changed.
func TestAssignorsProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, name := range AssignorNames() {
		a, _ := LookupAssignor(name)
		for i := range 200 {
			spec := randomSpec(rng, i%2 == 0)
			got := a.Assign(spec)
			t.Run(fmt.Sprintf("%s-%d", name, i), func(t *testing.T) {
				checkValid(t, spec, got)
				if again := a.Assign(spec); !reflect.DeepEqual(got, again) {
					t.Fatalf("not deterministic: %v then %v", got, again)
				}
				if name != UniformAssignor {
					return
				}
				if i%2 == 0 {
					if lo, hi := loads(got); hi-lo > 1 {
						t.Fatalf("identical subscriptions: loads %d..%d", lo, hi)
					}
				}
				stay := AssignSpec{Members: withCurrent(spec.Members, got), Partitions: spec.Partitions}
				if n := moved(got, a.Assign(stay)); n != 0 {
					t.Fatalf("nothing changed and %d partitions moved", n)
				}
			})
		}
	}
}

func randomSpec(rng *rand.Rand, identical bool) AssignSpec {
	all := []string{"a", "b", "c", "d"}
	parts := make(map[string]int32)
	for _, t := range all {
		if rng.IntN(5) > 0 {
			parts[t] = int32(rng.IntN(20))
		}
	}
	n := 1 + rng.IntN(8)
	var ms []MemberSpec
	common := pick(rng, all)
	for i := range n {
		topics := common
		if !identical {
			topics = pick(rng, all)
		}
		ms = append(ms, MemberSpec{ID: fmt.Sprintf("m%02d", i), Topics: topics})
	}
	return AssignSpec{Members: ms, Partitions: parts}
}

func pick(rng *rand.Rand, all []string) []string {
	var out []string
	for _, t := range all {
		if rng.IntN(2) == 0 {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		out = []string{all[rng.IntN(len(all))]}
	}
	return out
}

func TestAssignorNames(t *testing.T) {
	if got := AssignorNames(); !slices.Equal(got, []string{"range", "roundrobin", "uniform"}) {
		t.Fatalf("names %v", got)
	}
	if _, ok := LookupAssignor("sticky"); ok {
		t.Fatal("an unknown assignor was found")
	}
	if got := slices.Sorted(maps.Keys(assignors)); !slices.Equal(got, AssignorNames()) {
		t.Fatal("AssignorNames differs from the registry")
	}
}
