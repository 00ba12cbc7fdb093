package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/strata-log/strata/pkg/client"
	"github.com/strata-log/strata/pkg/testutil"
)

// Consumer groups over real processes: three `strata consume --group`
// processes share a topic; one is killed with SIGKILL and its partitions
// move to the others within its session timeout; the broker coordinating
// the group is killed with SIGKILL and the group goes on with its
// committed offsets; the group, stopped and started again, resumes from
// its commits; `strata groups` lists, describes and resets it.

// groupFlags are the brokers' group settings in these tests.
var groupFlags = []string{"--offsets-topic-num-partitions", "6", "--group-min-session-timeout-ms", "500", "--group-heartbeat-interval-ms", "200"}

// startGroupBrokers starts 3 controllers and 3 brokers with groupFlags.
func startGroupBrokers(t *testing.T) *replicatedCluster {
	t.Helper()
	bin := build(t)
	c := &replicatedCluster{bin: bin, brokers: make(map[int]*brokerProc)}
	c.clusterID = strings.TrimSpace(mustRun(t, bin.strata, "storage", "random-uuid"))
	c.ctl = startControllers(t, bin, c.clusterID, 3)
	for i := range 3 {
		id := 101 + i
		b := newBrokerProc(t, bin, c.clusterID, c.ctl.grpc, id)
		args := append([]string{"run", "--node-id", strconv.Itoa(id), "--data-dir", b.dir, "--listen", b.addr,
			"--controllers", strings.Join(b.controllers, ","), "--log-format", "text", "--log-level", "warn"}, groupFlags...)
		b.proc = start(t, fmt.Sprintf("broker %d", id), b.bin, args...)
		c.brokers[id] = b
	}
	return c
}

// consumerProc is a `strata consume --group` process.
type consumerProc struct {
	name string
	proc *daemon
}

var printedLine = regexp.MustCompile(`^Partition:(\d+)\tOffset:(\d+)\t(\S+)$`)

// printed is what the consumer printed: value by partition and offset.
func (p *consumerProc) printed() map[[2]int64]string {
	out := make(map[[2]int64]string)
	for line := range strings.SplitSeq(p.proc.logs.String(), "\n") {
		if m := printedLine.FindStringSubmatch(line); m != nil {
			part, _ := strconv.ParseInt(m[1], 10, 64)
			off, _ := strconv.ParseInt(m[2], 10, 64)
			out[[2]int64{part, off}] = m[3]
		}
	}
	return out
}

func startConsumer(t *testing.T, c *replicatedCluster, name, group, topic string, extra ...string) *consumerProc {
	t.Helper()
	args := append([]string{"--bootstrap-server", c.bootstrap(), "consume", "--topic", topic, "--group", group, "--from-beginning",
		"--property", "print.partition=true", "--property", "print.offset=true",
		"--consumer-property", "session.timeout.ms=2000", "--consumer-property", "auto.commit.interval.ms=200",
		"--consumer-property", "client.id=" + name}, extra...)
	return &consumerProc{name: name, proc: start(t, "consumer "+name, c.bin.strata, args...)}
}

// describedOffsets parses `strata groups describe`: partition -> current
// offset, log end offset and consumer id ("-" when none).
type describedOffset struct {
	current, end int64 // -1 for "-"
	consumer     string
}

func describeGroupOffsets(t *testing.T, c *replicatedCluster, group string) (map[int]describedOffset, error) {
	t.Helper()
	r := c.strata(t, "groups", "describe", "--group", group)
	if r.code != 0 {
		return nil, fmt.Errorf("groups describe: exit %d: %s", r.code, r.stderr)
	}
	out := make(map[int]describedOffset)
	for line := range strings.SplitSeq(r.stdout, "\n") {
		f := strings.Fields(line)
		if len(f) != 9 || f[0] != group {
			continue
		}
		p, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		num := func(s string) int64 {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
		out[p] = describedOffset{current: num(f[3]), end: num(f[4]), consumer: f[6]}
	}
	return out, nil
}

// describeMembers parses `strata groups describe --members`: client id ->
// partition count.
func describeMembers(t *testing.T, c *replicatedCluster, group string) (map[string]int, error) {
	t.Helper()
	r := c.strata(t, "groups", "describe", "--group", group, "--members")
	if r.code != 0 {
		return nil, fmt.Errorf("groups describe --members: exit %d: %s", r.code, r.stderr)
	}
	out := make(map[string]int)
	for line := range strings.SplitSeq(r.stdout, "\n") {
		f := strings.Fields(line)
		if len(f) != 5 || f[0] != group {
			continue
		}
		n, err := strconv.Atoi(f[4])
		if err != nil {
			return nil, fmt.Errorf("line %q", line)
		}
		out[f[3]] = n
	}
	return out, nil
}

func waitMembers(t *testing.T, c *replicatedCluster, group string, want map[string]int, within time.Duration) {
	t.Helper()
	testutil.WaitFor(t, within, func() error {
		got, err := describeMembers(t, c, group)
		if err != nil {
			return err
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("members %v, want %v", got, want)
		}
		return nil
	})
}

// produceValues sends values v<from>.. v<from+n-1>, keyed, with acks=all.
func produceValues(t *testing.T, c *replicatedCluster, topic string, from, n int) {
	t.Helper()
	p, err := client.NewProducer(client.BootstrapServers(c.bootstrap()), client.RetryBackoff(50*time.Millisecond, 500*time.Millisecond),
		client.Retries(100), client.DeliveryTimeout(90*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	defer func() { _ = p.Close(ctx) }()
	var ds []*client.Delivery
	for i := from; i < from+n; i++ {
		d, err := p.Send(ctx, client.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	for _, d := range ds {
		if _, err := d.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// waitPrinted waits until the consumers together printed values v0..v<n-1>
// and returns who printed each; with exactlyOnce, a value printed twice
// fails.
func waitPrinted(t *testing.T, cs []*consumerProc, n int, exactlyOnce bool) map[string][]string {
	t.Helper()
	var by map[string][]string
	testutil.WaitFor(t, 60*time.Second, func() error {
		by = make(map[string][]string)
		for _, c := range cs {
			for _, v := range c.printed() {
				by[v] = append(by[v], c.name)
			}
		}
		for i := range n {
			v := fmt.Sprintf("v%d", i)
			switch {
			case len(by[v]) == 0:
				return fmt.Errorf("%s not printed yet (%d values printed)", v, len(by))
			case exactlyOnce && len(by[v]) > 1:
				t.Fatalf("%s printed by %v", v, by[v])
			}
		}
		return nil
	})
	return by
}

// javaPartition is Kafka's partition of a group: abs(hashCode) % n.
func javaPartition(group string, n int32) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(group)) {
		h = 31*h + int32(u)
	}
	if h < 0 {
		h = -h
	}
	return h % n
}

func TestGroupsEndToEnd(t *testing.T) {
	c := startGroupBrokers(t)
	const topic, group = "orders", "billing"
	testutil.WaitFor(t, 30*time.Second, func() error {
		r := c.strata(t, "topics", "create", "--topic", topic, "--partitions", "6", "--replication-factor", "3")
		if r.code != 0 && !strings.Contains(r.stderr, "TOPIC_ALREADY_EXISTS") {
			return fmt.Errorf("topics create: exit %d: %s", r.code, r.stderr)
		}
		return nil
	})

	// Three members, two partitions each; every record printed once.
	cs := []*consumerProc{startConsumer(t, c, "c1", group, topic), startConsumer(t, c, "c2", group, topic), startConsumer(t, c, "c3", group, topic)}
	waitMembers(t, c, group, map[string]int{"c1": 2, "c2": 2, "c3": 2}, 60*time.Second)
	if r := c.strata(t, "groups", "list"); r.code != 0 || r.stdout != group+"\n" {
		t.Fatalf("groups list: exit %d, %q, %s", r.code, r.stdout, r.stderr)
	}
	produceValues(t, c, topic, 0, 300)
	waitPrinted(t, cs, 300, true)
	waitCaughtUp(t, c, group, 6)

	// kill -9 a member: its partitions move to the others within its
	// session timeout (2 s), from its committed offsets.
	killed := time.Now()
	cs[2].proc.kill()
	waitMembers(t, c, group, map[string]int{"c1": 3, "c2": 3}, 20*time.Second)
	moved := time.Since(killed)
	t.Logf("the killed member's partitions moved within %v (session timeout 2s)", moved.Round(time.Millisecond))
	if moved > 5*time.Second {
		t.Fatalf("the partitions of a member killed with SIGKILL took %v to move; its session timeout is 2s", moved)
	}
	produceValues(t, c, topic, 300, 150)
	by := waitPrinted(t, cs, 450, false)
	for i := range 300 {
		if v := fmt.Sprintf("v%d", i); len(by[v]) != 1 {
			t.Fatalf("%s printed by %v: the survivors did not start at the committed offsets", v, by[v])
		}
	}
	waitCaughtUp(t, c, group, 6)

	// kill -9 the coordinator's broker: the group goes on, its offsets
	// intact.
	before, err := describeGroupOffsets(t, c, group)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := c.describe(t, "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	coordinator := parts[int(javaPartition(group, 6))].leader
	if c.brokers[coordinator] == nil {
		t.Fatalf("coordinator %d (partitions %v)", coordinator, parts)
	}
	c.brokers[coordinator].proc.kill()
	delete(c.brokers, coordinator)
	testutil.WaitFor(t, 60*time.Second, func() error {
		now, err := describeGroupOffsets(t, c, group)
		if err != nil {
			return err
		}
		for p, d := range before {
			if now[p].current != d.current {
				return fmt.Errorf("partition %d: committed %d, was %d before the coordinator died", p, now[p].current, d.current)
			}
		}
		return nil
	})
	produceValues(t, c, topic, 450, 150)
	by = waitPrinted(t, cs, 600, false)
	for i := range 450 {
		if v := fmt.Sprintf("v%d", i); len(by[v]) != 1 {
			t.Fatalf("%s printed by %v after the coordinator died", v, by[v])
		}
	}
	waitCaughtUp(t, c, group, 6)

	// Stop the group; started again, it resumes from its commits.
	for _, p := range cs[:2] {
		p.proc.stop(t, 30*time.Second)
	}
	if r := c.strata(t, "groups", "describe", "--group", group); r.code != 0 || r.stderr != "Consumer group '"+group+"' has no active members.\n" {
		t.Fatalf("describe a stopped group: exit %d, stderr %q", r.code, r.stderr)
	}
	produceValues(t, c, topic, 600, 30)
	r := c.strata(t, "consume", "--topic", topic, "--group", group, "--max-messages", "30", "--timeout-ms", "30000")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 30 || !strings.Contains(r.stderr, "Processed a total of 30 messages") {
		t.Fatalf("the restarted group: exit %d, stderr %q, stdout %q", r.code, r.stderr, r.stdout)
	}
	for line := range strings.SplitSeq(strings.TrimSpace(r.stdout), "\n") {
		if n, err := strconv.Atoi(strings.TrimPrefix(line, "v")); err != nil || n < 600 {
			t.Fatalf("the restarted group printed %q: it did not resume from its commits", line)
		}
	}

	// Reset to the earliest offsets: everything again.
	r = c.strata(t, "groups", "reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute")
	if r.code != 0 || strings.Count(r.stdout, "\n"+group) != 6 {
		t.Fatalf("reset-offsets: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = c.strata(t, "consume", "--topic", topic, "--group", group, "--max-messages", "630", "--timeout-ms", "30000")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 630 {
		t.Fatalf("after the reset: exit %d, %d lines, stderr %q", r.code, strings.Count(r.stdout, "\n"), r.stderr)
	}
}

// waitCaughtUp waits until the group's committed offsets reach the log end
// of its partitions.
func waitCaughtUp(t *testing.T, c *replicatedCluster, group string, partitions int) {
	t.Helper()
	testutil.WaitFor(t, 60*time.Second, func() error {
		d, err := describeGroupOffsets(t, c, group)
		if err != nil {
			return err
		}
		if len(d) != partitions {
			return fmt.Errorf("%d partitions described", len(d))
		}
		for p, o := range d {
			if o.current < 0 || o.current != o.end {
				return fmt.Errorf("partition %d: committed %d, log end %d", p, o.current, o.end)
			}
		}
		return nil
	})
}
