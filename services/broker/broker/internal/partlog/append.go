package partlog

import (
	"errors"
	"fmt"
	"math"

	"github.com/dgraph-io/badger/v4"

	"github.com/strata-log/strata/pkg/recordbatch"
)

// AppendInfo is the outcome of a leader's Append.
type AppendInfo struct {
	// FirstOffset and LastOffset are the offsets of the first and last
	// records appended, or, for a duplicate, of the original batches.
	FirstOffset, LastOffset int64
	// Duplicate reports a retry: every batch repeated one of its idempotent
	// producer's last batches, so nothing was appended.
	Duplicate bool
}

// Append is the leader's append. batches holds whole record batches back to
// back, as a produce request carries them, which the caller has verified
// (recordbatch.Verify and CheckClient). Batches of idempotent producers are
// checked against the producers' state (see producers.go): an append of
// retried batches only is answered with the offsets of the originals and
// writes nothing (AppendInfo.Duplicate); a batch out of sequence fails with
// ErrOutOfOrderSequence, one of an older producer epoch with
// ErrInvalidProducerEpoch. Append gives the batches consecutive offsets from
// the log end offset, in order, and sets their partition leader epoch to
// leaderEpoch, rewriting both fields in place in batches (the CRC does not
// cover them); it then writes all the batches, and the producer states they
// change, in one atomic write, so that after a crash either all of them or
// none are in the log, and advances the log end offset. A leaderEpoch newer
// than the latest epoch of the log is recorded in the leader-epoch history
// with the first offset.
//
// An older leaderEpoch fails with ErrStaleLeaderEpoch, an append too large
// for one write with ErrRecordListTooLarge; in those cases, as for the
// producer errors, nothing was written (nor rewritten in batches). batches
// is not retained.
func (l *Log) Append(batches []byte, leaderEpoch int32) (AppendInfo, error) {
	op := l.opAppend
	if err := l.beginWrite(op); err != nil {
		return AppendInfo{}, err
	}
	defer l.endWrite()
	if latest := l.epochs.latest(); leaderEpoch < 0 || leaderEpoch < latest {
		return AppendInfo{}, fmt.Errorf("%s: %w: leader epoch %d, latest epoch in the log %d", op, ErrStaleLeaderEpoch, leaderEpoch, latest)
	}
	n, err := countBatches(op, batches, l.leo, l.s.opts.ValueLogFileSize)
	if err != nil {
		return AppendInfo{}, err
	}
	if n == 0 {
		return AppendInfo{}, fmt.Errorf("%s: %w: no batches", op, recordbatch.ErrCorrupt)
	}
	if first, last, ok := l.duplicate(batches); ok {
		return AppendInfo{FirstOffset: first, LastOffset: last, Duplicate: true}, nil
	}
	producers, err := l.checkProducers(batches, l.leo)
	if err != nil {
		if pe, ok := errors.AsType[*ProducerError](err); ok {
			pe.op, pe.partition = op, l.name
		}
		return AppendInfo{}, err
	}
	keys := make([]byte, n*dataKeyLen)
	txn := l.s.db.NewTransaction(true)
	defer txn.Discard()
	next, added := l.leo, int64(0)
	for batch, err := range recordbatch.All(batches) {
		if err != nil { // countBatches checked them
			return AppendInfo{}, fmt.Errorf("%s: %w", op, err)
		}
		h, _ := recordbatch.ParseHeader(batch)
		recordbatch.SetBaseOffset(batch, next)
		recordbatch.SetLeaderEpoch(batch, leaderEpoch)
		key := l.key.putData(keys, next)
		keys = keys[dataKeyLen:]
		if err := stage(op, txn, key, batch); err != nil {
			return AppendInfo{}, err
		}
		next += int64(h.LastOffsetDelta) + 1
		added += int64(len(batch))
	}
	epochs, err := l.stageEpoch(op, txn, l.epochs, EpochEntry{Epoch: leaderEpoch, StartOffset: l.leo})
	if err != nil {
		return AppendInfo{}, err
	}
	if err := stage(op, txn, l.sizeKey, putInt64(l.size+added)); err != nil {
		return AppendInfo{}, err
	}
	if err := l.stageProducers(op, txn, producers); err != nil {
		return AppendInfo{}, err
	}
	if err := l.commit(op, txn); err != nil {
		return AppendInfo{}, err
	}
	first := l.leo
	l.mu.Lock()
	l.leo, l.size, l.epochs = next, l.size+added, epochs
	l.publishProducersLocked(producers)
	l.mu.Unlock()
	return AppendInfo{FirstOffset: first, LastOffset: next - 1}, nil
}

// AppendReplica is the follower's append: batches, back to back as the
// leader returned them, already carry the leader's offsets and epochs. The
// first batch must start at the log end offset and each next one right after
// the previous one (ErrNotContiguous otherwise), and their epochs must not go
// back (ErrStaleLeaderEpoch); epochs newer than the history's latest are
// recorded, and so are the states of the idempotent producers of the
// batches, without the leader's checks (as Kafka's replication append). The
// caller verifies the batches' CRCs. All batches are written in one atomic
// write, with the producer states they change; an empty batches is a no-op.
func (l *Log) AppendReplica(batches []byte) error {
	op := l.opReplica
	if err := l.beginWrite(op); err != nil {
		return err
	}
	defer l.endWrite()
	n, err := countBatches(op, batches, 0, l.s.opts.ValueLogFileSize)
	if err != nil || n == 0 {
		return err
	}
	keys := make([]byte, n*dataKeyLen)
	txn := l.s.db.NewTransaction(true)
	defer txn.Discard()
	next, added, epochs := l.leo, int64(0), l.epochs
	for batch, err := range recordbatch.All(batches) {
		if err != nil { // countBatches checked them
			return fmt.Errorf("%s: %w", op, err)
		}
		h, _ := recordbatch.ParseHeader(batch)
		if h.BaseOffset != next {
			if next == l.leo {
				return fmt.Errorf("%s: %w: first batch at offset %d, log end offset %d", op, ErrNotContiguous, h.BaseOffset, l.leo)
			}
			return fmt.Errorf("%s: %w: batch at offset %d follows a batch that ends at %d", op, ErrNotContiguous, h.BaseOffset, next-1)
		}
		if latest := epochs.latest(); h.PartitionLeaderEpoch < 0 || h.PartitionLeaderEpoch < latest {
			return fmt.Errorf("%s: %w: batch at offset %d has leader epoch %d, latest epoch %d", op, ErrStaleLeaderEpoch, h.BaseOffset, h.PartitionLeaderEpoch, latest)
		}
		if epochs, err = l.stageEpoch(op, txn, epochs, EpochEntry{Epoch: h.PartitionLeaderEpoch, StartOffset: h.BaseOffset}); err != nil {
			return err
		}
		if h.BaseOffset > math.MaxInt64-1-int64(h.LastOffsetDelta) {
			return fmt.Errorf("%s: %w: batch at offset %d has last offset delta %d", op, recordbatch.ErrInvalidRecord, h.BaseOffset, h.LastOffsetDelta)
		}
		key := l.key.putData(keys, next)
		keys = keys[dataKeyLen:]
		if err := stage(op, txn, key, batch); err != nil {
			return err
		}
		next = h.LastOffset() + 1
		added += int64(len(batch))
	}
	if err := stage(op, txn, l.sizeKey, putInt64(l.size+added)); err != nil {
		return err
	}
	producers := l.replicaProducers(batches)
	if err := l.stageProducers(op, txn, producers); err != nil {
		return err
	}
	if err := l.commit(op, txn); err != nil {
		return err
	}
	l.mu.Lock()
	l.leo, l.size, l.epochs = next, l.size+added, epochs
	l.publishProducersLocked(producers)
	l.mu.Unlock()
	return nil
}

// AssignEpoch records in the history that leader epoch epoch starts at the
// log end offset, as a Kafka leader does when it takes leadership (before it
// appends anything in the epoch): followers then learn the end offset of the
// previous epoch from OffsetForLeaderEpoch. An epoch equal to the latest is a
// no-op; an older one fails with ErrStaleLeaderEpoch.
func (l *Log) AssignEpoch(epoch int32) error {
	op := "partlog: assign epoch of " + l.name
	if err := l.beginWrite(op); err != nil {
		return err
	}
	defer l.endWrite()
	switch latest := l.epochs.latest(); {
	case epoch < 0 || epoch < latest:
		return fmt.Errorf("%s: %w: leader epoch %d, latest epoch in the log %d", op, ErrStaleLeaderEpoch, epoch, latest)
	case epoch == latest:
		return nil
	}
	txn := l.s.db.NewTransaction(true)
	defer txn.Discard()
	epochs, err := l.stageEpoch(op, txn, l.epochs, EpochEntry{Epoch: epoch, StartOffset: l.leo})
	if err != nil {
		return err
	}
	if err := l.commit(op, txn); err != nil {
		return err
	}
	l.mu.Lock()
	l.epochs = epochs
	l.mu.Unlock()
	return nil
}

// stageEpoch assigns e to the history h, stages the change of the history in
// txn and returns the new history.
func (l *Log) stageEpoch(op string, txn *badger.Txn, h epochHistory, e EpochEntry) (epochHistory, error) {
	out, removed, changed := h.assign(e)
	if !changed {
		return h, nil
	}
	for _, r := range removed {
		if err := stage(op, txn, l.key.epoch(r.Epoch), nil); err != nil {
			return h, err
		}
	}
	if err := stage(op, txn, l.key.epoch(e.Epoch), putInt64(e.StartOffset)); err != nil {
		return h, err
	}
	return out, nil
}

// countBatches checks that batches is whole batches back to back, whose
// offsets fit from base on, each smaller than a value log file (maxBatch:
// badger stores a value in one file), and counts them.
func countBatches(op string, batches []byte, base, maxBatch int64) (int, error) {
	n := 0
	for batch, err := range recordbatch.All(batches) {
		if err != nil {
			return 0, fmt.Errorf("%s: %w", op, err)
		}
		if int64(len(batch)) >= maxBatch {
			return 0, fmt.Errorf("%s: %w: batch %d has %d bytes, a value log file %d", op, ErrRecordListTooLarge, n, len(batch), maxBatch)
		}
		h, _ := recordbatch.ParseHeader(batch)
		if h.LastOffsetDelta < 0 || base > math.MaxInt64-1-int64(h.LastOffsetDelta) {
			return 0, fmt.Errorf("%s: %w: batch %d has last offset delta %d", op, recordbatch.ErrInvalidRecord, n, h.LastOffsetDelta)
		}
		base += int64(h.LastOffsetDelta) + 1
		n++
	}
	return n, nil
}
