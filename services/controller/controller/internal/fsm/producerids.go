package fsm

import (
	"math"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
)

// ProducerIDBlockSize is how many producer ids one AllocateProducerIds
// gives a broker (Kafka's block size).
const ProducerIDBlockSize = 1000

// allocateProducerIDs gives a registered broker the next block of producer
// ids, as Kafka's ProducerIdControlManager: the block starts at the image's
// next producer id, and the record moves that past the block, so no id is
// given twice, whichever controller is active.
func (b *batch) allocateProducerIDs(c *stratav1.AllocateProducerIdsCommand) ([]*stratav1.MetadataRecord, *stratav1.CommandResult) {
	br, fail := b.currentBroker(c.GetBrokerId(), c.GetBrokerEpoch())
	if fail != nil {
		return nil, fail
	}
	first := b.img.NextProducerID()
	if first > math.MaxInt64-ProducerIDBlockSize {
		return nil, failure(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_SERVER_ERROR, "producer ids are exhausted: the next one is %d", first)
	}
	b.add(&stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_ProducerIds{ProducerIds: &stratav1.ProducerIdsRecord{
		BrokerId: br.ID, BrokerEpoch: br.Epoch, NextProducerId: first + ProducerIDBlockSize,
	}}})
	res := ok()
	res.Result = &stratav1.CommandResult_AllocateProducerIds{AllocateProducerIds: &stratav1.AllocateProducerIdsResponse{
		FirstProducerId: first, Count: ProducerIDBlockSize,
	}}
	return b.recs, res
}
