package partlog

import (
	"time"

	"github.com/dgraph-io/badger/v4"
)

// DeleteBefore advances the log start offset to offset, deleting the batches
// that end before it, as Kafka's DeleteRecords does with whole batches: the
// batch that holds offset stays, so the new log start offset is its base
// offset (or offset itself when offset is the log end offset). It fails with
// an *OffsetOutOfRangeError when offset is above the high watermark (only
// committed records may go) or negative; an offset at or below the log start
// offset is a no-op.
//
// The new log start offset (and the leader-epoch history trimmed to it) is
// written first, then the batches are deleted in several transactions; a
// crash in between leaves batches below the log start offset, which are
// deleted when the partition is next opened.
func (l *Log) DeleteBefore(offset int64) error {
	op := "partlog: delete before " + l.name
	if err := l.beginWrite(op); err != nil {
		return err
	}
	defer l.endWrite()
	_, err := l.deleteBefore(op, offset)
	return err
}

func (l *Log) deleteBefore(op string, offset int64) (int, error) {
	if offset < 0 || offset > l.HighWatermark() {
		return 0, l.outOfRange(offset)
	}
	if offset <= l.logStart {
		return 0, nil
	}
	newStart := l.leo
	if offset < l.leo {
		txn := l.s.db.NewTransaction(false)
		base, ok := l.batchContaining(txn, offset)
		txn.Discard()
		if !ok {
			return 0, corruptf(op, "no batch holds offset %d below the log end offset %d", offset, l.leo)
		}
		newStart = base
	}
	if newStart <= l.logStart {
		return 0, nil
	}
	epochs, removed, first := l.epochs.truncateFromStart(newStart)
	txn := l.s.db.NewTransaction(true)
	defer txn.Discard()
	err := l.stageEpochDeletes(op, txn, removed)
	if err == nil && first != nil {
		err = stage(op, txn, l.key.epoch(first.Epoch), putInt64(first.StartOffset))
	}
	if err == nil {
		err = stage(op, txn, l.key.meta(kindLogStart), putInt64(newStart))
	}
	if err == nil {
		err = l.commit(op, txn)
	}
	if err != nil {
		return 0, err
	}
	l.mu.Lock()
	l.logStart, l.epochs = newStart, epochs
	l.mu.Unlock()
	return l.dropBelow(op, newStart)
}

// ApplyRetention deletes the oldest batches as Kafka's retention does with
// segments, batch by batch, and returns how many it deleted:
//
//   - time (retention.ms): from the oldest batch on, the batches whose
//     MaxTimestamp is more than retentionMs before now, up to the first one
//     that is not;
//   - size (retention.bytes): the oldest batches while what remains after
//     deleting one is still at least retentionBytes (Kafka's rule: a
//     partition keeps at least retentionBytes);
//
// whichever deletes more. A negative retentionMs or retentionBytes is
// unlimited. Only committed batches go: none that holds an offset at or above
// the high watermark. The deletion is DeleteBefore's.
func (l *Log) ApplyRetention(now time.Time, retentionMs, retentionBytes int64) (deleted int, err error) {
	op := "partlog: retention " + l.name
	if err := l.beginWrite(op); err != nil {
		return 0, err
	}
	defer l.endWrite()
	if retentionMs < 0 && retentionBytes < 0 {
		return 0, nil
	}
	nowMs, hw := now.UnixMilli(), l.HighWatermark()
	byTime, bySize := retentionMs >= 0, retentionBytes >= 0
	remaining := l.size
	n, end := 0, l.logStart

	txn := l.s.db.NewTransaction(false)
	defer txn.Discard()
	it := txn.NewIterator(badger.IteratorOptions{Prefix: l.key[:]})
	defer it.Close()
	for it.Seek(l.key.data(l.logStart)); it.Valid() && (byTime || bySize); it.Next() {
		item := it.Item()
		base, ok := l.key.dataOffset(item.Key())
		if !ok || base >= hw {
			break
		}
		var size int64
		var last, maxTS int64
		if err := item.Value(func(v []byte) error {
			h, err := checkStored(op, v, base)
			size, last, maxTS = int64(len(v)), h.LastOffset(), h.MaxTimestamp
			return err
		}); err != nil {
			return 0, err
		}
		if last >= hw {
			break
		}
		byTime = byTime && nowMs-maxTS > retentionMs
		remaining -= size
		bySize = bySize && remaining >= retentionBytes
		if byTime || bySize {
			n, end = n+1, last+1
		}
	}
	it.Close()
	txn.Discard()
	if n == 0 {
		return 0, nil
	}
	if _, err := l.deleteBefore(op, end); err != nil {
		return 0, err
	}
	return n, nil
}
