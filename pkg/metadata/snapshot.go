package metadata

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
)

// ErrCorruptSnapshot is wrapped by errors of ReadSnapshot about bad bytes.
var ErrCorruptSnapshot = errors.New("metadata: corrupt snapshot")

// maxSnapshotRecordSize bounds one record in a snapshot stream, so a corrupt
// length cannot make a reader allocate without limit.
const maxSnapshotRecordSize = 64 << 20

// Records yields the records that rebuild the image when applied to an
// empty image, in a fixed order: controllers, brokers and broker configs by
// id, the next producer id (when any was allocated), then each topic (by
// name) with its configs (by key) and partitions.
// The records carry offset 0; the image's offset goes in the snapshot
// header. Records are built as they are yielded, so a large image needs no
// second copy in memory.
func (im *Image) Records() iter.Seq[*stratav1.MetadataRecord] {
	return func(yield func(*stratav1.MetadataRecord) bool) {
		for c := range im.Controllers() {
			if !yield(&stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_ControllerRegistration{
				ControllerRegistration: &stratav1.ControllerRegistrationRecord{
					ControllerId: c.ID, IncarnationId: c.IncarnationID, Address: c.Address, RaftAddress: c.RaftAddress,
				},
			}}) {
				return
			}
		}
		for b := range im.Brokers() {
			if !yield(&stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_RegisterBroker{
				RegisterBroker: &stratav1.RegisterBrokerRecord{
					BrokerId: b.ID, BrokerEpoch: b.Epoch, IncarnationId: b.IncarnationID, Address: b.Address,
					Rack: b.Rack, Fenced: b.Fenced, InControlledShutdown: b.InControlledShutdown,
				},
			}}) {
				return
			}
		}
		for res := range im.BrokerConfigResources() {
			if !yieldConfigs(yield, stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_BROKER, res, im.BrokerConfigs(res)) {
				return
			}
		}
		if im.nextProducerID > 0 && !yield(&stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_ProducerIds{
			// No broker: the allocation is the image's, not one broker's.
			ProducerIds: &stratav1.ProducerIdsRecord{BrokerId: -1, BrokerEpoch: -1, NextProducerId: im.nextProducerID},
		}}) {
			return
		}
		for t := range im.Topics() {
			if !yield(&stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_Topic{
				Topic: &stratav1.TopicRecord{Name: t.Name, TopicId: t.ID.Bytes()},
			}}) {
				return
			}
			if !yieldConfigs(yield, stratav1.ConfigResourceType_CONFIG_RESOURCE_TYPE_TOPIC, t.Name, t.Configs) {
				return
			}
			for _, p := range t.Partitions {
				if !yield(PartitionRecord(t.ID, p)) {
					return
				}
			}
		}
	}
}

// PartitionRecord is the record that creates p as it is.
func PartitionRecord(topic TopicID, p *Partition) *stratav1.MetadataRecord {
	return &stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_Partition{
		Partition: &stratav1.PartitionRecord{
			TopicId: topic.Bytes(), PartitionId: p.ID,
			Replicas: slices.Clone(p.Replicas), Isr: slices.Clone(p.ISR),
			Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
		},
	}}
}

func yieldConfigs(yield func(*stratav1.MetadataRecord) bool, typ stratav1.ConfigResourceType, res string, configs map[string]string) bool {
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		v := configs[k]
		if !yield(&stratav1.MetadataRecord{Record: &stratav1.MetadataRecord_Config{
			Config: &stratav1.ConfigRecord{ResourceType: typ, ResourceName: res, Name: k, Value: &v},
		}}) {
			return false
		}
	}
	return true
}

// Load builds the image at offset from the records of a snapshot (their
// own offsets are ignored).
func Load(offset int64, records iter.Seq[*stratav1.MetadataRecord]) (*Image, error) {
	if offset < 0 {
		return nil, invalid("snapshot offset %d is negative", offset)
	}
	d := NewDelta(Empty())
	for rec := range records {
		if err := d.replay(rec); err != nil {
			return nil, err
		}
	}
	d.next.offset = offset
	return d.Apply(), nil
}

// WriteSnapshot writes the image as a header and its records, each
// length-delimited (a uvarint size, then the deterministic proto encoding),
// so equal images give equal bytes.
func (im *Image) WriteSnapshot(w io.Writer) error {
	bw := bufio.NewWriter(w)
	var count int64
	for range im.Records() {
		count++
	}
	opts := proto.MarshalOptions{Deterministic: true}
	var buf []byte
	write := func(m proto.Message) error {
		var err error
		buf = binary.AppendUvarint(buf[:0], uint64(opts.Size(m)))
		if buf, err = opts.MarshalAppend(buf, m); err != nil {
			return err
		}
		_, err = bw.Write(buf)
		return err
	}
	if err := write(&stratav1.MetadataSnapshotHeader{Offset: im.offset, RecordCount: count}); err != nil {
		return fmt.Errorf("metadata: write snapshot: %w", err)
	}
	for rec := range im.Records() {
		if err := write(rec); err != nil {
			return fmt.Errorf("metadata: write snapshot: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("metadata: write snapshot: %w", err)
	}
	return nil
}

// ReadSnapshot reads what WriteSnapshot wrote.
func ReadSnapshot(r io.Reader) (*Image, error) {
	br := bufio.NewReader(r)
	var buf []byte
	read := func(m proto.Message) error {
		n, err := binary.ReadUvarint(br)
		if err != nil {
			return err
		}
		if n > maxSnapshotRecordSize {
			return fmt.Errorf("%w: record of %d bytes exceeds %d", ErrCorruptSnapshot, n, maxSnapshotRecordSize)
		}
		buf = slices.Grow(buf[:0], int(n))[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return err
		}
		if err := proto.Unmarshal(buf, m); err != nil {
			return fmt.Errorf("%w: %w", ErrCorruptSnapshot, err)
		}
		return nil
	}
	var hdr stratav1.MetadataSnapshotHeader
	if err := read(&hdr); err != nil {
		return nil, fmt.Errorf("metadata: read snapshot header: %w", noEOF(err))
	}
	if hdr.GetRecordCount() < 0 {
		return nil, fmt.Errorf("%w: negative record count %d", ErrCorruptSnapshot, hdr.GetRecordCount())
	}
	var readErr error
	records := func(yield func(*stratav1.MetadataRecord) bool) {
		for i := int64(0); i < hdr.GetRecordCount(); i++ {
			rec := &stratav1.MetadataRecord{}
			if err := read(rec); err != nil {
				readErr = fmt.Errorf("metadata: read snapshot record %d of %d: %w", i+1, hdr.GetRecordCount(), noEOF(err))
				return
			}
			if !yield(rec) {
				return
			}
		}
	}
	im, err := Load(hdr.GetOffset(), records)
	if readErr != nil {
		return nil, readErr
	}
	if err != nil {
		return nil, fmt.Errorf("metadata: read snapshot: %w", err)
	}
	return im, nil
}

// noEOF turns an end of input in the middle of a snapshot into a corruption.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: unexpected end of snapshot", ErrCorruptSnapshot)
	}
	return err
}
