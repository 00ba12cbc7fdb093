package rpc

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/strata-log/strata/pkg/api/stratav1"
)

// Error is a Strata error: an ErrorCode, a message, and the hints a client
// needs to act on a retriable code. Handlers return it (directly or wrapped
// with %w); the server turns it into a gRPC status with an ErrorInfo detail;
// the client decodes that status back into an *Error (FromError).
//
// *Error implements GRPCStatus, so status.Code, status.FromError and grpc-go
// itself see the gRPC code from the table even without this package's
// interceptors.
type Error struct {
	// Code is the Strata error code. NONE is not an error: an *Error with
	// code NONE (or a code the enum does not define) is sent as Internal.
	Code stratav1.ErrorCode
	// Message says what happened; empty means Description(Code).
	Message string
	// Leader is where the partition's leader is now, for
	// NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH and similar codes; nil
	// when unknown.
	Leader *stratav1.LeaderHint
	// Controller is the active controller, for NOT_CONTROLLER; nil when
	// unknown.
	Controller *ControllerHint
	// Metadata holds extra ErrorInfo metadata (for example
	// "committed_offset"). The hint keys (leader_id, ..., controller_address)
	// are reserved: Leader and Controller set them.
	Metadata map[string]string

	cause    error      // what Unwrap returns
	grpcCode codes.Code // when not OK: the gRPC code to use instead of the table's
}

// ControllerHint names the active controller.
type ControllerHint struct {
	// ID is the active controller's node id, or -1 when there is none.
	ID int32
	// Address is its gRPC address (host:port); empty when unknown.
	Address string
}

// GetID returns the controller's id, or -1 for a nil hint.
func (h *ControllerHint) GetID() int32 {
	if h == nil {
		return -1
	}
	return h.ID
}

// GetAddress returns the controller's address, or "" for a nil hint.
func (h *ControllerHint) GetAddress() string {
	if h == nil {
		return ""
	}
	return h.Address
}

// New returns an *Error with code and message.
func New(code stratav1.ErrorCode, message string) *Error {
	return &Error{Code: code, Message: message}
}

// Errorf returns an *Error with code and a formatted message. A %w verb
// wraps its operand: errors.Is and errors.As see it through the result.
func Errorf(code stratav1.ErrorCode, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	e := &Error{Code: code, Message: err.Error()}
	switch err.(type) { //nolint:errorlint // asks whether fmt.Errorf saw a %w, not about a chain
	case interface{ Unwrap() error }, interface{ Unwrap() []error }:
		e.cause = err
	}
	return e
}

// Wrap returns an *Error with code whose message is err's text and which
// unwraps to err. Wrap(code, nil) is nil; the result is an error rather than
// an *Error so that nil stays an untyped nil.
func Wrap(code stratav1.ErrorCode, err error) error {
	if err == nil {
		return nil
	}
	return wrap(code, err)
}

func wrap(code stratav1.ErrorCode, err error) *Error {
	return &Error{Code: code, Message: err.Error(), cause: err}
}

// NotLeader returns NOT_LEADER_OR_FOLLOWER with the current leader, so the
// client can go there without a metadata round trip. hint may be nil.
func NotLeader(hint *stratav1.LeaderHint, message string) *Error {
	return &Error{Code: stratav1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER, Message: message, Leader: hint}
}

// NotController returns NOT_CONTROLLER naming the active controller; id is
// -1 and address empty when no controller is active.
func NotController(id int32, address string) *Error {
	return &Error{
		Code:       stratav1.ErrorCode_ERROR_CODE_NOT_CONTROLLER,
		Controller: &ControllerHint{ID: id, Address: address},
	}
}

// Error formats as "CODE: message", followed by the hints, for example
// "NOT_CONTROLLER: this controller is not the active controller (active
// controller 2 at 10.0.0.2:9093)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(CodeName(e.Code))
	msg := e.Message
	if msg == "" {
		msg = Description(e.Code)
	}
	if msg != "" {
		b.WriteString(": ")
		b.WriteString(msg)
	}
	if l := e.Leader; l != nil {
		fmt.Fprintf(&b, " (leader %d, epoch %d", l.GetLeaderId(), l.GetLeaderEpoch())
		if l.GetAddress() != "" {
			b.WriteString(", at ")
			b.WriteString(l.GetAddress())
		}
		b.WriteString(")")
	}
	if c := e.Controller; c != nil {
		if c.ID < 0 && c.Address == "" {
			b.WriteString(" (no active controller known)")
		} else {
			b.WriteString(" (active controller ")
			b.WriteString(strconv.Itoa(int(c.ID)))
			if c.Address != "" {
				b.WriteString(" at ")
				b.WriteString(c.Address)
			}
			b.WriteString(")")
		}
	}
	return b.String()
}

// Unwrap returns the error this one wraps (see Errorf and Wrap), or nil.
func (e *Error) Unwrap() error { return e.cause }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, rpc.ErrNotController) holds for any NOT_CONTROLLER error,
// whatever its message and hints.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && t.Code == e.Code
}

// Retriable reports whether the error's code is retriable (see Retriable).
func (e *Error) Retriable() bool { return Retriable(e.Code) }

// GRPCCode is the gRPC code the error travels as: the table's, or for an
// error decoded from a status without Strata ErrorInfo, the code received.
func (e *Error) GRPCCode() codes.Code {
	if e.grpcCode != codes.OK {
		return e.grpcCode
	}
	if !defined(e.Code) {
		return codes.Internal
	}
	return GRPCCode(e.Code)
}

// GRPCStatus encodes the error as a gRPC status with an ErrorInfo detail
// (see ToStatus).
func (e *Error) GRPCStatus() *status.Status { return e.toStatus() }

// message is the text sent as the status message.
func (e *Error) message() string {
	if e.Message != "" {
		return e.Message
	}
	return Description(e.Code)
}
