package rpc

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/strata-log/strata/pkg/api/stratav1"
)

// Validators checks request messages before handlers see them. Validators
// are registered per Go message type with RegisterValidator; a message type
// without one passes. The zero value and nil are ready to use (and validate
// nothing). Register before serving; Validate may run concurrently with
// registration.
type Validators struct {
	mu sync.Mutex // serializes writers
	m  atomic.Pointer[map[reflect.Type][]func(proto.Message) error]
}

// NewValidators returns an empty set of validators.
func NewValidators() *Validators { return &Validators{} }

// RegisterValidator adds fn as a validator of requests of type T (a pointer
// to a generated message, like *stratav1.ProduceRequest). Several validators
// of one type run in registration order; the first error wins.
//
// fn returns nil for a valid request. It should return an *Error whose code
// names the problem (INVALID_REQUIRED_ACKS, INVALID_TOPIC_EXCEPTION, ...);
// the status's gRPC code comes from the table (InvalidArgument for the
// INVALID_* codes). A registered sentinel gets its code, and any other error
// becomes INVALID_REQUEST.
func RegisterValidator[T proto.Message](v *Validators, fn func(T) error) {
	if v == nil || fn == nil {
		panic("rpc: RegisterValidator with a nil Validators or func")
	}
	typ := reflect.TypeFor[T]()
	if typ.Kind() == reflect.Interface {
		panic("rpc: RegisterValidator needs a concrete message type, not " + typ.String())
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	next := make(map[reflect.Type][]func(proto.Message) error)
	if old := v.m.Load(); old != nil {
		maps.Copy(next, *old)
	}
	next[typ] = append(next[typ][:len(next[typ]):len(next[typ])], func(m proto.Message) error {
		return fn(m.(T))
	})
	v.m.Store(&next)
}

// Validate runs msg's validators. It returns nil when msg is valid or has no
// validator, and otherwise an *Error.
func (v *Validators) Validate(msg any) error {
	if v == nil {
		return nil
	}
	m := v.m.Load()
	if m == nil {
		return nil
	}
	pm, ok := msg.(proto.Message)
	if !ok {
		return nil
	}
	for _, fn := range (*m)[reflect.TypeOf(msg)] {
		if err := fn(pm); err != nil {
			return validationError(err)
		}
	}
	return nil
}

func validationError(err error) *Error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	if code, ok := sentinelCode(err); ok {
		return wrap(code, err)
	}
	return wrap(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUEST, err)
}

func (v *Validators) unaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := v.Validate(req); err != nil {
			return nil, StatusError(err)
		}
		return handler(ctx, req)
	}
}

func (v *Validators) streamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &validatingStream{ServerStream: ss, v: v})
	}
}

// validatingStream validates each message the client sends before the
// handler sees it.
type validatingStream struct {
	grpc.ServerStream
	v *Validators
}

func (s *validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if err := s.v.Validate(m); err != nil {
		return StatusError(err)
	}
	return nil
}
