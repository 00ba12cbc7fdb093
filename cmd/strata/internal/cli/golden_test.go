package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-log/strata/pkg/client"
	"github.com/strata-log/strata/pkg/metadata"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

// golden compares got with testdata/name.golden, or rewrites the file with
// -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run go test -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func topicID(b byte) metadata.TopicID {
	var id metadata.TopicID
	for i := range id {
		id[i] = b + byte(i)
	}
	return id
}

func fixtureTopics() []client.TopicDetail {
	return []client.TopicDetail{
		{Name: "orders", ID: topicID(1), Configs: map[string]string{"retention.ms": "86400000", "min.insync.replicas": "2"},
			Partitions: []client.PartitionDetail{
				{ID: 0, Leader: 101, Replicas: []int32{101, 102, 103}, ISR: []int32{101, 102, 103}},
				{ID: 1, Leader: 102, Replicas: []int32{102, 103, 101}, ISR: []int32{102, 101}, OfflineReplicas: []int32{103}},
				{ID: 2, Leader: client.NoLeader, Replicas: []int32{103, 101, 102}, ISR: []int32{103}, OfflineReplicas: []int32{103}},
			}},
		{Name: "payments", ID: topicID(100), Partitions: []client.PartitionDetail{
			{ID: 0, Leader: 101, Replicas: []int32{101}, ISR: []int32{101}},
		}},
		{Name: "__consumer_offsets", ID: topicID(200), Internal: true, Configs: map[string]string{"cleanup.policy": "compact"},
			Partitions: []client.PartitionDetail{{ID: 0, Leader: 102, Replicas: []int32{102, 101}, ISR: []int32{102}}}},
	}
}

func TestTopicFormats(t *testing.T) {
	var b bytes.Buffer
	writeTopicList(&b, []client.TopicListing{{Name: "payments"}, {Name: "__consumer_offsets", Internal: true}, {Name: "orders"}})
	golden(t, "topics-list", b.String())

	for name, f := range map[string]partitionFilter{
		"topics-describe":                      {},
		"topics-describe-under-replicated":     {underReplicated: true},
		"topics-describe-unavailable":          {unavailable: true},
		"topics-describe-under-or-unavailable": {underReplicated: true, unavailable: true},
	} {
		b.Reset()
		writeTopicDescriptions(&b, fixtureTopics(), f)
		golden(t, name, b.String())
	}
}

func TestConfigFormats(t *testing.T) {
	topic := client.ResourceConfigs{Resource: client.TopicResource("orders"), Configs: []client.ConfigEntry{
		{Name: "cleanup.policy", Value: "delete", Source: client.SourceDefault},
		{Name: "min.insync.replicas", Value: "2", Source: client.SourceDynamicTopic},
		{Name: "retention.ms", Value: "3600000", Source: client.SourceDynamicDefaultBroker},
		{Name: "segment.bytes", Value: "1073741824", Source: client.SourceStaticBroker},
	}}
	broker := client.ResourceConfigs{Resource: client.BrokerResource(101), Configs: []client.ConfigEntry{
		{Name: "log.retention.ms", Value: "60000", Source: client.SourceDynamicBroker},
		{Name: "ssl.key.password", Value: "secret", Source: client.SourceDynamicBroker, Sensitive: true},
	}}
	defaults := client.ResourceConfigs{Resource: client.BrokerDefaultResource(), Configs: []client.ConfigEntry{
		{Name: "log.retention.ms", Value: "3600000", Source: client.SourceDynamicDefaultBroker},
	}}
	empty := client.ResourceConfigs{Resource: client.TopicResource("quiet"), Configs: []client.ConfigEntry{
		{Name: "cleanup.policy", Value: "delete", Source: client.SourceDefault},
	}}
	for _, all := range []bool{false, true} {
		var b bytes.Buffer
		for _, rc := range []client.ResourceConfigs{topic, broker, defaults, empty} {
			writeConfigs(&b, rc, all)
		}
		name := "configs-describe"
		if all {
			name += "-all"
		}
		golden(t, name, b.String())
	}
}

func TestClusterFormat(t *testing.T) {
	var b bytes.Buffer
	writeCluster(&b, client.Cluster{
		ID: "MkU3OEVBNTcwNTJENDM2Qk", ActiveControllerID: 2, MetadataOffset: 57,
		Controllers: []client.Controller{
			{ID: 1, Address: "127.0.0.1:9201", RaftAddress: "127.0.0.1:9301"},
			{ID: 2, Address: "127.0.0.1:9202", RaftAddress: "127.0.0.1:9302"},
			{ID: 3, RaftAddress: "127.0.0.1:9303"},
		},
		Brokers: []client.Broker{
			{ID: 101, Address: "10.0.0.1:9092", Rack: "rack-a", Epoch: 12},
			{ID: 102, Address: "10.0.0.2:9092", Epoch: 14, Fenced: true},
			{ID: 103, Address: "10.0.0.3:9092", Rack: "rack-c", Epoch: 20, InControlledShutdown: true},
		},
	})
	golden(t, "cluster-describe", b.String())

	b.Reset()
	writeCluster(&b, client.Cluster{ID: "MkU3OEVBNTcwNTJENDM2Qk", ActiveControllerID: -1, MetadataOffset: 3,
		Controllers: []client.Controller{{ID: 1, Address: "127.0.0.1:9201", RaftAddress: "127.0.0.1:9301"}}})
	golden(t, "cluster-describe-no-active", b.String())
}

func fixtureQuorum() client.Quorum {
	t0 := time.UnixMilli(1712860203036)
	return client.Quorum{
		LeaderID: 2, LeaderEpoch: 5, HighWatermark: 123, MetadataOffset: 57,
		Voters: []client.QuorumReplica{
			{ID: 1, LogEndOffset: 120, Lag: 3, LastFetch: t0, LastCaughtUp: t0.Add(-1500 * time.Millisecond)},
			{ID: 2, LogEndOffset: 123, Lag: 0, LastFetch: t0, LastCaughtUp: t0},
			{ID: 3, LogEndOffset: 123, Lag: 0, LastFetch: t0, LastCaughtUp: t0},
		},
		Observers: []client.QuorumReplica{{ID: 101, LogEndOffset: 100, Lag: 23, LastFetch: t0}},
	}
}

func TestQuorumFormats(t *testing.T) {
	var b bytes.Buffer
	writeQuorumStatus(&b, "MkU3OEVBNTcwNTJENDM2Qk", fixtureQuorum())
	golden(t, "quorum-status", b.String())

	// Caught up, and a voter that does not answer (unknown offsets).
	q := fixtureQuorum()
	q.Voters[0] = client.QuorumReplica{ID: 1, LogEndOffset: 123, LastFetch: q.Voters[1].LastFetch, LastCaughtUp: q.Voters[1].LastCaughtUp}
	q.Observers = nil
	b.Reset()
	writeQuorumStatus(&b, "MkU3OEVBNTcwNTJENDM2Qk", q)
	golden(t, "quorum-status-caught-up", b.String())
	q.Voters[2] = client.QuorumReplica{ID: 3, LogEndOffset: -1, Lag: -1}
	b.Reset()
	writeQuorumStatus(&b, "MkU3OEVBNTcwNTJENDM2Qk", q)
	golden(t, "quorum-status-unknown-voter", b.String())

	b.Reset()
	writeQuorumReplication(&b, fixtureQuorum())
	golden(t, "quorum-replication", b.String())
}

// TestHelpTexts keeps every command's --help in testdata, so changes to
// the documented flags and formats show in review.
func TestHelpTexts(t *testing.T) {
	var walk func(cmd *command, path []string)
	walk = func(cmd *command, path []string) {
		if cmd.planned {
			return
		}
		r := run(t, nil, nil, append(slices.Clone(path), "--help")...)
		if r.code != ExitOK {
			t.Fatalf("%q --help: exit %d: %s", path, r.code, r.stderr)
		}
		golden(t, "help-"+strings.Join(append([]string{"strata"}, path...), "-"), r.stdout)
		for _, sub := range cmd.subs {
			walk(sub, append(slices.Clone(path), sub.name))
		}
	}
	walk(rootCommand(), nil)
}
