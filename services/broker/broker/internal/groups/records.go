package groups

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	stratav1 "github.com/strata-log/strata/pkg/api/stratav1"
)

// The key types of __consumer_offsets records.
const (
	KeyOffset uint16 = 1
	KeyGroup  uint16 = 2
)

// MaxGroupIDLength bounds a group id (a choice: Kafka sets no limit, but
// ids travel in every record key).
const MaxGroupIDLength = 1024

// ErrBadRecord wraps every failure to decode a record of __consumer_offsets.
var ErrBadRecord = errors.New("groups: bad __consumer_offsets record")

// Key is a decoded record key.
type Key struct {
	Type      uint16
	Group     string
	Topic     string // offsets only
	Partition int32  // offsets only
}

// OffsetKey is the key of a group's committed offset of a partition.
func OffsetKey(group string, tp TP) []byte {
	b := make([]byte, 0, 2+2+len(group)+2+len(tp.Topic)+4)
	b = binary.BigEndian.AppendUint16(b, KeyOffset)
	b = appendString(b, group)
	b = appendString(b, tp.Topic)
	return binary.BigEndian.AppendUint32(b, uint32(tp.Partition))
}

// GroupKey is the key of a group's metadata.
func GroupKey(group string) []byte {
	b := make([]byte, 0, 2+2+len(group))
	b = binary.BigEndian.AppendUint16(b, KeyGroup)
	return appendString(b, group)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(min(len(s), math.MaxUint16)))
	return append(b, s[:min(len(s), math.MaxUint16)]...)
}

// ParseKey decodes a record key.
func ParseKey(b []byte) (Key, error) {
	if len(b) < 2 {
		return Key{}, fmt.Errorf("%w: a key of %d bytes", ErrBadRecord, len(b))
	}
	k := Key{Type: binary.BigEndian.Uint16(b)}
	rest := b[2:]
	var ok bool
	if k.Group, rest, ok = readString(rest); !ok {
		return Key{}, fmt.Errorf("%w: truncated group id in a key", ErrBadRecord)
	}
	switch k.Type {
	case KeyOffset:
		if k.Topic, rest, ok = readString(rest); !ok || len(rest) != 4 {
			return Key{}, fmt.Errorf("%w: bad offset key of group %q", ErrBadRecord, k.Group)
		}
		k.Partition = int32(binary.BigEndian.Uint32(rest))
	case KeyGroup:
		if len(rest) != 0 {
			return Key{}, fmt.Errorf("%w: bad group key of group %q", ErrBadRecord, k.Group)
		}
	default:
		return Key{}, fmt.Errorf("%w: unknown key type %d", ErrBadRecord, k.Type)
	}
	return k, nil
}

func readString(b []byte) (string, []byte, bool) {
	if len(b) < 2 {
		return "", nil, false
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return "", nil, false
	}
	return string(b[2 : 2+n]), b[2+n:], true
}

// Offset is a committed offset.
type Offset struct {
	Offset      int64
	LeaderEpoch int32
	Metadata    string
	// CommitTime is when the coordinator took the commit.
	CommitTime time.Time
}

// EncodeOffset is the value of an offset record.
func EncodeOffset(o Offset) []byte {
	b, _ := proto.Marshal(&stratav1.OffsetCommitValue{
		Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata, CommitTimestampMs: o.CommitTime.UnixMilli(),
	})
	return b
}

// DecodeOffset decodes the value of an offset record.
func DecodeOffset(b []byte) (Offset, error) {
	var v stratav1.OffsetCommitValue
	if err := proto.Unmarshal(b, &v); err != nil {
		return Offset{}, fmt.Errorf("%w: offset value: %w", ErrBadRecord, err)
	}
	return Offset{Offset: v.GetOffset(), LeaderEpoch: v.GetLeaderEpoch(), Metadata: v.GetMetadata(), CommitTime: time.UnixMilli(v.GetCommitTimestampMs())}, nil
}

// EncodeGroup is the value of the group's metadata record: its whole
// membership.
func EncodeGroup(g *Group) []byte {
	v := &stratav1.GroupMetadataValue{GroupEpoch: g.Epoch, AssignmentEpoch: g.AssignmentEpoch, TopicPartitions: g.TopicPartitions}
	for _, id := range g.MemberIDs() {
		m := g.Members[id]
		v.Members = append(v.Members, &stratav1.StoredMember{
			MemberId: m.ID, ClientId: m.ClientID, ClientHost: m.ClientHost, MemberEpoch: m.Epoch, PreviousMemberEpoch: m.PrevEpoch,
			SubscribedTopicNames: m.Topics, ServerAssignor: m.Assignor,
			SessionTimeoutMs: int32(m.SessionTimeout.Milliseconds()), RebalanceTimeoutMs: int32(m.RebalanceTimeout.Milliseconds()),
			Assigned: ToProto(m.Assigned), Revoking: ToProto(m.Revoking), Target: ToProto(g.Target[id]),
		})
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(v)
	return b
}

// DecodeGroup decodes a group's metadata record. The members' sessions
// start at now.
func DecodeGroup(id string, b []byte, now time.Time) (*Group, error) {
	var v stratav1.GroupMetadataValue
	if err := proto.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%w: group %q: %w", ErrBadRecord, id, err)
	}
	g := NewGroup(id)
	g.Epoch, g.AssignmentEpoch = v.GetGroupEpoch(), v.GetAssignmentEpoch()
	for t, n := range v.GetTopicPartitions() {
		g.TopicPartitions[t] = n
	}
	for _, sm := range v.GetMembers() {
		m := &Member{
			ID: sm.GetMemberId(), ClientID: sm.GetClientId(), ClientHost: sm.GetClientHost(),
			Epoch: sm.GetMemberEpoch(), PrevEpoch: sm.GetPreviousMemberEpoch(),
			Topics: slices.Clone(sm.GetSubscribedTopicNames()), Assignor: sm.GetServerAssignor(),
			SessionTimeout:   time.Duration(sm.GetSessionTimeoutMs()) * time.Millisecond,
			RebalanceTimeout: time.Duration(sm.GetRebalanceTimeoutMs()) * time.Millisecond,
			Assigned:         FromProto(sm.GetAssigned()), Revoking: FromProto(sm.GetRevoking()),
		}
		g.Members[m.ID] = m
		g.Target[m.ID] = FromProto(sm.GetTarget())
	}
	g.rebuildOwners()
	g.Touch(now)
	return g, nil
}

// ToProto groups partitions by topic, in order.
func ToProto(tps []TP) []*stratav1.GroupTopicPartitions {
	var out []*stratav1.GroupTopicPartitions
	for _, tp := range SortTPs(slices.Clone(tps)) {
		if n := len(out); n == 0 || out[n-1].GetTopic() != tp.Topic {
			out = append(out, &stratav1.GroupTopicPartitions{Topic: tp.Topic})
		}
		last := out[len(out)-1]
		last.Partitions = append(last.Partitions, tp.Partition)
	}
	return out
}

// FromProto flattens partitions by topic into a sorted list without
// duplicates.
func FromProto(in []*stratav1.GroupTopicPartitions) []TP {
	var out []TP
	for _, t := range in {
		for _, p := range t.GetPartitions() {
			out = append(out, TP{t.GetTopic(), p})
		}
	}
	return slices.Compact(SortTPs(out))
}
