package client

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/rpc"
	"github.com/strata-log/strata/pkg/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

// fakeServer is an AdminService on loopback whose answers a test sets.
// Methods without a handler answer Unimplemented.
type fakeServer struct {
	stratav1.UnimplementedAdminServiceServer
	addr  string
	calls atomic.Int32

	createTopics    func(*stratav1.CreateTopicsRequest) (*stratav1.CreateTopicsResponse, error)
	describeCluster func() (*stratav1.DescribeClusterResponse, error)
	other           func(method string, req any) (any, error)
}

func startFake(t *testing.T) *fakeServer {
	t.Helper()
	f := &fakeServer{}
	l := testutil.Listen(t)
	srv, err := rpc.NewServer(rpc.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	stratav1.RegisterAdminServiceServer(srv, f)
	f.addr = l.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return f
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string { return testutil.FreeAddr(t) }

func (f *fakeServer) CreateTopics(_ context.Context, r *stratav1.CreateTopicsRequest) (*stratav1.CreateTopicsResponse, error) {
	f.calls.Add(1)
	if f.createTopics == nil {
		return nil, errors.New("no handler")
	}
	return f.createTopics(r)
}

func (f *fakeServer) DescribeCluster(context.Context, *stratav1.DescribeClusterRequest) (*stratav1.DescribeClusterResponse, error) {
	f.calls.Add(1)
	if f.describeCluster == nil {
		return &stratav1.DescribeClusterResponse{ClusterId: f.addr}, nil
	}
	return f.describeCluster()
}

func (f *fakeServer) handle(method string, req any) (any, error) {
	f.calls.Add(1)
	if f.other == nil {
		return nil, rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, "%s: no handler", method)
	}
	return f.other(method, req)
}

func (f *fakeServer) DeleteTopics(_ context.Context, r *stratav1.DeleteTopicsRequest) (*stratav1.DeleteTopicsResponse, error) {
	resp, err := f.handle("DeleteTopics", r)
	return asResp[*stratav1.DeleteTopicsResponse](resp, err)
}

func (f *fakeServer) ListTopics(_ context.Context, r *stratav1.ListTopicsRequest) (*stratav1.ListTopicsResponse, error) {
	resp, err := f.handle("ListTopics", r)
	return asResp[*stratav1.ListTopicsResponse](resp, err)
}

func (f *fakeServer) DescribeTopics(_ context.Context, r *stratav1.DescribeTopicsRequest) (*stratav1.DescribeTopicsResponse, error) {
	resp, err := f.handle("DescribeTopics", r)
	return asResp[*stratav1.DescribeTopicsResponse](resp, err)
}

func (f *fakeServer) DescribeQuorum(_ context.Context, r *stratav1.DescribeQuorumRequest) (*stratav1.DescribeQuorumResponse, error) {
	resp, err := f.handle("DescribeQuorum", r)
	return asResp[*stratav1.DescribeQuorumResponse](resp, err)
}

func (f *fakeServer) DescribeConfigs(_ context.Context, r *stratav1.DescribeConfigsRequest) (*stratav1.DescribeConfigsResponse, error) {
	resp, err := f.handle("DescribeConfigs", r)
	return asResp[*stratav1.DescribeConfigsResponse](resp, err)
}

func (f *fakeServer) IncrementalAlterConfigs(_ context.Context, r *stratav1.IncrementalAlterConfigsRequest) (*stratav1.IncrementalAlterConfigsResponse, error) {
	resp, err := f.handle("IncrementalAlterConfigs", r)
	return asResp[*stratav1.IncrementalAlterConfigsResponse](resp, err)
}

func (f *fakeServer) ElectLeaders(_ context.Context, r *stratav1.ElectLeadersRequest) (*stratav1.ElectLeadersResponse, error) {
	resp, err := f.handle("ElectLeaders", r)
	return asResp[*stratav1.ElectLeadersResponse](resp, err)
}

func (f *fakeServer) CreatePartitions(_ context.Context, r *stratav1.CreatePartitionsRequest) (*stratav1.CreatePartitionsResponse, error) {
	resp, err := f.handle("CreatePartitions", r)
	return asResp[*stratav1.CreatePartitionsResponse](resp, err)
}

func asResp[T any](resp any, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	return resp.(T), nil
}

// newTestAdmin is an admin with fast retries.
func newTestAdmin(t *testing.T, opts ...Opt) *Admin {
	t.Helper()
	opts = append([]Opt{RetryBackoff(time.Millisecond, 5*time.Millisecond), DialTimeout(2 * time.Second), RequestTimeout(5 * time.Second)}, opts...)
	a, err := NewAdmin(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
