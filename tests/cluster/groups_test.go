package cluster

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/strata-log/strata/pkg/client"
	"github.com/strata-log/strata/pkg/testutil"
)

// Consumer groups against real brokers: the scenarios (three
// members on six partitions, a member dying, the coordinator's broker
// going away, a group restarting from its commits) with the SDK's group
// consumer.

// TestGroupThreeMembersSixPartitions: three members of a group share six
// partitions two each; every record is delivered to exactly one member,
// the one that owns its partition, and all of them are delivered; the
// committed offsets reach the end of every partition.
func TestGroupThreeMembersSixPartitions(t *testing.T) {
	c := startGroupCluster(t, 3)
	const topic, group, parts, n = "orders", "billing", 6, 600
	createTopics(t, c, 101, topicSpec{name: topic, partitions: parts, rf: 3})
	o := newOwners()
	var ms []*member
	for _, name := range []string{"a", "b", "c"} {
		ms = append(ms, joinGroup(t, c, o, name, group, topic))
	}
	o.waitBalanced(t, parts, map[string]int{"a": 2, "b": 2, "c": 2}, 30*time.Second)
	a := newGroupAdmin(t, c)
	if d := describeGroup(t, a, group); d.State != "Stable" || len(d.Members) != 3 || d.Assignor != "uniform" {
		t.Fatalf("describe: %+v", d)
	}

	produceKeyed(t, c, topic, 0, n)
	got := collectAll(t, ms, n, 60*time.Second, false)
	for _, m := range ms {
		for _, r := range m.records() {
			if owner := o.owner(client.TopicPartition{Topic: topic, Partition: r.Partition}); owner != m.name {
				t.Fatalf("record %d@%d went to %s; %s owns the partition", r.Partition, r.Offset, m.name, owner)
			}
		}
	}
	if len(got) != n {
		t.Fatalf("%d records delivered, want %d", len(got), n)
	}
	o.check(t)

	// Auto commit catches up with the end of every partition.
	end := endOffsets(t, a, topic, parts)
	waitCommitted(t, a, group, end)
}

// waitCommitted waits until the group's committed offsets are want.
func waitCommitted(t *testing.T, a *client.Admin, group string, want map[client.TopicPartition]int64) {
	t.Helper()
	testutil.WaitFor(t, 30*time.Second, func() error {
		if got := committedOffsets(t, a, group); !maps.Equal(got, want) {
			return fmt.Errorf("committed %v, want %v", got, want)
		}
		return nil
	})
}

// TestGroupMemberDiesAndAnotherJoins: a member that stops heartbeating
// without leaving keeps its partitions for its session timeout, then they
// move to the others; a member joining takes its share incrementally (a
// partition is revoked before it is given); no record is delivered twice,
// because revocations commit first.
func TestGroupMemberDiesAndAnotherJoins(t *testing.T) {
	c := startGroupCluster(t, 3)
	const topic, group, parts = "events", "dies", 6
	const session = time.Second
	createTopics(t, c, 101, topicSpec{name: topic, partitions: parts, rf: 3})
	o := newOwners()
	a := joinGroup(t, c, o, "a", group, topic)
	b := joinGroup(t, c, o, "b", group, topic)
	dying := joinGroup(t, c, o, "c", group, topic, client.SessionTimeout(session), client.LeaveGroupOnClose(false))
	o.waitBalanced(t, parts, map[string]int{"a": 2, "b": 2, "c": 2}, 30*time.Second)
	produceKeyed(t, c, topic, 0, 300)
	collectAll(t, []*member{a, b, dying}, 300, 60*time.Second, false)

	admin := newGroupAdmin(t, c)
	before := describeGroup(t, admin, group)
	start := time.Now()
	dying.stop() // commits, but does not leave: the coordinator waits for its session
	o.waitBalanced(t, parts, map[string]int{"a": 3, "b": 3}, session+20*time.Second)
	moved := time.Since(start)
	if moved < session/2 || moved > session+3*time.Second {
		t.Fatalf("the partitions moved %v after the member stopped; its session timeout is %v", moved, session)
	}
	t.Logf("partitions moved %v after the member stopped heartbeating (session timeout %v)", moved, session)
	after := describeGroup(t, admin, group)
	if len(after.Members) != 2 || after.Epoch <= before.Epoch {
		t.Fatalf("after the session timeout: %d members, epoch %d (was %d)", len(after.Members), after.Epoch, before.Epoch)
	}

	d := joinGroup(t, c, o, "d", group, topic)
	o.waitBalanced(t, parts, map[string]int{"a": 2, "b": 2, "d": 2}, 30*time.Second)
	produceKeyed(t, c, topic, 300, 300)
	collectAll(t, []*member{a, b, dying, d}, 600, 60*time.Second, false)
	o.check(t)
}

// TestGroupCoordinatorFailover stops the broker that coordinates a group:
// another replica of its __consumer_offsets partition takes over, rebuilds
// the group from the partition, the members go on with their epochs and
// partitions (no record twice), and the committed offsets are intact.
func TestGroupCoordinatorFailover(t *testing.T) {
	c := startGroupCluster(t, 3)
	const topic, group, parts = "payments", "ledger", 6
	createTopics(t, c, 101, topicSpec{name: topic, partitions: parts, rf: 3})
	o := newOwners()
	opts := []client.Opt{client.SessionTimeout(10 * time.Second)}
	a := joinGroup(t, c, o, "a", group, topic, opts...)
	b := joinGroup(t, c, o, "b", group, topic, opts...)
	o.waitBalanced(t, parts, map[string]int{"a": 3, "b": 3}, 30*time.Second)
	produceKeyed(t, c, topic, 0, 200)
	collectAll(t, []*member{a, b}, 200, 60*time.Second, false)
	admin := newGroupAdmin(t, c)
	end := endOffsets(t, admin, topic, parts)
	waitCommitted(t, admin, group, end)

	before := describeGroup(t, admin, group)
	old := before.Coordinator
	if old < 101 {
		t.Fatalf("coordinator %d", old)
	}
	c.StopRealBroker(old)
	testutil.WaitFor(t, 30*time.Second, func() error {
		d := describeGroup(t, admin, group)
		if d.Coordinator == old || d.Coordinator < 0 {
			return fmt.Errorf("coordinator still %d", d.Coordinator)
		}
		if !slices.Equal(memberIDs(d), memberIDs(before)) || d.State != "Stable" {
			return fmt.Errorf("members %v (%s), want %v", memberIDs(d), d.State, memberIDs(before))
		}
		return nil
	})
	if got := committedOffsets(t, admin, group); !maps.Equal(got, end) {
		t.Fatalf("committed offsets after the failover %v, before %v", got, end)
	}
	produceKeyed(t, c, topic, 200, 200)
	collectAll(t, []*member{a, b}, 400, 60*time.Second, false)
	waitCommitted(t, admin, group, endOffsets(t, admin, topic, parts))
	if d := describeGroup(t, admin, group); d.Epoch != before.Epoch {
		t.Fatalf("the group rebalanced across the failover: epoch %d, was %d", d.Epoch, before.Epoch)
	}
	o.check(t)
}

// TestGroupRestartResumesFromCommits: members that commit and close, then
// new members of the same group, read exactly the records produced since,
// from the committed offsets.
func TestGroupRestartResumesFromCommits(t *testing.T) {
	c := startGroupCluster(t, 1)
	const topic, group, parts = "jobs", "workers", 4
	createTopics(t, c, 101, topicSpec{name: topic, partitions: parts, rf: 1})
	produceKeyed(t, c, topic, 0, 200)
	first := []*member{joinGroup(t, c, nil, "a", group, topic), joinGroup(t, c, nil, "b", group, topic)}
	collectAll(t, first, 200, 60*time.Second, false)
	for _, m := range first {
		m.stop() // commits the positions and leaves
	}
	admin := newGroupAdmin(t, c)
	end := endOffsets(t, admin, topic, parts)
	if got := committedOffsets(t, admin, group); !maps.Equal(got, end) {
		t.Fatalf("committed after close %v, want the ends %v", got, end)
	}
	if d := describeGroup(t, admin, group); d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("after both left: %+v", d)
	}

	produceKeyed(t, c, topic, 200, 100)
	second := []*member{joinGroup(t, c, nil, "c", group, topic), joinGroup(t, c, nil, "d", group, topic)}
	got := collectAll(t, second, 100, 60*time.Second, false)
	for id := range got {
		if id.off < end[client.TopicPartition{Topic: topic, Partition: id.p}] {
			t.Fatalf("record %d@%d read again after the restart (committed %v)", id.p, id.off, end)
		}
	}
	if len(got) != 100 {
		t.Fatalf("the restarted group read %d records, want the 100 new ones", len(got))
	}
}

// TestGroupManualCommitsAndEvents: without auto commit, CommitAsync and
// CommitOffsets commit, Committed reads them back, and the rebalance events
// arrive in order on the events channel: assigned, then revoked when a
// second member takes half.
func TestGroupManualCommitsAndEvents(t *testing.T) {
	c := startGroupCluster(t, 1)
	const topic, group, parts = "manual", "by-hand", 4
	createTopics(t, c, 101, topicSpec{name: topic, partitions: parts, rf: 1})
	produceKeyed(t, c, topic, 0, 40)
	events := make(chan client.RebalanceEvent, 16)
	m := joinGroup(t, c, nil, "a", group, topic, client.AutoCommit(false), client.RebalanceEvents(events))
	next := func() client.RebalanceEvent {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(30 * time.Second):
			t.Fatal("no rebalance event within 30s")
		}
		return client.RebalanceEvent{}
	}
	if ev := next(); ev.Type != client.PartitionsAssigned || len(ev.Partitions) != parts {
		t.Fatalf("first event %+v", ev)
	}
	collectAll(t, []*member{m}, 40, 30*time.Second, false)
	admin := newGroupAdmin(t, c)
	if got := committedOffsets(t, admin, group); len(got) != 0 {
		t.Fatalf("committed %v with auto commit off", got)
	}
	done := make(chan error, 1)
	m.c.CommitAsync(nil, func(_ map[client.TopicPartition]int64, err error) { done <- err })
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("CommitAsync did not complete")
	}
	end := endOffsets(t, admin, topic, parts)
	ctx := ctxT(t)
	var tps []client.TopicPartition
	for tp := range end {
		tps = append(tps, tp)
	}
	got, err := m.c.Committed(ctx, tps...)
	if err != nil || !maps.Equal(got, end) {
		t.Fatalf("Committed %v (%v), want %v", got, err, end)
	}
	p0 := client.TopicPartition{Topic: topic, Partition: 0}
	if err := m.c.CommitOffsets(ctx, map[client.TopicPartition]int64{p0: 1}); err != nil {
		t.Fatal(err)
	}
	if got, err := m.c.Committed(ctx, p0); err != nil || got[p0] != 1 {
		t.Fatalf("after CommitOffsets: %v %v", got, err)
	}

	joinGroup(t, c, nil, "b", group, topic)
	if ev := next(); ev.Type != client.PartitionsRevoked || len(ev.Partitions) != parts/2 {
		t.Fatalf("after a second member joined: %+v", ev)
	}
	m.stop()
	if ev := next(); ev.Type != client.PartitionsRevoked || len(ev.Partitions) != parts/2 {
		t.Fatalf("on Close: %+v", ev)
	}
}
