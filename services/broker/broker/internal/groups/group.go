package groups

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Errors of the membership calls; the coordinator maps them to codes.
var (
	// ErrUnknownMember: no member has the id (it never joined, left, or was
	// removed after its session timeout): UNKNOWN_MEMBER_ID.
	ErrUnknownMember = errors.New("groups: unknown member id")
	// ErrFencedEpoch: the member's epoch is neither its current one nor
	// the previous one with partitions it may still own:
	// FENCED_MEMBER_EPOCH.
	ErrFencedEpoch = errors.New("groups: fenced member epoch")
	// ErrIllegalGeneration: an offset commit with an epoch that is not
	// the member's: ILLEGAL_GENERATION.
	ErrIllegalGeneration = errors.New("groups: illegal generation")
	// ErrGroupNotFound: a commit with a member epoch for a group that does
	// not exist: GROUP_ID_NOT_FOUND.
	ErrGroupNotFound = errors.New("groups: group not found")
)

// The states of a group, as Kafka names them.
const (
	StateEmpty       = "Empty"
	StateReconciling = "Reconciling"
	StateStable      = "Stable"
	StateDead        = "Dead"
)

// Member is one member of a group.
type Member struct {
	ID         string
	ClientID   string
	ClientHost string
	// Epoch is the member's epoch; PrevEpoch the one before it (a member
	// whose last answer was lost may still use it).
	Epoch     int32
	PrevEpoch int32
	// Topics are the subscribed topics, sorted.
	Topics []string
	// Assignor is the assignor the member asked for ("" for the default).
	Assignor         string
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	// Assigned are the partitions it may own now; Revoking those it was
	// told to give up and has not yet. Both sorted.
	Assigned []TP
	Revoking []TP

	// Not persisted: the session deadline and, while revoking, the
	// rebalance deadline.
	LastSeen       time.Time
	RevokeDeadline time.Time
}

// Group is one consumer group's membership.
type Group struct {
	ID string
	// Epoch is the group epoch; AssignmentEpoch the epoch of Target.
	Epoch           int32
	AssignmentEpoch int32
	Members         map[string]*Member
	// Target is every member's target assignment (sorted lists).
	Target map[string][]TP
	// TopicPartitions are the partition counts Target was computed from.
	TopicPartitions map[string]int32

	owner map[TP]string // the member that owns each partition (assigned or revoking)
}

// NewGroup returns an empty group.
func NewGroup(id string) *Group {
	return &Group{
		ID: id, Members: make(map[string]*Member), Target: make(map[string][]TP),
		TopicPartitions: make(map[string]int32), owner: make(map[TP]string),
	}
}

// Env is what membership changes read from outside the group.
type Env struct {
	// Now is the current time (session and rebalance deadlines).
	Now time.Time
	// Partitions returns a topic's partition count, 0 when it does not
	// exist.
	Partitions func(topic string) int32
}

// Join is a member's join or heartbeat request.
type Join struct {
	MemberID         string
	ClientID         string
	ClientHost       string
	Topics           []string // nil keeps the member's topics
	Assignor         string
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
}

// Result says what a membership change did.
type Result struct {
	// Changed is true when the group's persisted state changed: the
	// coordinator writes the group.
	Changed bool
	// Notify lists the other members that have a step to take towards
	// their target, sorted: their sessions are asked to heartbeat now.
	Notify []string
}

// State is the group's state: Empty without members, Stable when every
// member is at the assignment epoch with exactly its target, Reconciling
// otherwise.
func (g *Group) State() string {
	if len(g.Members) == 0 {
		return StateEmpty
	}
	for _, m := range g.Members {
		if m.Epoch != g.AssignmentEpoch || len(m.Revoking) > 0 || !slices.Equal(m.Assigned, g.Target[m.ID]) {
			return StateReconciling
		}
	}
	return StateStable
}

// Owner returns the member that owns a partition, if any.
func (g *Group) Owner(tp TP) (string, bool) {
	id, ok := g.owner[tp]
	return id, ok
}

// MemberIDs returns the members' ids, sorted.
func (g *Group) MemberIDs() []string {
	return slices.Sorted(maps.Keys(g.Members))
}

// JoinGroup adds a member (epoch 0 with a new id) or takes back a member
// that rejoins (epoch 0 with its id, after it was fenced): it gives up
// whatever it owned and gets its target as the partitions free up.
func (g *Group) JoinGroup(j Join, env Env) (*Member, Result) {
	m, ok := g.Members[j.MemberID]
	if !ok {
		m = &Member{ID: j.MemberID}
		g.Members[m.ID] = m
	} else {
		g.release(m, m.Assigned)
		g.release(m, m.Revoking)
		m.Assigned, m.Revoking, m.RevokeDeadline = nil, nil, time.Time{}
		m.PrevEpoch, m.Epoch = m.Epoch, 0
	}
	g.update(m, j, env)
	return m, g.rebalance(m.ID, env)
}

// Heartbeat handles a member's heartbeat with its epoch and the partitions
// it owns: partitions it was revoking and no longer owns are released, a
// changed subscription or assignor bumps the group epoch, and the member
// moves towards its target. It fails with ErrUnknownMember or
// ErrFencedEpoch.
func (g *Group) Heartbeat(j Join, epoch int32, owned []TP, env Env) (*Member, Result, error) {
	m, ok := g.Members[j.MemberID]
	if !ok {
		return nil, Result{}, ErrUnknownMember
	}
	if epoch != m.Epoch && (epoch != m.PrevEpoch || !subset(owned, m.Assigned, m.Revoking)) {
		return nil, Result{}, fmt.Errorf("%w: member %s sent epoch %d, its epoch is %d", ErrFencedEpoch, m.ID, epoch, m.Epoch)
	}
	changed := false
	if len(m.Revoking) > 0 {
		has := make(map[TP]bool, len(owned))
		for _, tp := range owned {
			has[tp] = true
		}
		var still, gone []TP
		for _, tp := range m.Revoking {
			if has[tp] {
				still = append(still, tp)
			} else {
				gone = append(gone, tp)
			}
		}
		if len(gone) > 0 {
			g.release(m, gone)
			m.Revoking = still
			if len(still) == 0 {
				m.RevokeDeadline = time.Time{}
			}
			changed = true
		}
	}
	if g.update(m, j, env) {
		res := g.rebalance(m.ID, env)
		return m, res, nil
	}
	res := g.reconcileAll(m.ID, env)
	res.Changed = res.Changed || changed
	return m, res, nil
}

// update applies the member's request to its record and reports whether
// the target assignment must be computed again (a new member, or a new
// subscription or assignor).
func (g *Group) update(m *Member, j Join, env Env) bool {
	m.LastSeen = env.Now
	if j.ClientID != "" {
		m.ClientID = j.ClientID
	}
	if j.ClientHost != "" {
		m.ClientHost = j.ClientHost
	}
	if j.SessionTimeout > 0 {
		m.SessionTimeout = j.SessionTimeout
	}
	if j.RebalanceTimeout > 0 {
		m.RebalanceTimeout = j.RebalanceTimeout
	}
	bump := false
	if _, ok := g.Target[m.ID]; !ok {
		bump = true
	}
	if j.Topics != nil {
		topics := slices.Compact(slices.Sorted(slices.Values(j.Topics)))
		if !slices.Equal(topics, m.Topics) {
			m.Topics = topics
			bump = true
		}
	}
	if j.Assignor != m.Assignor && j.Assignor != "" {
		m.Assignor = j.Assignor
		bump = true
	}
	return bump
}

// Leave removes a member that leaves (epoch -1), releases its partitions
// and computes the assignment of the others.
func (g *Group) Leave(id string, env Env) (Result, error) {
	m, ok := g.Members[id]
	if !ok {
		return Result{}, ErrUnknownMember
	}
	g.remove(m)
	return g.rebalance("", env), nil
}

// Expire removes the members whose session timed out (no request within
// their session timeout) or who kept revoked partitions past their
// rebalance timeout. It returns the removed members' ids, sorted.
func (g *Group) Expire(env Env) ([]string, Result) {
	var gone []string
	for _, id := range g.MemberIDs() {
		m := g.Members[id]
		if m.SessionTimeout > 0 && env.Now.Sub(m.LastSeen) > m.SessionTimeout ||
			!m.RevokeDeadline.IsZero() && env.Now.After(m.RevokeDeadline) {
			g.remove(m)
			gone = append(gone, id)
		}
	}
	if len(gone) == 0 {
		return nil, Result{}
	}
	return gone, g.rebalance("", env)
}

// Touch restarts every member's session (a coordinator that just loaded
// the group gives each member a full session timeout to reach it).
func (g *Group) Touch(now time.Time) {
	for _, m := range g.Members {
		m.LastSeen = now
		if len(m.Revoking) > 0 && m.RebalanceTimeout > 0 {
			m.RevokeDeadline = now.Add(m.RebalanceTimeout)
		}
	}
}

// NextDeadline is the earliest session or rebalance deadline of the
// members, or the zero time.
func (g *Group) NextDeadline() time.Time {
	var next time.Time
	for _, m := range g.Members {
		for _, d := range []time.Time{m.LastSeen.Add(m.SessionTimeout), m.RevokeDeadline} {
			if !d.IsZero() && (next.IsZero() || d.Before(next)) {
				next = d
			}
		}
	}
	return next
}

// RefreshTopics computes the assignment again when the partition counts of
// the subscribed topics changed (a topic created, deleted or grown).
func (g *Group) RefreshTopics(env Env) Result {
	if len(g.Members) == 0 || maps.Equal(g.topicCounts(env), g.TopicPartitions) {
		return Result{}
	}
	return g.rebalance("", env)
}

// ValidateCommit checks an offset commit's member and epoch: a commit from
// outside the group protocol (no member id, epoch < 0) is taken while the
// group has no members; a member commits with its epoch, or with its
// previous one for partitions it still owns (a commit sent while the
// answer that moved the member was on its way).
func (g *Group) ValidateCommit(memberID string, epoch int32, tps []TP) error {
	if epoch < 0 && memberID == "" {
		if len(g.Members) > 0 {
			return fmt.Errorf("%w: group %s has %d active members; only they commit its offsets, and tools only while it is empty",
				ErrUnknownMember, g.ID, len(g.Members))
		}
		return nil
	}
	m, ok := g.Members[memberID]
	if !ok {
		return fmt.Errorf("%w: member %q is not in group %s", ErrUnknownMember, memberID, g.ID)
	}
	if epoch > 0 && (epoch == m.Epoch || epoch == m.PrevEpoch && subset(tps, m.Assigned, m.Revoking)) {
		return nil
	}
	return fmt.Errorf("%w: member %s committed with epoch %d; its epoch is %d", ErrIllegalGeneration, memberID, epoch, m.Epoch)
}

func (g *Group) remove(m *Member) {
	g.release(m, m.Assigned)
	g.release(m, m.Revoking)
	delete(g.Members, m.ID)
	delete(g.Target, m.ID)
}

// release frees partitions m owned.
func (g *Group) release(m *Member, tps []TP) {
	for _, tp := range tps {
		if g.owner[tp] == m.ID {
			delete(g.owner, tp)
		}
	}
}

// topicCounts is the partition count of every subscribed topic that
// exists.
func (g *Group) topicCounts(env Env) map[string]int32 {
	out := make(map[string]int32)
	for _, m := range g.Members {
		for _, t := range m.Topics {
			if _, done := out[t]; done {
				continue
			}
			if n := env.Partitions(t); n > 0 {
				out[t] = n
			}
		}
	}
	return out
}

// AssignorName is the name of the assignor the group uses.
func (g *Group) AssignorName() string { return g.assignor().Name() }

// assignor is the assignor most members asked for (ties: the smaller
// name); the default when none did.
func (g *Group) assignor() Assignor {
	votes := make(map[string]int)
	for _, m := range g.Members {
		if m.Assignor != "" {
			votes[m.Assignor]++
		}
	}
	best := ""
	for _, n := range sortedTopics(votes) {
		if best == "" || votes[n] > votes[best] {
			best = n
		}
	}
	if a, ok := LookupAssignor(best); ok {
		return a
	}
	a, _ := LookupAssignor(DefaultAssignor)
	return a
}

// rebalance bumps the group epoch, computes the target assignment and
// moves self (the member whose request caused it, "" for none) towards it;
// the others that have a step to take are in Notify.
func (g *Group) rebalance(self string, env Env) Result {
	g.Epoch++
	counts := g.topicCounts(env)
	spec := AssignSpec{Partitions: counts}
	for _, id := range g.MemberIDs() {
		m := g.Members[id]
		spec.Members = append(spec.Members, MemberSpec{ID: id, Topics: m.Topics, Current: g.Target[id]})
	}
	g.Target = g.assignor().Assign(spec)
	g.TopicPartitions = counts
	g.AssignmentEpoch = g.Epoch
	res := g.reconcileAll(self, env)
	res.Changed = true
	return res
}

// reconcileAll moves self (the member whose request this is, "" for
// none) towards its target, and lists the other members that would move
// too: they are asked to heartbeat (Notify), and move when they do. A
// member's epoch and assignment only change in answer to its own request,
// so the epoch it sends is always its current one, or the previous one
// when an answer was lost.
func (g *Group) reconcileAll(self string, env Env) Result {
	var res Result
	if m := g.Members[self]; m != nil {
		res.Changed = g.reconcile(m, env)
	}
	for _, id := range g.MemberIDs() {
		if id != self && g.wouldMove(g.Members[id]) {
			res.Notify = append(res.Notify, id)
		}
	}
	return res
}

// wouldMove reports whether reconcile would change m.
func (g *Group) wouldMove(m *Member) bool {
	if len(m.Revoking) > 0 {
		return false
	}
	if m.Epoch != g.AssignmentEpoch || !subset(m.Assigned, g.Target[m.ID]) {
		return true
	}
	for _, tp := range g.Target[m.ID] {
		if _, taken := g.owner[tp]; !taken {
			return true
		}
	}
	return false
}

// reconcile moves one member a step towards its target and reports whether
// anything changed. A member still revoking waits. One that holds
// partitions outside its target gives them up (they move to Revoking, its
// epoch stays). Otherwise it moves to the assignment epoch and takes the
// partitions of its target that nobody owns.
func (g *Group) reconcile(m *Member, env Env) bool {
	if len(m.Revoking) > 0 {
		return false
	}
	target := g.Target[m.ID]
	inTarget := make(map[TP]bool, len(target))
	for _, tp := range target {
		inTarget[tp] = true
	}
	var keep, revoke []TP
	for _, tp := range m.Assigned {
		if inTarget[tp] {
			keep = append(keep, tp)
		} else {
			revoke = append(revoke, tp)
		}
	}
	if len(revoke) > 0 {
		m.Assigned, m.Revoking = keep, revoke
		if m.RebalanceTimeout > 0 {
			m.RevokeDeadline = env.Now.Add(m.RebalanceTimeout)
		}
		return true
	}
	changed := false
	if m.Epoch != g.AssignmentEpoch {
		m.PrevEpoch, m.Epoch = m.Epoch, g.AssignmentEpoch
		changed = true
	}
	has := make(map[TP]bool, len(m.Assigned))
	for _, tp := range m.Assigned {
		has[tp] = true
	}
	for _, tp := range target {
		if has[tp] {
			continue
		}
		if _, taken := g.owner[tp]; taken {
			continue
		}
		g.owner[tp] = m.ID
		m.Assigned = append(m.Assigned, tp)
		changed = true
	}
	if changed {
		SortTPs(m.Assigned)
	}
	return changed
}

// rebuildOwners derives who owns what from the members (after loading).
func (g *Group) rebuildOwners() {
	g.owner = make(map[TP]string)
	for _, id := range g.MemberIDs() {
		m := g.Members[id]
		for _, list := range [][]TP{m.Assigned, m.Revoking} {
			for _, tp := range list {
				if _, taken := g.owner[tp]; !taken {
					g.owner[tp] = id
				}
			}
		}
	}
}

// subset reports whether every partition of tps is in one of sets.
func subset(tps []TP, sets ...[]TP) bool {
	in := make(map[TP]bool)
	for _, s := range sets {
		for _, tp := range s {
			in[tp] = true
		}
	}
	for _, tp := range tps {
		if !in[tp] {
			return false
		}
	}
	return true
}
