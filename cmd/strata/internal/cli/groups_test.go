package cli

import (
	"bytes"
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/client"
)

// fakeGroupAdmin is a fakeAdmin that also answers the group calls.
type fakeGroupAdmin struct {
	*fakeAdmin
	listed  []client.GroupListing
	groups  map[string]client.GroupDescription
	offsets map[string]map[client.TopicPartition]client.CommittedOffset
	starts  map[client.TopicPartition]int64
	ends    map[client.TopicPartition]int64
	altered map[client.TopicPartition]int64
}

func (f *fakeGroupAdmin) ListGroups(context.Context) ([]client.GroupListing, error) {
	f.calls = append(f.calls, "ListGroups")
	return f.listed, nil
}

func (f *fakeGroupAdmin) DescribeGroups(_ context.Context, ids ...string) (client.Results[client.GroupDescription], error) {
	f.calls = append(f.calls, "DescribeGroups")
	var out client.Results[client.GroupDescription]
	for _, id := range ids {
		d, ok := f.groups[id]
		if !ok {
			d = client.GroupDescription{GroupID: id, State: "Dead", Err: codeErr(stratav1.ErrorCode_ERROR_CODE_GROUP_ID_NOT_FOUND, "Group "+id+" not found.")}
		}
		out = append(out, d)
	}
	return out, nil
}

func (f *fakeGroupAdmin) ListGroupOffsets(_ context.Context, group string) (map[client.TopicPartition]client.CommittedOffset, error) {
	f.calls = append(f.calls, "ListGroupOffsets")
	return f.offsets[group], nil
}

func (f *fakeGroupAdmin) AlterGroupOffsets(_ context.Context, _ string, offsets map[client.TopicPartition]int64) error {
	f.calls = append(f.calls, "AlterGroupOffsets")
	f.altered = offsets
	return nil
}

func (f *fakeGroupAdmin) ListOffsets(_ context.Context, spec int64, tps ...client.TopicPartition) (map[client.TopicPartition]int64, error) {
	f.calls = append(f.calls, "ListOffsets")
	src := f.ends
	if spec == client.OffsetEarliest {
		src = f.starts
	}
	out := make(map[client.TopicPartition]int64)
	for _, tp := range tps {
		if o, ok := src[tp]; ok {
			out[tp] = o
		}
	}
	return out, nil
}

// runGroups runs a command line against a fakeGroupAdmin.
func runGroups(t *testing.T, f *fakeGroupAdmin, args ...string) result {
	t.Helper()
	f.t = t
	var out, errb bytes.Buffer
	code := Main(context.Background(), append([]string{bsServer}, args...), Env{
		Stdout: &out, Stderr: &errb,
		NewAdmin: func(AdminConfig) (Admin, error) { return f, nil },
	})
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func tp(topic string, p int32) client.TopicPartition {
	return client.TopicPartition{Topic: topic, Partition: p}
}

func fixtureGroups() *fakeGroupAdmin {
	stable := client.GroupDescription{GroupID: "billing", State: "Stable", Epoch: 7, AssignmentEpoch: 7, Assignor: "uniform", Members: []client.GroupMemberDescription{
		{MemberID: "RX7odREO0IIHllhhGn3GRg", ClientID: "billing-1", Host: "/10.0.0.7", Assignment: []client.TopicPartition{tp("orders", 0), tp("orders", 2)}},
		{MemberID: "fhcDbv0e6pWdMK_SuNcx2g", ClientID: "billing-2", Host: "/10.0.0.8", Assignment: []client.TopicPartition{tp("orders", 1)}},
		{MemberID: "QVOt-oLG9wMFocMCHzXxXw", ClientID: "billing-3", Host: "/10.0.0.9"},
	}}
	return &fakeGroupAdmin{
		fakeAdmin: &fakeAdmin{describeTopics: func([]string, int) (client.Results[client.TopicDetail], error) {
			return client.Results[client.TopicDetail]{{Name: "orders", Partitions: []client.PartitionDetail{{ID: 0}, {ID: 1}, {ID: 2}}}}, nil
		}},
		listed: []client.GroupListing{{GroupID: "shipping"}, {GroupID: "billing"}, {GroupID: "audit"}},
		groups: map[string]client.GroupDescription{
			"billing": stable,
			"idle":    {GroupID: "idle", State: "Empty"},
		},
		offsets: map[string]map[client.TopicPartition]client.CommittedOffset{
			"billing": {tp("orders", 0): {Offset: 40}, tp("orders", 2): {Offset: 55}, tp("refunds", 0): {Offset: 3}},
			"idle":    {tp("orders", 0): {Offset: 10}, tp("orders", 1): {Offset: 11}},
		},
		starts: map[client.TopicPartition]int64{tp("orders", 0): 5, tp("orders", 1): 0, tp("orders", 2): 7},
		ends:   map[client.TopicPartition]int64{tp("orders", 0): 42, tp("orders", 1): 30, tp("orders", 2): 55, tp("refunds", 0): 9},
	}
}

// TestGroupsFormats keeps the kafka-consumer-groups formats in testdata.
func TestGroupsFormats(t *testing.T) {
	f := fixtureGroups()
	for _, tc := range []struct {
		golden string
		args   []string
		stderr string
	}{
		{"groups-list", []string{"groups", "list"}, ""},
		{"groups-describe", []string{"groups", "describe", "--group", "billing"}, ""},
		{"groups-describe-members", []string{"groups", "describe", "--group", "billing", "--members"}, ""},
		{"groups-describe-empty", []string{"groups", "describe", "--group", "idle"}, "Consumer group 'idle' has no active members.\n"},
		{"groups-reset-dry-run", []string{"groups", "reset-offsets", "--group", "idle", "--topic", "orders", "--to-earliest", "--dry-run"}, ""},
	} {
		r := runGroups(t, f, tc.args...)
		if r.code != ExitOK || r.stderr != tc.stderr {
			t.Fatalf("%q: exit %d, stderr %q, want %q", tc.args, r.code, r.stderr, tc.stderr)
		}
		golden(t, tc.golden, r.stdout)
	}
	if f.altered != nil {
		t.Fatal("--dry-run altered the offsets")
	}
}

func TestGroupsResetOffsets(t *testing.T) {
	f := fixtureGroups()
	r := runGroups(t, f, "groups", "reset-offsets", "--group", "idle", "--topic", "orders", "--to-latest", "--execute")
	want := map[client.TopicPartition]int64{tp("orders", 0): 42, tp("orders", 1): 30, tp("orders", 2): 55}
	if r.code != ExitOK || !maps.Equal(f.altered, want) || !strings.Contains(r.stdout, "idle                           orders                         1          30") {
		t.Fatalf("exit %d (%s), altered %v\n%s", r.code, r.stderr, f.altered, r.stdout)
	}
	f.altered = nil
	r = runGroups(t, f, "groups", "reset-offsets", "--group", "idle", "--topic", "orders", "--to-earliest")
	if r.code != ExitOK || f.altered != nil || !strings.HasPrefix(r.stderr, "WARN: No action will be performed as the --execute option is missing.") {
		t.Fatalf("without --execute: exit %d, altered %v, stderr %q", r.code, f.altered, r.stderr)
	}
	// A group that does not exist yet may get offsets; one with members
	// may not.
	r = runGroups(t, f, "groups", "reset-offsets", "--group", "new", "--topic", "orders", "--to-earliest", "--execute")
	if r.code != ExitOK || len(f.altered) != 3 {
		t.Fatalf("a new group: exit %d (%s), altered %v", r.code, r.stderr, f.altered)
	}
	f.altered = nil
	r = runGroups(t, f, "groups", "reset-offsets", "--group", "billing", "--topic", "orders", "--to-earliest", "--execute")
	if r.code != ExitFailed || f.altered != nil ||
		r.stderr != "strata: Assignments can only be reset if the group 'billing' is inactive, but the current state is Stable.\n" {
		t.Fatalf("an active group: exit %d, altered %v, stderr %q", r.code, f.altered, r.stderr)
	}
}

func TestGroupsErrors(t *testing.T) {
	f := fixtureGroups()
	r := runGroups(t, f, "groups", "describe", "--group", "ghost")
	if r.code != ExitFailed || r.stderr != "strata: Consumer group 'ghost' does not exist.\n" || r.stdout != "" {
		t.Fatalf("an unknown group: exit %d, stderr %q, stdout %q", r.code, r.stderr, r.stdout)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"groups", "describe"}, "strata: groups describe: --group is required (see 'strata groups describe --help')"},
		{[]string{"groups", "reset-offsets", "--group=g"}, "strata: groups reset-offsets: --topic is required (see 'strata groups reset-offsets --help')"},
		{[]string{"groups", "reset-offsets", "--group=g", "--topic=t"}, "strata: groups reset-offsets: give one of --to-earliest and --to-latest (see 'strata groups reset-offsets --help')"},
		{[]string{"groups", "reset-offsets", "--group=g", "--topic=t", "--to-earliest", "--to-latest"},
			"strata: groups reset-offsets: give one of --to-earliest and --to-latest (see 'strata groups reset-offsets --help')"},
		{[]string{"groups", "reset-offsets", "--group=g", "--topic=t", "--to-latest", "--execute", "--dry-run"},
			"strata: groups reset-offsets: --execute and --dry-run cannot be used together (see 'strata groups reset-offsets --help')"},
	} {
		r := runGroups(t, f, tc.args...)
		if r.code != ExitUsage || r.stderr != tc.want+"\n" {
			t.Errorf("%q: exit %d, stderr %q, want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	// Groups live on brokers.
	var errb bytes.Buffer
	code := Main(context.Background(), []string{"--bootstrap-controller=127.0.0.1:9201", "groups", "list"}, Env{Stderr: &errb})
	if code != ExitUsage || !strings.Contains(errb.String(), "needs --bootstrap-server") {
		t.Fatalf("groups with a controller: exit %d, %q", code, errb.String())
	}
}
