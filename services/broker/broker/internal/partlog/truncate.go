package partlog

import (
	"github.com/dgraph-io/badger/v4"
)

// TruncateTo removes the end of the log from offset on, as a follower does
// after its log diverged from the leader's (KIP-101, KIP-320): every batch
// with a base offset >= offset goes, and when offset falls inside a batch,
// that whole batch goes too, so the log end offset becomes that batch's base
// offset. The leader-epoch history loses the entries starting at or after the
// new log end offset, the states of the idempotent producers whose batches
// went are rebuilt from the batches left (see truncateProducers), and the
// high watermark is lowered to the new log end if it was above (and
// checkpointed). An offset at or beyond the log end offset deletes no
// batch, only the epochs that start at the log end (assigned, never written);
// one at or below the log start offset empties the log as
// TruncateFullyAndStartAt(offset) does, as Kafka does.
//
// The batches are deleted from the end backwards in several transactions, so
// that a crash leaves a shorter log, never a log with a hole.
func (l *Log) TruncateTo(offset int64) error {
	op := "partlog: truncate " + l.name
	if err := l.beginWrite(op); err != nil {
		return err
	}
	defer l.endWrite()
	switch {
	case offset < 0:
		return l.outOfRange(offset)
	case offset >= l.leo:
		// Nothing to delete, but an epoch assigned at the log end and never
		// written in (a leader deposed before its first append) must go:
		// a follower that kept it would send it as its last fetched epoch
		// and diverge again after every truncation. Kafka does the same.
		return l.dropEndEpochs(op)
	case offset <= l.logStart:
		return l.truncateFully(op, offset)
	}
	txn := l.s.db.NewTransaction(false)
	base, ok := l.batchContaining(txn, offset)
	txn.Discard()
	if !ok || base < l.logStart {
		return corruptf(op, "no batch holds offset %d below the log end offset %d", offset, l.leo)
	}
	onDisk := l.epochs
	kept, _ := l.epochs.truncateFromEnd(base)
	// Readers must not read the batches being deleted: lower the end first.
	l.mu.Lock()
	l.leo, l.hw, l.epochs = base, min(l.hw, base), kept
	l.mu.Unlock()
	if err := l.dropFrom(op, base, onDisk); err != nil {
		return err
	}
	if err := l.truncateProducers(op, base); err != nil {
		return err
	}
	return l.checkpoint(op)
}

// dropEndEpochs removes the epoch entries that start at the log end offset.
func (l *Log) dropEndEpochs(op string) error {
	kept, removed := l.epochs.truncateFromEnd(l.leo)
	if len(removed) == 0 {
		return nil
	}
	if err := l.deleteEpochs(op, removed); err != nil {
		return err
	}
	l.mu.Lock()
	l.epochs = kept
	l.mu.Unlock()
	return nil
}

// TruncateFullyAndStartAt empties the log and restarts it at offset: the log
// start offset, log end offset and high watermark all become offset, and the
// leader-epoch history and the producer states are cleared. A follower does
// this when its log end offset is below the leader's log start offset.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	op := "partlog: truncate fully " + l.name
	if err := l.beginWrite(op); err != nil {
		return err
	}
	defer l.endWrite()
	if offset < 0 {
		return l.outOfRange(offset)
	}
	return l.truncateFully(op, offset)
}

func (l *Log) truncateFully(op string, offset int64) error {
	onDisk := l.epochs
	l.mu.Lock()
	l.logStart, l.leo, l.hw, l.epochs = offset, offset, offset, nil
	l.mu.Unlock()
	// Delete from the end, then the producer states, then move the log
	// start: a crash in between leaves a shorter (or empty) old log, never a
	// hole, and the states that point past its end are fixed when it opens.
	if err := l.dropFrom(op, 0, onDisk); err != nil {
		return err
	}
	if err := l.clearProducers(op); err != nil {
		return err
	}
	txn := l.s.db.NewTransaction(true)
	defer txn.Discard()
	if err := stage(op, txn, l.key.meta(kindLogStart), putInt64(offset)); err != nil {
		return err
	}
	if err := l.commit(op, txn); err != nil {
		return err
	}
	return l.checkpoint(op)
}

func (l *Log) outOfRange(offset int64) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return &OffsetOutOfRangeError{Offset: offset, LogStartOffset: l.logStart, LogEndOffset: l.leo, HighWatermark: l.hw}
}

// dropFrom deletes the batches with a base offset >= from, from the last one
// backwards, in transactions of at most s.chunk batches, each of which also
// deletes the epoch entries (of onDisk, the history as stored) that start at
// or after its lowest batch, and updates the stored size.
func (l *Log) dropFrom(op string, from int64, onDisk epochHistory) error {
	for {
		txn := l.s.db.NewTransaction(true)
		n, low, err := l.stageDeletes(op, txn, true, func(base int64) bool { return base >= from })
		if err == nil && n > 0 {
			var removed []EpochEntry
			onDisk, removed = onDisk.truncateFromEnd(low)
			err = l.stageEpochDeletes(op, txn, removed)
		}
		if err == nil && n > 0 {
			err = l.commitDeletes(op, txn)
		}
		txn.Discard()
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	// Epochs assigned at the log end without a batch.
	if _, removed := onDisk.truncateFromEnd(from); len(removed) > 0 {
		return l.deleteEpochs(op, removed)
	}
	return nil
}

// dropBelow deletes the batches with a base offset < end, from the first
// one, in transactions of at most s.chunk batches. Every batch below end ends
// before end: end is the log start offset, which is a batch boundary.
func (l *Log) dropBelow(op string, end int64) (int, error) {
	total := 0
	for {
		txn := l.s.db.NewTransaction(true)
		n, _, err := l.stageDeletes(op, txn, false, func(base int64) bool { return base < end })
		if err == nil && n > 0 {
			err = l.commitDeletes(op, txn)
		}
		txn.Discard()
		if err != nil || n == 0 {
			return total, err
		}
		total += n
	}
}

// stageDeletes stages in txn the deletion of up to s.chunk batches from the
// start of the log (or its end, if reverse) while keep accepts their base
// offsets, and the new size. It returns how many it staged and the lowest
// base offset among them.
func (l *Log) stageDeletes(op string, txn *badger.Txn, reverse bool, keep func(int64) bool) (n int, low int64, err error) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: l.key[:], Reverse: reverse})
	var keys [][]byte
	var bytes int64
	if reverse {
		it.Seek(l.key.metaStart())
	} else {
		it.Rewind()
	}
	for ; it.Valid() && len(keys) < l.s.chunk; it.Next() {
		item := it.Item()
		base, ok := l.key.dataOffset(item.Key())
		if !ok || !keep(base) {
			break
		}
		if err := item.Value(func(v []byte) error { bytes += int64(len(v)); return nil }); err != nil {
			it.Close()
			return 0, 0, storageError(op, err)
		}
		keys = append(keys, item.KeyCopy(nil))
		if len(keys) == 1 || base < low {
			low = base
		}
	}
	it.Close()
	for _, k := range keys {
		if err := stage(op, txn, k, nil); err != nil {
			return 0, 0, err
		}
	}
	if len(keys) > 0 {
		l.pending = l.size - bytes
		if err := stage(op, txn, l.sizeKey, putInt64(l.pending)); err != nil {
			return 0, 0, err
		}
	}
	return len(keys), low, nil
}

func (l *Log) stageEpochDeletes(op string, txn *badger.Txn, entries []EpochEntry) error {
	for _, e := range entries {
		if err := stage(op, txn, l.key.epoch(e.Epoch), nil); err != nil {
			return err
		}
	}
	return nil
}

// commitDeletes commits deletions staged by stageDeletes and publishes the
// new size.
func (l *Log) commitDeletes(op string, txn *badger.Txn) error {
	if err := l.commit(op, txn); err != nil {
		return err
	}
	l.mu.Lock()
	l.size = l.pending
	l.mu.Unlock()
	return nil
}
