package fsm

import (
	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/metadata"
)

func (b *batch) registerController(c *stratav1.RegisterControllerCommand) ([]*stratav1.MetadataRecord, *stratav1.CommandResult) {
	r := c.GetController()
	if r.GetControllerId() < 0 {
		return nil, failure(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "controller id %d is negative", r.GetControllerId())
	}
	if old, found := b.img.Controller(r.GetControllerId()); found && old.Address == r.GetAddress() &&
		old.RaftAddress == r.GetRaftAddress() && old.IncarnationID == r.GetIncarnationId() {
		return nil, ok()
	}
	b.add(&stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_ControllerRegistration{ControllerRegistration: r}})
	return b.recs, ok()
}

func (b *batch) registerBroker(c *stratav1.RegisterBrokerCommand) ([]*stratav1.MetadataRecord, *stratav1.CommandResult) {
	id := c.GetBrokerId()
	if id < 0 {
		return nil, failure(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "broker id %d is negative", id)
	}
	if old, ok := b.img.Broker(id); ok && !old.Fenced && old.IncarnationID != c.GetIncarnationId() && !c.GetPreviousSessionExpired() {
		return nil, failure(stratav1.ErrorCode_ERROR_CODE_DUPLICATE_BROKER_REGISTRATION,
			"broker %d is registered by another live incarnation (%s); it may register again once that session expires", id, old.IncarnationID)
	}
	// A new registration starts fenced: the broker's replicas leave the ISRs
	// and it leads nothing until it has caught up and is unfenced.
	if _, ok := b.img.Broker(id); ok {
		b.removeFromPartitions(id, false)
	}
	epoch := b.nextOffset()
	b.add(&stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_RegisterBroker{RegisterBroker: &stratav1.RegisterBrokerRecord{
		BrokerId: id, BrokerEpoch: epoch, IncarnationId: c.GetIncarnationId(),
		Address: c.GetAddress(), Rack: c.GetRack(), Fenced: true,
	}}})
	res := ok()
	res.Result = &stratav1.CommandResult_BrokerEpoch{BrokerEpoch: epoch}
	return b.recs, res
}

// currentBroker checks a broker's epoch.
func (b *batch) currentBroker(id int32, epoch int64) (*metadata.Broker, *stratav1.CommandResult) {
	br, ok := b.img.Broker(id)
	if !ok {
		return nil, failure(stratav1.ErrorCode_ERROR_CODE_STALE_BROKER_EPOCH, "broker %d is not registered", id)
	}
	if br.Epoch != epoch {
		return nil, failure(stratav1.ErrorCode_ERROR_CODE_STALE_BROKER_EPOCH,
			"broker %d: epoch %d is not the current broker epoch %d", id, epoch, br.Epoch)
	}
	return br, nil
}

func (b *batch) unfenceBroker(c *stratav1.UnfenceBrokerCommand) ([]*stratav1.MetadataRecord, *stratav1.CommandResult) {
	br, fail := b.currentBroker(c.GetBrokerId(), c.GetBrokerEpoch())
	if fail != nil {
		return nil, fail
	}
	if !br.Fenced {
		return nil, ok()
	}
	b.add(&stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_UnfenceBroker{UnfenceBroker: &stratav1.UnfenceBrokerRecord{
		BrokerId: br.ID, BrokerEpoch: br.Epoch,
	}}})
	if !br.InControlledShutdown { // a broker on its way out takes no leadership
		b.leadOfflinePartitions(br.ID)
	}
	return b.recs, ok()
}

func (b *batch) fenceBroker(c *stratav1.FenceBrokerCommand) ([]*stratav1.MetadataRecord, *stratav1.CommandResult) {
	br, fail := b.currentBroker(c.GetBrokerId(), c.GetBrokerEpoch())
	if fail != nil {
		return nil, fail
	}
	if br.Fenced {
		return nil, ok()
	}
	b.add(&stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_FenceBroker{FenceBroker: &stratav1.FenceBrokerRecord{
		BrokerId: br.ID, BrokerEpoch: br.Epoch,
	}}})
	b.removeFromPartitions(br.ID, false)
	return b.recs, ok()
}

func (b *batch) controlledShutdown(c *stratav1.ControlledShutdownCommand) ([]*stratav1.MetadataRecord, *stratav1.CommandResult) {
	br, fail := b.currentBroker(c.GetBrokerId(), c.GetBrokerEpoch())
	if fail != nil {
		return nil, fail
	}
	if !br.InControlledShutdown {
		b.add(&stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_BrokerRegistrationChange{
			BrokerRegistrationChange: &stratav1.BrokerRegistrationChangeRecord{BrokerId: br.ID, BrokerEpoch: br.Epoch, InControlledShutdown: true},
		}})
	}
	b.removeFromPartitions(br.ID, true)
	return b.recs, ok()
}

func (b *batch) unregisterBroker(c *stratav1.UnregisterBrokerCommand) ([]*stratav1.MetadataRecord, *stratav1.CommandResult) {
	br, found := b.img.Broker(c.GetBrokerId())
	if !found {
		return nil, failure(stratav1.ErrorCode_ERROR_CODE_BROKER_NOT_AVAILABLE, "broker %d is not registered", c.GetBrokerId())
	}
	if !br.Fenced {
		b.removeFromPartitions(br.ID, false)
	}
	b.add(&stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_UnregisterBroker{UnregisterBroker: &stratav1.UnregisterBrokerRecord{
		BrokerId: br.ID, BrokerEpoch: br.Epoch,
	}}})
	return b.recs, ok()
}
