package e2e

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-log/strata/pkg/client"
	"github.com/strata-log/strata/pkg/testutil"
)

// TestAdminCommandsOnRealDaemons formats and runs three controllers as
// processes, registers three brokers, and drives the strata command line:
// topics, configs, cluster and quorum.
func TestAdminCommandsOnRealDaemons(t *testing.T) {
	bin := build(t)

	clusterID := strings.TrimSpace(mustRun(t, bin.strata, "storage", "random-uuid"))
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`).MatchString(clusterID) {
		t.Fatalf("random-uuid printed %q", clusterID)
	}

	const n = 3
	set := startControllers(t, bin, clusterID, n)
	grpcAddrs, raftAddrs, controllers := set.grpc, set.raft, set.procs

	// Wait with the SDK until the quorum is up and every controller has
	// announced itself, then until the brokers are unfenced.
	admin, err := client.NewAdmin(client.BootstrapControllers(grpcAddrs...), client.RetryBackoff(10*time.Millisecond, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	waitCluster := func(cond func(client.Cluster) error) {
		t.Helper()
		testutil.WaitFor(t, 20*time.Second, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			cl, err := admin.DescribeCluster(ctx)
			if err != nil {
				return err
			}
			return cond(cl)
		})
	}
	waitCluster(func(cl client.Cluster) error {
		if _, ok := cl.ActiveController(); !ok || len(cl.Controllers) != n {
			return fmt.Errorf("active controller %d, %d controllers known", cl.ActiveControllerID, len(cl.Controllers))
		}
		return nil
	})
	var brokers []*broker
	for i := range n {
		brokers = append(brokers, startBroker(t, clusterID, grpcAddrs, int32(101+i), fmt.Sprintf("rack-%c", 'a'+i)))
	}
	waitCluster(func(cl client.Cluster) error {
		unfenced := 0
		for _, b := range cl.Brokers {
			if !b.Fenced {
				unfenced++
			}
		}
		if unfenced != n {
			return fmt.Errorf("%d of %d brokers unfenced", unfenced, n)
		}
		return nil
	})

	// A dead address first: the command line moves on to the live ones.
	bootstrap := "--bootstrap-controller=" + testutil.FreeAddr(t) + "," + strings.Join(grpcAddrs, ",")
	strata := func(args ...string) cli {
		t.Helper()
		return run(t, nil, bin.strata, append([]string{bootstrap}, args...)...)
	}
	ok := func(args ...string) string {
		t.Helper()
		r := strata(args...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("strata %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}

	if out := ok("topics", "create", "--topic", "orders", "--partitions", "3", "--replication-factor", "3", "--config", "min.insync.replicas=2"); out != "Created topic orders.\n" {
		t.Fatalf("create printed %q", out)
	}
	r := strata("topics", "create", "--topic", "orders", "--partitions", "1", "--replication-factor", "1")
	if r.code != 1 || r.stderr != "strata: topic orders: TOPIC_ALREADY_EXISTS: Topic 'orders' already exists.\n" {
		t.Fatalf("second create: exit %d, stderr %q", r.code, r.stderr)
	}
	if out := ok("topics", "create", "--topic", "orders", "--if-not-exists"); out != "" {
		t.Fatalf("create --if-not-exists printed %q", out)
	}
	if r := strata("topics", "create", "--topic", "big", "--replication-factor", "4"); r.code != 1 || !strings.Contains(r.stderr, "INVALID_REPLICATION_FACTOR") {
		t.Fatalf("replication factor 4 of 3 brokers: exit %d, stderr %q", r.code, r.stderr)
	}
	ok("topics", "create", "--topic", "payments", "--partitions", "1", "--replication-factor", "2")

	// The environment variable works as well as the flag.
	r = run(t, []string{"STRATA_BOOTSTRAP_SERVER=" + strings.Join(grpcAddrs, ",")}, bin.strata, "topics", "list")
	if r.code != 0 || r.stdout != "orders\npayments\n" {
		t.Fatalf("list: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	ok("topics", "alter", "--topic", "orders", "--partitions", "4")
	ok("configs", "alter", "--entity-type", "topics", "--entity-name", "orders", "--add-config", "retention.ms=3600000")
	details, err := admin.DescribeTopics(context.Background(), []string{"orders"})
	if err != nil || details.FirstError() != nil {
		t.Fatalf("describe with the SDK: %v %v", err, details.FirstError())
	}
	lines := strings.Split(strings.TrimSuffix(ok("topics", "describe", "--topic", "orders"), "\n"), "\n")
	if want := fmt.Sprintf("Topic: orders\tTopicId: %s\tPartitionCount: 4\tReplicationFactor: 3\tConfigs: min.insync.replicas=2,retention.ms=3600000", details[0].ID); lines[0] != want {
		t.Fatalf("topic line\n%q\nwant\n%q", lines[0], want)
	}
	partLine := regexp.MustCompile(`^\tTopic: orders\tPartition: (\d+)\tLeader: (\d+)\tReplicas: ([\d,]+)\tIsr: ([\d,]+)$`)
	if len(lines) != 5 {
		t.Fatalf("describe printed %d lines:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for i, l := range lines[1:] {
		m := partLine.FindStringSubmatch(l)
		if m == nil || m[1] != strconv.Itoa(i) || m[3] != m[4] || !strings.HasPrefix(m[3], m[2]+",") || len(strings.Split(m[3], ",")) != 3 {
			t.Errorf("partition line %q", l)
		}
	}
	cfgs := ok("configs", "describe", "--entity-type", "topics", "--entity-name", "orders")
	if want := "Dynamic configs for topic orders are:\n" +
		"  min.insync.replicas=2 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:min.insync.replicas=2}\n" +
		"  retention.ms=3600000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=3600000}\n"; cfgs != want {
		t.Fatalf("configs describe\n%s\nwant\n%s", cfgs, want)
	}

	checkClusterDescribe(t, ok("cluster", "describe"), clusterID, grpcAddrs, raftAddrs)
	checkQuorumStatus(t, ok("quorum", "describe", "--status"), clusterID)
	if out := ok("quorum", "describe", "--replication"); !strings.HasPrefix(out, "NodeId\tLogEndOffset\tLag\tLastFetchTimestamp\tLastCaughtUpTimestamp\tStatus\n") ||
		strings.Count(out, "\tLeader\n") != 1 || strings.Count(out, "\tFollower\n") != 2 {
		t.Fatalf("quorum replication:\n%s", out)
	}

	if out := ok("topics", "delete", "--topic", "orders"); out != "" {
		t.Fatalf("delete printed %q", out)
	}
	if r := strata("topics", "delete", "--topic", "orders"); r.code != 1 || r.stderr != "strata: topic 'orders' does not exist\n" {
		t.Fatalf("second delete: exit %d, stderr %q", r.code, r.stderr)
	}
	if out := ok("topics", "list"); out != "payments\n" {
		t.Fatalf("list after delete: %q", out)
	}

	for _, b := range brokers {
		b.stop()
	}
	for _, c := range controllers {
		c.stop(t, 20*time.Second)
	}
	// With every controller down, a command fails with exit 1 and one line.
	r = run(t, nil, bin.strata, "--timeout=2s", "--bootstrap-controller="+strings.Join(grpcAddrs, ","), "cluster", "describe")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "strata: client: DescribeCluster: ") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("no controller: exit %d, stderr %q", r.code, r.stderr)
	}
}

func checkClusterDescribe(t *testing.T, out, clusterID string, grpcAddrs, raftAddrs []string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 9 || lines[0] != "ClusterId:\t"+clusterID || !strings.HasPrefix(lines[2], "MetadataOffset:\t") {
		t.Fatalf("cluster describe:\n%s", out)
	}
	active := strings.TrimPrefix(lines[1], "ActiveControllerId:\t")
	for i := range 3 {
		id := strconv.Itoa(i + 1)
		want := fmt.Sprintf("Controller: %s\tAddress: %s\tRaftAddress: %s\tActive: %t", id, grpcAddrs[i], raftAddrs[i], id == active)
		if lines[3+i] != want {
			t.Errorf("controller line %q, want %q", lines[3+i], want)
		}
	}
	broker := regexp.MustCompile(`^Broker: (\d+)\tAddress: 127\.0\.0\.1:\d+\tRack: rack-(.)\tFenced: false\tInControlledShutdown: false\tEpoch: \d+$`)
	for i, l := range lines[6:] {
		m := broker.FindStringSubmatch(l)
		if m == nil || m[1] != strconv.Itoa(101+i) || m[2] != string(rune('a'+i)) {
			t.Errorf("broker line %q", l)
		}
	}
}

func checkQuorumStatus(t *testing.T, out, clusterID string) {
	t.Helper()
	keys := []string{"ClusterId", "LeaderId", "LeaderEpoch", "HighWatermark", "MaxFollowerLag", "MaxFollowerLagTimeMs", "CurrentVoters", "CurrentObservers"}
	values := make(map[string]string)
	var got []string
	for l := range strings.SplitSeq(strings.TrimSuffix(out, "\n"), "\n") {
		k, v, _ := strings.Cut(l, ":\t")
		got = append(got, k)
		values[k] = v
	}
	if !slices.Equal(got, keys) || values["ClusterId"] != clusterID || values["CurrentVoters"] != "[1,2,3]" || values["CurrentObservers"] != "[]" {
		t.Fatalf("quorum status:\n%s", out)
	}
	if id, _ := strconv.Atoi(values["LeaderId"]); id < 1 || id > 3 {
		t.Errorf("LeaderId %q", values["LeaderId"])
	}
	for _, k := range []string{"LeaderEpoch", "HighWatermark"} {
		if n, err := strconv.ParseInt(values[k], 10, 64); err != nil || n <= 0 {
			t.Errorf("%s %q", k, values[k])
		}
	}
	for _, k := range []string{"MaxFollowerLag", "MaxFollowerLagTimeMs"} {
		if _, err := strconv.ParseInt(values[k], 10, 64); err != nil {
			t.Errorf("%s %q", k, values[k])
		}
	}
}
