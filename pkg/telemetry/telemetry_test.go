package telemetry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// waitTimeout bounds every wait in these tests.
const waitTimeout = 10 * time.Second

// newTelemetry calls New and registers Shutdown as a cleanup. Logs are
// discarded unless cfg says where they go.
func newTelemetry(t *testing.T, cfg Config) *Telemetry {
	t.Helper()
	if cfg.ServiceName == "" {
		cfg.ServiceName = "strata-test"
	}
	if cfg.Logger == nil && cfg.LogOutput == nil {
		cfg.LogOutput = io.Discard
	}
	tel, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := tel.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return tel
}

// runner is a Run call on its own goroutine.
type runner struct {
	cancel context.CancelFunc
	errc   chan error
	once   sync.Once
	err    error
}

// startRun calls tel.Run on a new goroutine. The cleanup cancels it and
// checks that it returned nil.
func startRun(t *testing.T, tel *Telemetry) *runner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{cancel: cancel, errc: make(chan error, 1)}
	go func() { r.errc <- tel.Run(ctx) }()
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

// wait returns Run's result, waiting at most waitTimeout for it.
func (r *runner) wait() error {
	r.once.Do(func() {
		select {
		case r.err = <-r.errc:
		case <-time.After(waitTimeout):
			r.err = fmt.Errorf("Run did not return within %v", waitTimeout)
		}
	})
	return r.err
}

// stop cancels Run's context and returns its result.
func (r *runner) stop() error {
	r.cancel()
	return r.wait()
}

// get does one HTTP GET over a fresh connection, so no idle connection
// goroutine outlives it. It gives up after waitTimeout.
func get(url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	return getCtx(ctx, url)
}

// getCtx is get bounded by ctx alone.
func getCtx(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// scrape GETs /metrics from addr and parses the text exposition format.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body, err := get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d, body %q", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return mfs
}

// findMetric returns the sample of family name whose labels include labels.
func findMetric(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	mf, ok := mfs[name]
	if !ok {
		return nil
	}
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		match := true
		for k, v := range labels {
			if have[k] != v {
				match = false
				break
			}
		}
		if match {
			return m
		}
	}
	return nil
}

func gatherFamilies(t *testing.T, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	mfs := make(map[string]*dto.MetricFamily, len(fams))
	for _, mf := range fams {
		mfs[mf.GetName()] = mf
	}
	return mfs
}

// addRecords creates the test counter through tel's MeterProvider and adds n.
func addRecords(t *testing.T, tel *Telemetry, topic string, n int64) {
	t.Helper()
	c, err := tel.MeterProvider().Meter("strata/test").Int64Counter("strata.test.records",
		metric.WithDescription("Records written by the test."))
	if err != nil {
		t.Fatalf("Int64Counter: %v", err)
	}
	c.Add(t.Context(), n, metric.WithAttributes(attribute.String("topic", topic)))
}

func TestMetricsEndpointServesOTelAndRuntimeMetrics(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t, Config{
		ServiceName:   "strata-broker",
		InstanceID:    "101",
		Version:       "v0.1.0",
		MetricsListen: "127.0.0.1:0",
	})
	addr := tel.MetricsAddr()
	if host, port, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("MetricsAddr() = %q, want 127.0.0.1 and a bound port", addr)
	}
	startRun(t, tel)
	addRecords(t, tel, "orders", 7)

	mfs := scrape(t, addr)
	m := findMetric(mfs, "strata_test_records_total", map[string]string{"topic": "orders", "otel_scope_name": "strata/test"})
	if m == nil {
		t.Fatalf("no strata_test_records_total{topic=\"orders\"} in /metrics; families: %v", familyNames(mfs))
	}
	if got := m.GetCounter().GetValue(); got != 7 {
		t.Errorf("strata_test_records_total = %v, want 7", got)
	}
	if mfs["strata_test_records_total"].GetType() != dto.MetricType_COUNTER {
		t.Errorf("strata_test_records_total has type %v, want COUNTER", mfs["strata_test_records_total"].GetType())
	}

	// The counter moves between scrapes.
	addRecords(t, tel, "orders", 3)
	m = findMetric(scrape(t, addr), "strata_test_records_total", map[string]string{"topic": "orders"})
	if got := m.GetCounter().GetValue(); got != 10 {
		t.Errorf("after a second Add, strata_test_records_total = %v, want 10", got)
	}

	if findMetric(mfs, "target_info", map[string]string{
		"service_name":        "strata-broker",
		"service_instance_id": "101",
		"service_version":     "v0.1.0",
	}) == nil {
		t.Errorf("target_info does not name the service: %v", mfs["target_info"])
	}
	for _, name := range []string{
		"go_goroutines", "go_gc_duration_seconds", "go_memstats_alloc_bytes", "go_info", "go_build_info",
		"process_cpu_seconds_total", "process_resident_memory_bytes",
		"promhttp_metric_handler_requests_total",
	} {
		if _, ok := mfs[name]; !ok {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if g := findMetric(mfs, "go_goroutines", nil); g.GetGauge().GetValue() < 1 {
		t.Errorf("go_goroutines = %v, want at least 1", g.GetGauge().GetValue())
	}
}

func familyNames(mfs map[string]*dto.MetricFamily) []string {
	var names []string
	for n := range mfs {
		names = append(names, n)
	}
	return names
}

func TestTwoInstancesDoNotCollide(t *testing.T) {
	t.Parallel()
	a := newTelemetry(t, Config{ServiceName: "strata-broker", InstanceID: "101", MetricsListen: "127.0.0.1:0"})
	b := newTelemetry(t, Config{ServiceName: "strata-broker", InstanceID: "102", MetricsListen: "127.0.0.1:0"})
	if a.MetricsAddr() == b.MetricsAddr() {
		t.Fatalf("both instances bound %s", a.MetricsAddr())
	}
	if a.Registry() == b.Registry() {
		t.Fatal("both instances share a registry")
	}
	startRun(t, a)
	startRun(t, b)
	addRecords(t, a, "orders", 1)
	addRecords(t, b, "orders", 2)

	for _, tc := range []struct {
		tel  *Telemetry
		node string
		want float64
	}{{a, "101", 1}, {b, "102", 2}} {
		mfs := scrape(t, tc.tel.MetricsAddr())
		m := findMetric(mfs, "strata_test_records_total", map[string]string{"topic": "orders"})
		if got := m.GetCounter().GetValue(); got != tc.want {
			t.Errorf("node %s: strata_test_records_total = %v, want %v", tc.node, got, tc.want)
		}
		if n := len(mfs["strata_test_records_total"].GetMetric()); n != 1 {
			t.Errorf("node %s: %d strata_test_records_total series, want 1", tc.node, n)
		}
		if findMetric(mfs, "target_info", map[string]string{"service_instance_id": tc.node}) == nil {
			t.Errorf("node %s: target_info = %v", tc.node, mfs["target_info"])
		}
	}

	// Nothing went into the process-wide default registry.
	def := gatherFamilies(t, prometheus.DefaultGatherer)
	for _, name := range []string{"strata_test_records_total", "target_info"} {
		if _, ok := def[name]; ok {
			t.Errorf("the default Prometheus registry has %s", name)
		}
	}
}

func TestShutdownStopsRunAndListener(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t, Config{MetricsListen: "127.0.0.1:0"})
	r := startRun(t, tel)
	url := "http://" + tel.MetricsAddr() + "/healthz"
	if code, body, err := get(url); err != nil || code != http.StatusOK || body != "ok\n" {
		t.Fatalf("GET /healthz = %d %q %v, want 200 \"ok\\n\"", code, body, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	// Shutdown is safe to call concurrently; every caller gets the result.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = tel.Shutdown(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Shutdown call %d: %v", i, err)
		}
	}
	// Shutdown waited for Run to finish.
	tel.mu.Lock()
	state := tel.state
	tel.mu.Unlock()
	if state != stateStopped {
		t.Errorf("Shutdown returned while Run was still serving (state %d)", state)
	}
	// Run returns nil without its context being cancelled.
	if err := r.wait(); err != nil {
		t.Errorf("Run after Shutdown returned %v, want nil", err)
	}
	if _, _, err := get(url); err == nil {
		t.Error("GET /healthz after Shutdown succeeded, want a connection error")
	}
	if err := tel.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if err := tel.Run(ctx); err != nil {
		t.Errorf("Run after Shutdown = %v, want nil", err)
	}
	// The providers still hand out instruments, which now do nothing.
	addRecords(t, tel, "orders", 1)
	if _, ok := gatherFamilies(t, tel.Registry())["strata_test_records_total"]; ok {
		t.Error("a counter made after Shutdown is exported")
	}
	if tel.MetricsAddr() == "" {
		t.Error("MetricsAddr is empty after Shutdown")
	}
}

func TestShutdownWithoutRunClosesListener(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t, Config{MetricsListen: "127.0.0.1:0"})
	d := net.Dialer{Timeout: waitTimeout}
	// Bound by New: the kernel accepts the connection before Run.
	conn, err := d.DialContext(t.Context(), "tcp", tel.MetricsAddr())
	if err != nil {
		t.Fatalf("dial before Shutdown: %v", err)
	}
	conn.Close()
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if conn, err := d.DialContext(t.Context(), "tcp", tel.MetricsAddr()); err == nil {
		conn.Close()
		t.Error("dial after Shutdown succeeded, want connection refused")
	}
}

func TestRunReturnsNilOnCancel(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t, Config{MetricsListen: "127.0.0.1:0"})
	r := startRun(t, tel)
	url := "http://" + tel.MetricsAddr() + "/metrics"
	if code, _, err := get(url); err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics = %d, %v", code, err)
	}
	if err := tel.Run(t.Context()); !errors.Is(err, ErrAlreadyStarted) {
		t.Errorf("second Run while running = %v, want ErrAlreadyStarted", err)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
	if _, _, err := get(url); err == nil {
		t.Error("GET /metrics after Run returned succeeded, want a connection error")
	}
	if err := tel.Run(t.Context()); !errors.Is(err, ErrAlreadyStarted) {
		t.Errorf("Run after Run returned = %v, want ErrAlreadyStarted", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the HTTP server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRunClosesConnectionsAfterShutdownTimeout(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	entered := make(chan struct{})
	var enterOnce sync.Once
	tel := newTelemetry(t, Config{
		MetricsListen:   "127.0.0.1:0",
		LogOutput:       &logs,
		ShutdownTimeout: 20 * time.Millisecond,
		// A readiness check that hangs until its request is torn down.
		Ready: func(ctx context.Context) error {
			enterOnce.Do(func() { close(entered) })
			<-ctx.Done()
			return ctx.Err()
		},
	})
	r := startRun(t, tel)

	type result struct {
		code int
		err  error
	}
	resc := make(chan result, 1)
	go func() {
		// No client timeout: only the server may end this request (or the
		// end of the test, so that a failing run leaks nothing).
		code, _, err := getCtx(t.Context(), "http://"+tel.MetricsAddr()+"/readyz")
		resc <- result{code, err}
	}()
	select {
	case <-entered:
	case <-time.After(waitTimeout):
		t.Fatal("the /readyz request never reached Ready")
	}

	if err := r.stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	select {
	case res := <-resc:
		if res.err == nil && res.code == http.StatusOK {
			t.Errorf("the hung /readyz request got 200; want its connection closed")
		}
	case <-time.After(waitTimeout):
		t.Fatal("the hung /readyz request was not ended by Run's shutdown")
	}
	if !strings.Contains(logs.String(), "did not drain") {
		t.Errorf("no warning about closing connections in logs:\n%s", logs.String())
	}
}

func TestEndpointDisabled(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t, Config{})
	if addr := tel.MetricsAddr(); addr != "" {
		t.Fatalf("MetricsAddr() = %q with no MetricsListen, want \"\"", addr)
	}
	r := startRun(t, tel)
	addRecords(t, tel, "orders", 5)
	m := findMetric(gatherFamilies(t, tel.Registry()), "strata_test_records_total", map[string]string{"topic": "orders"})
	if got := m.GetCounter().GetValue(); got != 5 {
		t.Errorf("gathered strata_test_records_total = %v, want 5", got)
	}
	select {
	case err := <-r.errc:
		t.Fatalf("Run returned %v before cancel or Shutdown", err)
	default:
	}
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := r.wait(); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

func TestMetricsListenerIsUsedAndOwned(t *testing.T) {
	t.Parallel()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tel := newTelemetry(t, Config{MetricsListener: ln})
	if got, want := tel.MetricsAddr(), ln.Addr().String(); got != want {
		t.Fatalf("MetricsAddr() = %q, want the listener's %q", got, want)
	}
	startRun(t, tel)
	if code, _, err := get("http://" + tel.MetricsAddr() + "/metrics"); err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics = %d, %v", code, err)
	}
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := ln.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("closing the listener after Shutdown = %v, want net.ErrClosed (already closed)", err)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	var lc net.ListenConfig
	busy, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	tests := []struct {
		name    string
		cfg     Config
		wantErr error  // checked with errors.Is when set
		wantMsg string // substring of the error text
	}{
		{"no service name", Config{}, ErrInvalidConfig, "ServiceName is empty"},
		{"bad log format", Config{ServiceName: "s", LogFormat: "xml"}, ErrUnknownLogFormat, `unknown log format "xml": use json or text`},
		{"bad log level", Config{ServiceName: "s", LogLevel: "loud"}, ErrUnknownLogLevel, `unknown log level "loud"`},
		{"negative shutdown timeout", Config{ServiceName: "s", ShutdownTimeout: -time.Second}, ErrInvalidConfig, "ShutdownTimeout"},
		{"bad address", Config{ServiceName: "s", MetricsListen: "127.0.0.1:notaport"}, nil, `listen on metrics address "127.0.0.1:notaport"`},
		{"port in use", Config{ServiceName: "s", MetricsListen: busy.Addr().String()}, syscall.EADDRINUSE, "listen on metrics address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.LogOutput = io.Discard
			tel, err := New(t.Context(), cfg)
			if err == nil {
				tel.Shutdown(t.Context())
				t.Fatal("New succeeded, want an error")
			}
			if tel != nil {
				t.Errorf("New returned a Telemetry with error %v", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("New error = %v, want errors.Is %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) || !strings.HasPrefix(err.Error(), "telemetry: ") {
				t.Errorf("New error = %q, want the telemetry: prefix and %q", err, tt.wantMsg)
			}
		})
	}

	t.Run("listener closed on failure", func(t *testing.T) {
		ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, err = New(t.Context(), Config{ServiceName: "s", MetricsListen: "127.0.0.1:0", MetricsListener: ln})
		if !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("New with both MetricsListen and MetricsListener = %v, want ErrInvalidConfig", err)
		}
		if err := ln.Close(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("New did not close the listener it was given: Close = %v", err)
		}
	})
}

func TestHandlerRoutes(t *testing.T) {
	t.Parallel()
	var (
		mu       sync.Mutex
		notReady = errors.New("no active controller")
		readyErr = notReady
	)
	tel := newTelemetry(t, Config{Ready: func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		return readyErr
	}})
	srvURL := serveHandler(t, tel.Handler())

	tests := []struct {
		method, path string
		ready        bool
		wantCode     int
		wantBody     string // prefix
	}{
		{"GET", "/healthz", false, http.StatusOK, "ok\n"},
		{"GET", "/readyz", false, http.StatusServiceUnavailable, "not ready: no active controller\n"},
		{"GET", "/readyz", true, http.StatusOK, "ok\n"},
		{"GET", "/metrics", true, http.StatusOK, "# HELP"},
		{"POST", "/metrics", true, http.StatusMethodNotAllowed, ""},
		{"GET", "/debug/pprof/", true, http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		mu.Lock()
		readyErr = notReady
		if tt.ready {
			readyErr = nil
		}
		mu.Unlock()
		code, body := do(t, tt.method, srvURL+tt.path)
		if code != tt.wantCode || !strings.HasPrefix(body, tt.wantBody) {
			t.Errorf("%s %s (ready=%v) = %d %q, want %d %q...", tt.method, tt.path, tt.ready, code, body, tt.wantCode, tt.wantBody)
		}
	}
}

// serveHandler serves h on a loopback listener for the test's duration.
func serveHandler(t *testing.T, h http.Handler) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: waitTimeout}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return "http://" + ln.Addr().String()
}

func do(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: waitTimeout}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, string(body)
}
