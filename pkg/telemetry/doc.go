// Package telemetry sets up logging, tracing and metrics for Strata's
// programs: strata-controller, strata-broker and the strata CLI.
//
// # Logging
//
// NewLogger builds a log/slog logger writing JSON or text at a minimum level,
// from the --log-format and --log-level flag values; ParseLevel and
// ParseFormat check those values alone and name the accepted ones in their
// errors. Nothing global changes unless the caller asks: pass the logger down
// and add context with With ("component", "partlog"). The CLI needs only
// NewLogger.
//
// # Daemons
//
// A daemon builds one Telemetry from its Config and owns it:
//
//	tel, err := telemetry.New(ctx, telemetry.Config{
//		ServiceName:   "strata-broker",
//		InstanceID:    strconv.Itoa(int(cfg.NodeID)),
//		MetricsListen: cfg.MetricsListen, // --metrics-listen
//		LogFormat:     cfg.LogFormat,
//		LogLevel:      cfg.LogLevel,
//		Ready:         b.ready,
//	})
//	if err != nil {
//		return fmt.Errorf("telemetry.New: %w", err)
//	}
//	defer tel.Shutdown(context.WithoutCancel(ctx)) // flush spans last
//	tel.SetDefault()                               // main only
//	g, ctx := errgroup.WithContext(ctx)
//	g.Go(func() error { return tel.Run(ctx) })
//
// New creates:
//
//   - the base logger, whose records carry service and node_id;
//   - an OpenTelemetry SDK TracerProvider whose resource names the service
//     (service.name, service.instance.id = InstanceID, service.version). With
//     no Config.SpanExporter it samples nothing, so spans cost only context
//     propagation; with one, finished spans go to it through a batching
//     processor;
//   - an SDK MeterProvider whose only reader is the OpenTelemetry Prometheus
//     exporter, registered in a prometheus.Registry of this Telemetry alone
//     (never the global default registry, so several nodes can live in one
//     test process), next to the Go runtime, process and build-info
//     collectors;
//   - the bound TCP listener of the HTTP endpoint, when Config.MetricsListen
//     (or Config.MetricsListener) is set. MetricsAddr reports the bound
//     address, so tests can listen on "127.0.0.1:0".
//
// The endpoint serves GET /metrics (the registry in the Prometheus text
// format), GET /healthz (200 "ok" while the process serves) and
// GET /readyz (200 "ok", or 503 when Config.Ready returns an error).
//
// Instrument names follow OpenTelemetry conventions, dotted and with a unit;
// the exporter turns them into Prometheus names: a counter
// "strata.broker.produce.requests" becomes
// strata_broker_produce_requests_total, and a histogram with unit "s" gets a
// _seconds suffix.
//
// # Lifecycle
//
// New starts nothing that serves. Run serves the endpoint until its context
// is cancelled or Shutdown is called, then returns nil; it waits up to
// Config.ShutdownTimeout for in-flight scrapes. Run may be called once (a
// second call returns ErrAlreadyStarted); a Run that starts after Shutdown
// returns nil at once, so "go Run" racing Shutdown is harmless.
// Shutdown stops the endpoint (closing the listener even if Run never ran,
// and waiting for a running Run to return), then flushes and shuts down the
// tracer provider, its exporter and the meter provider. Shutdown is
// idempotent and safe to call concurrently; later calls return the first
// call's result. After Shutdown, the providers hand out no-op instruments and
// non-recording spans, so components that outlive it do not fail.
//
// # Goroutines
//
// Run owns the goroutine serving HTTP and waits for it before returning; the
// HTTP server's per-connection goroutines end when Run or Shutdown shuts the
// server down. The batching span processor's goroutine (only with a
// SpanExporter) belongs to the tracer provider and ends in Shutdown. Nothing
// else runs in the background: metrics are computed when /metrics is
// scraped.
//
// # Locking
//
// Telemetry has one mutex, guarding the Run state; it is never held while
// calling out.
//
// # Globals
//
// SetDefault makes the logger the slog default and installs the providers,
// a W3C trace-context and baggage propagator, and an error handler that
// logs through the logger as the OpenTelemetry globals. Only main should call
// it.
package telemetry
