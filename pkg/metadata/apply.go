package metadata

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
)

// ErrInvalidRecord is wrapped by every error of Apply: the record would
// break an invariant of the image, or refers to something that does not
// exist. The image is left unchanged.
var ErrInvalidRecord = errors.New("metadata: invalid record")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRecord, fmt.Sprintf(format, args...))
}

// Apply returns the image after rec. The record's offset must be larger than
// the image's. On error the receiver is returned unchanged with the error.
func (im *Image) Apply(rec *stratav1.MetadataRecord) (*Image, error) {
	d := NewDelta(im)
	if err := d.Replay(rec); err != nil {
		return im, err
	}
	return d.Apply(), nil
}

// Delta collects records on top of an image and builds the image after them
// in one step (as Kafka's MetadataDelta), so that a batch of records, such as
// the thousands of PartitionRecords of one new topic, costs time linear in
// its size. A Delta is not safe for concurrent use; the base image is never
// modified.
type Delta struct {
	next Image
	// owned holds topics copied by this delta, which it may change in place.
	owned map[TopicID]*Topic
}

// NewDelta starts a delta on base.
func NewDelta(base *Image) *Delta {
	return &Delta{next: *base}
}

// Offset is the offset of the last record replayed (or the base's).
func (d *Delta) Offset() int64 { return d.next.offset }

// Image returns a read-only view of the delta's current state. It is only
// valid until the next Replay.
func (d *Delta) Image() *Image { return &d.next }

// Replay applies one record whose offset must be larger than the last one.
// A record that fails leaves the delta as it was.
func (d *Delta) Replay(rec *stratav1.MetadataRecord) error {
	if rec.GetOffset() <= d.next.offset {
		return invalid("offset %d is not after the image's offset %d", rec.GetOffset(), d.next.offset)
	}
	if err := d.replay(rec); err != nil {
		return err
	}
	d.next.offset = rec.GetOffset()
	return nil
}

// Apply returns the image with every replayed record. The delta may go on
// replaying afterwards.
func (d *Delta) Apply() *Image {
	im := d.next
	d.owned = nil // the new image shares the owned topics: copy again on change
	return &im
}

// replay applies one record without looking at its offset. Every handler
// checks everything before it changes anything.
func (d *Delta) replay(rec *stratav1.MetadataRecord) error {
	switch r := rec.GetRecord().(type) {
	case *stratav1.MetadataRecord_ControllerRegistration:
		return d.controllerRegistration(r.ControllerRegistration)
	case *stratav1.MetadataRecord_RegisterBroker:
		return d.registerBroker(r.RegisterBroker)
	case *stratav1.MetadataRecord_UnregisterBroker:
		return d.unregisterBroker(r.UnregisterBroker)
	case *stratav1.MetadataRecord_FenceBroker:
		return d.changeBroker(r.FenceBroker.GetBrokerId(), r.FenceBroker.GetBrokerEpoch(), func(b *Broker) { b.Fenced = true })
	case *stratav1.MetadataRecord_UnfenceBroker:
		return d.changeBroker(r.UnfenceBroker.GetBrokerId(), r.UnfenceBroker.GetBrokerEpoch(), func(b *Broker) { b.Fenced = false })
	case *stratav1.MetadataRecord_BrokerRegistrationChange:
		c := r.BrokerRegistrationChange
		return d.changeBroker(c.GetBrokerId(), c.GetBrokerEpoch(), func(b *Broker) { b.InControlledShutdown = c.GetInControlledShutdown() })
	case *stratav1.MetadataRecord_Topic:
		return d.topic(r.Topic)
	case *stratav1.MetadataRecord_Partition:
		return d.partition(r.Partition)
	case *stratav1.MetadataRecord_PartitionChange:
		return d.partitionChange(r.PartitionChange)
	case *stratav1.MetadataRecord_RemoveTopic:
		return d.removeTopic(r.RemoveTopic)
	case *stratav1.MetadataRecord_Config:
		return d.config(r.Config)
	case *stratav1.MetadataRecord_ProducerIds:
		return d.producerIDs(r.ProducerIds)
	case *stratav1.MetadataRecord_NoOp:
		return nil
	case nil:
		return invalid("record at offset %d has no content", rec.GetOffset())
	default:
		return invalid("unknown record type %T", r)
	}
}

// mutableTopic returns a copy of t that the delta owns and may change in
// place; the copy is already stored in the delta's topics.
func (d *Delta) mutableTopic(t *Topic) *Topic {
	if o, ok := d.owned[t.ID]; ok {
		return o
	}
	nt := *t
	nt.Partitions = slices.Clone(t.Partitions)
	if d.owned == nil {
		d.owned = make(map[TopicID]*Topic)
	}
	d.owned[t.ID] = &nt
	d.next.topics = d.next.topics.Set(t.ID, &nt)
	return &nt
}

func (d *Delta) controllerRegistration(r *stratav1.ControllerRegistrationRecord) error {
	if r.GetControllerId() < 0 {
		return invalid("controller id %d is negative", r.GetControllerId())
	}
	d.next.controllers = d.next.controllers.Set(r.GetControllerId(), &Controller{
		ID:            r.GetControllerId(),
		IncarnationID: r.GetIncarnationId(),
		Address:       r.GetAddress(),
		RaftAddress:   r.GetRaftAddress(),
	})
	return nil
}

func (d *Delta) registerBroker(r *stratav1.RegisterBrokerRecord) error {
	id := r.GetBrokerId()
	if id < 0 {
		return invalid("broker id %d is negative", id)
	}
	if old, ok := d.next.brokers.Get(id); ok && r.GetBrokerEpoch() <= old.Epoch {
		return invalid("broker %d: epoch %d is not after the registered epoch %d", id, r.GetBrokerEpoch(), old.Epoch)
	}
	if r.GetBrokerEpoch() < 0 {
		return invalid("broker %d: epoch %d is negative", id, r.GetBrokerEpoch())
	}
	d.next.brokers = d.next.brokers.Set(id, &Broker{
		ID:                   id,
		Epoch:                r.GetBrokerEpoch(),
		IncarnationID:        r.GetIncarnationId(),
		Address:              r.GetAddress(),
		Rack:                 r.GetRack(),
		Fenced:               r.GetFenced(),
		InControlledShutdown: r.GetInControlledShutdown(),
	})
	return nil
}

func (d *Delta) currentBroker(id int32, epoch int64) (*Broker, error) {
	b, ok := d.next.brokers.Get(id)
	if !ok {
		return nil, invalid("broker %d is not registered", id)
	}
	if b.Epoch != epoch {
		return nil, invalid("broker %d: epoch %d is not the registered epoch %d", id, epoch, b.Epoch)
	}
	return b, nil
}

func (d *Delta) unregisterBroker(r *stratav1.UnregisterBrokerRecord) error {
	if _, err := d.currentBroker(r.GetBrokerId(), r.GetBrokerEpoch()); err != nil {
		return err
	}
	d.next.brokers = d.next.brokers.Delete(r.GetBrokerId())
	return nil
}

func (d *Delta) changeBroker(id int32, epoch int64, change func(*Broker)) error {
	b, err := d.currentBroker(id, epoch)
	if err != nil {
		return err
	}
	nb := *b
	change(&nb)
	d.next.brokers = d.next.brokers.Set(id, &nb)
	return nil
}

func (d *Delta) topic(r *stratav1.TopicRecord) error {
	id, err := TopicIDFromBytes(r.GetTopicId())
	if err != nil {
		return invalid("topic %q: %v", r.GetName(), err)
	}
	if id == ZeroTopicID {
		return invalid("topic %q: the zero topic id is reserved", r.GetName())
	}
	name := r.GetName()
	if err := ValidateTopicName(name); err != nil {
		return invalid("%v", err)
	}
	if _, ok := d.next.names.Get(name); ok {
		return invalid("topic %q already exists", name)
	}
	if t, ok := d.next.topics.Get(id); ok {
		return invalid("topic id %s is already used by topic %q", id, t.Name)
	}
	if other, ok := d.next.CollidingTopic(name); ok {
		return invalid("topic %q collides with existing topic %q", name, other)
	}
	d.next.topics = d.next.topics.Set(id, &Topic{ID: id, Name: name})
	d.next.names = d.next.names.Set(name, id)
	d.next.unified = d.next.unified.Set(UnifyTopicName(name), name)
	return nil
}

func (d *Delta) topicByBytes(b []byte) (*Topic, error) {
	id, err := TopicIDFromBytes(b)
	if err != nil {
		return nil, invalid("%v", err)
	}
	t, ok := d.next.topics.Get(id)
	if !ok {
		return nil, invalid("unknown topic id %s", id)
	}
	return t, nil
}

func (d *Delta) partition(r *stratav1.PartitionRecord) error {
	t, err := d.topicByBytes(r.GetTopicId())
	if err != nil {
		return err
	}
	if int(r.GetPartitionId()) != len(t.Partitions) {
		return invalid("topic %q: partition %d is not the next partition id %d", t.Name, r.GetPartitionId(), len(t.Partitions))
	}
	p := &Partition{
		ID:             r.GetPartitionId(),
		Replicas:       slices.Clone(r.GetReplicas()),
		ISR:            slices.Clone(r.GetIsr()),
		Leader:         r.GetLeader(),
		LeaderEpoch:    r.GetLeaderEpoch(),
		PartitionEpoch: r.GetPartitionEpoch(),
	}
	if p.LeaderEpoch < 0 || p.PartitionEpoch < 0 {
		return invalid("%s-%d: negative epoch", t.Name, p.ID)
	}
	if err := checkPartition(p); err != nil {
		return invalid("%s-%d: %v", t.Name, p.ID, err)
	}
	nt := d.mutableTopic(t)
	nt.Partitions = append(nt.Partitions, p)
	d.next.partitions++
	return nil
}

func (d *Delta) partitionChange(r *stratav1.PartitionChangeRecord) error {
	t, err := d.topicByBytes(r.GetTopicId())
	if err != nil {
		return err
	}
	old, ok := t.Partition(r.GetPartitionId())
	if !ok {
		return invalid("topic %q has no partition %d", t.Name, r.GetPartitionId())
	}
	p := *old
	if r.Replicas != nil {
		p.Replicas = slices.Clone(r.GetReplicas().GetIds())
	}
	if r.Isr != nil {
		p.ISR = slices.Clone(r.GetIsr().GetIds())
	}
	if r.Leader != nil && r.GetLeader() != old.Leader {
		if old.LeaderEpoch == math.MaxInt32 {
			return invalid("%s-%d: leader epoch would overflow", t.Name, p.ID)
		}
		p.Leader = r.GetLeader()
		p.LeaderEpoch++
	}
	if old.PartitionEpoch == math.MaxInt32 {
		return invalid("%s-%d: partition epoch would overflow", t.Name, p.ID)
	}
	p.PartitionEpoch++
	if err := checkPartition(&p); err != nil {
		return invalid("%s-%d: %v", t.Name, p.ID, err)
	}
	d.mutableTopic(t).Partitions[p.ID] = &p
	return nil
}

func (d *Delta) removeTopic(r *stratav1.RemoveTopicRecord) error {
	t, err := d.topicByBytes(r.GetTopicId())
	if err != nil {
		return err
	}
	d.next.topics = d.next.topics.Delete(t.ID)
	delete(d.owned, t.ID)
	d.next.names = d.next.names.Delete(t.Name)
	d.next.unified = d.next.unified.Delete(UnifyTopicName(t.Name))
	d.next.partitions -= len(t.Partitions)
	return nil
}

func (d *Delta) config(r *stratav1.ConfigRecord) error {
	if r.GetName() == "" {
		return invalid("config record without a name")
	}
	set := func(old map[string]string) map[string]string {
		m := maps.Clone(old)
		if r.Value == nil {
			delete(m, r.GetName())
			return m
		}
		if m == nil {
			m = make(map[string]string, 1)
		}
		m[r.GetName()] = r.GetValue()
		return m
	}
	switch r.GetResourceType() {
	case stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_TOPIC:
		id, ok := d.next.names.Get(r.GetResourceName())
		if !ok {
			return invalid("config %s for unknown topic %q", r.GetName(), r.GetResourceName())
		}
		t, _ := d.next.topics.Get(id)
		d.mutableTopic(t).Configs = set(t.Configs)
	case stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_BROKER:
		res := r.GetResourceName()
		if res != "" {
			if id, err := strconv.ParseInt(res, 10, 32); err != nil || id < 0 || strconv.FormatInt(id, 10) != res {
				return invalid("broker config resource %q is not a broker id", res)
			}
		}
		old, _ := d.next.brokerConfigs.Get(res)
		if m := set(old); len(m) == 0 {
			d.next.brokerConfigs = d.next.brokerConfigs.Delete(res)
		} else {
			d.next.brokerConfigs = d.next.brokerConfigs.Set(res, m)
		}
	default:
		return invalid("config %s: unknown resource type %v", r.GetName(), r.GetResourceType())
	}
	return nil
}

// producerIDs moves the next producer id forward; it never goes back, so no
// id is allocated twice.
func (d *Delta) producerIDs(r *stratav1.ProducerIdsRecord) error {
	if next := r.GetNextProducerId(); next <= d.next.nextProducerID {
		return invalid("next producer id %d is not after the allocated ones (next %d)", next, d.next.nextProducerID)
	}
	d.next.nextProducerID = r.GetNextProducerId()
	return nil
}

// checkPartition checks the invariants of one partition.
func checkPartition(p *Partition) error {
	if len(p.Replicas) == 0 {
		return errors.New("no replicas")
	}
	if err := distinctIDs("replicas", p.Replicas); err != nil {
		return err
	}
	if err := distinctIDs("ISR", p.ISR); err != nil {
		return err
	}
	for _, b := range p.ISR {
		if !slices.Contains(p.Replicas, b) {
			return fmt.Errorf("ISR member %d is not a replica %v", b, p.Replicas)
		}
	}
	if p.Leader != NoLeader && !slices.Contains(p.ISR, p.Leader) {
		return fmt.Errorf("leader %d is not in the ISR %v", p.Leader, p.ISR)
	}
	return nil
}

func distinctIDs(what string, ids []int32) error {
	for i, id := range ids {
		if id < 0 {
			return fmt.Errorf("%s contain negative broker id %d", what, id)
		}
		if slices.Contains(ids[:i], id) {
			return fmt.Errorf("%s contain broker %d twice", what, id)
		}
	}
	return nil
}
