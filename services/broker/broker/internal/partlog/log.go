package partlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/strata-log/strata/pkg/metadata"
	"github.com/strata-log/strata/pkg/recordbatch"
)

// Log is the log of one partition. It is safe for concurrent use: writes
// (appends, truncations, deletions) run one at a time, and reads run
// concurrently with them and with each other, each on a consistent snapshot.
type Log struct {
	s       *Store
	id      PartitionID
	key     partKey
	name    string // for errors: topic id-partition
	sizeKey []byte // key.meta(kindSize), written by every append

	// Prefixes of the errors of the hot paths, built once.
	opAppend, opReplica, opRead string

	// wmu is held by the one write in progress.
	wmu sync.Mutex

	// mu guards the fields below. Writers change them holding wmu too, so a
	// writer reads them without mu.
	mu       sync.RWMutex
	logStart int64
	leo      int64
	hw       int64
	size     int64        // bytes of the stored batches
	pending  int64        // size after the deletions being committed; writer only
	epochs   epochHistory // copy on write
	cpHW     int64        // the high watermark last checkpointed
	deleted  bool
	failed   error // the write error that took the log offline
	// producers holds the idempotent producers' states by producer id;
	// writers replace states (never modify them) under mu.
	producers map[int64]*ProducerState
}

// Topic returns the log's topic id.
func (l *Log) Topic() metadata.TopicID { return l.id.Topic }

// Partition returns the log's partition index.
func (l *Log) Partition() int32 { return l.id.Partition }

// LogEndOffset returns the log end offset (LEO): the offset the next append
// gets.
func (l *Log) LogEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.leo
}

// LogStartOffset returns the first offset the log holds (the log end offset
// when it is empty).
func (l *Log) LogStartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.logStart
}

// HighWatermark returns the high watermark: the offsets below it are
// committed and visible to consumers.
func (l *Log) HighWatermark() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.hw
}

// Size returns the bytes of the batches the log holds (as Kafka's Size
// metric, the sum of the batches; badger's own overhead is not counted).
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.size
}

// SetHighWatermark raises the high watermark to hw, capped at the log end
// offset, and returns the resulting high watermark. It never lowers it: only
// a truncation does. The new value is checkpointed lazily
// (CheckpointHighWatermark, Store.CheckpointHighWatermarks, Close), so after
// a crash the recovered high watermark may be lower, as in Kafka.
func (l *Log) SetHighWatermark(hw int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	hw = min(hw, l.leo)
	if hw > l.hw {
		l.hw = hw
	}
	return l.hw
}

// CheckpointHighWatermark writes the high watermark to the database if it
// changed since the last checkpoint.
func (l *Log) CheckpointHighWatermark() error {
	op := "partlog: checkpoint high watermark " + l.name
	if err := l.s.begin(op); err != nil {
		return err
	}
	defer l.s.end()
	return l.checkpoint(op)
}

func (l *Log) checkpoint(op string) error {
	l.s.cpMu.Lock()
	defer l.s.cpMu.Unlock()
	l.s.gate.RLock()
	defer l.s.gate.RUnlock()
	l.mu.RLock()
	hw, deleted, failed, cp := l.hw, l.deleted, l.failed, l.cpHW
	l.mu.RUnlock()
	switch {
	case deleted:
		return fmt.Errorf("%s: %w: partition deleted", op, ErrClosed)
	case failed != nil:
		return l.failedError(op, failed)
	case hw == cp:
		return nil
	}
	if err := l.s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(l.key.meta(kindHighWatermark), putInt64(hw))
	}); err != nil {
		return storageError(op, err)
	}
	l.mu.Lock()
	l.cpHW = hw
	l.mu.Unlock()
	return nil
}

// LatestEpoch returns the latest leader epoch in the log's history, or -1.
func (l *Log) LatestEpoch() int32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.latest()
}

// EpochHistory returns a copy of the leader-epoch history, oldest first.
func (l *Log) EpochHistory() []EpochEntry {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return append([]EpochEntry(nil), l.epochs...)
}

// LastOffsetForEpoch answers a follower's OffsetForLeaderEpoch request as
// Kafka's leader epoch cache does: the largest epoch <= epoch in the history
// and its end offset, which is the start offset of the next greater epoch, or
// the log end offset when it is the latest epoch. It returns (-1, -1) for a
// negative epoch, one above the latest, or an empty history; for an epoch
// below the earliest known one, (epoch, start offset of the earliest).
func (l *Log) LastOffsetForEpoch(epoch int32) (int32, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.endOffsetFor(epoch, l.leo)
}

// beginWrite starts a write: it takes the write lock and fails when the
// store is closed, the partition deleted or the log offline. On success the
// caller must call endWrite.
func (l *Log) beginWrite(op string) error {
	if err := l.s.begin(op); err != nil {
		return err
	}
	l.wmu.Lock()
	l.mu.RLock()
	deleted, failed := l.deleted, l.failed
	l.mu.RUnlock()
	var err error
	switch {
	case deleted:
		err = fmt.Errorf("%s: %w: partition deleted", op, ErrClosed)
	case failed != nil:
		err = l.failedError(op, failed)
	}
	if err != nil {
		l.endWrite()
	}
	return err
}

func (l *Log) endWrite() {
	l.wmu.Unlock()
	l.s.end()
}

func (l *Log) failedError(op string, failed error) error {
	return fmt.Errorf("%s: %w: log is offline after a failed write; reopen the store: %w", op, ErrStorage, failed)
}

// commit commits a write transaction. A failure takes the log offline (see
// ErrStorage): badger may have applied part of the write, which the log's
// state in memory does not reflect.
func (l *Log) commit(op string, txn *badger.Txn) error {
	l.s.gate.RLock()
	defer l.s.gate.RUnlock()
	var err error
	if k := l.s.opts.knobs; k != nil && k.beforeCommit != nil {
		err = k.beforeCommit(op)
	}
	if err == nil {
		err = txn.Commit()
	}
	if err != nil {
		l.mu.Lock()
		l.failed = err
		l.mu.Unlock()
		return storageError(op, err)
	}
	return nil
}

// stage adds a write to txn; badger checks its size there, before anything
// is written, so a failure leaves the log as it was.
func stage(op string, txn *badger.Txn, key, value []byte) error {
	var err error
	if value == nil {
		err = txn.Delete(key)
	} else {
		err = txn.Set(key, value)
	}
	if err != nil {
		return storageError(op, err)
	}
	return nil
}

// load opens the log of id from the database, creating it if it has no key.
// Called with s.mu held.
func (s *Store) load(op string, id PartitionID) (*Log, error) {
	l := &Log{s: s, id: id, key: newPartKey(id.Topic, id.Partition), name: id.String()}
	l.sizeKey = l.key.meta(kindSize)
	l.opAppend = "partlog: append to " + l.name
	l.opReplica = "partlog: replica append to " + l.name
	l.opRead = "partlog: read " + l.name
	var (
		found     bool  // any key of the partition
		lastEnd   int64 // end of the last stored batch
		hasData   bool
		firstBase int64
		cp        int64
	)
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		get := func(kind byte) (int64, bool, error) {
			key := l.key.meta(kind)
			item, err := txn.Get(key)
			if errors.Is(err, badger.ErrKeyNotFound) {
				return 0, false, nil
			}
			if err != nil {
				return 0, false, storageError(op, err)
			}
			var v int64
			err = item.Value(func(b []byte) (err error) { v, err = getInt64(op, key, b); return err })
			return v, true, err
		}
		var ok bool
		if l.logStart, ok, err = get(kindLogStart); err != nil {
			return err
		}
		found = found || ok
		if cp, _, err = get(kindHighWatermark); err != nil {
			return err
		}
		if l.size, _, err = get(kindSize); err != nil {
			return err
		}

		// The epoch history: prefix | 0xFF x 8 | kindEpoch | epoch.
		epochPrefix := l.key.meta(kindEpoch)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: epochPrefix})
		for it.Rewind(); it.Valid(); it.Next() {
			key := it.Item().Key()
			if len(key) != epochKeyLen {
				it.Close()
				return corruptf(op, "leader epoch key %x has %d bytes", key, len(key))
			}
			var start int64
			if err := it.Item().Value(func(b []byte) (err error) { start, err = getInt64(op, key, b); return err }); err != nil {
				it.Close()
				return err
			}
			epoch := int32(binary.BigEndian.Uint32(key[metaKeyLen:]))
			l.epochs = append(l.epochs, EpochEntry{Epoch: epoch, StartOffset: start})
		}
		it.Close()
		found = found || len(l.epochs) > 0
		if err := l.loadProducers(op, txn); err != nil {
			return err
		}

		// The last batch gives the log end offset; the first one tells
		// whether a deletion was cut short below the log start offset.
		it = txn.NewIterator(badger.IteratorOptions{Prefix: l.key[:], Reverse: true})
		defer it.Close()
		it.Seek(l.key.metaStart())
		if !it.Valid() {
			return nil
		}
		base, ok := l.key.dataOffset(it.Item().Key())
		if !ok {
			return nil
		}
		h, err := readHeader(op, it.Item(), base)
		if err != nil {
			return err
		}
		found, hasData, lastEnd = true, true, h.LastOffset()+1
		fwd := txn.NewIterator(badger.IteratorOptions{Prefix: l.key[:]})
		defer fwd.Close()
		if fwd.Rewind(); fwd.Valid() {
			firstBase, _ = l.key.dataOffset(fwd.Item().Key())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	l.leo = l.logStart
	if hasData {
		l.leo = max(lastEnd, l.logStart)
	}
	l.hw = min(max(cp, l.logStart), l.leo)
	l.cpHW = cp

	if !found {
		// A new partition: record it, so that Partitions lists it.
		txn := s.db.NewTransaction(true)
		defer txn.Discard()
		if err := stage(op, txn, l.key.meta(kindLogStart), putInt64(0)); err != nil {
			return nil, err
		}
		if err := l.commit(op, txn); err != nil {
			return nil, err
		}
		return l, nil
	}

	// Finish what a crash may have cut short: a deletion below the log start
	// offset (DeleteBefore deletes after moving the log start), and epochs
	// beyond the log end (defensive: truncations delete them with the
	// batches they start at).
	if hasData && firstBase < l.logStart {
		if _, err := l.dropBelow(op, l.logStart); err != nil {
			return nil, err
		}
	}
	if kept, removed := l.epochs.truncateFromEnd(l.leo + 1); len(removed) > 0 {
		if err := l.deleteEpochs(op, removed); err != nil {
			return nil, err
		}
		l.epochs = kept
	}
	// Producer states that point past the log end: a truncation deletes
	// the batches before it fixes the states.
	if err := l.truncateProducers(op, l.leo); err != nil {
		return nil, err
	}
	return l, nil
}

// deleteEpochs removes epoch entries from the database.
func (l *Log) deleteEpochs(op string, entries []EpochEntry) error {
	txn := l.s.db.NewTransaction(true)
	defer txn.Discard()
	for _, e := range entries {
		if err := stage(op, txn, l.key.epoch(e.Epoch), nil); err != nil {
			return err
		}
	}
	return l.commit(op, txn)
}

// readHeader reads the header of the stored batch of item, whose key has
// base offset base, and checks it against the key and the value's length.
func readHeader(op string, item *badger.Item, base int64) (h recordbatch.BatchHeader, err error) {
	err = item.Value(func(v []byte) error {
		h, err = checkStored(op, v, base)
		return err
	})
	return h, err
}

// checkStored parses the header of stored batch v and checks it against its
// key's base offset and its length.
func checkStored(op string, v []byte, base int64) (recordbatch.BatchHeader, error) {
	h, err := recordbatch.ParseHeader(v)
	switch {
	case err != nil:
		return h, corruptf(op, "batch at offset %d: %v", base, err)
	case h.BaseOffset != base:
		return h, corruptf(op, "batch stored at offset %d has base offset %d", base, h.BaseOffset)
	case h.Size() != len(v):
		return h, corruptf(op, "batch at offset %d has %d bytes, its header says %d", base, len(v), h.Size())
	case h.LastOffsetDelta < 0:
		return h, corruptf(op, "batch at offset %d has last offset delta %d", base, h.LastOffsetDelta)
	}
	return h, nil
}
