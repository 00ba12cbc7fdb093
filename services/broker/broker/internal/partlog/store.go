package partlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/strata-log/strata/pkg/metadata"
)

// maxGCRounds bounds the value log files one RunGC call rewrites, so that a
// call under a steady write load returns; the caller runs it periodically.
const maxGCRounds = 64

// gcDiscardRatio is the share of dead bytes from which a value log file is
// rewritten.
const gcDiscardRatio = 0.5

// Store holds the partition logs of one broker data dir in one badger
// database. It is safe for concurrent use.
type Store struct {
	db    *badger.DB
	dir   string
	opts  Options
	chunk int // keys deleted per transaction

	// opMu is held shared by every operation that uses db, and exclusively
	// by Close, which so waits for them and fails later ones.
	opMu   sync.RWMutex
	closed bool

	// gate is held shared around every write to db and exclusively around
	// DropPrefix, during which badger fails writes (ErrBlockedWrites)
	// instead of queueing them.
	gate sync.RWMutex

	// cpMu serializes the writes of high watermark checkpoints, so that a
	// checkpoint never writes a value older than one a truncation wrote.
	cpMu sync.Mutex

	mu   sync.Mutex // guards logs
	logs map[PartitionID]*Log
}

// Open opens (or creates) the store in dir, which one Store at a time may
// use (badger locks it).
func Open(dir string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("partlog: open %s: %w", dir, err)
	}
	db, err := badger.Open(opts.badgerOptions(dir))
	if err != nil {
		return nil, storageError("partlog: open "+dir, err)
	}
	// Deletions run in transactions of this many keys, well under badger's
	// limit on a transaction's entries (15% of a memtable).
	chunk := int(min(4096, max(16, db.MaxBatchCount()/4)))
	return &Store{db: db, dir: dir, opts: opts, chunk: chunk, logs: make(map[PartitionID]*Log)}, nil
}

// Close checkpoints the high watermarks and closes the database. It waits for
// operations in progress; later ones fail with ErrClosed. Closing twice
// returns nil.
func (s *Store) Close() error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	cpErr := s.checkpointAll()
	if err := s.db.Close(); err != nil {
		return errors.Join(cpErr, storageError("partlog: close", err))
	}
	return cpErr
}

// begin starts an operation: it fails when the store is closed, and
// otherwise must be paired with end.
func (s *Store) begin(op string) error {
	s.opMu.RLock()
	if s.closed {
		s.opMu.RUnlock()
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	return nil
}

func (s *Store) end() { s.opMu.RUnlock() }

// Partition returns the log of a partition, opening it from the database
// (recovering its log end offset, log start offset, high watermark checkpoint
// and leader-epoch history) or creating it empty. Later calls return the same
// *Log until the partition is deleted.
func (s *Store) Partition(topic metadata.TopicID, partition int32) (*Log, error) {
	id := PartitionID{Topic: topic, Partition: partition}
	op := "partlog: open partition " + id.String()
	if topic == metadata.ZeroTopicID || partition < 0 {
		return nil, fmt.Errorf("%s: invalid topic id or partition", op)
	}
	if err := s.begin(op); err != nil {
		return nil, err
	}
	defer s.end()
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.logs[id]; l != nil {
		return l, nil
	}
	l, err := s.load(op, id)
	if err != nil {
		return nil, err
	}
	s.logs[id] = l
	return l, nil
}

// Partitions lists the partitions that have data or metadata in the database,
// in key order, for the broker to reconcile with the cluster metadata at
// start (deleting the partitions of deleted topics).
func (s *Store) Partitions() ([]PartitionID, error) {
	const op = "partlog: list partitions"
	if err := s.begin(op); err != nil {
		return nil, err
	}
	defer s.end()
	var ids []PartitionID
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); {
			key := it.Item().Key()
			if len(key) < prefixLen {
				it.Next()
				continue
			}
			pk := partKey(key[:prefixLen])
			id := PartitionID{
				Topic:     metadata.TopicID(pk[:topicLen]),
				Partition: int32(binary.BigEndian.Uint32(pk[topicLen:])),
			}
			if id.Topic != metadata.ZeroTopicID && id.Partition >= 0 {
				ids = append(ids, id)
			}
			it.Seek(pk.end()) // skip the rest of this partition
		}
		return nil
	})
	if err != nil {
		return nil, storageError(op, err)
	}
	return ids, nil
}

// DeletePartition removes every key of the partition from the database and
// forgets its Log, whose later operations fail with ErrClosed. It waits for
// the Log's write in progress. Deleting a partition that does not exist is
// not an error.
//
// It uses badger's DropPrefix, which flushes the memtables and compacts the
// partition's keys away, blocking all writes of the store meanwhile: delete a
// topic's partitions together with DeleteTopic. The space in the value log
// comes back with RunGC.
func (s *Store) DeletePartition(topic metadata.TopicID, partition int32) error {
	id := PartitionID{Topic: topic, Partition: partition}
	k := newPartKey(topic, partition)
	return s.drop("partlog: delete partition "+id.String(), k[:], func(p PartitionID) bool { return p == id })
}

// DeleteTopic deletes all the partitions of a topic as DeletePartition does,
// in one DropPrefix.
func (s *Store) DeleteTopic(topic metadata.TopicID) error {
	return s.drop("partlog: delete topic "+topic.String(), topic[:], func(p PartitionID) bool { return p.Topic == topic })
}

func (s *Store) drop(op string, prefix []byte, match func(PartitionID) bool) error {
	if err := s.begin(op); err != nil {
		return err
	}
	defer s.end()
	// s.mu stays held so that the partition is not opened again before its
	// keys are gone.
	s.mu.Lock()
	defer s.mu.Unlock()
	var logs []*Log
	for id, l := range s.logs {
		if match(id) {
			logs = append(logs, l)
		}
	}
	slices.SortFunc(logs, func(a, b *Log) int { return int(a.id.Partition) - int(b.id.Partition) })
	for _, l := range logs {
		l.wmu.Lock()
		defer l.wmu.Unlock()
		l.mu.Lock()
		l.deleted = true
		l.mu.Unlock()
		delete(s.logs, l.id)
	}
	s.gate.Lock()
	defer s.gate.Unlock()
	if err := s.db.DropPrefix(prefix); err != nil {
		return storageError(op, err)
	}
	return nil
}

// CheckpointHighWatermarks writes the high watermark of every open partition
// that changed since its last checkpoint, in one batch. The broker calls it
// periodically (Kafka: replica.high.watermark.checkpoint.interval.ms, 5 s);
// Close calls it too.
func (s *Store) CheckpointHighWatermarks() error {
	if err := s.begin("partlog: checkpoint high watermarks"); err != nil {
		return err
	}
	defer s.end()
	return s.checkpointAll()
}

func (s *Store) checkpointAll() error {
	const op = "partlog: checkpoint high watermarks"
	s.mu.Lock()
	logs := slices.Collect(maps.Values(s.logs))
	s.mu.Unlock()

	s.cpMu.Lock()
	defer s.cpMu.Unlock()
	s.gate.RLock()
	defer s.gate.RUnlock()
	type pending struct {
		l  *Log
		hw int64
	}
	var todo []pending
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, l := range logs {
		l.mu.RLock()
		hw, dirty := l.hw, !l.deleted && l.failed == nil && l.hw != l.cpHW
		l.mu.RUnlock()
		if !dirty {
			continue
		}
		if err := wb.Set(l.key.meta(kindHighWatermark), putInt64(hw)); err != nil {
			return storageError(op, err)
		}
		todo = append(todo, pending{l, hw})
	}
	if len(todo) == 0 {
		return nil
	}
	if err := wb.Flush(); err != nil {
		return storageError(op, err)
	}
	for _, p := range todo {
		p.l.mu.Lock()
		p.l.cpHW = p.hw
		p.l.mu.Unlock()
	}
	return nil
}

// RunGC reclaims disk space in badger's value log, where batches of 1 KiB and
// more live: it rewrites the value log files of which at least half is dead
// (deleted by retention, truncation or partition deletion) and deletes them,
// until none is left or it has rewritten maxGCRounds files. It returns the
// number of files rewritten.
//
// Run it periodically (say every minute, or after retention deleted data),
// like Kafka's log cleaner thread: without it deleted batches keep their disk
// space. badger learns that data is dead when its LSM compaction drops the
// keys; under a steady write load that happens by itself, and Compact forces
// it after a large deletion.
func (s *Store) RunGC() (int, error) {
	const op = "partlog: value log gc"
	if err := s.begin(op); err != nil {
		return 0, err
	}
	defer s.end()
	n := 0
	for n < maxGCRounds {
		// A rewrite writes the live values again: not during DropPrefix.
		s.gate.RLock()
		err := s.db.RunValueLogGC(gcDiscardRatio)
		s.gate.RUnlock()
		switch {
		case err == nil:
			n++
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			return n, nil // nothing (more) to reclaim, or a GC is already running
		default:
			return n, storageError(op, err)
		}
	}
	return n, nil
}

// Compact flushes badger's memtables and compacts its level 0 into the LSM
// tree, so that the keys deleted by retention and truncation are dropped and
// their value log space becomes reclaimable by RunGC. badger has no direct
// call for this; DropPrefix of a reserved key does both. Like DeletePartition
// it blocks the store's writes while it runs (typically well under a second),
// so call it rarely: after retention deleted a lot, before RunGC.
func (s *Store) Compact() error {
	const op = "partlog: compact"
	if err := s.begin(op); err != nil {
		return err
	}
	defer s.end()
	s.gate.Lock()
	defer s.gate.Unlock()
	err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(compactKey, []byte{1}) })
	if err == nil {
		err = s.db.DropPrefix(reservedPrefix)
	}
	if err != nil {
		return storageError(op, err)
	}
	return nil
}
