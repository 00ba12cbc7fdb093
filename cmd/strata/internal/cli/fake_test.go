package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/client"
	"github.com/strata-log/strata/pkg/rpc"
)

// fakeAdmin answers the commands' calls from the test's functions; a call
// without a function fails the test.
type fakeAdmin struct {
	t      *testing.T
	calls  []string
	closed bool

	createTopics     func([]client.TopicSpec, int) (client.Results[client.CreatedTopic], error)
	deleteTopics     func([]string) (client.Results[client.DeletedTopic], error)
	createPartitions func([]client.PartitionsSpec) (client.Results[client.CreatedPartitions], error)
	listTopics       func(int) ([]client.TopicListing, error)
	describeTopics   func([]string, int) (client.Results[client.TopicDetail], error)
	describeCluster  func() (client.Cluster, error)
	describeQuorum   func() (client.Quorum, error)
	describeConfigs  func([]client.ConfigResource) (client.Results[client.ResourceConfigs], error)
	alterConfigs     func([]client.AlterConfigs) (client.Results[client.AlterConfigsResult], error)
}

func (f *fakeAdmin) called(name string, fn any) {
	f.calls = append(f.calls, name)
	if fn == nil {
		f.t.Fatalf("unexpected call %s", name)
	}
}

func (f *fakeAdmin) CreateTopics(_ context.Context, topics []client.TopicSpec, opts ...client.RequestOpt) (client.Results[client.CreatedTopic], error) {
	f.called("CreateTopics", f.createTopics)
	return f.createTopics(topics, len(opts))
}

func (f *fakeAdmin) DeleteTopics(_ context.Context, names ...string) (client.Results[client.DeletedTopic], error) {
	f.called("DeleteTopics", f.deleteTopics)
	return f.deleteTopics(names)
}

func (f *fakeAdmin) CreatePartitions(_ context.Context, topics []client.PartitionsSpec, _ ...client.RequestOpt) (client.Results[client.CreatedPartitions], error) {
	f.called("CreatePartitions", f.createPartitions)
	return f.createPartitions(topics)
}

func (f *fakeAdmin) ListTopics(_ context.Context, opts ...client.RequestOpt) ([]client.TopicListing, error) {
	f.called("ListTopics", f.listTopics)
	return f.listTopics(len(opts))
}

func (f *fakeAdmin) DescribeTopics(_ context.Context, names []string, opts ...client.RequestOpt) (client.Results[client.TopicDetail], error) {
	f.called("DescribeTopics", f.describeTopics)
	return f.describeTopics(names, len(opts))
}

func (f *fakeAdmin) DescribeCluster(context.Context) (client.Cluster, error) {
	f.called("DescribeCluster", f.describeCluster)
	return f.describeCluster()
}

func (f *fakeAdmin) DescribeQuorum(context.Context) (client.Quorum, error) {
	f.called("DescribeQuorum", f.describeQuorum)
	return f.describeQuorum()
}

func (f *fakeAdmin) DescribeConfigs(_ context.Context, resources []client.ConfigResource, _ ...string) (client.Results[client.ResourceConfigs], error) {
	f.called("DescribeConfigs", f.describeConfigs)
	return f.describeConfigs(resources)
}

func (f *fakeAdmin) IncrementalAlterConfigs(_ context.Context, changes []client.AlterConfigs, _ ...client.RequestOpt) (client.Results[client.AlterConfigsResult], error) {
	f.called("IncrementalAlterConfigs", f.alterConfigs)
	return f.alterConfigs(changes)
}

func (f *fakeAdmin) Close() error {
	f.closed = true
	return nil
}

// codeErr is the *client.Error a server's per-resource code gives.
func codeErr(code stratav1.ErrorCode, msg string) error {
	return &client.Error{Code: code, Name: rpc.CodeName(code), Message: msg, Retriable: rpc.Retriable(code)}
}

// result of one run of Main.
type result struct {
	code           int
	stdout, stderr string
	cfg            AdminConfig // what the admin client was made with
	made           bool
}

// run runs a command line in-process against fa (nil: no admin client may
// be made) with the environment variables env.
func run(t *testing.T, fa *fakeAdmin, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	var r result
	if fa != nil {
		fa.t = t
	}
	r.code = Main(context.Background(), args, Env{
		Stdout: &out, Stderr: &errb,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		NewAdmin: func(c AdminConfig) (Admin, error) {
			if fa == nil {
				t.Fatalf("%q made an admin client", strings.Join(args, " "))
			}
			r.cfg, r.made = c, true
			return fa, nil
		},
	})
	r.stdout, r.stderr = out.String(), errb.String()
	if fa != nil && r.made && !fa.closed {
		t.Errorf("%q did not close the admin client", strings.Join(args, " "))
	}
	if strings.Count(r.stderr, "\n") > 1 {
		t.Errorf("stderr is more than one line: %q", r.stderr)
	}
	return r
}
