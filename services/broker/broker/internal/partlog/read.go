package partlog

import (
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/strata-log/strata/pkg/recordbatch"
)

// readBufferCap caps the buffer Read allocates up front.
const readBufferCap = 1 << 20

// readCap is the capacity Read allocates for reading [offset, bound): what
// the log's average bytes per offset predict, plus a batch header, within
// maxBytes and readBufferCap. A follower fetching the tail of many
// partitions so allocates what it reads, not maxBytes for each.
func readCap(snap snapshot, offset, bound int64, maxBytes int) int {
	n := snap.leo - snap.logStart
	if n <= 0 || maxBytes <= 0 {
		return 0
	}
	est := (bound-offset+1)*(snap.size/n+1) + 4096
	return int(min(est, int64(maxBytes), readBufferCap))
}

// snapshot is a consistent view of a log for a reader: its bounds and a
// read-only transaction that holds at least the batches in [logStart, leo).
// Writers publish a new log end offset after the batches are committed, and
// a new log start offset or a truncated log end offset before the batches go,
// so any (bounds, transaction) pair taken together under mu is consistent.
type snapshot struct {
	txn                     *badger.Txn
	logStart, leo, hw, size int64
}

// snapshot starts a read; the caller must call s.end and snap.txn.Discard.
func (l *Log) snapshot(op string) (snapshot, error) {
	if err := l.s.begin(op); err != nil {
		return snapshot{}, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.deleted {
		l.s.end()
		return snapshot{}, fmt.Errorf("%s: %w: partition deleted", op, ErrClosed)
	}
	return snapshot{txn: l.s.db.NewTransaction(false), logStart: l.logStart, leo: l.leo, hw: l.hw, size: l.size}, nil
}

func (l *Log) endRead(snap snapshot) {
	snap.txn.Discard()
	l.s.end()
}

// Read returns whole batches back to back, starting with the batch that holds
// offset: at least one batch, then more while the total stays within maxBytes
// (so a batch larger than maxBytes never blocks a consumer, as in Kafka), and
// none whose last offset is maxOffset or more (the high watermark for a
// consumer, the log end offset for a follower). Reading at the log end
// offset, or at maxOffset or beyond, returns no bytes. An offset below the log
// start offset or above the log end offset fails with an
// *OffsetOutOfRangeError.
//
// The batches are copied out of the database: the caller owns the result.
// Their CRCs are not checked (consumers check them); a batch that does not
// match its key fails with ErrCorrupt.
func (l *Log) Read(offset int64, maxBytes int, maxOffset int64) ([]byte, error) {
	op := l.opRead
	snap, err := l.snapshot(op)
	if err != nil {
		return nil, err
	}
	defer l.endRead(snap)
	if offset < snap.logStart || offset > snap.leo {
		return nil, &OffsetOutOfRangeError{Offset: offset, LogStartOffset: snap.logStart, LogEndOffset: snap.leo, HighWatermark: snap.hw}
	}
	bound := min(maxOffset, snap.leo)
	if offset >= bound {
		return nil, nil
	}
	base, ok := l.batchContaining(snap.txn, offset)
	if !ok {
		return nil, nil // truncated since the snapshot's bounds were taken: nothing to read
	}
	out := make([]byte, 0, readCap(snap, offset, bound, maxBytes))
	it := snap.txn.NewIterator(badger.IteratorOptions{Prefix: l.key[:]})
	defer it.Close()
	for it.Seek(l.key.data(base)); it.Valid(); it.Next() {
		item := it.Item()
		b, ok := l.key.dataOffset(item.Key())
		if !ok || b >= bound {
			break
		}
		stop := false
		err := item.Value(func(v []byte) error {
			if len(out) > 0 && len(out)+len(v) > maxBytes {
				stop = true
				return nil
			}
			h, err := checkStored(op, v, b)
			switch {
			case err != nil:
				return err
			case h.LastOffset() < offset:
				return nil // a batch left behind below the log start: skip
			case h.LastOffset() >= bound:
				stop = true
				return nil
			}
			out = append(out, v...)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if stop {
			break
		}
	}
	return out, nil
}

// batchContaining returns the base offset of the batch that holds offset: the
// greatest base offset <= offset, found with a reverse seek.
func (l *Log) batchContaining(txn *badger.Txn, offset int64) (int64, bool) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: l.key[:], Reverse: true})
	defer it.Close()
	it.Seek(l.key.data(offset))
	if !it.Valid() {
		return 0, false
	}
	return l.key.dataOffset(it.Item().Key())
}

// OffsetForTimestamp answers ListOffsets for a timestamp, as Kafka does: the
// offset and timestamp of the first record whose timestamp is >= ts, among
// the committed records (below the high watermark). It scans the batches from
// the log start, skipping each batch whose MaxTimestamp is below ts by its
// header, and decodes (and decompresses) the first batch that qualifies to
// find the record, so the answer is the record's offset, not the batch's.
// It returns (-1, -1, nil) when no such record exists. Kafka's special
// timestamps (-1 latest, -2 earliest, -3 max) are the caller's: they are
// the high watermark, LogStartOffset and a scan of its own.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, err error) {
	op := "partlog: offset for timestamp " + l.name
	snap, err := l.snapshot(op)
	if err != nil {
		return -1, -1, err
	}
	defer l.endRead(snap)
	offset, timestamp = -1, -1
	it := snap.txn.NewIterator(badger.IteratorOptions{Prefix: l.key[:]})
	defer it.Close()
	for it.Seek(l.key.data(snap.logStart)); it.Valid(); it.Next() {
		item := it.Item()
		base, ok := l.key.dataOffset(item.Key())
		if !ok || base >= snap.hw {
			break
		}
		found := false
		err := item.Value(func(v []byte) error {
			h, err := checkStored(op, v, base)
			if err != nil || h.MaxTimestamp < ts || h.LastOffset() >= snap.hw {
				return err
			}
			var d recordbatch.Decoder
			recs, err := d.Decode(nil, v)
			if err != nil {
				return corruptf(op, "batch at offset %d: %v", base, err)
			}
			for _, r := range recs {
				if r.Timestamp >= ts {
					offset, timestamp, found = base+int64(r.OffsetDelta), r.Timestamp, true
					return nil
				}
			}
			return nil
		})
		if err != nil || found {
			return offset, timestamp, err
		}
	}
	return -1, -1, nil
}
