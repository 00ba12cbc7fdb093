// Package rpc is Strata's gRPC plumbing, shared by every daemon and by the
// client SDK: the error model, server options and interceptors, health and
// reflection, and dial options. It is the only package that converts
// errors to gRPC statuses.
//
// # Errors
//
// Strata has one error vocabulary, stratav1.ErrorCode, named as Kafka's
// protocol error codes. It travels in two ways:
//
//   - Per-partition results. A request that touches many partitions
//     (Produce, Fetch, CreateTopics, ...) answers OK, and each partition's
//     result carries an ErrorCode and a message, and with
//     NOT_LEADER_OR_FOLLOWER a LeaderHint. Handlers fill these with
//     CodeOf(err) and err.Error(); one bad partition never fails the others.
//   - Whole-request failures. When the request as a whole cannot be served
//     (a write to a standby controller, acks=7, a panic), the RPC fails with
//     a gRPC status whose code comes from one table (GRPCCode) and which
//     carries a google.rpc.ErrorInfo detail: Domain "strata.v1", Reason the
//     code's name without the ERROR_CODE_ prefix (CodeName), and Metadata
//     with the hints: leader_id, leader_epoch, leader_address,
//     controller_id, controller_address.
//
// On the server, handlers return errors of any kind and the error
// interceptor converts them with ToStatus:
//
//	return nil, rpc.NotController(activeID, activeAddr)
//	return nil, rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_INVALID_CONFIG, "unknown topic config %q", name)
//	return nil, fmt.Errorf("partlog.Append: %w", recordbatch.ErrCorrupt) // registered sentinel
//
// An *Error anywhere in the chain wins; then sentinels of other packages
// registered with RegisterSentinel (so those packages need not import gRPC);
// then context errors (DeadlineExceeded is REQUEST_TIMED_OUT, Canceled stays
// Canceled); an error that already is a gRPC status passes through; anything
// else is Internal with reason UNKNOWN_SERVER_ERROR.
//
// On the client, connections made with DialOptions decode failed calls into
// *Error (FromStatus): the code from the reason, the hints from the
// metadata, and for statuses without ErrorInfo (made by gRPC itself: refused
// connections, deadlines, size limits) a code from the gRPC code
// (Unavailable is the retriable NETWORK_EXCEPTION). So a client writes
//
//	var e *rpc.Error
//	if errors.As(err, &e) && e.Controller != nil { /* retry at e.Controller.Address */ }
//	if errors.Is(err, rpc.ErrNotController) { ... }
//	if rpc.IsRetriable(err) { ... }
//
// Retriable follows Kafka's retriable set: retry after doing what the code
// implies (follow the hint, refresh metadata, rejoin the group). The gRPC
// codes are chosen so that generic gRPC clients behave sensibly too: codes
// whose same request can succeed later or elsewhere are Unavailable; stale
// requests that must be rebuilt are FailedPrecondition; bad input is
// InvalidArgument; see the table in codes.go for the rest.
//
// # Interceptors
//
// NewServer and ServerOptions chain, for unary and stream RPCs, outermost
// first:
//
//  1. logging (go-grpc-middleware's logging on a *slog.Logger): one record
//     per finished call with grpc.service, grpc.method, grpc.code,
//     grpc.duration and, for failures, strata.reason; debug for OK and
//     Canceled, error for Internal, Unknown and DataLoss, warn otherwise.
//     It is outermost so it sees the final status, panics included.
//  2. panic recovery: logs the stack, answers Internal with reason
//     UNKNOWN_SERVER_ERROR, and the server keeps serving.
//  3. error conversion: whatever the layers below return goes through
//     ToStatus.
//  4. ServerConfig's own interceptors (authentication, say).
//  5. validation: registered validators check each request (for streams,
//     each message the client sends) before the handler sees it.
//
// # Validators
//
// Generated messages have no Validate methods, so validators are registered
// per request type, before serving:
//
//	v := rpc.NewValidators()
//	rpc.RegisterValidator(v, func(r *stratav1.ProduceRequest) error {
//		if a := r.GetAcks(); a != -1 && a != 0 && a != 1 {
//			return rpc.Errorf(stratav1.ErrorCode_ERROR_CODE_INVALID_REQUIRED_ACKS, "acks must be -1, 0 or 1, not %d", a)
//		}
//		return nil
//	})
//	srv, err := rpc.NewServer(rpc.ServerConfig{Logger: log, Validators: v})
//
// A failing validator's *Error is sent like a handler's (INVALID_* codes are
// InvalidArgument); a plain error becomes INVALID_REQUEST. Validators check
// the shape of a request only; checks against state (does the topic exist)
// belong to handlers.
//
// # Serving and stopping
//
// Register adds the health and reflection services. Health starts
// NOT_SERVING; the daemon calls SetServing("") when ready. GracefulStop
// turns health NOT_SERVING, refuses new RPCs, and cuts off the remaining
// ones when its context ends.
package rpc
