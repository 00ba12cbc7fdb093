package client

import (
	"errors"
	"strings"

	"github.com/strata-log/strata/pkg/api/stratav1"
	"github.com/strata-log/strata/pkg/rpc"
)

// ErrClosed is returned by the calls of a closed client.
var ErrClosed = errors.New("client: closed")

// Error is an error answered by a Strata server, or a connection failure
// (NETWORK_EXCEPTION), in the style of Kafka's error codes:
//
//	var e *client.Error
//	if errors.As(err, &e) {
//		fmt.Println(e.Name, e.Code, e.Retriable, e.Message)
//	}
//
// It is the type of every per-resource error (a topic's, a partition's, a
// config resource's) and the cause of every whole-request failure. A
// whole-request failure wraps the *rpc.Error it was decoded from, so
// errors.As(err, &rpcErr) reaches the leader and controller hints too.
type Error struct {
	// Code is the Strata error code (Kafka's number and name).
	Code stratav1.ErrorCode
	// Name is the code's name, for example "TOPIC_ALREADY_EXISTS".
	Name string
	// Message says what happened, as the server wrote it; it may be empty.
	Message string
	// Retriable reports whether the same request may succeed later, after
	// doing what the code implies (see rpc.Retriable). The admin calls have
	// already retried retriable whole-request failures by the time they
	// return one.
	Retriable bool

	cause error
}

// newError is a per-resource error: code and message from a result.
func newError(code stratav1.ErrorCode, message string) *Error {
	return &Error{Code: code, Name: rpc.CodeName(code), Message: message, Retriable: rpc.Retriable(code)}
}

// resultError is the error of a per-resource result: nil for NONE.
func resultError(code stratav1.ErrorCode, message string) error {
	if code == stratav1.ErrorCode_ERROR_CODE_NONE {
		return nil
	}
	e := newError(code, message)
	e.cause = rpc.New(code, message)
	return e
}

// fromRPC converts a decoded whole-request failure.
func fromRPC(re *rpc.Error) *Error {
	e := newError(re.Code, re.Message)
	e.cause = re
	return e
}

// Error formats as "NAME: message", as Kafka's tools print errors.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = rpc.Description(e.Code)
	}
	name := e.Name
	if name == "" {
		name = rpc.CodeName(e.Code)
	}
	if msg == "" {
		return name
	}
	var b strings.Builder
	b.WriteString(name)
	b.WriteString(": ")
	b.WriteString(msg)
	return b.String()
}

// Unwrap returns the *rpc.Error this error came from, if any.
func (e *Error) Unwrap() error { return e.cause }

// Is reports whether target is an *Error or an *rpc.Error with the same
// code: errors.Is(err, client.ErrTopicAlreadyExists) and
// errors.Is(err, rpc.ErrTopicAlreadyExists) both hold for any
// TOPIC_ALREADY_EXISTS error.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case *Error:
		return t != nil && t.Code == e.Code
	case *rpc.Error:
		return t != nil && t.Code == e.Code
	}
	return false
}

// IsRetriable reports whether err has an *Error whose code is retriable.
// Context errors and client-side errors are not retriable.
func IsRetriable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retriable
}

// CodeOf returns the code of the *Error in err's chain: NONE for nil,
// UNKNOWN_SERVER_ERROR for an error without one.
func CodeOf(err error) stratav1.ErrorCode {
	if err == nil {
		return stratav1.ErrorCode_ERROR_CODE_NONE
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return stratav1.ErrorCode_ERROR_CODE_UNKNOWN_SERVER_ERROR
}
