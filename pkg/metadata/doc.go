// Package metadata is Strata's cluster metadata model: the records of the
// metadata log and the image they build.
//
// An [Image] is the state of the cluster at one metadata offset:
// controllers, brokers with their epochs and fenced state, topics by name and
// by id, partitions with replicas, ISR, leader, leader epoch and partition
// epoch, configs, and the next producer id to allocate. Images are immutable:
// [Image.Apply] returns a new image and leaves the receiver untouched,
// sharing everything the record did not change (the maps are persistent
// B+trees), so readers can hold an image through an atomic pointer without
// locks and a snapshot is a pointer copy.
//
// Applying is deterministic and pure: no clock, no randomness, no map-order
// iteration. The same records applied to the same image give byte-identical
// snapshots on every replica.
//
// Invariants that hold for every image Apply returns (see [Image.Check]):
//   - a partition's leader is in its ISR, or is -1 (offline);
//   - the ISR is a subset of the replicas, without duplicates;
//   - broker epochs, leader epochs and partition epochs never go back;
//   - the next producer id only grows, so no producer id is given twice;
//   - topic names and topic ids are one-to-one;
//   - the metadata offset only grows.
//
// A record that would break one is rejected with an error wrapping
// [ErrInvalidRecord], and the image stays as it was.
//
// An image can be written as a snapshot: a header and the records that
// rebuild it when applied to an empty image ([Image.Records], [Load],
// [Image.WriteSnapshot], [ReadSnapshot]).
package metadata
