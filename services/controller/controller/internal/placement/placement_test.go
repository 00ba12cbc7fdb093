package placement

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
)

// brokers returns n brokers with ids 100, 103, 106, ...; with racks > 0,
// broker i is on rack "r<i mod racks>".
func brokers(n, racks int) []Broker {
	bs := make([]Broker, n)
	for i := range bs {
		bs[i].ID = int32(100 + 3*i)
		if racks > 0 {
			bs[i].Rack = fmt.Sprintf("r%d", i%racks)
		}
	}
	return bs
}

// check verifies what holds for every placement: the shape, no broker twice
// in a partition, only candidates, leaders spread evenly, each partition on
// min(RF, racks) racks, and, when balanced is set, each broker holding
// floor or ceil of P*RF/N replicas.
func check(t *testing.T, req Request, out [][]int32, balanced bool) {
	t.Helper()
	n, p, rf := len(req.Brokers), req.Partitions, req.ReplicationFactor
	rackOf := make(map[int32]string, n)
	racks := make(map[string]bool)
	for _, b := range req.Brokers {
		rackOf[b.ID] = b.Rack
		racks[b.Rack] = true
	}
	if len(out) != p {
		t.Fatalf("%+v: %d partitions, want %d", req, len(out), p)
	}
	leads := make(map[int32]int)
	holds := make(map[int32]int)
	for i, replicas := range out {
		if len(replicas) != rf {
			t.Fatalf("%+v: partition %d has replicas %v, want %d", req, i, replicas, rf)
		}
		onRacks := make(map[string]bool)
		for j, id := range replicas {
			if _, ok := rackOf[id]; !ok {
				t.Fatalf("%+v: partition %d has replicas %v: %d is not a candidate", req, i, replicas, id)
			}
			if slices.Contains(replicas[:j], id) {
				t.Fatalf("%+v: partition %d has replicas %v: %d twice", req, i, replicas, id)
			}
			holds[id]++
			onRacks[rackOf[id]] = true
		}
		leads[replicas[0]]++
		if want := min(rf, len(racks)); len(onRacks) != want {
			t.Fatalf("%+v: partition %d has replicas %v on %d racks, want %d", req, i, replicas, len(onRacks), want)
		}
	}
	for _, b := range req.Brokers {
		if l := leads[b.ID]; l < p/n || l > (p+n-1)/n {
			t.Fatalf("%+v: broker %d leads %d partitions, want %d to %d", req, b.ID, l, p/n, (p+n-1)/n)
		}
		if h, lo, hi := holds[b.ID], p*rf/n, (p*rf+n-1)/n; balanced && (h < lo || h > hi) {
			t.Fatalf("%+v: broker %d holds %d replicas, want %d to %d; placement %v", req, b.ID, h, lo, hi, out)
		}
	}
}

func TestPlaceSpread(t *testing.T) {
	tests := []struct {
		n, racks, p, rf int
		start           int32
		seed            uint64
	}{
		{1, 0, 1, 1, 0, 0},
		{1, 0, 10, 1, 0, 0},
		{3, 0, 1, 3, 0, 1},
		{3, 0, 3, 3, 0, 2},
		{3, 0, 4, 2, 0, 3},
		{3, 0, 50, 3, 0, 4},
		{4, 0, 2, 2, 0, 5},
		{5, 0, 7, 3, 0, 42},
		{5, 0, 7, 3, 12, 42},
		{6, 0, 1, 3, 0, 6},
		{6, 0, 2, 3, 0, 7},
		{6, 0, 5, 4, 0, 8},
		{7, 0, 100, 3, 0, 9},
		{10, 0, 3, 2, 0, 10},
		{12, 0, 64, 5, 0, 11},
		{50, 0, 10000, 3, 0, 12},
		{50, 0, 1, 50, 0, 13},
		{6, 3, 6, 3, 0, 14},
		{6, 3, 7, 2, 0, 15},
		{9, 3, 20, 3, 4, 16},
		{8, 4, 13, 3, 0, 17},
		{10, 5, 33, 5, 0, 18},
		{50, 5, 10000, 3, 0, 19},
	}
	for _, tt := range tests {
		req := Request{Brokers: brokers(tt.n, tt.racks), Partitions: tt.p, ReplicationFactor: tt.rf, StartPartition: tt.start, Seed: tt.seed}
		out, err := Place(req)
		if err != nil {
			t.Fatalf("%+v: %v", tt, err)
		}
		check(t, req, out, true)
	}
}

// Placement is pinned: every controller must compute the same replicas,
// and a change here changes what new topics get.
func TestPlaceGolden(t *testing.T) {
	tests := []struct {
		req  Request
		want [][]int32
	}{
		{
			Request{Brokers: []Broker{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}, {ID: 5}}, Partitions: 7, ReplicationFactor: 3, Seed: 42},
			[][]int32{{4, 3, 5}, {5, 4, 1}, {1, 2, 3}, {2, 4, 3}, {3, 2, 4}, {4, 5, 1}, {5, 1, 2}},
		},
		{
			Request{Brokers: []Broker{{1, "a"}, {2, "a"}, {3, "b"}, {4, "b"}, {5, "c"}, {6, "c"}}, Partitions: 6, ReplicationFactor: 3, Seed: 7},
			[][]int32{{2, 3, 5}, {4, 6, 1}, {6, 2, 4}, {1, 3, 5}, {3, 6, 1}, {5, 2, 4}},
		},
		{
			Request{Brokers: []Broker{{1, "a"}, {2, "a"}, {3, "b"}, {4, "b"}, {5, "c"}, {6, "c"}}, Partitions: 4, ReplicationFactor: 2, StartPartition: 6, Seed: 7},
			[][]int32{{2, 4}, {4, 2}, {6, 3}, {1, 5}},
		},
	}
	for _, tt := range tests {
		got, err := Place(tt.req)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, tt.want, slices.Equal) {
			t.Errorf("Place(%+v) =\n %v\nwant\n %v", tt.req, got, tt.want)
		}
	}
}

func TestPlaceDeterministic(t *testing.T) {
	for _, racks := range []int{0, 3} {
		bs := brokers(9, racks)
		req := Request{Brokers: bs, Partitions: 40, ReplicationFactor: 3, StartPartition: 2, Seed: 0xfeed}
		want, err := Place(req)
		if err != nil {
			t.Fatal(err)
		}
		orders := [][]Broker{slices.Clone(bs), slices.Clone(bs), slices.Clone(bs)}
		slices.Reverse(orders[0])
		// A fixed shuffle.
		for i := range orders[1] {
			j := (i*7 + 3) % len(orders[1])
			orders[1][i], orders[1][j] = orders[1][j], orders[1][i]
		}
		// Sorted by rack.
		slices.SortStableFunc(orders[2], func(a, b Broker) int { return -cmpString(a.Rack, b.Rack) })
		for _, o := range orders {
			got, err := Place(Request{Brokers: o, Partitions: 40, ReplicationFactor: 3, StartPartition: 2, Seed: 0xfeed})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, want, slices.Equal) {
				t.Errorf("racks %d: brokers in order %v give\n %v\nwant\n %v", racks, o, got, want)
			}
		}
		if !slices.Equal(bs, brokers(9, racks)) {
			t.Error("Place changed its input")
		}
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestPlaceSeeds(t *testing.T) {
	// Different seeds start topics on different brokers.
	first := make(map[int32]bool)
	for seed := range uint64(20) {
		out, err := Place(Request{Brokers: brokers(5, 0), Partitions: 1, ReplicationFactor: 1, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		first[out[0][0]] = true
	}
	if len(first) < 4 {
		t.Errorf("20 seeds start on only %d of 5 brokers", len(first))
	}
}

// Adding partitions goes on with the leader rotation where one call for
// all of them would have been.
func TestPlaceStartPartition(t *testing.T) {
	bs := brokers(5, 0)
	all, err := Place(Request{Brokers: bs, Partitions: 12, ReplicationFactor: 2, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	head, err := Place(Request{Brokers: bs, Partitions: 7, ReplicationFactor: 2, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	tail, err := Place(Request{Brokers: bs, Partitions: 5, ReplicationFactor: 2, StartPartition: 7, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	for i, replicas := range append(head, tail...) {
		if replicas[0] != all[i][0] {
			t.Errorf("partition %d: leader %d, want %d", i, replicas[0], all[i][0])
		}
	}
}

func TestRackAlternatedList(t *testing.T) {
	got, err := arrange([]Broker{{6, "c"}, {2, "a"}, {5, "c"}, {3, "b"}, {1, "a"}, {4, "c"}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int32
	for _, b := range got {
		ids = append(ids, b.id)
	}
	if want := []int32{1, 3, 4, 2, 5, 6}; !slices.Equal(ids, want) {
		t.Errorf("rack-alternated list %v, want %v", ids, want)
	}
}

func TestPlaceRackDiversity(t *testing.T) {
	// 3 racks of 2 brokers, RF 3: every partition on all 3 racks.
	bs := []Broker{{1, "us-1a"}, {2, "us-1a"}, {3, "us-1b"}, {4, "us-1b"}, {5, "us-1c"}, {6, "us-1c"}}
	for p := 1; p <= 30; p++ {
		for seed := range uint64(6) {
			req := Request{Brokers: bs, Partitions: p, ReplicationFactor: 3, Seed: seed}
			out, err := Place(req)
			if err != nil {
				t.Fatal(err)
			}
			check(t, req, out, true)
		}
	}
	// Uneven racks: diversity first. Broker 1 is alone on its rack, so it
	// holds a replica of every partition.
	bs = []Broker{{1, "a"}, {2, "b"}, {3, "b"}, {4, "b"}}
	req := Request{Brokers: bs, Partitions: 8, ReplicationFactor: 2, Seed: 1}
	out, err := Place(req)
	if err != nil {
		t.Fatal(err)
	}
	check(t, req, out, false)
	for i, replicas := range out {
		if !slices.Contains(replicas, 1) {
			t.Errorf("partition %d has replicas %v without broker 1", i, replicas)
		}
	}
}

// Exhaustive over small clusters: with no racks, or racks of equal size
// and RF <= racks, every broker holds floor or ceil of P*RF/N replicas;
// otherwise rack diversity comes first and the other invariants hold.
func TestPlaceInvariantsExhaustive(t *testing.T) {
	for racks := 0; racks <= 4; racks++ {
		for perRack := 1; perRack <= 4; perRack++ {
			n := perRack * max(racks, 1)
			bs := brokers(n, racks)
			for rf := 1; rf <= n; rf++ {
				for p := 1; p <= 2*n+2; p++ {
					for _, start := range []int32{0, 5} {
						for seed := range uint64(2) {
							req := Request{Brokers: bs, Partitions: p, ReplicationFactor: rf, StartPartition: start, Seed: seed * 7919}
							out, err := Place(req)
							if err != nil {
								t.Fatal(err)
							}
							check(t, req, out, racks <= 1 || rf <= racks)
						}
					}
				}
			}
		}
	}
}

func TestPlaceErrors(t *testing.T) {
	three := brokers(3, 0)
	tests := []struct {
		req      Request
		sentinel error
		msg      string
	}{
		{Request{Brokers: three, Partitions: 0, ReplicationFactor: 1}, ErrInvalidPartitions,
			"Number of partitions was set to an invalid non-positive value."},
		{Request{Brokers: three, Partitions: -1, ReplicationFactor: 1}, ErrInvalidPartitions,
			"Number of partitions was set to an invalid non-positive value."},
		{Request{Brokers: three, Partitions: 1, ReplicationFactor: 1, StartPartition: -1}, ErrInvalidPartitions,
			"The first partition id -1 is negative."},
		{Request{Brokers: three, Partitions: 2, ReplicationFactor: 1, StartPartition: math.MaxInt32}, ErrInvalidPartitions,
			"Partition ids from 2147483647 to 2147483648 do not fit in 32 bits."},
		{Request{Brokers: three, Partitions: 1, ReplicationFactor: 0}, ErrInvalidReplicationFactor,
			"Replication factor must be larger than 0, or -1 to use the default value."},
		{Request{Brokers: three, Partitions: 1, ReplicationFactor: -1}, ErrInvalidReplicationFactor,
			"Replication factor must be larger than 0, or -1 to use the default value."},
		{Request{Brokers: three, Partitions: 1, ReplicationFactor: 4}, ErrInvalidReplicationFactor,
			"Unable to replicate the partition 4 time(s): The target replication factor of 4 cannot be reached because only 3 broker(s) are registered."},
		{Request{Partitions: 1, ReplicationFactor: 1}, ErrInvalidReplicationFactor,
			"Unable to replicate the partition 1 time(s): The target replication factor of 1 cannot be reached because only 0 broker(s) are registered."},
		{Request{Brokers: three, Partitions: MaxReplicas/3 + 1, ReplicationFactor: 3}, ErrInvalidPartitions,
			"349526 partitions with replication factor 3 make 1048578 replicas, more than the 1048576 one request may create."},
		{Request{Brokers: []Broker{{1, "a"}, {2, ""}, {3, "b"}}, Partitions: 1, ReplicationFactor: 1}, ErrIncompleteRackInfo,
			"Not all brokers have rack information for replica rack aware assignment."},
		{Request{Brokers: []Broker{{1, ""}, {2, ""}, {1, ""}}, Partitions: 1, ReplicationFactor: 1}, nil,
			"placement: broker 1 is a candidate twice"},
	}
	for _, tt := range tests {
		out, err := Place(tt.req)
		if err == nil || err.Error() != tt.msg || out != nil {
			t.Errorf("Place(%+v) = %v, %v, want error %q", tt.req, out, err, tt.msg)
			continue
		}
		if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
			t.Errorf("Place(%+v) = %v, does not wrap %v", tt.req, err, tt.sentinel)
		}
	}
}

func TestValidateAssignment(t *testing.T) {
	registered := func(id int32) bool { return id >= 1 && id <= 5 }
	tests := []struct {
		name string
		in   []Assignment
		want [][]int32
		err  string
	}{
		{"one", []Assignment{{0, []int32{1, 2, 3}}}, [][]int32{{1, 2, 3}}, ""},
		{"any order", []Assignment{{2, []int32{3, 1}}, {0, []int32{1, 2}}, {1, []int32{2, 3}}},
			[][]int32{{1, 2}, {2, 3}, {3, 1}}, ""},
		{"none", nil, nil, "The manual partition assignment includes no partitions."},
		{"empty replicas", []Assignment{{0, nil}}, nil, "The manual partition assignment includes an empty replica list."},
		{"unregistered", []Assignment{{0, []int32{1, 9, 7}}}, nil,
			"The manual partition assignment includes broker 7, but no such broker is registered."},
		{"negative broker", []Assignment{{0, []int32{1, -1}}}, nil,
			"The manual partition assignment includes broker -1, but no such broker is registered."},
		{"duplicate broker", []Assignment{{0, []int32{3, 1, 3}}}, nil,
			"The manual partition assignment includes the broker 3 more than once."},
		{"different replication factors", []Assignment{{0, []int32{1, 2, 3}}, {1, []int32{1, 2}}}, nil,
			"The manual partition assignment includes a partition with 2 replica(s), but this is not consistent with previous partitions, which have 3 replica(s)."},
		{"duplicate partition", []Assignment{{0, []int32{1}}, {0, []int32{2}}}, nil,
			"Found multiple manual partition assignments for partition 0"},
		{"gap", []Assignment{{0, []int32{1}}, {2, []int32{2}}}, nil,
			"partitions should be a consecutive 0-based integer sequence"},
		{"not from 0", []Assignment{{1, []int32{1}}}, nil,
			"partitions should be a consecutive 0-based integer sequence"},
		{"negative partition", []Assignment{{-1, []int32{1}}, {0, []int32{2}}}, nil,
			"partitions should be a consecutive 0-based integer sequence"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ValidateAssignment(tt.in, registered)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err || !errors.Is(err, ErrInvalidReplicaAssignment) {
					t.Fatalf("err = %v, want %q wrapping ErrInvalidReplicaAssignment", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	// The result does not share the input's slices.
	in := []Assignment{{0, []int32{1, 2}}}
	got, _ := ValidateAssignment(in, registered)
	got[0][0] = 5
	if in[0].Replicas[0] != 1 {
		t.Error("ValidateAssignment returned the caller's slice")
	}
}

func TestValidateReplicas(t *testing.T) {
	registered := func(id int32) bool { return id >= 1 && id <= 5 }
	if err := ValidateReplicas([]int32{2, 1}, registered, 2); err != nil {
		t.Error(err)
	}
	if err := ValidateReplicas([]int32{2, 1, 3}, registered, 0); err != nil {
		t.Error(err)
	}
	err := ValidateReplicas([]int32{2, 1}, registered, 3)
	want := "The manual partition assignment includes a partition with 2 replica(s), but this is not consistent with previous partitions, which have 3 replica(s)."
	if err == nil || err.Error() != want || !errors.Is(err, ErrInvalidReplicaAssignment) {
		t.Errorf("err = %v, want %q", err, want)
	}
}

// FuzzPlace checks the invariants, and that the order of the candidates
// does not matter, on any input.
func FuzzPlace(f *testing.F) {
	f.Add(uint8(5), uint8(0), uint8(3), uint16(7), uint16(0), uint64(42))
	f.Add(uint8(6), uint8(3), uint8(3), uint16(100), uint16(3), uint64(1))
	f.Add(uint8(7), uint8(3), uint8(5), uint16(9), uint16(0), uint64(2))
	f.Add(uint8(1), uint8(0), uint8(1), uint16(1), uint16(0), uint64(0))
	f.Fuzz(func(t *testing.T, n, racks, rf uint8, p, start uint16, seed uint64) {
		// Brokers with scattered ids; racks of uneven size when n is not a
		// multiple of racks.
		bs := brokers(int(n%40)+1, int(racks%6))
		req := Request{Brokers: bs, Partitions: int(p%500) + 1, ReplicationFactor: int(rf)%len(bs) + 1,
			StartPartition: int32(start), Seed: seed}
		out, err := Place(req)
		if err != nil {
			t.Fatal(err)
		}
		r := len(bs)
		if racks%6 > 0 {
			r = int(racks % 6)
		}
		equalRacks := racks%6 == 0 || len(bs)%r == 0
		check(t, req, out, racks%6 <= 1 || equalRacks && req.ReplicationFactor <= r)
		rev := slices.Clone(bs)
		slices.Reverse(rev)
		req.Brokers = rev
		again, err := Place(req)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(out, again, slices.Equal) {
			t.Fatalf("order of candidates changed the placement")
		}
	})
}

func BenchmarkPlace(b *testing.B) {
	for _, racks := range []int{0, 5} {
		b.Run(fmt.Sprintf("partitions=10000/rf=3/brokers=50/racks=%d", racks), func(b *testing.B) {
			req := Request{Brokers: brokers(50, racks), Partitions: 10000, ReplicationFactor: 3, Seed: 1}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Place(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
