package recordbatch

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package for bad input
// matches exactly one of ErrCorrupt and ErrInvalidRecord with errors.Is;
// callers map them to the CORRUPT_MESSAGE and INVALID_RECORD error codes.
//
// The text of such an error (its Error method) is the bare message, for
// example "Record is corrupt (stored crc = 1, computed crc = 2)", with neither
// a package prefix nor a topic-partition suffix: a broker appends
// " in topic partition T-0" itself.
var (
	// ErrCorrupt reports bytes that are not a well-formed record batch: a CRC
	// mismatch, a truncated batch or record, a bad varint or length, an
	// unknown compression codec, undecodable compressed data, or compressed
	// records that inflate past the caller's limit.
	ErrCorrupt = errors.New("corrupt record batch")

	// ErrInvalidRecord reports a well-formed batch whose contents break the
	// rules: a record count that is not positive or does not match the
	// offset range, records that do not match the count, offset deltas out
	// of order, or (see CheckClient) a control batch or sequence number a
	// client may not send.
	ErrInvalidRecord = errors.New("invalid record")

	// ErrTruncated additionally marks the ErrCorrupt errors caused by bytes
	// running out: a batch shorter than its length field says, or records
	// that end before the record count or a length field says. A consumer
	// may use it to drop a partial batch at the end of a fetched buffer.
	ErrTruncated = errors.New("record batch truncated")
)

// batchError is the concrete type of this package's input errors. Its text
// is the message alone; Unwrap exposes the sentinel and an optional detail
// (ErrTruncated or the error of a decompressor).
type batchError struct {
	msg    string
	kind   error
	detail error
}

func (e *batchError) Error() string { return e.msg }

func (e *batchError) Unwrap() []error {
	if e.detail == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.detail}
}

func corruptf(format string, args ...any) error {
	return &batchError{msg: fmt.Sprintf(format, args...), kind: ErrCorrupt}
}

func invalidf(format string, args ...any) error {
	return &batchError{msg: fmt.Sprintf(format, args...), kind: ErrInvalidRecord}
}

// truncatedAt reports that the bytes of a batch ran out at byte pos, counted
// from the start of the batch (or of the buffer given to Cut or All).
func truncatedAt(pos int) error {
	return &batchError{msg: fmt.Sprintf("batch truncated at byte %d", pos), kind: ErrCorrupt, detail: ErrTruncated}
}

// truncatedInflated is truncatedAt for a position in the decompressed
// records section of a compressed batch, which has no byte in the batch.
func truncatedInflated(pos int) error {
	return &batchError{msg: fmt.Sprintf("batch truncated at byte %d of its decompressed records", pos), kind: ErrCorrupt, detail: ErrTruncated}
}
