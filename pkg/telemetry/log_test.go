package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestNewLoggerJSON(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger, err := NewLogger(&buf, "json", "info")
	if err != nil {
		t.Fatalf("NewLogger: %v", err)
	}
	logger.With("component", "partlog", "node_id", "101").Info("leader elected", "partition", 3, "leader_epoch", 7)

	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, buf.String())
	}
	want := map[string]any{
		"level":        "INFO",
		"msg":          "leader elected",
		"component":    "partlog",
		"node_id":      "101",
		"partition":    float64(3),
		"leader_epoch": float64(7),
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("record[%q] = %#v, want %#v (record %s)", k, rec[k], v, buf.String())
		}
	}
	if _, ok := rec["time"]; !ok {
		t.Errorf("record has no time: %s", buf.String())
	}
}

func TestNewLoggerText(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger, err := NewLogger(&buf, "text", "debug")
	if err != nil {
		t.Fatalf("NewLogger: %v", err)
	}
	logger.With("component", "isr").Debug("shrink ISR", "topic", "orders", "partition", 2)

	out := buf.String()
	for _, want := range []string{`level=DEBUG`, `msg="shrink ISR"`, `component=isr`, `topic=orders`, `partition=2`} {
		if !strings.Contains(out, want) {
			t.Errorf("text output %q lacks %q", out, want)
		}
	}
	if strings.HasPrefix(strings.TrimSpace(out), "{") {
		t.Errorf("text format wrote JSON: %q", out)
	}
}

func TestNewLoggerLevelFiltering(t *testing.T) {
	t.Parallel()
	tests := []struct {
		level string
		want  []string // messages that must appear, in order; the others must not
	}{
		{"debug", []string{"d", "i", "w", "e"}},
		{"info", []string{"i", "w", "e"}},
		{"", []string{"i", "w", "e"}},
		{"warn", []string{"w", "e"}},
		{"WARNING", []string{"w", "e"}},
		{"error", []string{"e"}},
	}
	for _, tt := range tests {
		t.Run("level="+tt.level, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			logger, err := NewLogger(&buf, "json", tt.level)
			if err != nil {
				t.Fatalf("NewLogger: %v", err)
			}
			logger.Debug("d")
			logger.Info("i")
			logger.Warn("w")
			logger.Error("e")

			var got []string
			dec := json.NewDecoder(&buf)
			for dec.More() {
				var rec struct{ Msg string }
				if err := dec.Decode(&rec); err != nil {
					t.Fatalf("decode: %v", err)
				}
				got = append(got, rec.Msg)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("logged %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewLoggerBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, format, level string
		wantErr             error
		wantMsg             string
	}{
		{"format", "xml", "info", ErrUnknownLogFormat, `telemetry: unknown log format "xml": use json or text`},
		{"level", "json", "verbose", ErrUnknownLogLevel, `telemetry: unknown log level "verbose": use debug, info, warn or error`},
		{"slog offset level", "text", "INFO+2", ErrUnknownLogLevel, `telemetry: unknown log level "INFO+2": use debug, info, warn or error`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			logger, err := NewLogger(&buf, tt.format, tt.level)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("NewLogger(%q, %q) error = %v, want %v", tt.format, tt.level, err, tt.wantErr)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("error text = %q, want %q", err, tt.wantMsg)
			}
			if logger != nil {
				t.Errorf("NewLogger returned a logger with an error")
			}
		})
	}
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    slog.Level
		wantErr bool
	}{
		{"debug", slog.LevelDebug, false},
		{"DEBUG", slog.LevelDebug, false},
		{"info", slog.LevelInfo, false},
		{"", slog.LevelInfo, false},
		{" Warn ", slog.LevelWarn, false},
		{"warning", slog.LevelWarn, false},
		{"error", slog.LevelError, false},
		{"fatal", 0, true},
		{"-4", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseLevel(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseLevel(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil && !errors.Is(err, ErrUnknownLogLevel) {
			t.Errorf("ParseLevel(%q) error %v is not ErrUnknownLogLevel", tt.in, err)
		}
		if got != tt.want {
			t.Errorf("ParseLevel(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"json", FormatJSON, false},
		{"JSON", FormatJSON, false},
		{"", FormatJSON, false},
		{"text", FormatText, false},
		{"logfmt", "", true},
	}
	for _, tt := range tests {
		got, err := ParseFormat(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrUnknownLogFormat) {
			t.Errorf("ParseFormat(%q) error %v is not ErrUnknownLogFormat", tt.in, err)
		}
	}
}
