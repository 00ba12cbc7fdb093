package partlog

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Sentinel errors. Errors returned by this package match at most one of them
// with errors.Is (ErrRecordListTooLarge, ErrStaleLeaderEpoch and the producer
// errors excepted, which are about the caller's input and match nothing
// else); the broker maps them to Kafka error codes:
//
//	ErrOffsetOutOfRange      OFFSET_OUT_OF_RANGE (1)
//	ErrCorrupt               CORRUPT_MESSAGE (2) / KAFKA_STORAGE_ERROR for stored data
//	ErrStorage               KAFKA_STORAGE_ERROR (56)
//	ErrRecordListTooLarge    RECORD_LIST_TOO_LARGE (18)
//	ErrStaleLeaderEpoch      FENCED_LEADER_EPOCH (74)
//	ErrOutOfOrderSequence    OUT_OF_ORDER_SEQUENCE_NUMBER (45)
//	ErrInvalidProducerEpoch  INVALID_PRODUCER_EPOCH (47)
//	ErrNotContiguous         (replication: the follower resets its fetch offset)
//	ErrClosed                NOT_LEADER_OR_FOLLOWER / UNKNOWN_TOPIC_OR_PARTITION
var (
	// ErrOffsetOutOfRange reports an offset below the log start offset or
	// above the log end offset. The error is an *OffsetOutOfRangeError,
	// which carries the bounds.
	ErrOffsetOutOfRange = errors.New("partlog: offset out of range")

	// ErrClosed reports an operation on a closed Store, or on a Log whose
	// partition was deleted.
	ErrClosed = errors.New("partlog: closed")

	// ErrNotContiguous reports replicated batches whose first base offset is
	// not the log end offset, or that do not follow each other.
	ErrNotContiguous = errors.New("partlog: batches not contiguous with the log")

	// ErrCorrupt reports a stored batch or metadata value that does not
	// decode: a header that does not parse, a length or base offset that does
	// not match its key. Appended input that is not a sequence of whole
	// batches yields the recordbatch package's errors instead.
	ErrCorrupt = errors.New("partlog: corrupt stored data")

	// ErrStorage wraps an error of the storage engine (badger): the disk is
	// full, read-only or failing. After a failed write a Log refuses further
	// writes, as Kafka takes a failed log dir offline, because the engine
	// may hold part of what was written; reopening the Store recovers the
	// log from what is durable.
	ErrStorage = errors.New("partlog: storage error")

	// ErrRecordListTooLarge reports an append too large for one atomic write
	// of the storage engine (MaxAppendBytes). Nothing was written.
	ErrRecordListTooLarge = errors.New("partlog: record list too large for one write")

	// ErrStaleLeaderEpoch reports a leader epoch that is negative or older
	// than the latest epoch of the log. Nothing was written.
	ErrStaleLeaderEpoch = errors.New("partlog: stale leader epoch")

	// ErrOutOfOrderSequence reports a batch of an idempotent producer whose
	// sequence number does not follow the producer's last one, or that
	// starts a new producer epoch at a sequence other than 0. The error is
	// a *ProducerError. Nothing was written.
	ErrOutOfOrderSequence = errors.New("partlog: out of order sequence number")

	// ErrInvalidProducerEpoch reports a batch of an idempotent producer
	// whose epoch is older than the producer's last one. The error is a
	// *ProducerError. Nothing was written.
	ErrInvalidProducerEpoch = errors.New("partlog: invalid producer epoch")
)

// ProducerError is the error of an append refused by the producer state
// checks. It matches ErrOutOfOrderSequence or ErrInvalidProducerEpoch;
// Message gives Kafka's text, for the broker to return to the client.
type ProducerError struct {
	op, partition string // for Error: the operation and the log's name
	err           error
	ProducerID    int64
	// Offset is where the batch would have been appended.
	Offset int64
	// Epoch and Sequence are the batch's producer epoch and base sequence;
	// CurrentEpoch and CurrentSequence the producer's, as the partition
	// knows them.
	Epoch, CurrentEpoch       int16
	Sequence, CurrentSequence int32
	// NewEpoch: the batch starts a new producer epoch at a sequence
	// other than 0.
	NewEpoch bool
}

func (e *ProducerError) Error() string {
	return e.op + ": " + e.err.Error() + ": " + e.Message(e.partition)
}

func (e *ProducerError) Unwrap() error { return e.err }

// Message is Kafka's text for the error, naming the partition tp ("T-0").
func (e *ProducerError) Message(tp string) string {
	switch {
	case errors.Is(e.err, ErrInvalidProducerEpoch):
		return fmt.Sprintf("Epoch of producer %d at offset %d in %s is %d, which is smaller than the last seen epoch %d",
			e.ProducerID, e.Offset, tp, e.Epoch, e.CurrentEpoch)
	case e.NewEpoch:
		return fmt.Sprintf("Invalid sequence number for new epoch: %d (request epoch), %d (seq. number)", e.Epoch, e.Sequence)
	default:
		return fmt.Sprintf("Out of order sequence number for producer %d at offset %d in partition %s: %d (incoming seq. number), %d (current end sequence number)",
			e.ProducerID, e.Offset, tp, e.Sequence, e.CurrentSequence)
	}
}

// OffsetOutOfRangeError is the error of a read, a truncation or a deletion at
// an offset the log does not hold. It matches ErrOffsetOutOfRange. Its text
// names the offset and the log's bounds, without a package prefix, so the
// broker can return it to the client as is (BAD_INPUTS row 22).
type OffsetOutOfRangeError struct {
	Offset         int64
	LogStartOffset int64
	LogEndOffset   int64
	HighWatermark  int64
}

func (e *OffsetOutOfRangeError) Error() string {
	return fmt.Sprintf("offset %d is out of range: log start offset %d, high watermark %d, log end offset %d",
		e.Offset, e.LogStartOffset, e.HighWatermark, e.LogEndOffset)
}

// Is makes errors.Is(err, ErrOffsetOutOfRange) true.
func (e *OffsetOutOfRangeError) Is(target error) bool { return target == ErrOffsetOutOfRange }

// storageError wraps an engine error for op; the two of badger's errors that
// are not about the disk get their own sentinel.
func storageError(op string, err error) error {
	switch {
	case errors.Is(err, badger.ErrTxnTooBig):
		return fmt.Errorf("%s: %w: %w", op, ErrRecordListTooLarge, err)
	case errors.Is(err, badger.ErrDBClosed):
		return fmt.Errorf("%s: %w: %w", op, ErrClosed, err)
	default:
		return fmt.Errorf("%s: %w: %w", op, ErrStorage, err)
	}
}

func corruptf(op, format string, args ...any) error {
	return fmt.Errorf("%s: %w: %s", op, ErrCorrupt, fmt.Sprintf(format, args...))
}
