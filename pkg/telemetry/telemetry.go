package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Errors returned by New and Run.
var (
	// ErrInvalidConfig is wrapped by New when a Config field is wrong; the
	// message names the field.
	ErrInvalidConfig = errors.New("telemetry: invalid config")
	// ErrAlreadyStarted is returned by a second call to Run.
	ErrAlreadyStarted = errors.New("telemetry: Run already called")
)

// DefaultShutdownTimeout bounds how long Run waits for in-flight scrapes once
// its context is cancelled, when Config.ShutdownTimeout is zero.
const DefaultShutdownTimeout = 5 * time.Second

// Config describes one process's telemetry. Only ServiceName is required.
type Config struct {
	// ServiceName is reported as service.name on spans and on the
	// target_info metric, e.g. "strata-broker" or "strata-controller".
	ServiceName string
	// InstanceID is reported as service.instance.id; the daemons pass their
	// node id so that several nodes of one service can be told apart. It is
	// also added to every log record as node_id. Optional.
	InstanceID string
	// Version is reported as service.version when not empty.
	Version string

	// MetricsListen is the TCP address of the HTTP endpoint serving /metrics,
	// /healthz and /readyz (the --metrics-listen flag), e.g. "127.0.0.1:9400".
	// A port of 0 picks a free port; MetricsAddr reports the one bound. New
	// binds the address, so a busy port fails New rather than Run. Empty
	// means no endpoint: metrics are still gathered into Registry.
	MetricsListen string
	// MetricsListener, if not nil, is used instead of binding MetricsListen,
	// so a test harness can bind every listener up front. New takes
	// ownership: Shutdown closes it, and so does New if it fails.
	MetricsListener net.Listener

	// Logger, if not nil, is the base logger, and LogOutput, LogFormat and
	// LogLevel are ignored. Tests use it to route a node's logs to t.Log.
	Logger *slog.Logger
	// LogOutput is where log records go; nil means os.Stderr.
	LogOutput io.Writer
	// LogFormat is "json" or "text" (the --log-format flag); empty means json.
	LogFormat string
	// LogLevel is debug, info, warn or error (the --log-level flag); empty
	// means info.
	LogLevel string

	// SpanExporter receives finished, sampled spans through a batching span
	// processor. Nil means spans are not exported, and unless Sampler says
	// otherwise they are not recorded either, so tracing costs little more
	// than context propagation. Tests pass tracetest.NewInMemoryExporter().
	// Shutdown shuts the exporter down; if New fails, it is left untouched.
	SpanExporter sdktrace.SpanExporter
	// Sampler decides which spans are recorded. Nil means
	// sdktrace.ParentBased(sdktrace.AlwaysSample()) when SpanExporter is set
	// and sdktrace.NeverSample() when it is not.
	Sampler sdktrace.Sampler

	// Ready, if not nil, backs GET /readyz: a nil error answers 200 "ok", an
	// error answers 503 with the error text. It is called on the HTTP
	// server's goroutines and must be safe for concurrent use. A nil Ready
	// makes /readyz answer like /healthz.
	Ready func(context.Context) error

	// ShutdownTimeout bounds how long Run waits for in-flight requests once
	// its context is cancelled; zero means DefaultShutdownTimeout. After it,
	// remaining connections are closed.
	ShutdownTimeout time.Duration
}

func (c *Config) validate() error {
	if c.ServiceName == "" {
		return fmt.Errorf("%w: ServiceName is empty", ErrInvalidConfig)
	}
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("%w: ShutdownTimeout %v is negative", ErrInvalidConfig, c.ShutdownTimeout)
	}
	if c.MetricsListener != nil && c.MetricsListen != "" {
		return fmt.Errorf("%w: set MetricsListen or MetricsListener, not both", ErrInvalidConfig)
	}
	return nil
}

// runState tracks Run and Shutdown; guarded by Telemetry.mu.
type runState int

const (
	stateIdle    runState = iota // New returned; Run not called
	stateRunning                 // Run is serving
	stateStopped                 // Run returned
)

// Telemetry owns a process's logger, tracer provider, meter provider,
// Prometheus registry and metrics endpoint. Create it with New, serve the
// endpoint with Run, and release it with Shutdown. All methods are safe for
// concurrent use.
type Telemetry struct {
	logger   *slog.Logger
	tp       *sdktrace.TracerProvider
	mp       *sdkmetric.MeterProvider
	reg      *prometheus.Registry
	handler  http.Handler
	ln       net.Listener // nil when the endpoint is disabled
	srv      *http.Server // nil when the endpoint is disabled
	addr     string
	stopWait time.Duration

	closed       chan struct{} // closed when Shutdown starts
	shutdownOnce sync.Once
	shutdownErr  error

	mu      sync.Mutex
	state   runState
	runDone chan struct{} // closed when Run returns; set with stateRunning
}

// New builds the telemetry described by cfg: the logger, an OpenTelemetry
// TracerProvider and MeterProvider carrying a resource that names the
// service, a dedicated Prometheus registry with Go runtime, process and
// build-info collectors, and, when cfg asks for it, the bound listener of the
// metrics endpoint. New starts no goroutine serving HTTP; Run does. The ctx
// only bounds New's own work.
//
// New mutates no global state (see SetDefault). On error nothing is left
// running. The caller must call Shutdown.
func New(ctx context.Context, cfg Config) (_ *Telemetry, err error) {
	if cfg.MetricsListener != nil {
		defer func() {
			if err != nil {
				_ = cfg.MetricsListener.Close()
			}
		}()
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}

	logger := cfg.Logger
	if logger == nil {
		logger, err = NewLogger(cfg.LogOutput, cfg.LogFormat, cfg.LogLevel)
		if err != nil {
			return nil, err
		}
	}
	logger = logger.With(slog.String("service", cfg.ServiceName))
	if cfg.InstanceID != "" {
		logger = logger.With(slog.String("node_id", cfg.InstanceID))
	}

	res, err := newResource(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}

	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("telemetry: register go collector: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("telemetry: register process collector: %w", err)
	}
	if err := reg.Register(collectors.NewBuildInfoCollector()); err != nil {
		return nil, fmt.Errorf("telemetry: register build info collector: %w", err)
	}
	// The exporter is a pull-based metric reader; registering it in our own
	// registry (never prometheus.DefaultRegisterer) keeps two instances in
	// one process apart.
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}

	t := &Telemetry{
		logger:   logger,
		reg:      reg,
		stopWait: cfg.ShutdownTimeout,
		closed:   make(chan struct{}),
	}
	if t.stopWait == 0 {
		t.stopWait = DefaultShutdownTimeout
	}
	t.handler = newHandler(reg, cfg.Ready, logger)

	// Bind last among the steps that can fail, so a failure leaves nothing
	// to undo but the listener (closed by the deferred func above when the
	// caller passed it in).
	t.ln = cfg.MetricsListener
	if t.ln == nil && cfg.MetricsListen != "" {
		var lc net.ListenConfig
		t.ln, err = lc.Listen(ctx, "tcp", cfg.MetricsListen)
		if err != nil {
			return nil, fmt.Errorf("telemetry: listen on metrics address %q: %w", cfg.MetricsListen, err)
		}
	}
	if t.ln != nil {
		t.addr = t.ln.Addr().String()
		t.srv = &http.Server{
			Handler:           t.handler,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.With(slog.String("component", "metrics-http")).Handler(), slog.LevelWarn),
		}
	}

	t.mp = sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(exporter),
	)

	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	sampler := cfg.Sampler
	if cfg.SpanExporter != nil {
		tpOpts = append(tpOpts, sdktrace.WithBatcher(cfg.SpanExporter))
		if sampler == nil {
			sampler = sdktrace.ParentBased(sdktrace.AlwaysSample())
		}
	}
	if sampler == nil {
		sampler = sdktrace.NeverSample()
	}
	tpOpts = append(tpOpts, sdktrace.WithSampler(sampler))
	t.tp = sdktrace.NewTracerProvider(tpOpts...)

	return t, nil
}

func newResource(ctx context.Context, cfg Config) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{semconv.ServiceName(cfg.ServiceName)}
	if cfg.InstanceID != "" {
		attrs = append(attrs, semconv.ServiceInstanceID(cfg.InstanceID))
	}
	if cfg.Version != "" {
		attrs = append(attrs, semconv.ServiceVersion(cfg.Version))
	}
	return resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attrs...),
	)
}

// Logger returns the base logger. Its records carry service and, when
// Config.InstanceID is set, node_id; add a component with
// Logger().With("component", name).
func (t *Telemetry) Logger() *slog.Logger { return t.logger }

// TracerProvider returns the tracer provider, for otelgrpc options and for
// Tracer(name) calls. It is an SDK provider; after Shutdown its tracers make
// non-recording spans.
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tp }

// MeterProvider returns the meter provider. Instruments created from it are
// exported in Prometheus form on /metrics (a counter "strata.produce.requests"
// becomes strata_produce_requests_total).
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.mp }

// Registry returns the process's own Prometheus registry: /metrics serves
// exactly what it gathers. Native Prometheus collectors may be registered in
// it; tests may call Gather on it instead of scraping over HTTP.
func (t *Telemetry) Registry() *prometheus.Registry { return t.reg }

// Handler returns the HTTP handler of the metrics endpoint (GET /metrics,
// /healthz and /readyz), for mounting on another server or for tests. Run
// serves the same handler.
func (t *Telemetry) Handler() http.Handler { return t.handler }

// MetricsAddr returns the address the metrics endpoint is bound to, such as
// "127.0.0.1:40123", or "" when the endpoint is disabled. It is valid from New
// on, before Run, and keeps its value after Shutdown.
func (t *Telemetry) MetricsAddr() string { return t.addr }

// Run serves the metrics endpoint until ctx is cancelled or Shutdown is
// called, and returns nil in both cases (also when Shutdown came first); it
// returns an error only if serving fails. On cancellation it stops accepting connections and waits up to
// Config.ShutdownTimeout for in-flight requests before closing them. With
// the endpoint disabled, Run just waits. Run may be called once; call
// Shutdown after it returns to flush and stop the providers.
func (t *Telemetry) Run(ctx context.Context) error {
	t.mu.Lock()
	switch {
	case t.isClosed():
		// Shutdown won a race with the goroutine calling Run: nothing to
		// serve, and stopping is not an error.
		t.mu.Unlock()
		return nil
	case t.state != stateIdle:
		t.mu.Unlock()
		return ErrAlreadyStarted
	}
	t.state = stateRunning
	done := make(chan struct{})
	t.runDone = done
	t.mu.Unlock()

	defer func() {
		t.mu.Lock()
		t.state = stateStopped
		t.mu.Unlock()
		close(done)
	}()

	if t.srv == nil {
		select {
		case <-ctx.Done():
		case <-t.closed:
		}
		return nil
	}

	t.logger.Info("serving metrics", slog.String("addr", t.addr))
	serveErr := make(chan error, 1)
	go func() { serveErr <- t.srv.Serve(t.ln) }()

	select {
	case err := <-serveErr:
		// Serve returns ErrServerClosed once Shutdown has begun.
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("telemetry: serve metrics on %s: %w", t.addr, err)
	case <-ctx.Done():
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.stopWait)
	defer cancel()
	if err := t.srv.Shutdown(sctx); err != nil {
		t.logger.Warn("metrics endpoint did not drain; closing connections",
			slog.Duration("timeout", t.stopWait), slog.Any("err", err))
		_ = t.srv.Close()
	}
	// The serving goroutine is ours: wait for it. Its error was already
	// reported where it happened.
	if err := <-serveErr; err != nil {
		t.logger.Debug("metrics endpoint stopped", slog.Any("err", err))
	}
	return nil
}

func (t *Telemetry) isClosed() bool {
	select {
	case <-t.closed:
		return true
	default:
		return false
	}
}

// ForceFlush exports every finished span that is still buffered. Metrics are
// pulled by scrapes, so there is nothing to flush for them.
func (t *Telemetry) ForceFlush(ctx context.Context) error {
	if err := t.tp.ForceFlush(ctx); err != nil {
		return fmt.Errorf("telemetry: flush spans: %w", err)
	}
	return nil
}

// Shutdown stops the metrics endpoint (closing its listener and, if Run is
// serving, waiting for Run to return), then flushes and shuts down the
// tracer provider (and its SpanExporter) and the meter provider. The ctx
// bounds the whole of it. Shutdown is idempotent: later and concurrent calls
// wait for the first and return its result.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.shutdownOnce.Do(func() { t.shutdownErr = t.shutdown(ctx) })
	return t.shutdownErr
}

func (t *Telemetry) shutdown(ctx context.Context) error {
	t.mu.Lock()
	close(t.closed)
	var runDone chan struct{}
	if t.state == stateRunning {
		runDone = t.runDone
	}
	t.mu.Unlock()

	var errs []error
	if t.srv != nil {
		// Shutdown marks the server closed before closing its listeners, so a
		// Run that has not reached Serve yet gets ErrServerClosed from it.
		if err := t.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop metrics endpoint: %w", err))
			_ = t.srv.Close()
		}
		// Serve never ran if Run was not called; the listener is still ours.
		if err := t.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("close metrics listener: %w", err))
		}
	}
	if runDone != nil {
		select {
		case <-runDone:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("wait for Run: %w", ctx.Err()))
		}
	}
	if err := t.tp.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("tracer provider: %w", err))
	}
	if err := t.mp.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("meter provider: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("telemetry: shutdown: %w", err)
	}
	return nil
}

// SetDefault installs t process-wide: it makes Logger the slog default and
// TracerProvider, MeterProvider, a W3C trace-context and baggage propagator
// and an error handler that logs through Logger the OpenTelemetry globals.
// Daemons call it once from main; libraries and tests should take the
// providers from t instead.
func (t *Telemetry) SetDefault() {
	slog.SetDefault(t.logger)
	otel.SetTracerProvider(t.tp)
	otel.SetMeterProvider(t.mp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{}, propagation.Baggage{}))
	logger := t.logger.With(slog.String("component", "otel"))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("opentelemetry error", slog.Any("err", err))
	}))
}
