package metadata

import (
	"bytes"
	"testing"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
)

// recordSource turns fuzz bytes into records over a small id space, so that
// sequences often refer to things that exist, collide and conflict.
type recordSource struct{ data []byte }

func (s *recordSource) byte() byte {
	if len(s.data) == 0 {
		return 0
	}
	b := s.data[0]
	s.data = s.data[1:]
	return b
}

func (s *recordSource) small(n int) int32 { return int32(int(s.byte()) % n) }

func (s *recordSource) ids(max int) []int32 {
	n := int(s.byte()) % (max + 1)
	out := make([]int32, 0, n)
	for range n {
		out = append(out, s.small(6)-1) // -1 now and then
	}
	return out
}

var fuzzNames = []string{"a", "b", "a.b", "a_b", "c-1", "", ".", "x/y"}

func (s *recordSource) next() *stratav1.MetadataRecord {
	topic := tid(byte(s.small(4)))
	if s.small(16) == 0 {
		topic = ZeroTopicID
	}
	broker := s.small(5) - 1
	epoch := int64(s.small(8))
	switch s.byte() % 14 {
	case 0:
		return recController(s.small(4)-1, "c")
	case 1:
		return recBroker(broker, epoch)
	case 2:
		return recUnregister(broker, epoch)
	case 3:
		return recFence(broker, epoch)
	case 4:
		return recUnfence(broker, epoch)
	case 5:
		return recShutdown(broker, epoch, s.byte()&1 == 1)
	case 6:
		return recTopic(fuzzNames[s.small(len(fuzzNames))], topic)
	case 7:
		r := recPartition(topic, s.small(4)-1, s.ids(4), s.ids(4), s.small(6)-1)
		r.GetPartition().LeaderEpoch = s.small(4) - 1
		return r
	case 8:
		leader := s.small(7) - 2
		var isr, replicas []int32
		if s.byte()&1 == 1 {
			isr = s.ids(4)
		}
		if s.byte()&1 == 1 {
			replicas = s.ids(4)
		}
		return recChange(topic, s.small(4)-1, leader, isr, replicas)
	case 9:
		return recRemove(topic)
	case 10:
		var v *string
		if s.byte()&1 == 1 {
			v = strp("v")
		}
		typ := stratav1.ConfigResourceType(s.small(5))
		return recConfig(typ, fuzzNames[s.small(len(fuzzNames))], []string{"k", "", "retention.ms"}[s.small(3)], v)
	case 11:
		return &stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_NoOp{NoOp: &stratav1.NoOpRecord{}}}
	case 12:
		// Often not after the current next id: 0, 1000, 2000 or 3000.
		return recProducerIDs(broker, epoch, int64(s.small(4))*1000)
	default:
		return &stratav1.MetadataRecord{}
	}
}

// FuzzApply applies random record sequences: Apply never panics, a rejected
// record leaves the image as it was, every image keeps its invariants,
// epochs and the next producer id never go back, and every image survives
// a snapshot round trip.
func FuzzApply(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 1, 3, 4, 1, 3, 6, 6, 1, 1, 7, 1, 1, 3, 1, 2, 3, 2, 1, 2, 3, 2, 1, 8, 1, 1, 4, 1, 1, 2, 1, 3, 9, 1})
	f.Add(bytes.Repeat([]byte{6, 1, 2, 7, 2, 1, 2, 2, 2, 1, 2, 2, 8, 3, 2, 1}, 8))
	f.Fuzz(func(t *testing.T, data []byte) {
		src := &recordSource{data: data}
		im := Empty()
		for step := 0; len(src.data) > 0 && step < 200; step++ {
			rec := src.next()
			rec.Offset = im.Offset() + 1
			before := snapshotBytes(t, im)
			next, err := im.Apply(rec)
			if err != nil {
				if next != im {
					t.Fatalf("step %d: rejected record returned another image", step)
				}
				if !bytes.Equal(snapshotBytes(t, im), before) {
					t.Fatalf("step %d: rejected record changed the image", step)
				}
				continue
			}
			if err := next.Check(); err != nil {
				t.Fatalf("step %d: %v after %v", step, err, rec)
			}
			checkEpochsGrow(t, im, next)
			im = next
		}
		back, err := ReadSnapshot(bytes.NewReader(snapshotBytes(t, im)))
		if err != nil {
			t.Fatalf("snapshot does not load: %v", err)
		}
		if !bytes.Equal(snapshotBytes(t, back), snapshotBytes(t, im)) {
			t.Fatal("snapshot round trip differs")
		}
	})
}

func checkEpochsGrow(t *testing.T, prev, next *Image) {
	t.Helper()
	if next.NextProducerID() < prev.NextProducerID() {
		t.Fatalf("next producer id went from %d to %d", prev.NextProducerID(), next.NextProducerID())
	}
	for b := range prev.Brokers() {
		if nb, ok := next.Broker(b.ID); ok && nb.Epoch < b.Epoch {
			t.Fatalf("broker %d epoch went from %d to %d", b.ID, b.Epoch, nb.Epoch)
		}
	}
	for tp := range prev.TopicsByID() {
		nt, ok := next.TopicByID(tp.ID)
		if !ok {
			continue
		}
		if nt.Name != tp.Name {
			t.Fatalf("topic %s renamed from %q to %q", tp.ID, tp.Name, nt.Name)
		}
		for _, p := range tp.Partitions {
			np, ok := nt.Partition(p.ID)
			if !ok {
				t.Fatalf("%s-%d disappeared", tp.Name, p.ID)
			}
			if np.LeaderEpoch < p.LeaderEpoch || np.PartitionEpoch < p.PartitionEpoch {
				t.Fatalf("%s-%d epochs went back: %+v -> %+v", tp.Name, p.ID, p, np)
			}
			if np.Leader != p.Leader && np.LeaderEpoch == p.LeaderEpoch {
				t.Fatalf("%s-%d leader changed without a new epoch", tp.Name, p.ID)
			}
		}
	}
}
