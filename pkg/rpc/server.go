package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/strata-log/strata/pkg/api/stratav1"
)

// Defaults for ServerConfig and DialConfig.
const (
	// DefaultMaxRecvMsgSize bounds one received message. It is far above a
	// 1 MiB max.message.bytes plus the request's framing, so that an
	// oversized batch gets the per-partition MESSAGE_TOO_LARGE with Kafka's
	// text, and only absurd requests hit gRPC's RESOURCE_EXHAUSTED.
	DefaultMaxRecvMsgSize = 64 << 20
	// DefaultMaxSendMsgSize bounds one sent message (a fetch response is
	// bounded by the request's max_bytes well below this).
	DefaultMaxSendMsgSize = 64 << 20
	// DefaultKeepaliveMinTime is the least interval the server lets a
	// client ping at; faster pings get the connection closed
	// (GOAWAY too_many_pings). gRPC clients never ping faster than 10s.
	DefaultKeepaliveMinTime = 10 * time.Second
	// DefaultKeepaliveTime is how long a connection may stay silent before
	// its peer pings it: short enough to notice a dead peer on a long-lived
	// stream (Replicate, WatchMetadata, Fetch) and to keep NAT and load
	// balancer state alive, and at least DefaultKeepaliveMinTime.
	DefaultKeepaliveTime = 30 * time.Second
	// DefaultKeepaliveTimeout is how long a ping may go unanswered before
	// the connection is closed.
	DefaultKeepaliveTimeout = 10 * time.Second
)

// ServerConfig configures a gRPC server for a Strata daemon. The zero value
// is a plaintext server with the defaults above that logs nothing.
type ServerConfig struct {
	// Logger receives one record per finished call (debug for OK, warn or
	// error for failures) and the stack of recovered panics. nil discards.
	Logger *slog.Logger
	// Validators check requests before handlers run; nil checks nothing.
	Validators *Validators
	// UnaryInterceptors and StreamInterceptors run after error conversion
	// and before validation (for example authentication): their errors
	// become statuses through ToStatus like a handler's.
	UnaryInterceptors  []grpc.UnaryServerInterceptor
	StreamInterceptors []grpc.StreamServerInterceptor

	// MaxRecvMsgSize and MaxSendMsgSize bound one message in bytes; 0 means
	// DefaultMaxRecvMsgSize and DefaultMaxSendMsgSize.
	MaxRecvMsgSize int
	MaxSendMsgSize int

	// KeepaliveMinTime is the least client ping interval accepted; 0 means
	// DefaultKeepaliveMinTime. Keep it at or below the clients'
	// KeepaliveTime, or they get disconnected for pinging too often.
	KeepaliveMinTime time.Duration
	// KeepaliveTime and KeepaliveTimeout make the server ping a silent
	// connection and close it when the ping goes unanswered; 0 means
	// DefaultKeepaliveTime and DefaultKeepaliveTimeout. Connections are
	// never closed for being idle or old: streams are long-lived.
	KeepaliveTime    time.Duration
	KeepaliveTimeout time.Duration

	// CertFile and KeyFile (PEM) turn on TLS. With ClientCAFile too, the
	// server requires client certificates signed by that CA (mTLS).
	CertFile     string
	KeyFile      string
	ClientCAFile string
	// TLSConfig, when set, is used instead of the files (for embedding and
	// tests); it must not be combined with them.
	TLSConfig *tls.Config
}

func (c ServerConfig) validate() error {
	switch {
	case c.MaxRecvMsgSize < 0:
		return fmt.Errorf("rpc: ServerConfig.MaxRecvMsgSize is negative (%d)", c.MaxRecvMsgSize)
	case c.MaxSendMsgSize < 0:
		return fmt.Errorf("rpc: ServerConfig.MaxSendMsgSize is negative (%d)", c.MaxSendMsgSize)
	case c.KeepaliveMinTime < 0:
		return fmt.Errorf("rpc: ServerConfig.KeepaliveMinTime is negative (%v)", c.KeepaliveMinTime)
	case c.KeepaliveTime < 0:
		return fmt.Errorf("rpc: ServerConfig.KeepaliveTime is negative (%v)", c.KeepaliveTime)
	case c.KeepaliveTimeout < 0:
		return fmt.Errorf("rpc: ServerConfig.KeepaliveTimeout is negative (%v)", c.KeepaliveTimeout)
	case c.TLSConfig != nil && (c.CertFile != "" || c.KeyFile != "" || c.ClientCAFile != ""):
		return errors.New("rpc: ServerConfig.TLSConfig is set together with CertFile, KeyFile or ClientCAFile; set one or the other")
	case c.CertFile != "" && c.KeyFile == "":
		return errors.New("rpc: ServerConfig.KeyFile is empty but CertFile is set")
	case c.KeyFile != "" && c.CertFile == "":
		return errors.New("rpc: ServerConfig.CertFile is empty but KeyFile is set")
	case c.ClientCAFile != "" && c.CertFile == "":
		return errors.New("rpc: ServerConfig.ClientCAFile needs CertFile and KeyFile: mTLS runs over TLS")
	}
	return nil
}

func (c ServerConfig) withDefaults() ServerConfig {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxRecvMsgSize == 0 {
		c.MaxRecvMsgSize = DefaultMaxRecvMsgSize
	}
	if c.MaxSendMsgSize == 0 {
		c.MaxSendMsgSize = DefaultMaxSendMsgSize
	}
	if c.KeepaliveMinTime == 0 {
		c.KeepaliveMinTime = DefaultKeepaliveMinTime
	}
	if c.KeepaliveTime == 0 {
		c.KeepaliveTime = DefaultKeepaliveTime
	}
	if c.KeepaliveTimeout == 0 {
		c.KeepaliveTimeout = DefaultKeepaliveTimeout
	}
	return c
}

// ServerOptions returns the options of a Strata gRPC server: the
// interceptor chains (logging, panic recovery, error conversion, cfg's own
// interceptors, validation, outermost first), message size limits,
// keepalive, and TLS. It fails when cfg is inconsistent or a TLS file cannot
// be loaded.
func ServerOptions(cfg ServerConfig) ([]grpc.ServerOption, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	tc, err := serverTLS(cfg)
	if err != nil {
		return nil, err
	}

	logger := slogAdapter(cfg.Logger)
	logOpts := []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithLevels(serverLogLevel),
		logging.WithErrorFields(reasonField),
		logging.WithDurationField(logging.DurationToDurationField),
	}
	recoverOpt := recovery.WithRecoveryHandlerContext(recoverPanic(cfg.Logger))

	unary := []grpc.UnaryServerInterceptor{
		logging.UnaryServerInterceptor(logger, logOpts...),
		recovery.UnaryServerInterceptor(recoverOpt),
		unaryErrorInterceptor,
	}
	unary = append(unary, cfg.UnaryInterceptors...)
	stream := []grpc.StreamServerInterceptor{
		logging.StreamServerInterceptor(logger, logOpts...),
		recovery.StreamServerInterceptor(recoverOpt),
		streamErrorInterceptor,
	}
	stream = append(stream, cfg.StreamInterceptors...)
	if cfg.Validators != nil {
		unary = append(unary, cfg.Validators.unaryInterceptor())
		stream = append(stream, cfg.Validators.streamInterceptor())
	}

	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.MaxRecvMsgSize(cfg.MaxRecvMsgSize),
		grpc.MaxSendMsgSize(cfg.MaxSendMsgSize),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             cfg.KeepaliveMinTime,
			PermitWithoutStream: true, // clients ping idle connections too
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    cfg.KeepaliveTime,
			Timeout: cfg.KeepaliveTimeout,
		}),
		grpc.ForceServerCodecV2(codec),
		// HTTP/2 frames are read into, and written from, buffers of the
		// same pool as the messages: gRPC's default pool clears every
		// buffer it hands out, a cost as large as the copy into it.
		experimental.BufferPool(messagePool),
	}
	if tc != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tc)))
	}
	return opts, nil
}

// NewServer returns a gRPC server with ServerOptions(cfg) followed by extra
// (for example a stats handler for telemetry).
func NewServer(cfg ServerConfig, extra ...grpc.ServerOption) (*grpc.Server, error) {
	opts, err := ServerOptions(cfg)
	if err != nil {
		return nil, err
	}
	return grpc.NewServer(append(opts, extra...)...), nil
}

// GracefulStop stops s in the house order: health turns NOT_SERVING (h may
// be nil), new RPCs are refused and running ones may finish until ctx ends;
// then the remaining ones are cut off. It returns once s has stopped.
func GracefulStop(ctx context.Context, s *grpc.Server, h *Health) {
	h.Shutdown()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.GracefulStop()
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.Stop()
		<-done
	}
}

// unaryErrorInterceptor turns whatever a handler returns into a proper
// status, so handlers can return *Error, sentinels or plain errors.
func unaryErrorInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil {
		return nil, StatusError(err)
	}
	return resp, nil
}

func streamErrorInterceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return StatusError(handler(srv, ss))
}

// recoverPanic logs a handler's panic with its stack and answers Internal
// with reason UNKNOWN_SERVER_ERROR. The panic value stays in the log: it may
// hold internals a client should not see.
func recoverPanic(l *slog.Logger) recovery.RecoveryHandlerFuncContext {
	return func(ctx context.Context, p any) error {
		method, _ := grpc.Method(ctx)
		l.ErrorContext(ctx, "rpc: handler panicked",
			slog.String("grpc.method", method),
			slog.String("panic", fmt.Sprint(p)),
			slog.String("stack", string(debug.Stack())))
		return StatusError(New(stratav1.ErrorCode_ERROR_CODE_UNKNOWN_SERVER_ERROR,
			"internal server error: the handler of "+method+" panicked"))
	}
}

// slogAdapter makes a *slog.Logger the middleware's logger.
func slogAdapter(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		l.Log(ctx, slog.Level(lvl), msg, fields...)
	})
}

// serverLogLevel: success and client cancellation at debug, server faults
// at error, every other failure at warn.
func serverLogLevel(c codes.Code) logging.Level {
	switch c {
	case codes.OK, codes.Canceled:
		return logging.LevelDebug
	case codes.Internal, codes.Unknown, codes.DataLoss:
		return logging.LevelError
	default:
		return logging.LevelWarn
	}
}

// reasonField adds the Strata reason of a failed call to its log record.
func reasonField(err error) logging.Fields {
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == Domain {
			return logging.Fields{"strata.reason", info.GetReason()}
		}
	}
	return nil
}
