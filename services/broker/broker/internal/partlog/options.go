package partlog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// FsyncPolicy says when an append is made durable against power loss.
// Against a crash of the process alone every acknowledged append survives
// under either policy: badger writes its write-ahead and value logs through
// shared memory maps, which the kernel keeps when the process dies.
type FsyncPolicy int

const (
	// FsyncNever leaves flushing to the operating system, as Kafka does by
	// default (log.flush.interval.messages unset): durability comes from
	// replication, and a power loss may lose the last acknowledged appends
	// of this replica.
	FsyncNever FsyncPolicy = iota
	// FsyncEveryBatch syncs the write-ahead and value logs before Append
	// returns (badger's SyncWrites). Concurrent appends to different
	// partitions share one sync (badger commits queued writes together).
	FsyncEveryBatch
)

func (p FsyncPolicy) String() string {
	switch p {
	case FsyncNever:
		return "never"
	case FsyncEveryBatch:
		return "every-batch"
	default:
		return fmt.Sprintf("FsyncPolicy(%d)", int(p))
	}
}

// Defaults of the Options sizes. One badger database holds every partition
// of a broker, so these bound the broker's memory, not a partition's.
const (
	// DefaultMemTableSize is badger's memtable size (badger: 64 MiB). Each
	// memtable is an arena of about this size (plus 15%) and a memory
	// mapped write-ahead log of the same size; with NumMemtables 2 that is
	// about 40 MiB of RAM in the worst case instead of badger's 5 x 64 MiB.
	// Batches above the value threshold put only a key and a value pointer
	// (about 100 bytes) in the memtable, so 16 MiB still holds ~150,000
	// appends before a flush.
	DefaultMemTableSize = 16 << 20
	// DefaultValueLogFileSize is the size of one value log file (badger:
	// 1 GiB), and bounds a batch. Value log GC reclaims space a whole file
	// at a time, once half of it is dead, so smaller files give disk space
	// back sooner after retention and make each GC round (which rewrites
	// the live half) cheaper. Above all, when a file is full badger syncs
	// all of it (msync) on its one writer goroutine, and every append waits
	// meanwhile: with 128 MiB files that stall set the p99 of acks=all at
	// about 500 ms under load; 32 MiB files cut it about fourfold, at no
	// cost in throughput (BenchmarkReplicatedProduce).
	DefaultValueLogFileSize = 32 << 20
	// DefaultIndexCacheSize bounds the memory of SSTable indexes and bloom
	// filters (badger: 0, meaning all indexes stay in memory and grow with
	// the number of stored batches). Our LSM tree holds only keys and
	// pointers, so its indexes are small and this cache covers a large log.
	DefaultIndexCacheSize = 32 << 20
)

// valueThreshold is the value size from which badger stores a value in its
// value log instead of in the LSM tree (badger: 1 MiB). Record batches are
// written once and deleted in offset order, which suits the value log: they
// are never rewritten by LSM compactions (no write amplification), and
// retention frees whole value log files. Only batches under 1 KiB (a few tiny
// records), for which a value pointer would be a large overhead, stay inline.
const valueThreshold = 1 << 10

// Options configures a Store. The zero Options is valid: FsyncNever, the
// default logger and the default sizes.
type Options struct {
	// Fsync is the durability of an append; see FsyncPolicy.
	Fsync FsyncPolicy
	// Logger receives badger's warnings and errors (its info and debug
	// messages are dropped). Nil means slog.Default().
	Logger *slog.Logger
	// MemTableSize in bytes; 0 means DefaultMemTableSize. At least 1 MiB.
	// The largest append (MaxAppendBytes) is 15% of it for batches kept
	// inline, and about 15% / 100 bytes batches otherwise.
	MemTableSize int64
	// ValueLogFileSize in bytes; 0 means DefaultValueLogFileSize. In
	// [1 MiB, 2 GiB), and larger than the largest batch.
	ValueLogFileSize int64
	// IndexCacheSize in bytes; 0 means DefaultIndexCacheSize, a negative
	// value keeps every index in memory (badger's default).
	IndexCacheSize int64

	knobs *testKnobs // nil outside tests
}

// testKnobs are hooks for tests; nil fields do nothing.
type testKnobs struct {
	// beforeCommit runs before a log write commits; an error fails the
	// write as an engine error would.
	beforeCommit func(op string) error
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = DefaultMemTableSize
	}
	if o.ValueLogFileSize == 0 {
		o.ValueLogFileSize = DefaultValueLogFileSize
	}
	if o.IndexCacheSize == 0 {
		o.IndexCacheSize = DefaultIndexCacheSize
	}
	return o
}

// validate checks o after withDefaults and names the field that is wrong.
func (o Options) validate() error {
	switch {
	case o.Fsync != FsyncNever && o.Fsync != FsyncEveryBatch:
		return fmt.Errorf("Options.Fsync: unknown policy %d", int(o.Fsync))
	case o.MemTableSize < 1<<20:
		return fmt.Errorf("Options.MemTableSize: %d is less than 1 MiB", o.MemTableSize)
	case o.ValueLogFileSize < 1<<20 || o.ValueLogFileSize >= 2<<30:
		return fmt.Errorf("Options.ValueLogFileSize: %d is not in [1 MiB, 2 GiB)", o.ValueLogFileSize)
	}
	return nil
}

// badgerOptions turns o (after withDefaults) into badger's options for the
// database in dir. Every choice is about memory or about what a log of record
// batches needs; the comments say which.
func (o Options) badgerOptions(dir string) badger.Options {
	indexCache := max(o.IndexCacheSize, 0) // badger: 0 keeps all indexes
	return badger.DefaultOptions(dir).
		WithLogger(slogAdapter{o.Logger}).
		// FsyncEveryBatch: badger msyncs the value log and the memtable's
		// write-ahead log after every write request, before Commit returns.
		WithSyncWrites(o.Fsync == FsyncEveryBatch).
		WithMemTableSize(o.MemTableSize).
		// One memtable taking writes and one being flushed: the memory
		// bound above. Writes stall only if a flush takes longer than
		// filling a memtable.
		WithNumMemtables(2).
		WithValueThreshold(valueThreshold).
		WithValueLogFileSize(o.ValueLogFileSize).
		// Producers compress batches; SSTables hold keys and pointers.
		// Without compression badger needs no block cache (it requires one
		// with compression), and SSTable reads go through the page cache.
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithIndexCacheSize(indexCache).
		// Two compactors (the minimum that compacts beyond L1) are plenty
		// for an LSM tree of keys and pointers; each costs a goroutine and
		// buffers.
		WithNumCompactors(2).
		// Each partition has one writer at a time (Log's write lock) and
		// partitions never share keys, so badger's conflict detection would
		// only cost memory and time.
		WithDetectConflicts(false).
		// badger's expvar metrics are process-global; the broker exports
		// its own.
		WithMetricsEnabled(false)
}

// slogAdapter passes badger's warnings and errors to a slog.Logger.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Errorf(format string, args ...any) {
	a.log(slog.LevelError, format, args)
}

func (a slogAdapter) Warningf(format string, args ...any) {
	a.log(slog.LevelWarn, format, args)
}

func (a slogAdapter) Infof(string, ...any) {}

func (a slogAdapter) Debugf(string, ...any) {}

func (a slogAdapter) log(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !a.l.Enabled(ctx, level) {
		return
	}
	a.l.Log(ctx, level, strings.TrimSpace(fmt.Sprintf(format, args...)), "component", "badger")
}
