// Package partlog is the broker's partition log: record batches stored in one
// badger v4 database per broker data dir, with each partition's log end
// offset (LEO), log start offset, high watermark (HW) and leader-epoch
// history.
//
// # Contract
//
// A Store is opened on a directory (Open) and hands out one *Log per
// partition (Store.Partition), recovered from the database or created empty.
// A Log serves the broker's paths:
//
//   - produce (leader): Append assigns offsets from the LEO and the leader
//     epoch to verified batches and writes them in one atomic write; it
//     checks the batches of idempotent producers against the producers'
//     states (epoch, sequence numbers) and answers a retry of a producer's
//     last batches with their offsets, appending nothing (producers.go);
//   - replication (follower): AppendReplica appends the leader's batches as
//     they are, if they continue the log, and records their producers; LastOffsetForEpoch answers
//     OffsetForLeaderEpoch; TruncateTo and TruncateFullyAndStartAt truncate
//     after a divergence (KIP-101, KIP-320); AssignEpoch records a new
//     leader's epoch at the LEO;
//   - fetch: Read returns whole batches from an offset up to a bound (the HW
//     for consumers, the LEO for followers); OffsetForTimestamp answers
//     ListOffsets by time;
//   - HW: SetHighWatermark only moves it forward (truncation aside), never
//     above the LEO; it is checkpointed lazily (CheckpointHighWatermark,
//     Store.CheckpointHighWatermarks, Close);
//   - retention: DeleteBefore and ApplyRetention delete whole batches below
//     the HW from the start of the log;
//   - disk space: Store.RunGC (periodically) and Store.Compact (after large
//     deletions) give the space of deleted batches back; DeletePartition and
//     DeleteTopic drop partitions.
//
// An append is atomic: after a crash, all the batches of an Append or
// AppendReplica are in the log or none is, and the log never has a hole or a
// partial batch. With FsyncEveryBatch an append is durable when it returns;
// with FsyncNever it survives a crash of the process, not a power loss.
//
// # Storage layout
//
// All integers are big-endian, so keys sort by partition, then offset. A
// partition's keys start with its 20-byte prefix, topic id (16 bytes) |
// partition (uint32):
//
//	data      prefix | base offset (uint64)              28 bytes
//	          value: the record batch as the producer sent it, with only
//	          its baseOffset and partitionLeaderEpoch fields rewritten
//	metadata  prefix | 0xFF x 8 | kind                   29 bytes
//	          kind 0x01 log start offset     value: int64
//	          kind 0x02 HW checkpoint        value: int64
//	          kind 0x03 size of the batches  value: int64 (bytes)
//	epoch     prefix | 0xFF x 8 | 0x10 | epoch (uint32)  33 bytes
//	          value: the epoch's start offset (int64)
//	producer  prefix | 0xFF x 8 | 0x20 | id (uint64)     37 bytes
//	          value: the producer's state (epoch, last batches; producers.go)
//
// Base offsets are below 2^63, so no data key has 0xFF x 8 after the prefix:
// metadata keys never collide with data keys and sort after all of them,
// which lets a reverse seek from prefix | 0xFF x 8 find the last batch. The
// reserved prefix of the zero topic id and partition -1 belongs to no
// partition (Store.Compact uses it).
//
// The LEO is not stored: it is the end of the last batch (or the log start
// offset of an empty log). The log start offset, size, epoch entries and
// producer states are written in the same transaction as the batches that
// change them.
//
// # Writes that take several transactions
//
// badger bounds a transaction to 15% of a memtable, so deletions run in
// chunks, ordered so that every prefix of them leaves a valid log:
// truncations delete from the end backwards (a crash leaves a shorter log,
// with the epoch entries of the deleted batches gone in the same
// transactions; the producer states are rebuilt after the batches go, or,
// after a crash, when the partition next opens); DeleteBefore writes the new
// log start offset first and then deletes the batches below it, and opening
// a partition finishes a deletion a crash cut short. A failed write takes the
// Log offline (ErrStorage) until the Store is reopened, since badger may have
// applied part of it.
//
// # Concurrency
//
// A Log runs one write at a time (Append, AppendReplica, AssignEpoch,
// TruncateTo, TruncateFullyAndStartAt, DeleteBefore, ApplyRetention) and any
// number of reads beside it. A read takes the log's bounds and a badger
// snapshot together; writers publish a higher LEO after their batches are
// committed and a higher log start or lower LEO before batches are deleted,
// so a reader never sees a bound without its batches. The producer states
// are the writer's: writes read them without a lock and replace them
// (never modify one) under Log.mu, which Producer takes.
//
// Lock order (a lock may be taken while holding the ones above it):
//
//	Store.opMu (shared by operations, exclusive in Close)
//	Store.mu (the map of logs)
//	Log.wmu (the log's one writer)
//	Store.cpMu (HW checkpoint writes)
//	Store.gate (shared by writes, exclusive around DropPrefix)
//	Log.mu (the log's bounds, held briefly)
//
// # Memory
//
// One database holds every partition of the broker, and Options keeps it
// small (two 16 MiB memtables, no block cache, a bounded index cache, values
// of 1 KiB and more in the value log); see Options and DefaultMemTableSize.
package partlog
