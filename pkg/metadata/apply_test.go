package metadata

import (
	"errors"
	"slices"
	"strings"
	"testing"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
)

// base is three unfenced brokers and topic "orders" with two partitions on
// all three, led by broker 1.
func base(t *testing.T) *Image {
	t.Helper()
	im, err := applyAll(Empty(),
		recController(1, "c1"),
		recBroker(1, 10), recBroker(2, 11), recBroker(3, 12),
		recUnfence(1, 10), recUnfence(2, 11), recUnfence(3, 12),
		recTopic("orders", tid(1)),
		recPartition(tid(1), 0, []int32{1, 2, 3}, []int32{1, 2, 3}, 1),
		recPartition(tid(1), 1, []int32{2, 3, 1}, []int32{2, 3, 1}, 2),
	)
	if err != nil {
		t.Fatalf("base: %v", err)
	}
	return im
}

func part(t *testing.T, im *Image, name string, id int32) *Partition {
	t.Helper()
	tp, ok := im.Topic(name)
	if !ok {
		t.Fatalf("topic %q missing", name)
	}
	p, ok := tp.Partition(id)
	if !ok {
		t.Fatalf("%s-%d missing", name, id)
	}
	return p
}

func TestApply(t *testing.T) {
	tests := []struct {
		name    string
		recs    []*stratav1.MetadataRecord
		wantErr string // substring; empty for success
		check   func(t *testing.T, im *Image)
	}{
		{name: "controller registration", recs: sl(recController(2, "c2")), check: func(t *testing.T, im *Image) {
			c, ok := im.Controller(2)
			if !ok || c.Address != "c2" || c.RaftAddress != "c2r" {
				t.Fatalf("controller 2 = %+v", c)
			}
		}},
		{name: "controller re-registration replaces", recs: sl(recController(1, "c1b")), check: func(t *testing.T, im *Image) {
			if c, _ := im.Controller(1); c.Address != "c1b" {
				t.Fatalf("address %q", c.Address)
			}
		}},
		{name: "negative controller id", recs: sl(recController(-1, "x")), wantErr: "controller id -1"},
		{name: "register new broker fenced", recs: sl(recBroker(4, 20)), check: func(t *testing.T, im *Image) {
			b, ok := im.Broker(4)
			if !ok || !b.Fenced || b.Epoch != 20 {
				t.Fatalf("broker 4 = %+v", b)
			}
		}},
		{name: "re-register with a newer epoch", recs: sl(recBroker(1, 30)), check: func(t *testing.T, im *Image) {
			if b, _ := im.Broker(1); b.Epoch != 30 || !b.Fenced {
				t.Fatalf("broker 1 = %+v", b)
			}
		}},
		{name: "re-register with an older epoch", recs: sl(recBroker(1, 5)), wantErr: "epoch 5 is not after the registered epoch 10"},
		{name: "re-register with the same epoch", recs: sl(recBroker(1, 10)), wantErr: "not after"},
		{name: "negative broker id", recs: sl(recBroker(-3, 1)), wantErr: "broker id -3"},
		{name: "unregister", recs: sl(recUnregister(3, 12)), check: func(t *testing.T, im *Image) {
			if _, ok := im.Broker(3); ok {
				t.Fatal("broker 3 still registered")
			}
		}},
		{name: "unregister stale epoch", recs: sl(recUnregister(3, 11)), wantErr: "epoch 11 is not the registered epoch 12"},
		{name: "unregister unknown", recs: sl(recUnregister(9, 1)), wantErr: "broker 9 is not registered"},
		{name: "fence", recs: sl(recFence(2, 11)), check: func(t *testing.T, im *Image) {
			if b, _ := im.Broker(2); !b.Fenced {
				t.Fatal("not fenced")
			}
		}},
		{name: "fence stale epoch", recs: sl(recFence(2, 10)), wantErr: "not the registered epoch"},
		{name: "unfence unknown broker", recs: sl(recUnfence(7, 1)), wantErr: "not registered"},
		{name: "controlled shutdown flag", recs: sl(recShutdown(2, 11, true)), check: func(t *testing.T, im *Image) {
			if b, _ := im.Broker(2); !b.InControlledShutdown {
				t.Fatal("not in controlled shutdown")
			}
		}},
		{name: "controlled shutdown stale", recs: sl(recShutdown(2, 1, true)), wantErr: "not the registered epoch"},
		{name: "topic", recs: sl(recTopic("payments", tid(2))), check: func(t *testing.T, im *Image) {
			tp, ok := im.Topic("payments")
			if !ok || tp.ID != tid(2) || len(tp.Partitions) != 0 {
				t.Fatalf("payments = %+v", tp)
			}
			if byID, _ := im.TopicByID(tid(2)); byID != tp {
				t.Fatal("by id differs from by name")
			}
		}},
		{name: "topic name taken", recs: sl(recTopic("orders", tid(2))), wantErr: `topic "orders" already exists`},
		{name: "topic id taken", recs: sl(recTopic("other", tid(1))), wantErr: `already used by topic "orders"`},
		{name: "topic zero id", recs: sl(recTopic("other", ZeroTopicID)), wantErr: "zero topic id"},
		{name: "topic short id", recs: sl(&stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_Topic{Topic: &stratav1.TopicRecord{Name: "x", TopicId: []byte{1}}}}), wantErr: "16 bytes"},
		{name: "topic illegal name", recs: sl(recTopic("a/b", tid(2))), wantErr: "illegal"},
		{name: "topic colliding name", recs: sl(recTopic("my.t", tid(2)), recTopic("my_t", tid(3))), wantErr: `collides with existing topic "my.t"`},
		{name: "partition", recs: sl(recPartition(tid(1), 2, []int32{3, 1}, []int32{3}, 3)), check: func(t *testing.T, im *Image) {
			p := part(t, im, "orders", 2)
			if p.Leader != 3 || !slices.Equal(p.Replicas, []int32{3, 1}) || im.PartitionCount() != 3 {
				t.Fatalf("partition = %+v, count %d", p, im.PartitionCount())
			}
		}},
		{name: "offline partition", recs: sl(recPartition(tid(1), 2, []int32{3}, nil, NoLeader)), check: func(t *testing.T, im *Image) {
			if p := part(t, im, "orders", 2); p.Leader != NoLeader {
				t.Fatalf("leader %d", p.Leader)
			}
		}},
		{name: "partition gap", recs: sl(recPartition(tid(1), 3, []int32{1}, []int32{1}, 1)), wantErr: "not the next partition id 2"},
		{name: "partition duplicate", recs: sl(recPartition(tid(1), 1, []int32{1}, []int32{1}, 1)), wantErr: "not the next partition id"},
		{name: "partition unknown topic", recs: sl(recPartition(tid(9), 0, []int32{1}, []int32{1}, 1)), wantErr: "unknown topic id"},
		{name: "partition no replicas", recs: sl(recPartition(tid(1), 2, nil, nil, NoLeader)), wantErr: "no replicas"},
		{name: "partition duplicate replica", recs: sl(recPartition(tid(1), 2, []int32{1, 1}, []int32{1}, 1)), wantErr: "broker 1 twice"},
		{name: "partition ISR not subset", recs: sl(recPartition(tid(1), 2, []int32{1, 2}, []int32{1, 3}, 1)), wantErr: "ISR member 3 is not a replica"},
		{name: "partition leader outside ISR", recs: sl(recPartition(tid(1), 2, []int32{1, 2}, []int32{1}, 2)), wantErr: "leader 2 is not in the ISR"},
		{name: "partition negative epoch", recs: sl(&stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_Partition{Partition: &stratav1.PartitionRecord{TopicId: idb(tid(1)), PartitionId: 2, Replicas: []int32{1}, Isr: []int32{1}, Leader: 1, LeaderEpoch: -1}}}), wantErr: "negative epoch"},
		{name: "leader change bumps both epochs", recs: sl(recChange(tid(1), 0, 2, nil, nil)), check: func(t *testing.T, im *Image) {
			p := part(t, im, "orders", 0)
			if p.Leader != 2 || p.LeaderEpoch != 1 || p.PartitionEpoch != 1 {
				t.Fatalf("partition = %+v", p)
			}
		}},
		{name: "ISR shrink bumps partition epoch only", recs: sl(recChange(tid(1), 0, -2, []int32{1, 2}, nil)), check: func(t *testing.T, im *Image) {
			p := part(t, im, "orders", 0)
			if p.Leader != 1 || p.LeaderEpoch != 0 || p.PartitionEpoch != 1 || !slices.Equal(p.ISR, []int32{1, 2}) {
				t.Fatalf("partition = %+v", p)
			}
		}},
		{name: "same leader does not bump the leader epoch", recs: sl(recChange(tid(1), 0, 1, []int32{1}, nil)), check: func(t *testing.T, im *Image) {
			if p := part(t, im, "orders", 0); p.LeaderEpoch != 0 || p.PartitionEpoch != 1 {
				t.Fatalf("partition = %+v", p)
			}
		}},
		{name: "go offline", recs: sl(recChange(tid(1), 0, NoLeader, []int32{}, nil)), check: func(t *testing.T, im *Image) {
			p := part(t, im, "orders", 0)
			if p.Leader != NoLeader || len(p.ISR) != 0 || p.LeaderEpoch != 1 {
				t.Fatalf("partition = %+v", p)
			}
		}},
		{name: "reassign replicas", recs: sl(recChange(tid(1), 0, 3, []int32{3}, []int32{3, 4})), check: func(t *testing.T, im *Image) {
			if p := part(t, im, "orders", 0); !slices.Equal(p.Replicas, []int32{3, 4}) || p.Leader != 3 {
				t.Fatalf("partition = %+v", p)
			}
		}},
		{name: "change leader outside ISR", recs: sl(recChange(tid(1), 0, 3, []int32{1, 2}, nil)), wantErr: "leader 3 is not in the ISR"},
		{name: "change ISR drops the leader", recs: sl(recChange(tid(1), 0, -2, []int32{2, 3}, nil)), wantErr: "leader 1 is not in the ISR"},
		{name: "change replicas leaves ISR outside", recs: sl(recChange(tid(1), 0, -2, nil, []int32{1, 2})), wantErr: "ISR member 3 is not a replica"},
		{name: "change unknown partition", recs: sl(recChange(tid(1), 5, 1, nil, nil)), wantErr: "has no partition 5"},
		{name: "change unknown topic", recs: sl(recChange(tid(8), 0, 1, nil, nil)), wantErr: "unknown topic id"},
		{name: "remove topic", recs: sl(recRemove(tid(1))), check: func(t *testing.T, im *Image) {
			if _, ok := im.Topic("orders"); ok || im.TopicCount() != 0 || im.PartitionCount() != 0 {
				t.Fatalf("topic still there: %d topics, %d partitions", im.TopicCount(), im.PartitionCount())
			}
		}},
		{name: "remove then recreate with a new id", recs: sl(recRemove(tid(1)), recTopic("orders", tid(5))), check: func(t *testing.T, im *Image) {
			if tp, _ := im.Topic("orders"); tp.ID != tid(5) {
				t.Fatalf("id %s", tp.ID)
			}
		}},
		{name: "remove unknown topic", recs: sl(recRemove(tid(4))), wantErr: "unknown topic id"},
		{name: "topic config set and delete", recs: sl(recConfig(topicRes, "orders", "retention.ms", strp("1000")), recConfig(topicRes, "orders", "cleanup.policy", strp("compact")), recConfig(topicRes, "orders", "retention.ms", nil)), check: func(t *testing.T, im *Image) {
			tp, _ := im.Topic("orders")
			if len(tp.Configs) != 1 || tp.Configs["cleanup.policy"] != "compact" {
				t.Fatalf("configs %v", tp.Configs)
			}
		}},
		{name: "topic config unknown topic", recs: sl(recConfig(topicRes, "nope", "retention.ms", strp("1"))), wantErr: `unknown topic "nope"`},
		{name: "broker config", recs: sl(recConfig(brokerRes, "", "min.insync.replicas", strp("2")), recConfig(brokerRes, "2", "x", strp("y"))), check: func(t *testing.T, im *Image) {
			if im.BrokerConfigs("")["min.insync.replicas"] != "2" || im.BrokerConfigs("2")["x"] != "y" {
				t.Fatalf("configs %v %v", im.BrokerConfigs(""), im.BrokerConfigs("2"))
			}
		}},
		{name: "broker config deleted to empty is dropped", recs: sl(recConfig(brokerRes, "2", "x", strp("y")), recConfig(brokerRes, "2", "x", nil)), check: func(t *testing.T, im *Image) {
			if n := len(slices.Collect(im.BrokerConfigResources())); n != 0 {
				t.Fatalf("%d resources left", n)
			}
		}},
		{name: "broker config bad resource", recs: sl(recConfig(brokerRes, "01", "x", strp("y"))), wantErr: "not a broker id"},
		{name: "config without type", recs: sl(recConfig(stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_UNSPECIFIED, "", "x", strp("y"))), wantErr: "unknown resource type"},
		{name: "config without name", recs: sl(recConfig(brokerRes, "", "", strp("y"))), wantErr: "without a name"},
		{name: "producer ids", recs: sl(recProducerIDs(1, 10, 1000), recProducerIDs(2, 11, 2000)), check: func(t *testing.T, im *Image) {
			if n := im.NextProducerID(); n != 2000 {
				t.Fatalf("next producer id %d, want 2000", n)
			}
		}},
		{name: "producer ids again", recs: sl(recProducerIDs(1, 10, 1000), recProducerIDs(2, 11, 1000)),
			wantErr: "next producer id 1000 is not after the allocated ones (next 1000)"},
		{name: "producer ids back", recs: sl(recProducerIDs(1, 10, 2000), recProducerIDs(1, 10, 1000)), wantErr: "next producer id 1000 is not after"},
		{name: "producer ids zero", recs: sl(recProducerIDs(1, 10, 0)), wantErr: "next producer id 0 is not after the allocated ones (next 0)"},
		{name: "producer ids negative", recs: sl(recProducerIDs(1, 10, -1000)), wantErr: "next producer id -1000"},
		{name: "no-op", recs: sl(&stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_NoOp{NoOp: &stratav1.NoOpRecord{}}})},
		{name: "empty record", recs: sl(&stratav1.MetadataRecord{}), wantErr: "no content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := base(t)
			snapBefore := snapshotBytes(t, before)
			im, err := applyAll(before, tt.recs...)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrInvalidRecord) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrInvalidRecord containing %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if err := im.Check(); err != nil {
				t.Fatalf("invariants: %v", err)
			}
			if got := snapshotBytes(t, before); string(got) != string(snapBefore) {
				t.Fatal("applying changed the base image")
			}
			if tt.check != nil {
				tt.check(t, im)
			}
		})
	}
}

func TestApplyRejectsOldOffsets(t *testing.T) {
	im := base(t)
	for _, off := range []int64{0, im.Offset() - 1, im.Offset()} {
		r := recController(5, "x")
		r.Offset = off
		got, err := im.Apply(r)
		if !errors.Is(err, ErrInvalidRecord) || got != im {
			t.Fatalf("offset %d: err %v, image changed %v", off, err, got != im)
		}
	}
	r := recController(5, "x")
	r.Offset = im.Offset() + 10 // offsets must grow, not be consecutive
	got, err := im.Apply(r)
	if err != nil || got.Offset() != im.Offset()+10 {
		t.Fatalf("err %v offset %d", err, got.Offset())
	}
}

func TestDeltaBatchesWithoutTouchingEarlierImages(t *testing.T) {
	im := base(t)
	d := NewDelta(im)
	id := tid(7)
	recs := sl(recTopic("big", id))
	for p := int32(0); p < 1000; p++ {
		recs = append(recs, recPartition(id, p, []int32{1, 2}, []int32{1, 2}, 1))
	}
	for i, r := range recs {
		r.Offset = im.Offset() + int64(i) + 1
		if err := d.Replay(r); err != nil {
			t.Fatal(err)
		}
	}
	mid := d.Apply()
	// Go on after Apply: mid must not see the later change.
	c := recChange(id, 5, 2, nil, nil)
	c.Offset = d.Offset() + 1
	if err := d.Replay(c); err != nil {
		t.Fatal(err)
	}
	after := d.Apply()
	if p := part(t, mid, "big", 5); p.Leader != 1 {
		t.Fatalf("earlier image changed: leader %d", p.Leader)
	}
	if p := part(t, after, "big", 5); p.Leader != 2 {
		t.Fatalf("later image: leader %d", p.Leader)
	}
	if _, ok := im.Topic("big"); ok {
		t.Fatal("base image changed")
	}
	for _, x := range []*Image{mid, after} {
		if err := x.Check(); err != nil {
			t.Fatal(err)
		}
	}
	if mid.PartitionCount() != 1002 {
		t.Fatalf("partitions %d", mid.PartitionCount())
	}
}

func TestDeltaFailedReplayLeavesNoTrace(t *testing.T) {
	im := base(t)
	d := NewDelta(im)
	bad := recChange(tid(1), 0, 3, []int32{1}, nil) // leader outside ISR
	bad.Offset = im.Offset() + 1
	if err := d.Replay(bad); err == nil {
		t.Fatal("want error")
	}
	if d.Offset() != im.Offset() {
		t.Fatalf("offset moved to %d", d.Offset())
	}
	if p := part(t, d.Apply(), "orders", 0); p.PartitionEpoch != 0 || p.Leader != 1 {
		t.Fatalf("partition changed: %+v", p)
	}
}

func TestValidateTopicName(t *testing.T) {
	long := strings.Repeat("a", 250)
	for _, tc := range []struct {
		name, want string
	}{
		{"orders", ""}, {"a.b_c-D9", ""}, {strings.Repeat("x", 249), ""},
		{"", "can't be empty"}, {".", `cannot be "." or ".."`}, {"..", `cannot be "." or ".."`},
		{long, "can't be longer than 249 characters"}, {"a/b", "character other than"},
		{"../x", "character other than"}, {"a b", "character other than"}, {"ü", "character other than"},
		{"a\x00", "character other than"},
	} {
		err := ValidateTopicName(tc.name)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidTopicName) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestTopicID(t *testing.T) {
	id := NewTopicID()
	if id == ZeroTopicID || id[6]>>4 != 4 {
		t.Fatalf("id %x is not a v4 UUID", id)
	}
	s := id.String()
	if len(s) != 22 {
		t.Fatalf("String %q has %d characters", s, len(s))
	}
	back, err := ParseTopicID(s)
	if err != nil || back != id {
		t.Fatalf("ParseTopicID(%q) = %v, %v", s, back, err)
	}
	if _, err := ParseTopicID("AAAA"); err == nil {
		t.Fatal("short id accepted")
	}
	if _, err := ParseTopicID("!!"); err == nil {
		t.Fatal("bad base64 accepted")
	}
}

func sl(r ...*stratav1.MetadataRecord) []*stratav1.MetadataRecord { return r }

func idb(id TopicID) []byte { return id[:] }
