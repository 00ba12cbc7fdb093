package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// DialConfig configures a client connection to a Strata daemon. The zero
// value is plaintext with the default limits and keepalive.
type DialConfig struct {
	// CAFile (PEM) verifies the server's certificate; setting it turns on
	// TLS. Without it, TLS (when on) verifies against the system roots.
	CAFile string
	// CertFile and KeyFile (PEM) are the client certificate for an mTLS
	// server; setting them turns on TLS.
	CertFile string
	KeyFile  string
	// ServerName overrides the name checked in the server's certificate
	// (default: the target's host).
	ServerName string
	// TLS turns on TLS without any file (system roots, no client cert).
	TLS bool
	// TLSConfig, when set, is used instead of the fields above (for
	// embedding and tests); it must not be combined with the files.
	TLSConfig *tls.Config

	// MaxRecvMsgSize and MaxSendMsgSize bound one message in bytes; 0 means
	// DefaultMaxRecvMsgSize and DefaultMaxSendMsgSize.
	MaxRecvMsgSize int
	MaxSendMsgSize int

	// KeepaliveTime is how long the connection may stay silent before the
	// client pings, and KeepaliveTimeout how long the ping may go
	// unanswered; 0 means DefaultKeepaliveTime and DefaultKeepaliveTimeout.
	// The servers accept pings down to DefaultKeepaliveMinTime.
	KeepaliveTime    time.Duration
	KeepaliveTimeout time.Duration

	// UnaryInterceptors and StreamInterceptors run before (outside) the
	// error decoding, so they see *Error values.
	UnaryInterceptors  []grpc.UnaryClientInterceptor
	StreamInterceptors []grpc.StreamClientInterceptor

	// UserAgent is prepended to gRPC's user agent.
	UserAgent string
}

func (c DialConfig) validate() error {
	switch {
	case c.MaxRecvMsgSize < 0:
		return fmt.Errorf("rpc: DialConfig.MaxRecvMsgSize is negative (%d)", c.MaxRecvMsgSize)
	case c.MaxSendMsgSize < 0:
		return fmt.Errorf("rpc: DialConfig.MaxSendMsgSize is negative (%d)", c.MaxSendMsgSize)
	case c.KeepaliveTime < 0:
		return fmt.Errorf("rpc: DialConfig.KeepaliveTime is negative (%v)", c.KeepaliveTime)
	case c.KeepaliveTimeout < 0:
		return fmt.Errorf("rpc: DialConfig.KeepaliveTimeout is negative (%v)", c.KeepaliveTimeout)
	case c.TLSConfig != nil && (c.CAFile != "" || c.CertFile != "" || c.KeyFile != ""):
		return errors.New("rpc: DialConfig.TLSConfig is set together with CAFile, CertFile or KeyFile; set one or the other")
	case c.CertFile != "" && c.KeyFile == "":
		return errors.New("rpc: DialConfig.KeyFile is empty but CertFile is set")
	case c.KeyFile != "" && c.CertFile == "":
		return errors.New("rpc: DialConfig.CertFile is empty but KeyFile is set")
	}
	return nil
}

func (c DialConfig) withDefaults() DialConfig {
	if c.MaxRecvMsgSize == 0 {
		c.MaxRecvMsgSize = DefaultMaxRecvMsgSize
	}
	if c.MaxSendMsgSize == 0 {
		c.MaxSendMsgSize = DefaultMaxSendMsgSize
	}
	if c.KeepaliveTime == 0 {
		c.KeepaliveTime = DefaultKeepaliveTime
	}
	if c.KeepaliveTimeout == 0 {
		c.KeepaliveTimeout = DefaultKeepaliveTimeout
	}
	return c
}

// DialOptions returns the options of a client connection to a Strata
// daemon: transport credentials (plaintext, TLS or mTLS), keepalive within
// the servers' enforcement policy, message size limits, and interceptors
// that decode failed calls into *Error (see FromStatus). A decoded *Error
// still satisfies status.Code and status.FromError with the status it came
// from. Canceled statuses and io.EOF pass through untouched.
func DialOptions(cfg DialConfig) ([]grpc.DialOption, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	tc, err := clientTLS(cfg)
	if err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if tc != nil {
		creds = credentials.NewTLS(tc)
	}
	unary := append(append([]grpc.UnaryClientInterceptor(nil), cfg.UnaryInterceptors...), decodeUnaryClient)
	stream := append(append([]grpc.StreamClientInterceptor(nil), cfg.StreamInterceptors...), decodeStreamClient)
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                cfg.KeepaliveTime,
			Timeout:             cfg.KeepaliveTimeout,
			PermitWithoutStream: true,
		}),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(cfg.MaxRecvMsgSize),
			grpc.MaxCallSendMsgSize(cfg.MaxSendMsgSize),
			grpc.ForceCodecV2(codec),
		),
		experimental.WithBufferPool(messagePool),
		grpc.WithChainUnaryInterceptor(unary...),
		grpc.WithChainStreamInterceptor(stream...),
	}
	if cfg.UserAgent != "" {
		opts = append(opts, grpc.WithUserAgent(cfg.UserAgent))
	}
	return opts, nil
}

// Dial returns a client connection to target (host:port, or any gRPC target
// URI) with DialOptions(cfg) followed by extra. Like grpc.NewClient, it does
// not connect until the first call.
func Dial(target string, cfg DialConfig, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	if target == "" {
		return nil, errors.New("rpc: Dial with an empty target")
	}
	opts, err := DialOptions(cfg)
	if err != nil {
		return nil, err
	}
	cc, err := grpc.NewClient(target, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("rpc: dial %s: %w", target, err)
	}
	return cc, nil
}

// decodeClientError turns a failed call's status into an *Error. io.EOF
// (end of stream), Canceled statuses (the caller's own cancellation) and
// non-status errors are returned as they are.
func decodeClientError(err error) error {
	if err == nil || err == io.EOF { //nolint:errorlint // gRPC returns io.EOF itself, unwrapped
		return err
	}
	if _, ok := err.(*Error); ok { //nolint:errorlint // already decoded by another interceptor
		return err
	}
	st, ok := status.FromError(err)
	if !ok || st.Code() == codes.Canceled {
		return err
	}
	if e := FromStatus(st); e != nil {
		return e
	}
	return err
}

func decodeUnaryClient(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return decodeClientError(invoker(ctx, method, req, reply, cc, opts...))
}

func decodeStreamClient(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, decodeClientError(err)
	}
	return &decodingClientStream{ClientStream: cs}, nil
}

type decodingClientStream struct {
	grpc.ClientStream
}

func (s *decodingClientStream) Header() (metadata.MD, error) {
	md, err := s.ClientStream.Header()
	return md, decodeClientError(err)
}

func (s *decodingClientStream) CloseSend() error {
	return decodeClientError(s.ClientStream.CloseSend())
}

func (s *decodingClientStream) SendMsg(m any) error {
	return decodeClientError(s.ClientStream.SendMsg(m))
}

func (s *decodingClientStream) RecvMsg(m any) error {
	return decodeClientError(s.ClientStream.RecvMsg(m))
}
