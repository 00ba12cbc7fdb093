package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/strata-log/strata/pkg/api/stratav1"
)

// fakeAdmin is an AdminService whose answers the test chooses.
type fakeAdmin struct {
	stratav1.UnimplementedAdminServiceServer
	describeCluster func(context.Context) error
	calls           atomic.Int32
}

func (f *fakeAdmin) DescribeCluster(ctx context.Context, _ *stratav1.DescribeClusterRequest) (*stratav1.DescribeClusterResponse, error) {
	f.calls.Add(1)
	if f.describeCluster != nil {
		if err := f.describeCluster(ctx); err != nil {
			return nil, err
		}
	}
	return &stratav1.DescribeClusterResponse{ClusterId: "test-cluster"}, nil
}

func (f *fakeAdmin) CreateTopics(context.Context, *stratav1.CreateTopicsRequest) (*stratav1.CreateTopicsResponse, error) {
	f.calls.Add(1)
	panic("boom: a bug in CreateTopics")
}

// fakeBroker is a BrokerService that counts what its handlers see.
type fakeBroker struct {
	stratav1.UnimplementedBrokerServiceServer
	produced  atomic.Int32 // Produce calls
	streamed  atomic.Int32 // messages ProduceStream's handler received
	panicAcks int32        // ProduceStream panics on a request with these acks
	entered   chan struct{}
}

func (f *fakeBroker) Produce(_ context.Context, req *stratav1.ProduceRequest) (*stratav1.ProduceResponse, error) {
	f.produced.Add(1)
	return &stratav1.ProduceResponse{}, nil
}

func (f *fakeBroker) ProduceStream(stream grpc.BidiStreamingServer[stratav1.ProduceStreamRequest, stratav1.ProduceStreamResponse]) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		f.streamed.Add(1)
		if f.panicAcks != 0 && req.GetRequest().GetAcks() == f.panicAcks {
			panic("boom: a bug in ProduceStream")
		}
		if f.entered != nil {
			close(f.entered)
			<-stream.Context().Done()
			return stream.Context().Err()
		}
		if err := stream.Send(&stratav1.ProduceStreamResponse{CorrelationId: req.GetCorrelationId()}); err != nil {
			return err
		}
	}
}

// ackValidators rejects acks outside {-1, 0, 1}, for unary and stream
// requests alike.
func ackValidators() *Validators {
	v := NewValidators()
	checkAcks := func(acks int32) error {
		if acks != -1 && acks != 0 && acks != 1 {
			return Errorf(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUIRED_ACKS, "acks must be -1, 0 or 1, not %d", acks)
		}
		return nil
	}
	RegisterValidator(v, func(r *stratav1.ProduceRequest) error { return checkAcks(r.GetAcks()) })
	RegisterValidator(v, func(r *stratav1.ProduceStreamRequest) error { return checkAcks(r.GetRequest().GetAcks()) })
	RegisterValidator(v, func(r *stratav1.FetchRequest) error {
		if r.GetMaxBytes() <= 0 {
			return New(stratav1.ErrorCode_ERROR_CODE_INVALID_FETCH_SIZE, "max_bytes must be positive")
		}
		return nil
	})
	return v
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the JSON log records written so far.
func (b *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("bad log line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// testServer is a Strata gRPC server on a 127.0.0.1 port with the fakes,
// health and reflection.
type testServer struct {
	addr   string
	srv    *grpc.Server
	health *Health
	admin  *fakeAdmin
	broker *fakeBroker
	logs   *syncBuffer
}

// startServer serves on 127.0.0.1:0 until the test ends. cfg.Logger is set
// to a JSON logger into ts.logs when nil.
func startServer(t *testing.T, cfg ServerConfig) *testServer {
	t.Helper()
	ts := &testServer{admin: &fakeAdmin{}, broker: &fakeBroker{}, logs: &syncBuffer{}}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stratav1.RegisterAdminServiceServer(srv, ts.admin)
	stratav1.RegisterBrokerServiceServer(srv, ts.broker)
	ts.health = Register(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = lis.Addr().String()
	ts.srv = srv
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ts
}

// dial connects to ts with cfg (through Dial, so errors are decoded).
func dial(t *testing.T, addr string, cfg DialConfig) *grpc.ClientConn {
	t.Helper()
	cc, err := Dial(addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// dialRaw connects without this package's options: a plain gRPC client.
func dialRaw(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// reasonOf returns the Strata ErrorInfo reason of err's status.
func reasonOf(err error) string {
	st, _ := status.FromError(err)
	return errorInfo(st).GetReason()
}

func TestPanicBecomesInternal(t *testing.T) {
	ts := startServer(t, ServerConfig{})
	ctx := testContext(t)
	admin := stratav1.NewAdminServiceClient(dialRaw(t, ts.addr))

	_, err := admin.CreateTopics(ctx, &stratav1.CreateTopicsRequest{})
	if status.Code(err) != codes.Internal || reasonOf(err) != "UNKNOWN_SERVER_ERROR" {
		t.Fatalf("panic answered %v (reason %q), want Internal with UNKNOWN_SERVER_ERROR", err, reasonOf(err))
	}
	if strings.Contains(status.Convert(err).Message(), "boom") {
		t.Errorf("the panic value leaked to the client: %v", err)
	}
	// The server is still up.
	if _, err := admin.DescribeCluster(ctx, &stratav1.DescribeClusterRequest{}); err != nil {
		t.Fatalf("after the panic: %v", err)
	}

	// A stream handler's panic too.
	ts.broker.panicAcks = -1
	stream, err := stratav1.NewBrokerServiceClient(dialRaw(t, ts.addr)).ProduceStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&stratav1.ProduceStreamRequest{Request: &stratav1.ProduceRequest{Acks: -1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Internal || reasonOf(err) != "UNKNOWN_SERVER_ERROR" {
		t.Fatalf("stream panic answered %v", err)
	}

	// The stack went to the log, with the method.
	var found bool
	for _, r := range ts.logs.records(t) {
		if r["msg"] == "rpc: handler panicked" && r["grpc.method"] == "/strata.v1.AdminService/CreateTopics" {
			found = strings.Contains(r["stack"].(string), "CreateTopics") && r["panic"] == "boom: a bug in CreateTopics"
		}
	}
	if !found {
		t.Errorf("no panic record with the stack in the log:\n%s", ts.logs.buf.String())
	}
}

func TestHandlerErrorsBecomeStatuses(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		code   codes.Code
		reason string
	}{
		{"not controller", fmt.Errorf("controller.CreateTopics: %w", NotController(2, "127.0.0.1:9302")), codes.Unavailable, "NOT_CONTROLLER"},
		{"plain error", errors.New("badger: something broke"), codes.Internal, "UNKNOWN_SERVER_ERROR"},
		{"registered sentinel", fmt.Errorf("partlog.Append: %w", errTestCorrupt), codes.InvalidArgument, "CORRUPT_MESSAGE"},
		{"deadline", fmt.Errorf("wait for ISR: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "REQUEST_TIMED_OUT"},
		{"status passes through", status.Error(codes.NotFound, "no such thing"), codes.NotFound, ""},
	}
	ts := startServer(t, ServerConfig{})
	ctx := testContext(t)
	raw := stratav1.NewAdminServiceClient(dialRaw(t, ts.addr))
	decoding := stratav1.NewAdminServiceClient(dial(t, ts.addr, DialConfig{}))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts.admin.describeCluster = func(context.Context) error { return tt.err }
			_, err := raw.DescribeCluster(ctx, &stratav1.DescribeClusterRequest{})
			if status.Code(err) != tt.code || reasonOf(err) != tt.reason {
				t.Fatalf("got %v (reason %q), want %v with reason %q", err, reasonOf(err), tt.code, tt.reason)
			}
			// The decoding client gets an *Error that still has the status.
			_, err = decoding.DescribeCluster(ctx, &stratav1.DescribeClusterRequest{})
			e, ok := errors.AsType[*Error](err)
			if !ok {
				t.Fatalf("decoding client got %T %v, want *Error", err, err)
			}
			if status.Code(err) != tt.code || e.GRPCCode() != tt.code {
				t.Errorf("status.Code(*Error) = %v, want %v", status.Code(err), tt.code)
			}
		})
	}

	// NOT_CONTROLLER carries the active controller's address to both kinds
	// of client.
	ts.admin.describeCluster = func(context.Context) error { return NotController(2, "127.0.0.1:9302") }
	_, err := raw.DescribeCluster(ctx, &stratav1.DescribeClusterRequest{})
	e := FromError(err)
	if e.Code != stratav1.ErrorCode_ERROR_CODE_NOT_CONTROLLER || e.Controller == nil ||
		e.Controller.ID != 2 || e.Controller.Address != "127.0.0.1:9302" || !e.Retriable() {
		t.Errorf("FromError(raw) = %#v", e)
	}
	_, err = decoding.DescribeCluster(ctx, &stratav1.DescribeClusterRequest{})
	if !errors.Is(err, ErrNotController) || !IsRetriable(err) {
		t.Errorf("decoding client: errors.Is(%v, ErrNotController) is false", err)
	}
	if e, _ := errors.AsType[*Error](err); e.Controller.GetAddress() != "127.0.0.1:9302" {
		t.Errorf("decoding client lost the address: %v", err)
	}

	// NOT_LEADER_OR_FOLLOWER carries the leader hint.
	hint := &stratav1.LeaderHint{LeaderId: 102, LeaderEpoch: 9, Address: "127.0.0.1:9093"}
	ts.admin.describeCluster = func(context.Context) error { return NotLeader(hint, "not the leader of t-0") }
	_, err = decoding.DescribeCluster(ctx, &stratav1.DescribeClusterRequest{})
	if e, _ := errors.AsType[*Error](err); e.Leader.GetLeaderId() != 102 || e.Leader.GetLeaderEpoch() != 9 || e.Leader.GetAddress() != "127.0.0.1:9093" {
		t.Errorf("decoding client lost the leader hint: %v", err)
	}
}

func TestDialInterceptorsSeeDecodedErrors(t *testing.T) {
	ts := startServer(t, ServerConfig{})
	ts.admin.describeCluster = func(context.Context) error { return NotController(1, "127.0.0.1:9301") }
	var sawError atomic.Bool
	spy := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		_, ok := errors.AsType[*Error](err)
		sawError.Store(ok)
		return err
	}
	cc := dial(t, ts.addr, DialConfig{UnaryInterceptors: []grpc.UnaryClientInterceptor{spy}, UserAgent: "strata-test"})
	if _, err := stratav1.NewAdminServiceClient(cc).DescribeCluster(testContext(t), &stratav1.DescribeClusterRequest{}); !errors.Is(err, ErrNotController) {
		t.Fatalf("got %v", err)
	}
	if !sawError.Load() {
		t.Error("the caller's interceptor did not see an *Error")
	}
}

func TestDecodingClientLeavesCancellationAlone(t *testing.T) {
	ts := startServer(t, ServerConfig{})
	admin := stratav1.NewAdminServiceClient(dial(t, ts.addr, DialConfig{}))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := admin.DescribeCluster(ctx, &stratav1.DescribeClusterRequest{})
	if _, ok := errors.AsType[*Error](err); ok || status.Code(err) != codes.Canceled {
		t.Errorf("canceled call returned %T %v, want a plain Canceled status", err, err)
	}
	// A stream ends with io.EOF, untouched.
	stream, err := stratav1.NewBrokerServiceClient(dial(t, ts.addr, DialConfig{})).ProduceStream(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF { //nolint:errorlint // the exact value is the contract
		t.Errorf("end of stream: %v, want io.EOF", err)
	}
}

func TestValidationUnary(t *testing.T) {
	ts := startServer(t, ServerConfig{Validators: ackValidators()})
	ctx := testContext(t)
	broker := stratav1.NewBrokerServiceClient(dialRaw(t, ts.addr))

	_, err := broker.Produce(ctx, &stratav1.ProduceRequest{Acks: 7})
	if status.Code(err) != codes.InvalidArgument || reasonOf(err) != "INVALID_REQUIRED_ACKS" {
		t.Fatalf("acks=7 answered %v (reason %q)", err, reasonOf(err))
	}
	if !strings.Contains(status.Convert(err).Message(), "not 7") {
		t.Errorf("message %q does not say what was wrong", status.Convert(err).Message())
	}
	if n := ts.broker.produced.Load(); n != 0 {
		t.Fatalf("the handler ran %d times for an invalid request", n)
	}
	for _, acks := range []int32{-1, 0, 1} {
		if _, err := broker.Produce(ctx, &stratav1.ProduceRequest{Acks: acks}); err != nil {
			t.Fatalf("acks=%d: %v", acks, err)
		}
	}
	if n := ts.broker.produced.Load(); n != 3 {
		t.Fatalf("the handler ran %d times, want 3", n)
	}
	// Requests without a validator pass.
	if _, err := stratav1.NewAdminServiceClient(dialRaw(t, ts.addr)).DescribeCluster(ctx, &stratav1.DescribeClusterRequest{}); err != nil {
		t.Fatal(err)
	}
}

func TestValidationStream(t *testing.T) {
	ts := startServer(t, ServerConfig{Validators: ackValidators()})
	ctx := testContext(t)
	stream, err := stratav1.NewBrokerServiceClient(dial(t, ts.addr, DialConfig{})).ProduceStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&stratav1.ProduceStreamRequest{CorrelationId: 1, Request: &stratav1.ProduceRequest{Acks: 1}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || resp.GetCorrelationId() != 1 {
		t.Fatalf("valid message: %v, %v", resp, err)
	}
	if err := stream.Send(&stratav1.ProduceStreamRequest{CorrelationId: 2, Request: &stratav1.ProduceRequest{Acks: 2}}); err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	if !errors.Is(err, ErrInvalidRequiredAcks) || status.Code(err) != codes.InvalidArgument {
		t.Fatalf("invalid message: %v, want INVALID_REQUIRED_ACKS / InvalidArgument", err)
	}
	if n := ts.broker.streamed.Load(); n != 1 {
		t.Fatalf("the handler received %d messages, want only the valid one", n)
	}

	// A server stream's single request is validated before the method
	// runs: the fake has no Fetch, so reaching it answers Unimplemented.
	fetch := func(maxBytes int32) error {
		t.Helper()
		s, err := stratav1.NewBrokerServiceClient(dialRaw(t, ts.addr)).Fetch(ctx, &stratav1.FetchRequest{MaxBytes: maxBytes})
		if err != nil {
			return err
		}
		_, err = s.Recv()
		return err
	}
	if err := fetch(0); status.Code(err) != codes.InvalidArgument || reasonOf(err) != "INVALID_FETCH_SIZE" {
		t.Errorf("Fetch(max_bytes=0): %v, want InvalidArgument with INVALID_FETCH_SIZE", err)
	}
	if err := fetch(1 << 20); status.Code(err) != codes.Unimplemented {
		t.Errorf("Fetch(max_bytes=1MiB): %v, want Unimplemented from the fake", err)
	}
}

func TestValidatorsPlainErrorAndOrder(t *testing.T) {
	v := NewValidators()
	var order []int
	RegisterValidator(v, func(*stratav1.ProduceRequest) error { order = append(order, 1); return nil })
	RegisterValidator(v, func(*stratav1.ProduceRequest) error { order = append(order, 2); return errors.New("no topics") })
	RegisterValidator(v, func(*stratav1.ProduceRequest) error { order = append(order, 3); return nil })
	RegisterValidator(v, func(*stratav1.FetchRequest) error { return fmt.Errorf("fetch: %w", errTestCorrupt) })

	err := v.Validate(&stratav1.ProduceRequest{})
	if CodeOf(err) != stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST || !slices.Equal(order, []int{1, 2}) {
		t.Errorf("Validate = %v after %v; want INVALID_REQUEST after validators 1, 2", err, order)
	}
	if CodeOf(v.Validate(&stratav1.FetchRequest{})) != stratav1.ErrorCode_ERROR_CODE_CORRUPT_MESSAGE {
		t.Error("a registered sentinel from a validator lost its code")
	}
	if err := v.Validate(&stratav1.MetadataRequest{}); err != nil {
		t.Errorf("a type without validators: %v", err)
	}
	var nilV *Validators
	if err := nilV.Validate(&stratav1.ProduceRequest{}); err != nil {
		t.Errorf("nil Validators: %v", err)
	}
	if err := (&Validators{}).Validate("not a message"); err != nil {
		t.Errorf("a non-message: %v", err)
	}
}

func TestHealth(t *testing.T) {
	ts := startServer(t, ServerConfig{})
	ctx := testContext(t)
	health := healthpb.NewHealthClient(dialRaw(t, ts.addr))
	check := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("Check(%q): %v", service, err)
		}
		return resp.GetStatus()
	}
	const broker = "strata.v1.BrokerService"
	if got := check(""); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("before SetServing: %v", got)
	}
	ts.health.SetServing("")
	ts.health.SetServing(broker)
	if check("") != healthpb.HealthCheckResponse_SERVING || check(broker) != healthpb.HealthCheckResponse_SERVING {
		t.Fatal("SetServing did not take")
	}
	ts.health.SetNotServing(broker)
	if check(broker) != healthpb.HealthCheckResponse_NOT_SERVING || check("") != healthpb.HealthCheckResponse_SERVING {
		t.Fatal("SetNotServing(broker) did not take, or touched the server")
	}
	ts.health.SetServing(broker)

	// A watcher sees the flip to NOT_SERVING when the server stops, and
	// GracefulStop waits for it to hang up.
	watchCtx, cancelWatch := context.WithCancel(ctx)
	defer cancelWatch()
	watch, err := health.Watch(watchCtx, &healthpb.HealthCheckRequest{Service: ""})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("watch: %v, %v", resp, err)
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		GracefulStop(ctx, ts.srv, ts.health)
	}()
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("watch after stop: %v, %v", resp, err)
	}
	// Set after Shutdown is ignored.
	ts.health.SetServing("")
	cancelWatch()
	<-stopped
}

func TestGracefulStopCutsOffAtDeadline(t *testing.T) {
	ts := startServer(t, ServerConfig{})
	ts.broker.entered = make(chan struct{})
	stream, err := stratav1.NewBrokerServiceClient(dial(t, ts.addr, DialConfig{})).ProduceStream(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&stratav1.ProduceStreamRequest{Request: &stratav1.ProduceRequest{Acks: 1}}); err != nil {
		t.Fatal(err)
	}
	<-ts.broker.entered // the handler now runs until its stream ends
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // no grace at all
	GracefulStop(ctx, ts.srv, ts.health)
	if _, err := stream.Recv(); err == nil {
		t.Fatal("the stream survived the stop")
	}
	GracefulStop(ctx, ts.srv, nil) // idempotent, nil health allowed
}

func TestReflectionListsServices(t *testing.T) {
	ts := startServer(t, ServerConfig{})
	stream, err := reflectionpb.NewServerReflectionClient(dialRaw(t, ts.addr)).ServerReflectionInfo(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"strata.v1.AdminService", "strata.v1.BrokerService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
}

func TestMaxRecvMsgSize(t *testing.T) {
	ts := startServer(t, ServerConfig{MaxRecvMsgSize: 4 << 10})
	ctx := testContext(t)
	big := &stratav1.ProduceRequest{Acks: 1, Topics: []*stratav1.ProduceTopic{{
		Name:       "t",
		Partitions: []*stratav1.ProducePartition{{Records: make([]byte, 8<<10)}},
	}}}
	_, err := stratav1.NewBrokerServiceClient(dialRaw(t, ts.addr)).Produce(ctx, big)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("an 8 KiB request to a 4 KiB server: %v, want ResourceExhausted", err)
	}
	// The decoding client calls it MESSAGE_TOO_LARGE, keeping the gRPC code.
	_, err = stratav1.NewBrokerServiceClient(dial(t, ts.addr, DialConfig{})).Produce(ctx, big)
	if CodeOf(err) != stratav1.ErrorCode_ERROR_CODE_MESSAGE_TOO_LARGE || status.Code(err) != codes.ResourceExhausted || IsRetriable(err) {
		t.Fatalf("decoded %v", err)
	}
	if n := ts.broker.produced.Load(); n != 0 {
		t.Fatalf("the handler ran %d times", n)
	}
	// Just under the limit passes.
	big.Topics[0].Partitions[0].Records = make([]byte, 3<<10)
	if _, err := stratav1.NewBrokerServiceClient(dialRaw(t, ts.addr)).Produce(ctx, big); err != nil {
		t.Fatal(err)
	}
}

func TestLoggingInterceptor(t *testing.T) {
	ts := startServer(t, ServerConfig{Validators: ackValidators()})
	ctx := testContext(t)
	cc := dialRaw(t, ts.addr)
	if _, err := stratav1.NewAdminServiceClient(cc).DescribeCluster(ctx, &stratav1.DescribeClusterRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := stratav1.NewBrokerServiceClient(cc).Produce(ctx, &stratav1.ProduceRequest{Acks: 5}); err == nil {
		t.Fatal("acks=5 accepted")
	}
	_, _ = stratav1.NewAdminServiceClient(cc).CreateTopics(ctx, &stratav1.CreateTopicsRequest{})

	want := []struct {
		service, method, code, level, reason string
	}{
		{"strata.v1.AdminService", "DescribeCluster", "OK", "DEBUG", ""},
		{"strata.v1.BrokerService", "Produce", "InvalidArgument", "WARN", "INVALID_REQUIRED_ACKS"},
		{"strata.v1.AdminService", "CreateTopics", "Internal", "ERROR", "UNKNOWN_SERVER_ERROR"},
	}
	records := ts.logs.records(t)
	for _, w := range want {
		var found bool
		for _, r := range records {
			if r["msg"] != "finished call" || r["grpc.service"] != w.service || r["grpc.method"] != w.method {
				continue
			}
			found = true
			if r["grpc.code"] != w.code || r["level"] != w.level {
				t.Errorf("%s: code %v level %v, want %s %s", w.method, r["grpc.code"], r["level"], w.code, w.level)
			}
			if w.reason != "" && r["strata.reason"] != w.reason {
				t.Errorf("%s: strata.reason %v, want %s", w.method, r["strata.reason"], w.reason)
			}
			if _, ok := r["grpc.duration"]; !ok {
				t.Errorf("%s: no duration in %v", w.method, r)
			}
		}
		if !found {
			t.Errorf("no finished-call record for %s/%s in\n%s", w.service, w.method, ts.logs.buf.String())
		}
	}
}

func TestExtraInterceptorsRunBeforeValidation(t *testing.T) {
	// An authentication-like interceptor: its plain errors get converted,
	// and it runs before validators see the request.
	deny := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if strings.HasSuffix(info.FullMethod, "/Produce") {
			return nil, New(stratav1.ErrorCode_ERROR_CODE_SASL_AUTHENTICATION_FAILED, "no credentials")
		}
		return h(ctx, req)
	}
	ts := startServer(t, ServerConfig{Validators: ackValidators(), UnaryInterceptors: []grpc.UnaryServerInterceptor{deny}})
	_, err := stratav1.NewBrokerServiceClient(dialRaw(t, ts.addr)).Produce(testContext(t), &stratav1.ProduceRequest{Acks: 9})
	if status.Code(err) != codes.Unauthenticated || reasonOf(err) != "SASL_AUTHENTICATION_FAILED" {
		t.Fatalf("got %v, want Unauthenticated before validation", err)
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []struct {
		cfg   ServerConfig
		field string
	}{
		{ServerConfig{MaxRecvMsgSize: -1}, "MaxRecvMsgSize"},
		{ServerConfig{MaxSendMsgSize: -1}, "MaxSendMsgSize"},
		{ServerConfig{KeepaliveMinTime: -1}, "KeepaliveMinTime"},
		{ServerConfig{KeepaliveTime: -1}, "KeepaliveTime"},
		{ServerConfig{KeepaliveTimeout: -1}, "KeepaliveTimeout"},
		{ServerConfig{CertFile: "c.pem"}, "KeyFile"},
		{ServerConfig{KeyFile: "k.pem"}, "CertFile"},
		{ServerConfig{ClientCAFile: "ca.pem"}, "ClientCAFile"},
		{ServerConfig{CertFile: "/nonexistent/c.pem", KeyFile: "/nonexistent/k.pem"}, "/nonexistent/c.pem"},
	}
	for _, tt := range bad {
		if _, err := NewServer(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("NewServer(%+v) = %v, want an error naming %s", tt.cfg, err, tt.field)
		}
	}
	badDial := []struct {
		cfg   DialConfig
		field string
	}{
		{DialConfig{MaxRecvMsgSize: -1}, "MaxRecvMsgSize"},
		{DialConfig{MaxSendMsgSize: -1}, "MaxSendMsgSize"},
		{DialConfig{KeepaliveTime: -1}, "KeepaliveTime"},
		{DialConfig{KeepaliveTimeout: -1}, "KeepaliveTimeout"},
		{DialConfig{CertFile: "c.pem"}, "KeyFile"},
		{DialConfig{KeyFile: "k.pem"}, "CertFile"},
		{DialConfig{CAFile: "/nonexistent/ca.pem"}, "CA file"},
	}
	for _, tt := range badDial {
		if _, err := Dial("127.0.0.1:1", tt.cfg); err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("Dial(%+v) = %v, want an error naming %s", tt.cfg, err, tt.field)
		}
	}
	if _, err := Dial("", DialConfig{}); err == nil {
		t.Error("Dial with an empty target succeeded")
	}

	// The defaults.
	d := ServerConfig{}.withDefaults()
	if d.MaxRecvMsgSize != 64<<20 || d.MaxSendMsgSize != 64<<20 || d.KeepaliveMinTime != 10*time.Second ||
		d.KeepaliveTime != 30*time.Second || d.KeepaliveTimeout != 10*time.Second || d.Logger == nil {
		t.Errorf("server defaults %+v", d)
	}
	c := DialConfig{}.withDefaults()
	if c.MaxRecvMsgSize != 64<<20 || c.MaxSendMsgSize != 64<<20 || c.KeepaliveTime < d.KeepaliveMinTime {
		t.Errorf("dial defaults %+v do not fit the server's %+v", c, d)
	}
}
