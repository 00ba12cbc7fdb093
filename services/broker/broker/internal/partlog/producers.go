package partlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"github.com/strata-log/strata/pkg/recordbatch"
)

// Idempotent producers
//
// A batch with a producer id (recordbatch.BatchHeader.HasProducerID) is
// checked against what the partition remembers of its producer, as Kafka's
// ProducerStateManager does: the producer's epoch and its last
// ProducerBatchesRetained batches (sequence range, offsets, max timestamp).
// Append, the leader's path, refuses a batch whose epoch is older
// (ErrInvalidProducerEpoch), whose sequence does not follow the producer's
// last one, or starts a new epoch at a sequence other than 0
// (ErrOutOfOrderSequence); an append whose every batch repeats one of its
// producer's retained batches exactly (epoch and sequence range) is a retry
// and appends nothing (AppendInfo.Duplicate). AppendReplica, the
// follower's path, records the leader's batches without checks, so a
// follower that becomes leader knows the producers. Sequence numbers wrap
// from math.MaxInt32 to 0.
//
// Each producer's state is one key, written in the transaction of the append
// that changes it, so the state on disk always matches the batches on disk.
// Truncations rebuild the state of the producers whose batches they remove
// from the batches left (truncateProducers); opening a partition does the
// same for state a crash left pointing past the log end. Retention keeps
// the state, as Kafka does since KIP-360; nothing expires it yet.

// ProducerBatchesRetained is how many of a producer's last batches a
// partition remembers for deduplication (Kafka's NUM_BATCHES_TO_RETAIN,
// which bounds max.in.flight.requests.per.connection of an idempotent
// producer).
const ProducerBatchesRetained = 5

// producerScanLimit bounds the batches a truncation reads back from the new
// log end to rebuild the state of a producer whose retained batches it
// removed; a producer none of whose batches is that close is forgotten, and
// its next batch is taken as from a new producer.
const producerScanLimit = 4096

// ProducerBatch is one of the batches a producer appended last.
type ProducerBatch struct {
	FirstSeq, LastSeq       int32
	FirstOffset, LastOffset int64
	MaxTimestamp            int64
}

// ProducerState is what a partition remembers of an idempotent producer:
// its epoch and its last batches in that epoch, oldest first (one at least,
// ProducerBatchesRetained at most). A ProducerState held by a Log is never
// modified; changes replace it.
type ProducerState struct {
	Epoch   int16
	Batches []ProducerBatch
}

// LastTimestamp is the max timestamp of the producer's last batch.
func (e *ProducerState) LastTimestamp() int64 { return e.Batches[len(e.Batches)-1].MaxTimestamp }

// duplicateOf returns the retained batch that batch h repeats: the same
// epoch and sequence range.
func (e *ProducerState) duplicateOf(h recordbatch.BatchHeader) (ProducerBatch, bool) {
	if h.ProducerEpoch != e.Epoch {
		return ProducerBatch{}, false
	}
	last := lastSequence(h)
	for _, b := range e.Batches {
		if b.FirstSeq == h.BaseSequence && b.LastSeq == last {
			return b, true
		}
	}
	return ProducerBatch{}, false
}

// check validates a client's batch h, to be appended at offset, against the
// state, as Kafka's ProducerAppendInfo does for a batch from a client: the
// epoch must not be older; a new epoch starts at sequence 0 (unless the
// producer is unknown); within the epoch each batch follows the last one.
func (e *ProducerState) check(h recordbatch.BatchHeader, offset int64) error {
	switch {
	case h.ProducerEpoch < e.Epoch:
		return &ProducerError{err: ErrInvalidProducerEpoch, ProducerID: h.ProducerID, Offset: offset,
			Epoch: h.ProducerEpoch, CurrentEpoch: e.Epoch}
	case h.ProducerEpoch != e.Epoch:
		if h.BaseSequence != 0 && e.Epoch != recordbatch.NoProducerEpoch {
			return &ProducerError{err: ErrOutOfOrderSequence, ProducerID: h.ProducerID, Offset: offset, NewEpoch: true,
				Epoch: h.ProducerEpoch, CurrentEpoch: e.Epoch, Sequence: h.BaseSequence}
		}
	case len(e.Batches) > 0:
		if last := e.Batches[len(e.Batches)-1].LastSeq; !inSequence(last, h.BaseSequence) {
			return &ProducerError{err: ErrOutOfOrderSequence, ProducerID: h.ProducerID, Offset: offset,
				Epoch: h.ProducerEpoch, CurrentEpoch: e.Epoch, Sequence: h.BaseSequence, CurrentSequence: last}
		}
	}
	return nil
}

// add records batch h, stored at [first, last]: a new epoch forgets the
// batches of the old one, and only the last ProducerBatchesRetained stay.
// The receiver must be a copy the caller owns.
func (e *ProducerState) add(h recordbatch.BatchHeader, first, last int64) {
	if h.ProducerEpoch != e.Epoch {
		e.Epoch, e.Batches = h.ProducerEpoch, e.Batches[:0]
	}
	b := ProducerBatch{FirstSeq: h.BaseSequence, LastSeq: lastSequence(h), FirstOffset: first, LastOffset: last, MaxTimestamp: h.MaxTimestamp}
	if n := len(e.Batches); n == ProducerBatchesRetained {
		copy(e.Batches, e.Batches[1:])
		e.Batches[n-1] = b
		return
	}
	e.Batches = append(e.Batches, b)
}

// lastSequence is the sequence number of the batch's last record, wrapping
// past math.MaxInt32 to 0 as Kafka's DefaultRecordBatch.incrementSequence.
func lastSequence(h recordbatch.BatchHeader) int32 {
	seq, inc := h.BaseSequence, h.LastOffsetDelta
	if seq > math.MaxInt32-inc {
		return inc - (math.MaxInt32 - seq) - 1
	}
	return seq + inc
}

// inSequence reports whether next follows last.
func inSequence(last, next int32) bool {
	return int64(next) == int64(last)+1 || (next == 0 && last == math.MaxInt32)
}

// producerUpdates collects the producer states an append or a truncation
// changes: copies of the Log's states, owned by the writer, or nil for a
// state to delete. The Log's states are only replaced after the write
// commits.
type producerUpdates struct {
	current map[int64]*ProducerState // the Log's, read only
	changed map[int64]*ProducerState
}

func newProducerUpdates(current map[int64]*ProducerState) producerUpdates {
	return producerUpdates{current: current}
}

// get returns the state of producer id to change: a copy of the current one,
// or a new state with no epoch (recordbatch.NoProducerEpoch) and no batch.
func (u *producerUpdates) get(id int64) *ProducerState {
	if e := u.changed[id]; e != nil {
		return e
	}
	e := &ProducerState{Epoch: recordbatch.NoProducerEpoch}
	if c := u.current[id]; c != nil {
		e.Epoch, e.Batches = c.Epoch, slices.Clone(c.Batches)
	}
	if u.changed == nil {
		u.changed = make(map[int64]*ProducerState)
	}
	u.changed[id] = e
	return e
}

// stageProducers writes the changed states into txn.
func (l *Log) stageProducers(op string, txn *badger.Txn, u producerUpdates) error {
	for id, e := range u.changed {
		var v []byte
		if e != nil {
			v = encodeProducer(e)
		}
		if err := stage(op, txn, l.key.producer(id), v); err != nil {
			return err
		}
	}
	return nil
}

// publishProducersLocked replaces the Log's states with the changed ones.
// The caller holds l.mu and the write lock.
func (l *Log) publishProducersLocked(u producerUpdates) {
	if len(u.changed) > 0 && l.producers == nil {
		l.producers = make(map[int64]*ProducerState, len(u.changed))
	}
	for id, e := range u.changed {
		if e == nil {
			delete(l.producers, id)
		} else {
			l.producers[id] = e
		}
	}
}

// Producer returns the state the partition keeps of producer id.
func (l *Log) Producer(id int64) (ProducerState, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	e, ok := l.producers[id]
	if !ok {
		return ProducerState{}, false
	}
	return ProducerState{Epoch: e.Epoch, Batches: slices.Clone(e.Batches)}, true
}

// duplicate reports whether every batch of batches (whole batches, checked)
// repeats one of its producer's retained batches, and if so returns the
// offsets of the first and last original.
func (l *Log) duplicate(batches []byte) (first, last int64, ok bool) {
	if len(l.producers) == 0 {
		return 0, 0, false
	}
	n := 0
	for batch, err := range recordbatch.All(batches) {
		if err != nil { // countBatches checked them
			return 0, 0, false
		}
		h, _ := recordbatch.ParseHeader(batch)
		e := l.producers[h.ProducerID]
		if !h.HasProducerID() || e == nil {
			return 0, 0, false
		}
		b, dup := e.duplicateOf(h)
		if !dup {
			return 0, 0, false
		}
		if n == 0 {
			first = b.FirstOffset
		}
		last, n = b.LastOffset, n+1
	}
	return first, last, n > 0
}

// checkProducers checks the batches a leader appends from offset next on
// and returns the producer states after them (see check).
func (l *Log) checkProducers(batches []byte, next int64) (producerUpdates, error) {
	u := newProducerUpdates(l.producers)
	for batch, err := range recordbatch.All(batches) {
		if err != nil { // countBatches checked them
			return u, err
		}
		h, _ := recordbatch.ParseHeader(batch)
		end := next + int64(h.LastOffsetDelta)
		if h.HasProducerID() {
			e := u.get(h.ProducerID)
			if err := e.check(h, next); err != nil {
				return u, err
			}
			e.add(h, next, end)
		}
		next = end + 1
	}
	return u, nil
}

// replicaProducers returns the producer states after batches that carry
// their offsets (a follower's append, whose batches AppendReplica checked),
// without checks.
func (l *Log) replicaProducers(batches []byte) producerUpdates {
	u := newProducerUpdates(l.producers)
	for batch, err := range recordbatch.All(batches) {
		if err != nil {
			break
		}
		h, _ := recordbatch.ParseHeader(batch)
		if h.HasProducerID() {
			u.get(h.ProducerID).add(h, h.BaseOffset, h.LastOffset())
		}
	}
	return u
}

// truncateProducers brings the producer states in line with a log that now
// ends at end, after a truncation or a crash in the middle of one: a
// producer whose retained batches reach end or beyond keeps those below
// end; one left with none is rebuilt from the batches below end, read back
// from there (at most producerScanLimit of them), and forgotten when none of
// them is its. The writes go in chunks of s.chunk producers; each leaves
// the states consistent with the log, which no longer holds anything at end
// or beyond.
func (l *Log) truncateProducers(op string, end int64) error {
	u := newProducerUpdates(l.producers)
	u.changed = make(map[int64]*ProducerState)
	var lost []int64
	for id, e := range l.producers {
		if e.Batches[len(e.Batches)-1].LastOffset < end {
			continue
		}
		i := 0
		for i < len(e.Batches) && e.Batches[i].LastOffset < end {
			i++
		}
		if i == 0 {
			lost = append(lost, id)
			continue
		}
		// The kept batches may share e's array: neither changes again.
		u.changed[id] = &ProducerState{Epoch: e.Epoch, Batches: e.Batches[:i:i]}
	}
	if len(u.changed) == 0 && len(lost) == 0 {
		return nil
	}
	found, err := l.scanProducers(op, end, lost)
	if err != nil {
		return err
	}
	for _, id := range lost {
		u.changed[id] = found[id] // nil when not found: deleted
	}
	return l.writeProducers(op, u)
}

// clearProducers deletes the state of every producer (the log was emptied).
func (l *Log) clearProducers(op string) error {
	u := newProducerUpdates(l.producers)
	u.changed = make(map[int64]*ProducerState, len(l.producers))
	for id := range l.producers {
		u.changed[id] = nil
	}
	return l.writeProducers(op, u)
}

// writeProducers commits the changed states in transactions of at most
// s.chunk of them and publishes each chunk once committed.
func (l *Log) writeProducers(op string, u producerUpdates) error {
	ids := slices.Sorted(maps.Keys(u.changed))
	for len(ids) > 0 {
		n := min(len(ids), l.s.chunk)
		chunk := producerUpdates{changed: make(map[int64]*ProducerState, n)}
		for _, id := range ids[:n] {
			chunk.changed[id] = u.changed[id]
		}
		ids = ids[n:]
		txn := l.s.db.NewTransaction(true)
		err := l.stageProducers(op, txn, chunk)
		if err == nil {
			err = l.commit(op, txn)
		}
		txn.Discard()
		if err != nil {
			return err
		}
		l.mu.Lock()
		l.publishProducersLocked(chunk)
		l.mu.Unlock()
	}
	return nil
}

// scanProducers rebuilds the states of producers ids from the batches below
// end, reading back from end: each producer's last batch gives its epoch,
// and the batches of that epoch before it, up to ProducerBatchesRetained,
// its retained batches. It reads at most producerScanLimit batches.
func (l *Log) scanProducers(op string, end int64, ids []int64) (map[int64]*ProducerState, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	want := make(map[int64]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	found := make(map[int64]*ProducerState)
	complete := 0
	txn := l.s.db.NewTransaction(false)
	defer txn.Discard()
	it := txn.NewIterator(badger.IteratorOptions{Prefix: l.key[:], Reverse: true})
	defer it.Close()
	scanned := 0
	for it.Seek(l.key.data(end)); it.Valid() && scanned < producerScanLimit && complete < len(ids); it.Next() {
		base, ok := l.key.dataOffset(it.Item().Key())
		if !ok || base >= end {
			continue
		}
		scanned++
		h, err := readHeader(op, it.Item(), base)
		if err != nil {
			return nil, err
		}
		if !h.HasProducerID() || !want[h.ProducerID] {
			continue
		}
		e := found[h.ProducerID]
		if e == nil {
			e = &ProducerState{Epoch: h.ProducerEpoch}
			found[h.ProducerID] = e
		}
		if h.ProducerEpoch != e.Epoch {
			want[h.ProducerID] = false // an older epoch: its batches were forgotten
			complete++
			continue
		}
		// Newest first for now; reversed below.
		e.Batches = append(e.Batches, ProducerBatch{FirstSeq: h.BaseSequence, LastSeq: lastSequence(h),
			FirstOffset: base, LastOffset: h.LastOffset(), MaxTimestamp: h.MaxTimestamp})
		if len(e.Batches) == ProducerBatchesRetained {
			want[h.ProducerID] = false
			complete++
		}
	}
	for _, e := range found {
		slices.Reverse(e.Batches)
	}
	return found, nil
}

// loadProducers reads the states of the partition's producers.
func (l *Log) loadProducers(op string, txn *badger.Txn) error {
	prefix := l.key.meta(kindProducer)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		key := it.Item().Key()
		if len(key) != producerKeyLen {
			return corruptf(op, "producer key %x has %d bytes", key, len(key))
		}
		id := int64(binary.BigEndian.Uint64(key[metaKeyLen:]))
		var e *ProducerState
		if err := it.Item().Value(func(v []byte) (err error) { e, err = decodeProducer(v); return err }); err != nil {
			return corruptf(op, "state of producer %d: %v", id, err)
		}
		if l.producers == nil {
			l.producers = make(map[int64]*ProducerState)
		}
		l.producers[id] = e
	}
	return nil
}

// The stored state of a producer: version (1) | epoch (int16) | batch count
// (1 byte) | per batch: first sequence (int32) | last sequence (int32) |
// first offset (int64) | last offset (int64) | max timestamp (int64).
const (
	producerVersion   = 1
	producerHeaderLen = 4
	producerBatchLen  = 32
)

func encodeProducer(e *ProducerState) []byte {
	b := make([]byte, 0, producerHeaderLen+producerBatchLen*len(e.Batches))
	b = append(b, producerVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(e.Epoch))
	b = append(b, byte(len(e.Batches)))
	for _, pb := range e.Batches {
		b = binary.BigEndian.AppendUint32(b, uint32(pb.FirstSeq))
		b = binary.BigEndian.AppendUint32(b, uint32(pb.LastSeq))
		b = binary.BigEndian.AppendUint64(b, uint64(pb.FirstOffset))
		b = binary.BigEndian.AppendUint64(b, uint64(pb.LastOffset))
		b = binary.BigEndian.AppendUint64(b, uint64(pb.MaxTimestamp))
	}
	return b
}

func decodeProducer(v []byte) (*ProducerState, error) {
	if len(v) < producerHeaderLen || v[0] != producerVersion {
		return nil, errors.New("unknown encoding")
	}
	n := int(v[3])
	if n < 1 || n > ProducerBatchesRetained || len(v) != producerHeaderLen+n*producerBatchLen {
		return nil, fmt.Errorf("%d bytes for %d batches", len(v), n)
	}
	e := &ProducerState{Epoch: int16(binary.BigEndian.Uint16(v[1:])), Batches: make([]ProducerBatch, n)}
	for i := range e.Batches {
		p := v[producerHeaderLen+i*producerBatchLen:]
		b := ProducerBatch{
			FirstSeq: int32(binary.BigEndian.Uint32(p)), LastSeq: int32(binary.BigEndian.Uint32(p[4:])),
			FirstOffset: int64(binary.BigEndian.Uint64(p[8:])), LastOffset: int64(binary.BigEndian.Uint64(p[16:])),
			MaxTimestamp: int64(binary.BigEndian.Uint64(p[24:])),
		}
		if b.FirstOffset < 0 || b.LastOffset < b.FirstOffset || (i > 0 && b.FirstOffset <= e.Batches[i-1].LastOffset) {
			return nil, fmt.Errorf("batch %d at offsets [%d, %d]", i, b.FirstOffset, b.LastOffset)
		}
		e.Batches[i] = b
	}
	return e, nil
}
