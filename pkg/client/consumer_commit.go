package client

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/strata-log/strata/pkg/api/stratav1"
)

// errNoGroup is the error of the commit calls of a consumer without a
// Group.
var errNoGroup = errors.New("the consumer has no Group")

// CommitSync commits the positions of the consumer's partitions (the
// offset of the next record Poll returns for each) as the group's
// committed offsets, and waits until the coordinator has them on its
// in-sync replicas. During OnPartitionsRevoked it includes the partitions
// being revoked. Partitions without a position yet are left out.
func (c *Consumer) CommitSync(ctx context.Context) error {
	if c.member == nil {
		return fmt.Errorf("client: CommitSync: %w", errNoGroup)
	}
	m := c.member
	var tps []TopicPartition
	if m.isStarted() {
		tps = m.ownedNow()
	} else {
		tps = c.Assignment()
	}
	positions := c.positionsOf(tps)
	m.mu.Lock()
	maps.Copy(positions, m.revoking)
	m.mu.Unlock()
	if err := c.CommitOffsets(ctx, positions); err != nil {
		return err
	}
	return nil
}

// CommitOffsets commits offsets (the offset of the next record to read, per
// partition) as the group's committed offsets and waits until the
// coordinator has them on its in-sync replicas. A group member commits
// with its member id and epoch; a consumer that reads partitions it
// Assigned commits from outside the group protocol, which the coordinator
// takes only while the group has no members.
//
// It fails with ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID when the member
// lost its place in the group (its partitions moved on: those offsets are
// the new owner's to commit), and with a *PartitionError for a partition
// the coordinator refused (OFFSET_METADATA_TOO_LARGE, ...).
func (c *Consumer) CommitOffsets(ctx context.Context, offsets map[TopicPartition]int64) error {
	if c.member == nil {
		return fmt.Errorf("client: CommitOffsets: %w", errNoGroup)
	}
	if len(offsets) == 0 {
		return nil
	}
	for tp, o := range offsets {
		if tp.Topic == "" || tp.Partition < 0 || o < 0 {
			return fmt.Errorf("client: CommitOffsets: invalid offset %d for partition %s", o, tp)
		}
	}
	m := c.member
	if m.isStarted() {
		return m.commit(ctx, offsets)
	}
	return c.commitAs(ctx, m.cfg.id, "", -1, offsets)
}

// CommitAsync commits offsets (nil: the positions, as CommitSync) in the
// background, within the RequestTimeout, and calls done, when not nil, with
// the offsets and the outcome. Several CommitAsync calls run at the same
// time and may complete in any order; CommitSync waits.
func (c *Consumer) CommitAsync(offsets map[TopicPartition]int64, done func(map[TopicPartition]int64, error)) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		if done != nil {
			done(offsets, fmt.Errorf("client: CommitAsync: %w", ErrClosed))
		}
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, c.c.cfg.requestTimeout)
		defer cancel()
		var err error
		if offsets == nil {
			err = c.CommitSync(ctx)
		} else {
			err = c.CommitOffsets(ctx, offsets)
		}
		if done != nil {
			done(offsets, err)
		}
	}()
}

// Committed returns the group's committed offsets of tps; a partition
// without one is left out.
func (c *Consumer) Committed(ctx context.Context, tps ...TopicPartition) (map[TopicPartition]int64, error) {
	if c.member == nil {
		return nil, fmt.Errorf("client: Committed: %w", errNoGroup)
	}
	return c.committedOf(ctx, c.member.cfg.id, tps)
}

// commitAs sends one OffsetCommit to the group's coordinator.
func (c *Consumer) commitAs(ctx context.Context, group, memberID string, epoch int32, offsets map[TopicPartition]int64) error {
	return commitOffsets(ctx, c.member.coord, group, memberID, epoch, offsets)
}

// committedOf sends one OffsetFetch for tps to the group's coordinator.
func (c *Consumer) committedOf(ctx context.Context, group string, tps []TopicPartition) (map[TopicPartition]int64, error) {
	got, err := fetchOffsets(ctx, c.member.coord, group, tps)
	if err != nil {
		return nil, err
	}
	out := make(map[TopicPartition]int64, len(got))
	for tp, o := range got {
		out[tp] = o.Offset
	}
	return out, nil
}

// commitOffsets commits offsets for a group on its coordinator; the first
// partition the coordinator refused comes back as a *PartitionError.
func commitOffsets(ctx context.Context, k *coordinators, group, memberID string, epoch int32, offsets map[TopicPartition]int64) error {
	req := &stratav1.OffsetCommitRequest{GroupId: group, MemberId: memberID, MemberEpoch: epoch}
	tps := slices.Collect(maps.Keys(offsets))
	sortTPs(tps)
	for _, tp := range tps {
		if n := len(req.Topics); n == 0 || req.Topics[n-1].GetName() != tp.Topic {
			req.Topics = append(req.Topics, &stratav1.OffsetCommitTopic{Name: tp.Topic})
		}
		last := req.Topics[len(req.Topics)-1]
		last.Partitions = append(last.Partitions, &stratav1.OffsetCommitPartition{
			PartitionId: tp.Partition, CommittedOffset: offsets[tp], CommittedLeaderEpoch: -1,
		})
	}
	var resp *stratav1.OffsetCommitResponse
	err := k.call(ctx, group, "OffsetCommit", func(ctx context.Context, gc stratav1.GroupServiceClient) (err error) {
		resp, err = gc.OffsetCommit(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	for _, t := range resp.GetTopics() {
		for _, p := range t.GetPartitions() {
			if e := resultError(p.GetErrorCode(), p.GetErrorMessage()); e != nil {
				return fmt.Errorf("client: OffsetCommit: %w", &PartitionError{TopicPartition: TopicPartition{t.GetName(), p.GetPartitionId()}, Err: e})
			}
		}
	}
	return nil
}

// CommittedOffset is a group's committed offset of a partition.
type CommittedOffset struct {
	// Offset is the offset of the next record to read.
	Offset int64
	// LeaderEpoch is the leader epoch of the last record read, or -1.
	LeaderEpoch int32
	Metadata    string
}

// fetchOffsets reads a group's committed offsets of tps (every committed
// offset when tps is empty) from its coordinator; partitions without one
// are left out.
func fetchOffsets(ctx context.Context, k *coordinators, group string, tps []TopicPartition) (map[TopicPartition]CommittedOffset, error) {
	req := &stratav1.OffsetFetchRequest{GroupId: group}
	sorted := slices.Clone(tps)
	sortTPs(sorted)
	for _, tp := range sorted {
		if n := len(req.Topics); n == 0 || req.Topics[n-1].GetName() != tp.Topic {
			req.Topics = append(req.Topics, &stratav1.OffsetFetchTopic{Name: tp.Topic})
		}
		last := req.Topics[len(req.Topics)-1]
		last.Partitions = append(last.Partitions, tp.Partition)
	}
	var resp *stratav1.OffsetFetchResponse
	err := k.call(ctx, group, "OffsetFetch", func(ctx context.Context, gc stratav1.GroupServiceClient) (err error) {
		resp, err = gc.OffsetFetch(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[TopicPartition]CommittedOffset)
	for _, t := range resp.GetTopics() {
		for _, p := range t.GetPartitions() {
			tp := TopicPartition{t.GetName(), p.GetPartitionId()}
			if e := resultError(p.GetErrorCode(), p.GetErrorMessage()); e != nil {
				return nil, fmt.Errorf("client: OffsetFetch: %w", &PartitionError{TopicPartition: tp, Err: e})
			}
			if p.GetCommittedOffset() >= 0 {
				out[tp] = CommittedOffset{Offset: p.GetCommittedOffset(), LeaderEpoch: p.GetCommittedLeaderEpoch(), Metadata: p.GetMetadata()}
			}
		}
	}
	return out, nil
}
