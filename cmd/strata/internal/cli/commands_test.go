package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/client"
)

const bs = "--bootstrap-controller=127.0.0.1:9201"

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string // the whole stderr line
	}{
		{nil, nil, "strata: missing command: one of " + rootCommands + " (see 'strata --help')"},
		{[]string{"nope"}, nil, `strata: unknown command "nope": one of ` + rootCommands + ` (see 'strata --help')`},
		{[]string{"topics"}, nil, "strata: topics: missing command: one of create, list, describe, delete, alter (see 'strata topics --help')"},
		{[]string{"topics", "create", bs}, nil, "strata: topics create: --topic is required (see 'strata topics create --help')"},
		{[]string{"topics", "create", "--topic=a", "--partitions=0", bs}, nil, "strata: topics create: --partitions must be at least 1 (see 'strata topics create --help')"},
		{[]string{"topics", "create", "--topic=a", "--replication-factor=-1", bs}, nil, "strata: topics create: --replication-factor must be between 1 and 32767 (see 'strata topics create --help')"},
		{[]string{"topics", "create", "--topic=a", "--partitions=2", "--replica-assignment=1:2", bs}, nil,
			"strata: topics create: --replica-assignment cannot be used with --partitions or --replication-factor (see 'strata topics create --help')"},
		{[]string{"topics", "create", "--topic=a", "--replica-assignment=1:2,3", bs}, nil,
			"strata: topics create: --replica-assignment: partition 1 has 1 replicas, partition 0 has 2 (see 'strata topics create --help')"},
		{[]string{"topics", "create", "--topic=a", "--replica-assignment=1:x", bs}, nil,
			`strata: topics create: --replica-assignment: partition 0: "x" is not a broker id (see 'strata topics create --help')`},
		{[]string{"topics", "create", "--topic=a", "--config=retention.ms", bs}, nil,
			`strata: topics create: --config "retention.ms" is not KEY=VALUE (see 'strata topics create --help')`},
		{[]string{"topics", "create", "--topic=a", "--config=a=1", "--config=a=2", bs}, nil,
			"strata: topics create: --config a is given twice (see 'strata topics create --help')"},
		{[]string{"topics", "create", "--topic=a", "--bogus"}, nil,
			"strata: topics create: flag provided but not defined: -bogus (see 'strata topics create --help')"},
		{[]string{"topics", "create", "--topic=a"}, nil,
			"strata: topics create: no cluster to talk to: set --bootstrap-server or --bootstrap-controller (or $STRATA_BOOTSTRAP_SERVER) (see 'strata topics create --help')"},
		{[]string{"--bootstrap-server=a:1", "topics", "list", "--bootstrap-controller=b:1"}, nil,
			"strata: topics list: --bootstrap-server and --bootstrap-controller are both set; use one (see 'strata topics list --help')"},
		{[]string{"topics", "list"}, map[string]string{EnvBootstrapServer: "a:1", EnvBootstrapController: "b:1"},
			"strata: topics list: --bootstrap-server and --bootstrap-controller are both set; use one (see 'strata topics list --help')"},
		{[]string{"topics", "list", "extra", bs}, nil, `strata: topics list: unexpected argument "extra" (see 'strata topics list --help')`},
		{[]string{"--timeout=soon", "topics", "list"}, nil,
			`strata: invalid value "soon" for flag -timeout: parse error (see 'strata --help')`},
		{[]string{"--timeout=0s", "topics", "list", bs}, nil, "strata: topics list: --timeout must be positive, not 0s (see 'strata topics list --help')"},
		{[]string{"topics", "alter", "--topic=a", bs}, nil, "strata: topics alter: --partitions is required (see 'strata topics alter --help')"},
		{[]string{"topics", "delete", bs}, nil, "strata: topics delete: --topic is required (see 'strata topics delete --help')"},
		{[]string{"quorum", "describe", bs}, nil, "strata: quorum describe: give one of --status and --replication (see 'strata quorum describe --help')"},
		{[]string{"quorum", "describe", "--status", "--replication", bs}, nil, "strata: quorum describe: give one of --status and --replication (see 'strata quorum describe --help')"},
		{[]string{"configs", "describe", bs}, nil, "strata: configs describe: --entity-type is required (see 'strata configs describe --help')"},
		{[]string{"configs", "describe", "--entity-type=users", bs}, nil, `strata: configs describe: --entity-type "users": use topics or brokers (see 'strata configs describe --help')`},
		{[]string{"configs", "describe", "--entity-type=topics", "--entity-default", bs}, nil,
			"strata: configs describe: --entity-default is for --entity-type brokers (see 'strata configs describe --help')"},
		{[]string{"configs", "alter", "--entity-type=topics", "--entity-name=t", bs}, nil,
			"strata: configs alter: --add-config or --delete-config is required (see 'strata configs alter --help')"},
		{[]string{"configs", "alter", "--entity-type=topics", "--add-config=a=1", bs}, nil,
			"strata: configs alter: --entity-name is required (or --entity-default for brokers) (see 'strata configs alter --help')"},
		{[]string{"configs", "alter", "--entity-type=brokers", "--entity-name=b1", "--add-config=a=1", bs}, nil,
			`strata: configs alter: --entity-name "b1" is not a broker id (see 'strata configs alter --help')`},
		{[]string{"configs", "alter", "--entity-type=topics", "--entity-name=t", "--add-config=a=1", "--delete-config=a", bs}, nil,
			"strata: configs alter: a is both in --add-config and --delete-config (see 'strata configs alter --help')"},
		{[]string{"configs", "alter", "--entity-type=topics", "--entity-name=t", "--add-config=a", bs}, nil,
			`strata: configs alter: --add-config: "a" is not KEY=VALUE (see 'strata configs alter --help')`},
		{[]string{"help", "nope"}, nil, `strata: unknown command "nope": one of ` + rootCommands + ` (see 'strata --help')`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := run(t, nil, tc.env, tc.args...)
			if r.code != ExitUsage || r.stderr != tc.want+"\n" || r.stdout != "" {
				t.Fatalf("exit %d\nstderr %q\nwant   %q\nstdout %q", r.code, r.stderr, tc.want+"\n", r.stdout)
			}
		})
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"-h"}, {"help"}, {"topics", "--help"}, {"topics", "create", "-h"}, {"help", "topics", "create"},
		{"topics", "help", "create"}, {"--bootstrap-server=a:1", "quorum", "describe", "--help"},
	} {
		r := run(t, nil, nil, args...)
		if r.code != ExitOK || !strings.HasPrefix(r.stdout, "usage: strata") || r.stderr != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	a, b := run(t, nil, nil, "help", "topics", "create"), run(t, nil, nil, "topics", "create", "--help")
	if a.stdout != b.stdout {
		t.Errorf("'help topics create' and 'topics create --help' differ:\n%s\n%s", a.stdout, b.stdout)
	}
}

// rootCommands is the list of commands usage errors name: the built ones,
// in the order of the help (testdata/help-strata.golden pins it).
var rootCommands = strings.Join(names(rootCommand().subs), ", ")

// TestPlannedCommandsFail checks what a command of the design that is not
// built yet answers, on a command tree of its own (strata's may have none
// left).
func TestPlannedCommandsFail(t *testing.T) {
	root := &command{synopsis: "strata <command>", subs: []*command{
		{name: "later", summary: "(not built yet) something", planned: true},
		{name: "now", summary: "something else", setup: func(*flag.FlagSet, *session) func(context.Context) error {
			return func(context.Context) error { return nil }
		}},
	}}
	s := &session{env: Env{Stdout: io.Discard, Stderr: io.Discard}}
	if err := s.dispatch(t.Context(), root, nil, []string{"later", "list"}); err == nil || err.Error() != "later: not built yet" {
		t.Fatalf("a planned command: %v", err)
	}
	if err := s.dispatch(t.Context(), root, nil, []string{"now"}); err != nil {
		t.Fatalf("a built command: %v", err)
	}
	if got := names(root.subs); !slices.Equal(got, []string{"now"}) {
		t.Fatalf("usage errors name %q, want only the built command", got)
	}
}

func TestStorageRandomUUID(t *testing.T) {
	a, b := run(t, nil, nil, "storage", "random-uuid"), run(t, nil, nil, "storage", "random-uuid")
	if a.code != 0 || len(strings.TrimSpace(a.stdout)) != 22 || !strings.HasSuffix(a.stdout, "\n") || a.stdout == b.stdout {
		t.Fatalf("random-uuid printed %q then %q", a.stdout, b.stdout)
	}
}

func TestTopicsCreate(t *testing.T) {
	var got []client.TopicSpec
	var opts int
	fa := &fakeAdmin{createTopics: func(specs []client.TopicSpec, n int) (client.Results[client.CreatedTopic], error) {
		got, opts = specs, n
		return client.Results[client.CreatedTopic]{{Name: specs[0].Name}}, nil
	}}
	r := run(t, fa, nil, "topics", "create", "--topic", "orders", "--partitions", "3", "--replication-factor", "2",
		"--config", "retention.ms=1000", "--config", "cleanup.policy=compact,delete", "--bootstrap-controller", "c1:9201,c2:9201")
	if r.code != ExitOK || r.stdout != "Created topic orders.\n" || r.stderr != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	want := client.TopicSpec{Name: "orders", Partitions: 3, ReplicationFactor: 2,
		Configs: map[string]string{"retention.ms": "1000", "cleanup.policy": "compact,delete"}}
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) || opts != 0 {
		t.Fatalf("spec %+v (%d options), want %+v", got, opts, want)
	}
	if !slices.Equal(r.cfg.Controllers, []string{"c1:9201", "c2:9201"}) || len(r.cfg.Servers) != 0 {
		t.Fatalf("config %+v", r.cfg)
	}

	r = run(t, fa, nil, bs, "topics", "create", "--topic", "a", "--replica-assignment", "101:102,102:103", "--validate-only")
	if r.code != ExitOK || r.stdout != "Topic a is valid; nothing was created (--validate-only).\n" || opts != 1 {
		t.Fatalf("validate only: exit %d, stdout %q, %d options", r.code, r.stdout, opts)
	}
	if !reflect.DeepEqual(got[0].Assignments, [][]int32{{101, 102}, {102, 103}}) || got[0].Partitions != 0 {
		t.Fatalf("assignment spec %+v", got[0])
	}
}

func TestTopicsCreateExisting(t *testing.T) {
	fa := &fakeAdmin{createTopics: func(specs []client.TopicSpec, _ int) (client.Results[client.CreatedTopic], error) {
		return client.Results[client.CreatedTopic]{{Name: specs[0].Name,
			Err: codeErr(stratav1.ErrorCode_ERROR_CODE_TOPIC_ALREADY_EXISTS, "Topic 'a' already exists.")}}, nil
	}}
	r := run(t, fa, nil, bs, "topics", "create", "--topic", "a")
	if r.code != ExitFailed || r.stderr != "strata: topic a: TOPIC_ALREADY_EXISTS: Topic 'a' already exists.\n" || r.stdout != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	r = run(t, fa, nil, bs, "topics", "create", "--topic", "a", "--if-not-exists")
	if r.code != ExitOK || r.stdout != "" || r.stderr != "" {
		t.Fatalf("--if-not-exists: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestBootstrapFromTheEnvironmentUnlessFlagsAreGiven(t *testing.T) {
	fa := &fakeAdmin{listTopics: func(int) ([]client.TopicListing, error) { return nil, nil }}
	env := map[string]string{EnvBootstrapServer: "b1:9092, b2:9092"}
	r := run(t, fa, env, "topics", "list")
	if r.code != ExitOK || !slices.Equal(r.cfg.Servers, []string{"b1:9092", "b2:9092"}) {
		t.Fatalf("exit %d (%s), config %+v", r.code, r.stderr, r.cfg)
	}
	r = run(t, fa, env, "--bootstrap-controller", "c1:9201", "topics", "list")
	if r.code != ExitOK || len(r.cfg.Servers) != 0 || !slices.Equal(r.cfg.Controllers, []string{"c1:9201"}) {
		t.Fatalf("flag over env: config %+v", r.cfg)
	}
	r = run(t, fa, map[string]string{EnvBootstrapController: "c9:9201"}, "topics", "list")
	if !slices.Equal(r.cfg.Controllers, []string{"c9:9201"}) {
		t.Fatalf("controller env: config %+v", r.cfg)
	}
}

func TestTopicsListDescribeDeleteAlter(t *testing.T) {
	var deleted []string
	var grown []client.PartitionsSpec
	var described []string
	var includeInternal int
	fa := &fakeAdmin{
		listTopics: func(n int) ([]client.TopicListing, error) {
			includeInternal = n
			return []client.TopicListing{{Name: "b"}, {Name: "__consumer_offsets", Internal: true}, {Name: "a"}}, nil
		},
		describeTopics: func(names []string, _ int) (client.Results[client.TopicDetail], error) {
			described = names
			if len(names) == 1 && names[0] == "missing" {
				return client.Results[client.TopicDetail]{{Name: "missing",
					Err: codeErr(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION, "This server does not host this topic-partition.")}}, nil
			}
			return client.Results[client.TopicDetail]{{Name: "a", Partitions: []client.PartitionDetail{{ID: 0, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}}}}, nil
		},
		deleteTopics: func(names []string) (client.Results[client.DeletedTopic], error) {
			deleted = names
			if names[0] == "missing" {
				return client.Results[client.DeletedTopic]{{Name: names[0], Err: codeErr(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION, "")}}, nil
			}
			return client.Results[client.DeletedTopic]{{Name: names[0]}}, nil
		},
		createPartitions: func(specs []client.PartitionsSpec) (client.Results[client.CreatedPartitions], error) {
			grown = specs
			return client.Results[client.CreatedPartitions]{{Topic: specs[0].Topic}}, nil
		},
	}
	if r := run(t, fa, nil, bs, "topics", "list"); r.stdout != "__consumer_offsets\na\nb\n" || includeInternal != 1 {
		t.Fatalf("list: %q (%d options)", r.stdout, includeInternal)
	}
	if run(t, fa, nil, bs, "topics", "list", "--exclude-internal"); includeInternal != 0 {
		t.Fatal("--exclude-internal still asks for internal topics")
	}
	r := run(t, fa, nil, bs, "topics", "describe", "--topic", "a")
	if r.code != ExitOK || !slices.Equal(described, []string{"a"}) || !strings.HasPrefix(r.stdout, "Topic: a\t") {
		t.Fatalf("describe: exit %d, %q", r.code, r.stdout)
	}
	if r := run(t, fa, nil, bs, "topics", "describe"); r.code != ExitOK || described != nil {
		t.Fatalf("describe all: exit %d, names %q", r.code, described)
	}
	r = run(t, fa, nil, bs, "topics", "describe", "--topic", "missing")
	if r.code != ExitFailed || r.stderr != "strata: topic 'missing' does not exist\n" {
		t.Fatalf("describe missing: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := run(t, fa, nil, bs, "topics", "describe", "--topic", "missing", "--if-exists"); r.code != ExitOK || r.stdout != "" {
		t.Fatalf("describe missing --if-exists: exit %d, stdout %q", r.code, r.stdout)
	}
	if r := run(t, fa, nil, bs, "topics", "delete", "--topic", "a"); r.code != ExitOK || r.stdout != "" || !slices.Equal(deleted, []string{"a"}) {
		t.Fatalf("delete: exit %d, stdout %q, deleted %q", r.code, r.stdout, deleted)
	}
	if r := run(t, fa, nil, bs, "topics", "delete", "--topic", "missing"); r.code != ExitFailed || r.stderr != "strata: topic 'missing' does not exist\n" {
		t.Fatalf("delete missing: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := run(t, fa, nil, bs, "topics", "delete", "--topic", "missing", "--if-exists"); r.code != ExitOK {
		t.Fatalf("delete missing --if-exists: exit %d", r.code)
	}
	r = run(t, fa, nil, bs, "topics", "alter", "--topic", "a", "--partitions", "4", "--replica-assignment", "1:2")
	if r.code != ExitOK || r.stdout != "" || len(grown) != 1 || grown[0].Count != 4 || !reflect.DeepEqual(grown[0].Assignments, [][]int32{{1, 2}}) {
		t.Fatalf("alter: exit %d (%s), %+v", r.code, r.stderr, grown)
	}
}

func TestWholeRequestFailureExitsOne(t *testing.T) {
	fa := &fakeAdmin{describeCluster: func() (client.Cluster, error) {
		return client.Cluster{}, fmt.Errorf("client: DescribeCluster: 11 attempts failed, the last at 127.0.0.1:1: %w",
			codeErr(stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION, "connection refused\nsecond line"))
	}}
	r := run(t, fa, nil, bs, "cluster", "describe")
	want := "strata: client: DescribeCluster: 11 attempts failed, the last at 127.0.0.1:1: NETWORK_EXCEPTION: connection refused second line\n"
	if r.code != ExitFailed || r.stderr != want || r.stdout != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestConfigsCommands(t *testing.T) {
	var alters []client.AlterConfigs
	var described []client.ConfigResource
	fa := &fakeAdmin{
		alterConfigs: func(c []client.AlterConfigs) (client.Results[client.AlterConfigsResult], error) {
			alters = c
			return client.Results[client.AlterConfigsResult]{{Resource: c[0].Resource}}, nil
		},
		describeConfigs: func(rs []client.ConfigResource) (client.Results[client.ResourceConfigs], error) {
			described = rs
			var out client.Results[client.ResourceConfigs]
			for _, r := range rs {
				out = append(out, client.ResourceConfigs{Resource: r, Configs: []client.ConfigEntry{
					{Name: "retention.ms", Value: "1", Source: client.SourceDynamicTopic},
					{Name: "cleanup.policy", Value: "delete", Source: client.SourceDefault},
				}})
			}
			return out, nil
		},
		listTopics: func(int) ([]client.TopicListing, error) {
			return []client.TopicListing{{Name: "x"}, {Name: "y"}}, nil
		},
		describeCluster: func() (client.Cluster, error) {
			return client.Cluster{Brokers: []client.Broker{{ID: 101}, {ID: 102}}}, nil
		},
	}
	r := run(t, fa, nil, bs, "configs", "alter", "--entity-type", "topics", "--entity-name", "t",
		"--add-config", "retention.ms=1000,cleanup.policy=[compact,delete]", "--delete-config", "segment.bytes,min.insync.replicas")
	if r.code != ExitOK || r.stdout != "Completed updating config for topic t.\n" {
		t.Fatalf("alter: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	want := []client.AlterConfigs{{Resource: client.TopicResource("t"), Ops: []client.AlterConfigOp{
		client.SetConfig("retention.ms", "1000"), client.SetConfig("cleanup.policy", "compact,delete"),
		client.DeleteConfig("segment.bytes"), client.DeleteConfig("min.insync.replicas"),
	}}}
	if !reflect.DeepEqual(alters, want) {
		t.Fatalf("changes %+v, want %+v", alters, want)
	}
	r = run(t, fa, nil, bs, "configs", "alter", "--entity-type", "brokers", "--entity-default", "--add-config", "log.retention.ms=5")
	if r.stdout != "Completed updating default config for brokers in the cluster.\n" || alters[0].Resource != client.BrokerDefaultResource() {
		t.Fatalf("broker default: %q %+v", r.stdout, alters)
	}
	r = run(t, fa, nil, bs, "configs", "alter", "--entity-type", "brokers", "--entity-name", "101", "--delete-config", "log.retention.ms")
	if r.stdout != "Completed updating config for broker 101.\n" || alters[0].Resource != client.BrokerResource(101) {
		t.Fatalf("broker: %q %+v", r.stdout, alters)
	}

	r = run(t, fa, nil, bs, "configs", "describe", "--entity-type", "topics", "--entity-name", "t")
	if r.code != ExitOK || r.stdout != "Dynamic configs for topic t are:\n  retention.ms=1 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=1}\n" {
		t.Fatalf("describe: exit %d, %q", r.code, r.stdout)
	}
	run(t, fa, nil, bs, "configs", "describe", "--entity-type", "topics")
	if !slices.Equal(described, []client.ConfigResource{client.TopicResource("x"), client.TopicResource("y")}) {
		t.Fatalf("every topic: %v", described)
	}
	run(t, fa, nil, bs, "configs", "describe", "--entity-type", "brokers")
	if !slices.Equal(described, []client.ConfigResource{client.BrokerResource(101), client.BrokerResource(102)}) {
		t.Fatalf("every broker: %v", described)
	}
}

func TestQuorumDescribeStatusAsksForTheClusterID(t *testing.T) {
	fa := &fakeAdmin{
		describeQuorum: func() (client.Quorum, error) {
			return client.Quorum{LeaderID: 1, Voters: []client.QuorumReplica{{ID: 1}}}, nil
		},
		describeCluster: func() (client.Cluster, error) { return client.Cluster{ID: "cid"}, nil },
	}
	r := run(t, fa, nil, bs, "quorum", "describe", "--status")
	if r.code != ExitOK || !strings.HasPrefix(r.stdout, "ClusterId:\tcid\nLeaderId:\t1\n") {
		t.Fatalf("exit %d, %q", r.code, r.stdout)
	}
	fa.calls = nil
	r = run(t, fa, nil, bs, "quorum", "describe", "--replication")
	if r.code != ExitOK || !slices.Equal(fa.calls, []string{"DescribeQuorum"}) {
		t.Fatalf("replication: exit %d, calls %q", r.code, fa.calls)
	}
}

func TestParseConfigLists(t *testing.T) {
	for in, want := range map[string][]string{
		"":                         nil,
		"a=1":                      {"a=1"},
		"a=1, b=[x,y],c=[z]":       {"a=1", "b=[x,y]", "c=[z]"},
		"a=[x,[y,z]],b=2":          {"a=[x,[y,z]]", "b=2"},
		",a=1,,":                   {"a=1"},
		"follower.replication=1:2": {"follower.replication=1:2"},
	} {
		if got := splitConfigList(in); !slices.Equal(got, want) {
			t.Errorf("splitConfigList(%q) = %q, want %q", in, got, want)
		}
	}
	ops, err := parseAlterOps("a=1,b=[x,y]", "c,c")
	if err != nil || len(ops) != 3 || ops[1].Value != "x,y" || ops[2].Op != client.OpDelete {
		t.Fatalf("ops %+v, %v", ops, err)
	}
	if _, err := parseAlterOps("a=1,a=2", ""); err == nil {
		t.Fatal("a config set twice was accepted")
	}
	m, err := parseConfigFlags([]string{"a= 1 ", "b=x=y"})
	if err != nil || !maps.Equal(m, map[string]string{"a": "1", "b": "x=y"}) {
		t.Fatalf("config flags %v, %v", m, err)
	}
}
