package rpc

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/strata-log/strata/pkg/api/stratav1"
)

// Domain is the ErrorInfo domain of every Strata error.
const Domain = "strata.v1"

// ErrorInfo metadata keys that carry the hints.
const (
	MetadataLeaderID          = "leader_id"
	MetadataLeaderEpoch       = "leader_epoch"
	MetadataLeaderAddress     = "leader_address"
	MetadataControllerID      = "controller_id"
	MetadataControllerAddress = "controller_address"
)

// sentinels maps other packages' sentinel errors to codes; see
// RegisterSentinel.
var sentinels struct {
	sync.RWMutex
	list []sentinelEntry
}

type sentinelEntry struct {
	err  error
	code stratav1.ErrorCode
}

// RegisterSentinel makes every error that errors.Is err map to code, so that
// a package that knows nothing of gRPC (recordbatch.ErrCorrupt ->
// CORRUPT_MESSAGE) still reaches clients with the right code. Call it from an
// init function or before serving. The first registration that matches an
// error wins. It panics on a nil or *Error sentinel, on NONE or an undefined
// code, and on registering one sentinel with two codes.
func RegisterSentinel(err error, code stratav1.ErrorCode) {
	var e *Error
	switch {
	case err == nil:
		panic("rpc: RegisterSentinel with a nil error")
	case errors.As(err, &e):
		panic(fmt.Sprintf("rpc: RegisterSentinel(%v): an *Error already has a code", err))
	case !defined(code):
		panic(fmt.Sprintf("rpc: RegisterSentinel(%v): code %s is not an error code", err, CodeName(code)))
	}
	sentinels.Lock()
	defer sentinels.Unlock()
	for _, s := range sentinels.list {
		if s.err == err { //nolint:errorlint // the same sentinel value, not a match in a chain
			if s.code != code {
				panic(fmt.Sprintf("rpc: RegisterSentinel(%v): already registered as %s, now %s", err, CodeName(s.code), CodeName(code)))
			}
			return
		}
	}
	sentinels.list = append(sentinels.list, sentinelEntry{err, code})
}

func sentinelCode(err error) (stratav1.ErrorCode, bool) {
	sentinels.RLock()
	defer sentinels.RUnlock()
	for _, s := range sentinels.list {
		if errors.Is(err, s.err) {
			return s.code, true
		}
	}
	return 0, false
}

// FromError turns any error into an *Error; nil gives nil. In order:
//
//  1. an *Error in err's chain (errors.As) is returned as is;
//  2. a registered sentinel (RegisterSentinel) gives its code;
//  3. context.DeadlineExceeded gives REQUEST_TIMED_OUT; context.Canceled
//     gives UNKNOWN_SERVER_ERROR with gRPC code Canceled;
//  4. a gRPC status is decoded with FromStatus (the client side);
//  5. anything else is UNKNOWN_SERVER_ERROR.
//
// In cases 2, 3 and 5 the result wraps err.
func FromError(err error) *Error {
	if err == nil {
		return nil
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	if code, ok := sentinelCode(err); ok {
		return wrap(code, err)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return wrap(stratav1.ErrorCode_ERROR_CODE_REQUEST_TIMED_OUT, err)
	case errors.Is(err, context.Canceled):
		e := wrap(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_SERVER_ERROR, err)
		e.grpcCode = codes.Canceled
		return e
	}
	if st, ok := status.FromError(err); ok {
		return FromStatus(st)
	}
	return wrap(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_SERVER_ERROR, err)
}

// CodeOf is the ErrorCode for err: NONE for nil, else FromError(err).Code.
// Handlers use it to fill per-partition error codes.
func CodeOf(err error) stratav1.ErrorCode {
	if err == nil {
		return stratav1.ErrorCode_ERROR_CODE_NONE
	}
	return FromError(err).Code
}

// IsRetriable reports whether err is non-nil and its code (CodeOf) is
// retriable.
func IsRetriable(err error) bool {
	return err != nil && Retriable(CodeOf(err))
}

// ToStatus is the server side: the gRPC status a whole-request failure is
// sent as. nil gives an OK status. An *Error, a registered sentinel, a
// context error or an unknown error get the table's gRPC code and an
// ErrorInfo detail (domain "strata.v1", reason = CodeName, metadata = the
// hints); unknown errors are Internal with reason UNKNOWN_SERVER_ERROR.
// context.Canceled is Canceled without a detail (no Strata code describes
// it). An error that already is a gRPC status passes through unchanged.
func ToStatus(err error) *status.Status {
	if err == nil {
		return status.New(codes.OK, "")
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.toStatus()
	}
	if _, ok := sentinelCode(err); !ok {
		if errors.Is(err, context.Canceled) {
			return status.New(codes.Canceled, err.Error())
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			if st, ok := status.FromError(err); ok {
				return st
			}
		}
	}
	return FromError(err).toStatus()
}

// StatusError is ToStatus(err).Err(): nil for nil, otherwise an error that
// grpc-go sends as that status.
func StatusError(err error) error {
	if err == nil {
		return nil
	}
	return ToStatus(err).Err()
}

func (e *Error) toStatus() *status.Status {
	code := e.Code
	msg := e.message()
	if !defined(code) {
		msg = fmt.Sprintf("error with code %s: %s", CodeName(code), msg)
		code = stratav1.ErrorCode_ERROR_CODE_UNKNOWN_SERVER_ERROR
	}
	info := &errdetails.ErrorInfo{Reason: CodeName(code), Domain: Domain, Metadata: e.metadata()}
	// Marshal the detail deterministically (metadata is a map), so one
	// error always gives the same bytes.
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(info)
	if err != nil { // cannot happen for an ErrorInfo
		return status.New(e.GRPCCode(), msg)
	}
	return status.FromProto(&spb.Status{
		Code:    int32(e.GRPCCode()),
		Message: msg,
		Details: []*anypb.Any{{TypeUrl: errorInfoTypeURL, Value: b}},
	})
}

var errorInfoTypeURL = "type.googleapis.com/" + string((&errdetails.ErrorInfo{}).ProtoReflect().Descriptor().FullName())

func (e *Error) metadata() map[string]string {
	if e.Leader == nil && e.Controller == nil && len(e.Metadata) == 0 {
		return nil
	}
	md := make(map[string]string, len(e.Metadata)+5)
	maps.Copy(md, e.Metadata)
	if l := e.Leader; l != nil {
		md[MetadataLeaderID] = strconv.Itoa(int(l.GetLeaderId()))
		md[MetadataLeaderEpoch] = strconv.Itoa(int(l.GetLeaderEpoch()))
		if l.GetAddress() != "" {
			md[MetadataLeaderAddress] = l.GetAddress()
		} else {
			delete(md, MetadataLeaderAddress)
		}
	}
	if c := e.Controller; c != nil {
		md[MetadataControllerID] = strconv.Itoa(int(c.ID))
		if c.Address != "" {
			md[MetadataControllerAddress] = c.Address
		} else {
			delete(md, MetadataControllerAddress)
		}
	}
	return md
}

// FromStatus is the client side: it decodes a status into an *Error. nil or
// an OK status gives nil. With a Strata ErrorInfo (domain "strata.v1") and a
// known reason, the code comes from the reason and the hints from the
// metadata. Otherwise (a status made by gRPC itself, a proxy, or a newer
// server's code) the code follows the gRPC code: DeadlineExceeded ->
// REQUEST_TIMED_OUT, Unavailable -> NETWORK_EXCEPTION, ResourceExhausted ->
// MESSAGE_TOO_LARGE, InvalidArgument and Unimplemented -> INVALID_REQUEST,
// OutOfRange -> OFFSET_OUT_OF_RANGE, Unauthenticated ->
// SASL_AUTHENTICATION_FAILED, PermissionDenied ->
// CLUSTER_AUTHORIZATION_FAILED, anything else UNKNOWN_SERVER_ERROR; the
// result keeps the received gRPC code (Error.GRPCCode).
func FromStatus(st *status.Status) *Error {
	if st == nil || st.Code() == codes.OK {
		return nil
	}
	e := &Error{Message: st.Message()}
	var info *errdetails.ErrorInfo
	for _, d := range st.Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok && i.GetDomain() == Domain {
			info = i
			break
		}
	}
	code, known := ParseCode(info.GetReason())
	if info != nil && known && defined(code) {
		e.Code = code
		if st.Code() != GRPCCode(code) {
			e.grpcCode = st.Code()
		}
		e.decodeMetadata(info.GetMetadata())
		return e
	}
	code, ok := fromGRPC[st.Code()]
	if !ok {
		code = stratav1.ErrorCode_ERROR_CODE_UNKNOWN_SERVER_ERROR
	}
	e.Code = code
	if st.Code() != GRPCCode(code) {
		e.grpcCode = st.Code()
	}
	if info != nil {
		e.decodeMetadata(info.GetMetadata())
	}
	return e
}

func (e *Error) decodeMetadata(md map[string]string) {
	num := func(key string) int32 {
		n, err := strconv.ParseInt(md[key], 10, 32)
		if err != nil {
			return -1
		}
		return int32(n)
	}
	_, hasLID := md[MetadataLeaderID]
	_, hasLEpoch := md[MetadataLeaderEpoch]
	_, hasLAddr := md[MetadataLeaderAddress]
	if hasLID || hasLEpoch || hasLAddr {
		e.Leader = &stratav1.LeaderHint{
			LeaderId:    num(MetadataLeaderID),
			LeaderEpoch: num(MetadataLeaderEpoch),
			Address:     md[MetadataLeaderAddress],
		}
	}
	_, hasCID := md[MetadataControllerID]
	_, hasCAddr := md[MetadataControllerAddress]
	if hasCID || hasCAddr {
		e.Controller = &ControllerHint{ID: num(MetadataControllerID), Address: md[MetadataControllerAddress]}
	}
	for k, v := range md {
		switch k {
		case MetadataLeaderID, MetadataLeaderEpoch, MetadataLeaderAddress, MetadataControllerID, MetadataControllerAddress:
			continue
		}
		if e.Metadata == nil {
			e.Metadata = make(map[string]string)
		}
		e.Metadata[k] = v
	}
}
