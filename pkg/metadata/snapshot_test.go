package metadata

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
)

func snapshotBytes(t testing.TB, im *Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := im.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSnapshotRoundTrip(t *testing.T) {
	im, err := applyAll(base(t),
		recConfig(topicRes, "orders", "retention.ms", strp("60000")),
		recConfig(brokerRes, "", "min.insync.replicas", strp("2")),
		recChange(tid(1), 0, 2, []int32{2, 3}, nil),
		recFence(1, 10), recShutdown(3, 12, true),
		recTopic("b.topic", tid(9)),
		recPartition(tid(9), 0, []int32{3}, []int32{3}, 3),
		recProducerIDs(2, 11, 1000), recProducerIDs(3, 12, 2000),
	)
	if err != nil {
		t.Fatal(err)
	}
	data := snapshotBytes(t, im)
	back, err := ReadSnapshot(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if back.Offset() != im.Offset() {
		t.Fatalf("offset %d, want %d", back.Offset(), im.Offset())
	}
	if err := back.Check(); err != nil {
		t.Fatal(err)
	}
	if again := snapshotBytes(t, back); !bytes.Equal(again, data) {
		t.Fatal("snapshot of the restored image differs")
	}
	p := part(t, back, "orders", 0)
	if p.Leader != 2 || p.LeaderEpoch != 1 || p.PartitionEpoch != 1 {
		t.Fatalf("restored partition %+v", p)
	}
	if b, _ := back.Broker(1); !b.Fenced || b.Epoch != 10 {
		t.Fatalf("restored broker %+v", b)
	}
	if _, ok := back.CollidingTopic("b_topic"); !ok {
		t.Fatal("collision index not restored")
	}
	if back.NextProducerID() != 2000 {
		t.Fatalf("restored next producer id %d, want 2000", back.NextProducerID())
	}
}

// The producer ids a snapshot records are one record naming no broker, and
// none while no id was allocated; a record that goes back after it is
// refused, so a controller or broker restored from a snapshot never gives an
// id twice.
func TestSnapshotProducerIDs(t *testing.T) {
	var kinds []string
	for r := range base(t).Records() {
		if r.GetProducerIds() != nil {
			kinds = append(kinds, "producer ids")
		}
	}
	if len(kinds) != 0 {
		t.Fatalf("an image without allocated producer ids has %d producer id records", len(kinds))
	}
	im, err := applyAll(base(t), recProducerIDs(1, 10, 3000))
	if err != nil {
		t.Fatal(err)
	}
	var recs []*stratav1.MetadataRecord
	for r := range im.Records() {
		if r.GetProducerIds() != nil {
			recs = append(recs, r)
		}
	}
	want := &stratav1.ProducerIdsRecord{BrokerId: -1, BrokerEpoch: -1, NextProducerId: 3000}
	if len(recs) != 1 || !proto.Equal(recs[0].GetProducerIds(), want) {
		t.Fatalf("producer id records %v, want one %v", recs, want)
	}
	back, err := ReadSnapshot(bytes.NewReader(snapshotBytes(t, im)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := applyAll(back, recProducerIDs(1, 10, 2000)); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("a record below the restored next producer id: %v", err)
	}
}

func TestReadSnapshotRejectsCorruption(t *testing.T) {
	data := snapshotBytes(t, base(t))
	for _, cut := range []int{0, 1, len(data) / 2, len(data) - 1} {
		if _, err := ReadSnapshot(bytes.NewReader(data[:cut])); !errors.Is(err, ErrCorruptSnapshot) {
			t.Errorf("cut at %d: err %v", cut, err)
		}
	}
	huge := []byte{0xff, 0xff, 0xff, 0xff, 0x0f} // a 4 GiB length
	if _, err := ReadSnapshot(bytes.NewReader(huge)); !errors.Is(err, ErrCorruptSnapshot) {
		t.Errorf("huge length: err %v", err)
	}
}

func TestEmptySnapshot(t *testing.T) {
	back, err := ReadSnapshot(bytes.NewReader(snapshotBytes(t, Empty())))
	if err != nil || back.Offset() != 0 || back.TopicCount() != 0 {
		t.Fatalf("%v %d", err, back.Offset())
	}
}
