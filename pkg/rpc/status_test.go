package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/strata-log/strata/pkg/api/stratav1"
)

// Sentinels of an imaginary record-batch package, registered as that
// package's wiring would at init.
var (
	errTestCorrupt       = errors.New("recordbatch: corrupt batch")
	errTestInvalidRecord = errors.New("recordbatch: invalid record")
)

func init() {
	RegisterSentinel(errTestCorrupt, stratav1.ErrorCode_ERROR_CODE_CORRUPT_MESSAGE)
	RegisterSentinel(errTestInvalidRecord, stratav1.ErrorCode_ERROR_CODE_INVALID_RECORD)
}

// errorInfo returns the Strata ErrorInfo of st, or nil.
func errorInfo(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == Domain {
			return info
		}
	}
	return nil
}

// overTheWire marshals a status as gRPC would send it and parses it back.
func overTheWire(t *testing.T, st *status.Status) *status.Status {
	t.Helper()
	b, err := proto.Marshal(st.Proto())
	if err != nil {
		t.Fatal(err)
	}
	var p spb.Status
	if err := proto.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return status.FromProto(&p)
}

func TestStatusRoundTripEveryCode(t *testing.T) {
	for _, code := range allCodes() {
		if code == stratav1.ErrorCode_ERROR_CODE_NONE {
			continue
		}
		for _, withHints := range []bool{false, true} {
			name := fmt.Sprintf("%s/hints=%v", CodeName(code), withHints)
			t.Run(name, func(t *testing.T) {
				in := &Error{Code: code, Message: "what happened"}
				if withHints {
					in.Leader = &stratav1.LeaderHint{LeaderId: 101, LeaderEpoch: 7, Address: "127.0.0.1:9092"}
					in.Controller = &ControllerHint{ID: 2, Address: "127.0.0.1:9302"}
					in.Metadata = map[string]string{"committed_offset": "42"}
				}
				st := ToStatus(in)
				if st.Code() != GRPCCode(code) {
					t.Errorf("status code %v, want %v", st.Code(), GRPCCode(code))
				}
				if st.Message() != "what happened" {
					t.Errorf("status message %q", st.Message())
				}
				info := errorInfo(st)
				if info == nil || info.GetReason() != CodeName(code) || info.GetDomain() != "strata.v1" {
					t.Fatalf("ErrorInfo = %v, want reason %s", info, CodeName(code))
				}
				if withHints {
					wantMD := map[string]string{
						"leader_id": "101", "leader_epoch": "7", "leader_address": "127.0.0.1:9092",
						"controller_id": "2", "controller_address": "127.0.0.1:9302", "committed_offset": "42",
					}
					if !maps.Equal(info.GetMetadata(), wantMD) {
						t.Errorf("metadata %v, want %v", info.GetMetadata(), wantMD)
					}
				} else if len(info.GetMetadata()) != 0 {
					t.Errorf("metadata %v, want none", info.GetMetadata())
				}

				// Both decoders, after a trip over the wire.
				wire := overTheWire(t, st)
				for _, out := range []*Error{FromStatus(wire), FromError(wire.Err())} {
					if out.Code != code || out.Message != "what happened" || out.GRPCCode() != st.Code() {
						t.Errorf("decoded %v (gRPC %v), want %s", out, out.GRPCCode(), CodeName(code))
					}
					if !proto.Equal(out.Leader, in.Leader) {
						t.Errorf("leader %v, want %v", out.Leader, in.Leader)
					}
					if (out.Controller == nil) != (in.Controller == nil) ||
						(out.Controller != nil && *out.Controller != *in.Controller) {
						t.Errorf("controller %v, want %v", out.Controller, in.Controller)
					}
					if !maps.Equal(out.Metadata, in.Metadata) {
						t.Errorf("metadata %v, want %v", out.Metadata, in.Metadata)
					}
					if out.Retriable() != Retriable(code) {
						t.Errorf("Retriable() = %v", out.Retriable())
					}
					// Re-encoding a decoded error (a proxy returning it) gives
					// the same status.
					if again := ToStatus(out); !proto.Equal(again.Proto(), st.Proto()) {
						t.Errorf("re-encoded %v, want %v", again.Proto(), st.Proto())
					}
				}
			})
		}
	}
}

func TestToStatus(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode codes.Code
		reason   string // "" means no ErrorInfo
		msg      string
	}{
		{"nil", nil, codes.OK, "", ""},
		{"canceled", context.Canceled, codes.Canceled, "", "context canceled"},
		{"wrapped canceled", fmt.Errorf("fetch: %w", context.Canceled), codes.Canceled, "", "fetch: context canceled"},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded, "REQUEST_TIMED_OUT", "context deadline exceeded"},
		{"wrapped deadline", fmt.Errorf("acks=all: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "REQUEST_TIMED_OUT", "acks=all: context deadline exceeded"},
		{"unknown", errors.New("boom"), codes.Internal, "UNKNOWN_SERVER_ERROR", "boom"},
		{"sentinel", errTestCorrupt, codes.InvalidArgument, "CORRUPT_MESSAGE", "recordbatch: corrupt batch"},
		{"wrapped sentinel", fmt.Errorf("partlog.Append: %w", errTestInvalidRecord), codes.InvalidArgument, "INVALID_RECORD", "partlog.Append: recordbatch: invalid record"},
		{"sentinel joined with unknown", errors.Join(errors.New("x"), errTestCorrupt), codes.InvalidArgument, "CORRUPT_MESSAGE", "x\nrecordbatch: corrupt batch"},
		{"rpc error", NotController(2, "127.0.0.1:9302"), codes.Unavailable, "NOT_CONTROLLER", "this controller is not the active controller"},
		{"wrapped rpc error", fmt.Errorf("op: %w", Errorf(stratav1.ErrorCode_ERROR_CODE_TOPIC_ALREADY_EXISTS, "topic %q already exists", "t")), codes.AlreadyExists, "TOPIC_ALREADY_EXISTS", `topic "t" already exists`},
		{"rpc error beats its cause", Errorf(stratav1.ErrorCode_ERROR_CODE_KAFKA_STORAGE_ERROR, "append: %w", context.DeadlineExceeded), codes.Unavailable, "KAFKA_STORAGE_ERROR", "append: context deadline exceeded"},
		{"code NONE", &Error{Code: stratav1.ErrorCode_ERROR_CODE_NONE, Message: "oops"}, codes.Internal, "UNKNOWN_SERVER_ERROR", "error with code NONE: oops"},
		{"undefined code", &Error{Code: 999}, codes.Internal, "UNKNOWN_SERVER_ERROR", "error with code 999: "},
		{"empty message", &Error{Code: stratav1.ErrorCode_ERROR_CODE_INVALID_REQUIRED_ACKS}, codes.InvalidArgument, "INVALID_REQUIRED_ACKS", "acks must be -1, 0 or 1"},
		{"status passes through", status.Error(codes.NotFound, "nf"), codes.NotFound, "", "nf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := ToStatus(tt.err)
			if st.Code() != tt.wantCode || st.Message() != tt.msg {
				t.Errorf("ToStatus = %v %q, want %v %q", st.Code(), st.Message(), tt.wantCode, tt.msg)
			}
			info := errorInfo(st)
			switch {
			case tt.reason == "" && info != nil:
				t.Errorf("unexpected ErrorInfo %v", info)
			case tt.reason != "" && info.GetReason() != tt.reason:
				t.Errorf("reason %q, want %q", info.GetReason(), tt.reason)
			}
			if err := StatusError(tt.err); (err == nil) != (tt.err == nil) || status.Code(err) != tt.wantCode {
				t.Errorf("StatusError = %v", err)
			}
		})
	}
}

func TestStatusPassThroughKeepsDetails(t *testing.T) {
	// A controller's NOT_CONTROLLER forwarded by a broker as it came.
	upstream := NotController(3, "127.0.0.1:9303").GRPCStatus().Err()
	st := ToStatus(fmt.Errorf("forward: %w", upstream))
	if st.Code() != codes.Unavailable || errorInfo(st).GetMetadata()["controller_address"] != "127.0.0.1:9303" {
		t.Errorf("pass-through lost the status: %v", st.Proto())
	}
	plain := status.New(codes.Aborted, "x")
	if got := ToStatus(plain.Err()); !proto.Equal(got.Proto(), plain.Proto()) {
		t.Errorf("ToStatus(%v) = %v", plain.Proto(), got.Proto())
	}
}

func TestFromStatusWithoutErrorInfo(t *testing.T) {
	want := map[codes.Code]stratav1.ErrorCode{
		codes.DeadlineExceeded:  stratav1.ErrorCode_ERROR_CODE_REQUEST_TIMED_OUT,
		codes.Unavailable:       stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION,
		codes.ResourceExhausted: stratav1.ErrorCode_ERROR_CODE_MESSAGE_TOO_LARGE,
		codes.InvalidArgument:   stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST,
		codes.Unimplemented:     stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST,
		codes.OutOfRange:        stratav1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE,
		codes.Unauthenticated:   stratav1.ErrorCode_ERROR_CODE_SASL_AUTHENTICATION_FAILED,
		codes.PermissionDenied:  stratav1.ErrorCode_ERROR_CODE_CLUSTER_AUTHORIZATION_FAILED,
	}
	for c := codes.Canceled; c <= codes.Unauthenticated; c++ {
		st := status.New(c, "from gRPC")
		e := FromStatus(st)
		code, ok := want[c]
		if !ok {
			code = stratav1.ErrorCode_ERROR_CODE_UNKNOWN_SERVER_ERROR
		}
		if e.Code != code || e.Message != "from gRPC" || e.GRPCCode() != c {
			t.Errorf("FromStatus(%v) = %v with gRPC %v; want %s", c, e, e.GRPCCode(), CodeName(code))
		}
		if re := ToStatus(e); re.Code() != c {
			t.Errorf("re-encoding FromStatus(%v) gives %v", c, re.Code())
		}
	}
	if FromStatus(nil) != nil || FromStatus(status.New(codes.OK, "")) != nil || FromError(nil) != nil {
		t.Error("an OK status decoded to an error")
	}
	if !IsRetriable(status.Error(codes.Unavailable, "connection refused")) {
		t.Error("a transport failure is not retriable")
	}
}

func TestFromStatusIgnoresForeignAndBadInfo(t *testing.T) {
	withInfo := func(info *errdetails.ErrorInfo) *status.Status {
		st, err := status.New(codes.Unavailable, "m").WithDetails(info)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// Another domain's ErrorInfo: fall back to the gRPC code.
	e := FromStatus(withInfo(&errdetails.ErrorInfo{Reason: "NOT_CONTROLLER", Domain: "googleapis.com"}))
	if e.Code != stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION || e.Controller != nil {
		t.Errorf("foreign ErrorInfo decoded as %v", e)
	}
	// A reason this client does not know (a newer server): fall back, but
	// keep the hints.
	e = FromStatus(withInfo(&errdetails.ErrorInfo{Reason: "SOMETHING_NEW", Domain: Domain,
		Metadata: map[string]string{"leader_id": "5", "leader_epoch": "x"}}))
	if e.Code != stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION || e.Leader.GetLeaderId() != 5 || e.Leader.GetLeaderEpoch() != -1 {
		t.Errorf("unknown reason decoded as %v", e)
	}
	// A reason of NONE is not an error code.
	e = FromStatus(withInfo(&errdetails.ErrorInfo{Reason: "NONE", Domain: Domain}))
	if e.Code != stratav1.ErrorCode_ERROR_CODE_NETWORK_EXCEPTION {
		t.Errorf("reason NONE decoded as %v", e)
	}
	// A controller hint with only an address.
	e = FromStatus(withInfo(&errdetails.ErrorInfo{Reason: "NOT_CONTROLLER", Domain: Domain,
		Metadata: map[string]string{"controller_address": "h:1"}}))
	if e.Controller == nil || e.Controller.ID != -1 || e.Controller.Address != "h:1" || e.GRPCCode() != codes.Unavailable {
		t.Errorf("decoded %v", e)
	}
}

func TestFromErrorAndCodeOf(t *testing.T) {
	nl := NotLeader(&stratav1.LeaderHint{LeaderId: 102, LeaderEpoch: 3}, "not the leader of t-0")
	tests := []struct {
		name string
		err  error
		want stratav1.ErrorCode
	}{
		{"nil", nil, stratav1.ErrorCode_ERROR_CODE_NONE},
		{"rpc error", nl, stratav1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER},
		{"wrapped rpc error", fmt.Errorf("produce: %w", nl), stratav1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER},
		{"sentinel", fmt.Errorf("decode: %w", errTestCorrupt), stratav1.ErrorCode_ERROR_CODE_CORRUPT_MESSAGE},
		{"deadline", context.DeadlineExceeded, stratav1.ErrorCode_ERROR_CODE_REQUEST_TIMED_OUT},
		{"canceled", context.Canceled, stratav1.ErrorCode_ERROR_CODE_UNKNOWN_SERVER_ERROR},
		{"unknown", io.ErrUnexpectedEOF, stratav1.ErrorCode_ERROR_CODE_UNKNOWN_SERVER_ERROR},
		{"status", nl.GRPCStatus().Err(), stratav1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CodeOf(tt.err); got != tt.want {
				t.Errorf("CodeOf = %s, want %s", CodeName(got), CodeName(tt.want))
			}
			e := FromError(tt.err)
			if tt.err == nil {
				if e != nil {
					t.Errorf("FromError(nil) = %v", e)
				}
				return
			}
			if e.Code != tt.want {
				t.Errorf("FromError = %v", e)
			}
		})
	}
	// FromError keeps the chain of what it wraps.
	e := FromError(fmt.Errorf("decode: %w", errTestCorrupt))
	if !errors.Is(e, errTestCorrupt) || e.Message != "decode: recordbatch: corrupt batch" {
		t.Errorf("FromError lost the chain: %v", e)
	}
	if e := FromError(context.Canceled); e.GRPCCode() != codes.Canceled || !errors.Is(e, context.Canceled) {
		t.Errorf("FromError(context.Canceled) = %v with gRPC %v", e, e.GRPCCode())
	}
	if e := FromError(fmt.Errorf("x: %w", nl)); e != nl {
		t.Errorf("FromError did not return the *Error in the chain")
	}
}

func TestErrorIsUnwrapAndText(t *testing.T) {
	nc := NotController(2, "127.0.0.1:9302")
	if !errors.Is(nc, ErrNotController) || !errors.Is(fmt.Errorf("w: %w", nc), ErrNotController) {
		t.Error("errors.Is(NotController, ErrNotController) is false")
	}
	if errors.Is(nc, ErrNotLeaderOrFollower) || errors.Is(nc, errors.New("NOT_CONTROLLER")) || nc.Is((*Error)(nil)) {
		t.Error("errors.Is matches a different code")
	}
	decoded := FromStatus(overTheWire(t, nc.GRPCStatus()))
	if !errors.Is(decoded, ErrNotController) {
		t.Error("a decoded NOT_CONTROLLER does not match ErrNotController")
	}
	if status.Code(nc) != codes.Unavailable || status.Code(fmt.Errorf("w: %w", nc)) != codes.Unavailable {
		t.Error("status.Code does not see *Error's code")
	}

	e := Errorf(stratav1.ErrorCode_ERROR_CODE_CORRUPT_MESSAGE, "batch at %d: %w", 7, io.ErrUnexpectedEOF)
	if !errors.Is(e, io.ErrUnexpectedEOF) || e.Message != "batch at 7: unexpected EOF" {
		t.Errorf("Errorf with %%w: %v, unwraps to %v", e, e.Unwrap())
	}
	if e := Errorf(stratav1.ErrorCode_ERROR_CODE_INVALID_CONFIG, "bad %s", "x"); e.Unwrap() != nil {
		t.Error("Errorf without %w wraps something")
	}
	if Wrap(stratav1.ErrorCode_ERROR_CODE_INVALID_CONFIG, nil) != nil {
		t.Error("Wrap(code, nil) is not nil")
	}
	w := Wrap(stratav1.ErrorCode_ERROR_CODE_KAFKA_STORAGE_ERROR, io.ErrShortWrite)
	if !errors.Is(w, io.ErrShortWrite) || !errors.Is(w, ErrKafkaStorageError) || w.Error() != "KAFKA_STORAGE_ERROR: short write" {
		t.Errorf("Wrap = %v", w)
	}

	texts := []struct {
		err  *Error
		want string
	}{
		{nc, "NOT_CONTROLLER: this controller is not the active controller (active controller 2 at 127.0.0.1:9302)"},
		{NotController(-1, ""), "NOT_CONTROLLER: this controller is not the active controller (no active controller known)"},
		{NotLeader(&stratav1.LeaderHint{LeaderId: 101, LeaderEpoch: 4, Address: "h:9092"}, "not the leader of t-0"),
			"NOT_LEADER_OR_FOLLOWER: not the leader of t-0 (leader 101, epoch 4, at h:9092)"},
		{NotLeader(nil, ""), "NOT_LEADER_OR_FOLLOWER: this broker is not the leader (or a follower) of the partition"},
		{New(stratav1.ErrorCode_ERROR_CODE_TOPIC_ALREADY_EXISTS, "Topic 't' already exists."), "TOPIC_ALREADY_EXISTS: Topic 't' already exists."},
		{&Error{Code: 999}, "999"},
	}
	for _, tt := range texts {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestRegisterSentinelMisuse(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	mustPanic("nil", func() { RegisterSentinel(nil, stratav1.ErrorCode_ERROR_CODE_CORRUPT_MESSAGE) })
	mustPanic("*Error", func() { RegisterSentinel(ErrNotController, stratav1.ErrorCode_ERROR_CODE_NOT_CONTROLLER) })
	mustPanic("NONE", func() { RegisterSentinel(errors.New("x"), stratav1.ErrorCode_ERROR_CODE_NONE) })
	mustPanic("undefined", func() { RegisterSentinel(errors.New("x"), 999) })
	mustPanic("two codes", func() { RegisterSentinel(errTestCorrupt, stratav1.ErrorCode_ERROR_CODE_INVALID_RECORD) })
	// The same registration twice is harmless.
	RegisterSentinel(errTestCorrupt, stratav1.ErrorCode_ERROR_CODE_CORRUPT_MESSAGE)
	if !strings.Contains(ToStatus(errTestCorrupt).Message(), "corrupt") || CodeOf(errTestCorrupt) != stratav1.ErrorCode_ERROR_CODE_CORRUPT_MESSAGE {
		t.Error("re-registration broke the sentinel")
	}
}
