package metadata

import (
	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
)

// Helpers that build records tersely for the tests.

func tid(b byte) TopicID { var id TopicID; id[15] = b; id[0] = 0x40; return id }

func recController(id int32, addr string) *stratav1.MetadataRecord {
	return &stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_ControllerRegistration{
		ControllerRegistration: &stratav1.ControllerRegistrationRecord{ControllerId: id, Address: addr, RaftAddress: addr + "r", IncarnationId: "inc"},
	}}
}

func recBroker(id int32, epoch int64) *stratav1.MetadataRecord {
	return &stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_RegisterBroker{
		RegisterBroker: &stratav1.RegisterBrokerRecord{BrokerId: id, BrokerEpoch: epoch, Address: "127.0.0.1:1", Fenced: true},
	}}
}

func recUnregister(id int32, epoch int64) *stratav1.MetadataRecord {
	return &stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_UnregisterBroker{
		UnregisterBroker: &stratav1.UnregisterBrokerRecord{BrokerId: id, BrokerEpoch: epoch},
	}}
}

func recFence(id int32, epoch int64) *stratav1.MetadataRecord {
	return &stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_FenceBroker{
		FenceBroker: &stratav1.FenceBrokerRecord{BrokerId: id, BrokerEpoch: epoch},
	}}
}

func recUnfence(id int32, epoch int64) *stratav1.MetadataRecord {
	return &stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_UnfenceBroker{
		UnfenceBroker: &stratav1.UnfenceBrokerRecord{BrokerId: id, BrokerEpoch: epoch},
	}}
}

func recShutdown(id int32, epoch int64, on bool) *stratav1.MetadataRecord {
	return &stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_BrokerRegistrationChange{
		BrokerRegistrationChange: &stratav1.BrokerRegistrationChangeRecord{BrokerId: id, BrokerEpoch: epoch, InControlledShutdown: on},
	}}
}

func recTopic(name string, id TopicID) *stratav1.MetadataRecord {
	return &stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_Topic{
		Topic: &stratav1.TopicRecord{Name: name, TopicId: id[:]},
	}}
}

func recPartition(id TopicID, part int32, replicas, isr []int32, leader int32) *stratav1.MetadataRecord {
	return &stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_Partition{
		Partition: &stratav1.PartitionRecord{TopicId: id[:], PartitionId: part, Replicas: replicas, Isr: isr, Leader: leader},
	}}
}

// recChange builds a PartitionChangeRecord; nil slices and a leader of -2
// leave the field unset.
func recChange(id TopicID, part int32, leader int32, isr, replicas []int32) *stratav1.MetadataRecord {
	c := &stratav1.PartitionChangeRecord{TopicId: id[:], PartitionId: part}
	if leader != -2 {
		c.Leader = &leader
	}
	if isr != nil {
		c.Isr = &stratav1.BrokerIds{Ids: isr}
	}
	if replicas != nil {
		c.Replicas = &stratav1.BrokerIds{Ids: replicas}
	}
	return &stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_PartitionChange{PartitionChange: c}}
}

func recRemove(id TopicID) *stratav1.MetadataRecord {
	return &stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_RemoveTopic{
		RemoveTopic: &stratav1.RemoveTopicRecord{TopicId: id[:]},
	}}
}

func recConfig(typ stratav1.ConfigResourceType, res, name string, value *string) *stratav1.MetadataRecord {
	return &stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_Config{
		Config: &stratav1.ConfigRecord{ResourceType: typ, ResourceName: res, Name: name, Value: value},
	}}
}

func recProducerIDs(broker int32, epoch, next int64) *stratav1.MetadataRecord {
	return &stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_ProducerIds{
		ProducerIds: &stratav1.ProducerIdsRecord{BrokerId: broker, BrokerEpoch: epoch, NextProducerId: next},
	}}
}

func strp(s string) *string { return &s }

const (
	topicRes  = stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_TOPIC
	brokerRes = stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_BROKER
)

// applyAll applies records with consecutive offsets after im's.
func applyAll(im *Image, recs ...*stratav1.MetadataRecord) (*Image, error) {
	for _, r := range recs {
		r.Offset = im.Offset() + 1
		next, err := im.Apply(r)
		if err != nil {
			return im, err
		}
		im = next
	}
	return im, nil
}
