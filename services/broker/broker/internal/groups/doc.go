// Package groups is the pure part of consumer groups: the assignors, a
// group's membership state machine, and the records of __consumer_offsets.
// It does no I/O and reads no clock: the coordinator (package broker) passes
// the time in, writes the records this package encodes, and replays them
// when it becomes a group's coordinator.
//
// # Membership (in the spirit of Kafka's KIP-848)
//
// A group has a group epoch, bumped whenever what the assignment depends
// on changes: a member joins, leaves, is fenced or changes its
// subscription, or a subscribed topic gains partitions. Each bump runs the
// assignor and gives every member a target assignment at that epoch.
//
// Each member has an epoch and an assignment: the partitions it may own
// now. Members move to the target one step at a time, and a partition is
// never assigned to two members at once:
//
//   - A member whose assignment holds partitions its target does not is
//     told to give them up (they move to its pending revocation) and keeps
//     its epoch. It releases them by heartbeating without them in its owned
//     partitions, or by leaving, dying (session timeout) or missing its
//     rebalance timeout.
//   - A member with nothing to revoke moves to the target epoch and gets
//     the partitions of its target that nobody owns; the others (still
//     owned, or pending revocation, elsewhere) come once released.
//
// A member only moves in answer to its own heartbeat: a change caused by
// another member (a join, a release) lists the members that have a step to
// take (Result.Notify), and the coordinator asks them to heartbeat. So the
// epoch a member sends is its current one, or the previous one when the
// answer that moved it was lost, as in Kafka.
//
// Every change to a group is persisted as one GroupMetadataValue record
// (the whole group), so a new coordinator resumes the membership where the
// old one left it; members keep their epochs across the failover. Session
// deadlines are not persisted: a loaded member gets a fresh session.
//
// # Records
//
// A key is a 2-byte big-endian type, then length-prefixed strings:
// type 1 is an offset (group, topic, then the partition as 4 bytes), type 2
// a group's metadata (group). Values are the protobuf messages
// OffsetCommitValue and GroupMetadataValue; a null value deletes the key.
package groups
