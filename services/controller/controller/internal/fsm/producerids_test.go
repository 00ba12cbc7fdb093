package fsm

import (
	"math"
	"testing"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
)

func allocateCmd(id int32, epoch int64) *stratav1.MetadataCommand {
	return &stratav1.MetadataCommand{Command: &stratav1.MetadataCommand_AllocateProducerIds{
		AllocateProducerIds: &stratav1.AllocateProducerIdsCommand{BrokerId: id, BrokerEpoch: epoch},
	}}
}

// Blocks follow each other whichever broker asks, and each is a record, so
// the next one starts after it on every controller.
func TestAllocateProducerIDs(t *testing.T) {
	h := newHarness(t)
	h.addBrokers(1, 2)
	h.fence(2) // a fenced broker may still allocate, as in Kafka: only its epoch counts
	for i, id := range []int32{1, 2, 1} {
		recs, res := h.run(allocateCmd(id, h.epoch(id)))
		if res.GetErrorCode() != codeNone {
			t.Fatalf("allocation %d: %v", i, res)
		}
		wantKinds(t, recs, "ProducerIds")
		first := int64(i) * ProducerIDBlockSize
		if got := res.GetAllocateProducerIds(); got.GetFirstProducerId() != first || got.GetCount() != ProducerIDBlockSize {
			t.Errorf("allocation %d for broker %d: %v, want first %d, count %d", i, id, got, first, ProducerIDBlockSize)
		}
		r := recs[0].GetProducerIds()
		if r.GetBrokerId() != id || r.GetBrokerEpoch() != h.epoch(id) || r.GetNextProducerId() != first+ProducerIDBlockSize {
			t.Errorf("allocation %d: record %v", i, r)
		}
		if h.img.NextProducerID() != first+ProducerIDBlockSize {
			t.Errorf("allocation %d: next producer id %d", i, h.img.NextProducerID())
		}
	}
}

func TestAllocateProducerIDsExhausted(t *testing.T) {
	h := newHarness(t)
	h.addBrokers(1)
	img, err := h.img.Apply(&stratav1.MetadataRecord{Offset: h.img.Offset() + 1, Record: &stratav1.MetadataRecord_ProducerIds{
		ProducerIds: &stratav1.ProducerIdsRecord{BrokerId: 1, NextProducerId: math.MaxInt64 - ProducerIDBlockSize + 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// Not through the harness, which takes UNKNOWN_SERVER_ERROR for a bug.
	recs, res := Plan(img, allocateCmd(1, h.epoch(1)))
	checkError(t, "allocate", res.GetErrorCode(), res.GetErrorMessage(), codeInternal, "producer ids are exhausted")
	if len(recs) != 0 {
		t.Errorf("records %v", recs)
	}
}
