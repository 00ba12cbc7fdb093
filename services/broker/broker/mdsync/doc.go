// Package mdsync is the broker's metadata follower: it keeps a
// metadata.Image in step with the controllers' metadata log, publishes it to
// the rest of the broker, and keeps it on disk so that a restart resumes from
// its offset instead of from zero.
//
// # Protocol
//
// The Syncer follows one controller at a time with WatchMetadata(from_offset
// = the offset of its image). Any controller serves the stream; the Syncer
// tries the configured Controllers, then the controller addresses its image
// has learnt from ControllerRegistration records, one after the other, from
// a random one (so brokers spread over the controllers). A stream delivers:
//
//   - image chunks, when the records after from_offset were compacted away:
//     one or more MetadataImageChunk messages with the same header, the last
//     one marked last. The chunks are collected and loaded at once (they
//     are records that rebuild the image from empty); the loaded image
//     replaces the Syncer's only when its offset is at least the current
//     one. A stream that ends in the middle of an image changes nothing.
//   - record batches: each message's records are replayed on one
//     metadata.Delta and the new image is published once per message, so a
//     message is applied whole or not at all. Records at or below the
//     current offset are duplicates and skipped (an offset is never
//     applied twice); the first new record must be exactly offset+1, and a
//     gap is a protocol error.
//   - empty record batches: keep-alives, sent every 5 s to a watcher that is
//     up to date. Every message carries the controller's committed offset,
//     which CommittedOffset reports (the highest ever seen).
//
// The Syncer leaves a controller and goes on with the next one, with a
// bounded, jittered exponential backoff between attempts that fail without
// progress, when the stream fails (connection lost, controller stopped),
// when the controller answers OFFSET_OUT_OF_RANGE (it is behind this broker:
// a lagging standby), NOT_CONTROLLER (the hinted active controller is tried
// next), on a protocol error, or when the stream stays silent for
// Config.StreamIdleTimeout (three keep-alive periods by default). The new
// stream resumes from the current offset: the published offset never goes
// backwards.
//
// A record the image refuses (metadata.ErrInvalidRecord) means this image
// and the controllers' log have diverged (a snapshot that decoded but was
// wrong). The Syncer then resynchronises: it follows the log again from
// offset 0 into a private image, and publishes it once it has reached the
// published offset; readers never see the image go back.
//
// # Publishing
//
// The current image is an immutable *metadata.Image behind an atomic
// pointer: Image and Offset never block. Changes are signalled, coalesced,
// through Changed (a channel closed at the next change) and Next, which
// returns the latest image once it differs from the one the caller last
// saw. A consumer that keeps its last image and diffs it against Next's
// result sees every change of state in order, though not every
// intermediate image. WaitFor waits for an offset.
//
// # Persistence
//
// The image is written to DataDir/metadata.snapshot with
// metadata.Image.WriteSnapshot (the same bytes a controller writes for the
// same image), atomically: a temporary file, fsync, rename, fsync of the
// directory. It is written by a background goroutine every
// Config.SnapshotRecords offsets and Config.SnapshotInterval after a change,
// and once more when Run returns. New loads it; a file that does not decode,
// fails Image.Check or is not exactly what WriteSnapshot writes for the
// image it decodes to is corrupt: it is logged at error level, moved aside
// to metadata.snapshot.corrupt, and the Syncer starts from offset 0 (the
// metadata is rebuilt from the controllers).
//
// # Goroutines and locks
//
// Run owns two goroutines and waits for both: the follower (one stream at a
// time, all protocol state, the gRPC connections) and the persister. The
// follower is the only writer of the published image. Syncer.mu guards
// only the swap of the Changed channel and is never held across a call.
package mdsync
