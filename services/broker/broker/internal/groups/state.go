package groups

import (
	"fmt"
	"slices"
	"time"
)

// State is what one partition of __consumer_offsets holds: the groups it
// coordinates and their committed offsets. The coordinator builds it by
// replaying the partition's records and then keeps it in step with what
// it writes. It is not safe for concurrent use.
type State struct {
	Groups  map[string]*Group
	Offsets map[string]map[TP]Offset
}

// NewState returns an empty state.
func NewState() *State {
	return &State{Groups: make(map[string]*Group), Offsets: make(map[string]map[TP]Offset)}
}

// Replay applies one record of the partition, in log order; value nil is a
// tombstone. now starts the sessions of loaded members.
func (s *State) Replay(key, value []byte, now time.Time) error {
	k, err := ParseKey(key)
	if err != nil {
		return err
	}
	switch k.Type {
	case KeyOffset:
		tp := TP{k.Topic, k.Partition}
		if value == nil {
			s.deleteOffset(k.Group, tp)
			return nil
		}
		o, err := DecodeOffset(value)
		if err != nil {
			return fmt.Errorf("group %q partition %s-%d: %w", k.Group, k.Topic, k.Partition, err)
		}
		s.SetOffset(k.Group, tp, o)
	case KeyGroup:
		if value == nil {
			delete(s.Groups, k.Group)
			return nil
		}
		g, err := DecodeGroup(k.Group, value, now)
		if err != nil {
			return err
		}
		s.Groups[k.Group] = g
	}
	return nil
}

// SetOffset records a committed offset.
func (s *State) SetOffset(group string, tp TP, o Offset) {
	m := s.Offsets[group]
	if m == nil {
		m = make(map[TP]Offset)
		s.Offsets[group] = m
	}
	m[tp] = o
}

func (s *State) deleteOffset(group string, tp TP) {
	if m := s.Offsets[group]; m != nil {
		delete(m, tp)
		if len(m) == 0 {
			delete(s.Offsets, group)
		}
	}
}

// Exists reports whether the group exists: it has metadata or committed
// offsets.
func (s *State) Exists(group string) bool {
	_, g := s.Groups[group]
	_, o := s.Offsets[group]
	return g || o
}

// GroupIDs lists every group, sorted.
func (s *State) GroupIDs() []string {
	var out []string
	for id := range s.Groups {
		out = append(out, id)
	}
	for id := range s.Offsets {
		if _, ok := s.Groups[id]; !ok {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// GroupState is a group's state, StateDead when it does not exist.
func (s *State) GroupState(group string) string {
	if g, ok := s.Groups[group]; ok {
		return g.State()
	}
	if _, ok := s.Offsets[group]; ok {
		return StateEmpty
	}
	return StateDead
}
