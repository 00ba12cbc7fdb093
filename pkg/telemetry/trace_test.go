package telemetry

import (
	"context"
	"errors"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

func TestSpansReachExporter(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tel := newTelemetry(t, Config{ServiceName: "strata-controller", InstanceID: "1", SpanExporter: exp})

	tracer := tel.TracerProvider().Tracer("strata/test")
	ctx, parent := tracer.Start(t.Context(), "CreateTopics", trace.WithAttributes(attribute.String("topic", "orders")))
	_, child := tracer.Start(ctx, "propose")
	child.End()
	parent.End()
	if !parent.IsRecording() && !parent.SpanContext().IsSampled() {
		t.Fatal("with an exporter, a root span is neither recording nor sampled")
	}

	if err := tel.ForceFlush(t.Context()); err != nil {
		t.Fatalf("ForceFlush: %v", err)
	}
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("exporter got %d spans, want 2: %v", len(spans), spans)
	}
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	p, c := byName["CreateTopics"], byName["propose"]
	if p.Name == "" || c.Name == "" {
		t.Fatalf("exported spans %v, want CreateTopics and propose", spans)
	}
	if c.Parent.SpanID() != p.SpanContext.SpanID() || c.SpanContext.TraceID() != p.SpanContext.TraceID() {
		t.Errorf("propose is not a child of CreateTopics: parent %v, child's parent %v", p.SpanContext, c.Parent)
	}
	if !hasAttr(p.Attributes, attribute.String("topic", "orders")) {
		t.Errorf("CreateTopics attributes = %v, want topic=orders", p.Attributes)
	}
	for _, want := range []attribute.KeyValue{
		semconv.ServiceName("strata-controller"),
		semconv.ServiceInstanceID("1"),
	} {
		if !hasAttr(p.Resource.Attributes(), want) {
			t.Errorf("span resource %v lacks %v", p.Resource.Attributes(), want)
		}
	}
}

func hasAttr(attrs []attribute.KeyValue, want attribute.KeyValue) bool {
	for _, kv := range attrs {
		if kv.Key == want.Key && kv.Value == want.Value {
			return true
		}
	}
	return false
}

// keepingExporter keeps its spans at Shutdown, unlike InMemoryExporter,
// and records that Shutdown was called.
type keepingExporter struct {
	*tracetest.InMemoryExporter
	shutdown atomic.Bool
}

func (e *keepingExporter) Shutdown(context.Context) error {
	e.shutdown.Store(true)
	return nil
}

func TestShutdownFlushesSpans(t *testing.T) {
	t.Parallel()
	exp := &keepingExporter{InMemoryExporter: tracetest.NewInMemoryExporter()}
	tel := newTelemetry(t, Config{SpanExporter: exp})
	_, span := tel.TracerProvider().Tracer("strata/test").Start(t.Context(), "Produce")
	span.End()

	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got := exp.GetSpans(); len(got) != 1 || got[0].Name != "Produce" {
		t.Errorf("after Shutdown the exporter has %v, want the Produce span", got)
	}
	if !exp.shutdown.Load() {
		t.Error("Shutdown did not shut the exporter down")
	}
	_, late := tel.TracerProvider().Tracer("strata/test").Start(t.Context(), "late")
	if late.IsRecording() {
		t.Error("a span started after Shutdown is recording")
	}
	late.End()
}

func TestSampling(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		withExporter  bool
		sampler       sdktrace.Sampler
		wantRecording bool
	}{
		{"no exporter records nothing", false, nil, false},
		{"exporter samples roots", true, nil, true},
		{"exporter with a never sampler", true, sdktrace.NeverSample(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			exp := tracetest.NewInMemoryExporter()
			cfg := Config{Sampler: tt.sampler}
			if tt.withExporter {
				cfg.SpanExporter = exp
			}
			tel := newTelemetry(t, cfg)
			_, span := tel.TracerProvider().Tracer("strata/test").Start(t.Context(), "Fetch")
			span.End()
			if span.IsRecording() {
				t.Error("span still recording after End")
			}
			if got := span.SpanContext().IsSampled(); got != tt.wantRecording {
				t.Errorf("span sampled = %v, want %v", got, tt.wantRecording)
			}
			// Trace context still propagates when nothing is recorded.
			if !span.SpanContext().IsValid() {
				t.Error("span context is not valid")
			}
			if err := tel.ForceFlush(t.Context()); err != nil {
				t.Fatalf("ForceFlush: %v", err)
			}
			if n, want := len(exp.GetSpans()), map[bool]int{false: 0, true: 1}[tt.wantRecording && tt.withExporter]; n != want {
				t.Errorf("exporter got %d spans, want %d", n, want)
			}
		})
	}
}

// TestSetDefault changes process-wide state, so it does not run in
// parallel, and it restores that state afterwards.
func TestSetDefault(t *testing.T) {
	prevSlog, prevLogOut, prevLogFlags := slog.Default(), log.Writer(), log.Flags()
	t.Cleanup(func() {
		slog.SetDefault(prevSlog)
		log.SetOutput(prevLogOut)
		log.SetFlags(prevLogFlags)
		otel.SetTracerProvider(tracenoop.NewTracerProvider())
		otel.SetMeterProvider(metricnoop.NewMeterProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Print(err) }))
	})

	var logs syncBuffer
	exp := tracetest.NewInMemoryExporter()
	tel := newTelemetry(t, Config{ServiceName: "strata-broker", InstanceID: "7", LogOutput: &logs, SpanExporter: exp})
	tel.SetDefault()

	slog.Info("from the default logger")
	otel.Handle(errors.New("exporter unreachable"))
	out := logs.String()
	for _, want := range []string{`"msg":"from the default logger"`, `"node_id":"7"`, `"service":"strata-broker"`, `exporter unreachable`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}

	_, span := otel.Tracer("strata/test").Start(t.Context(), "global")
	if !span.IsRecording() {
		t.Error("a span from the global tracer provider is not recording")
	}
	span.End()

	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(trace.ContextWithSpan(t.Context(), span), carrier)
	if !strings.HasPrefix(carrier.Get("traceparent"), "00-"+span.SpanContext().TraceID().String()) {
		t.Errorf("global propagator injected %v, want a traceparent for the span", carrier)
	}

	c, err := otel.GetMeterProvider().Meter("strata/test").Int64Counter("strata.test.global")
	if err != nil {
		t.Fatalf("global meter provider: %v", err)
	}
	c.Add(t.Context(), 4)
	m := findMetric(gatherFamilies(t, tel.Registry()), "strata_test_global_total", nil)
	if got := m.GetCounter().GetValue(); got != 4 {
		t.Errorf("a counter from the global meter provider = %v in tel.Registry, want 4", got)
	}
}
