package telemetry

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Errors returned by ParseLevel, ParseFormat and NewLogger. They are wrapped
// with the offending value; test for them with errors.Is.
var (
	ErrUnknownLogLevel  = errors.New("telemetry: unknown log level")
	ErrUnknownLogFormat = errors.New("telemetry: unknown log format")
)

// Log formats accepted by NewLogger and Config.LogFormat.
const (
	FormatJSON = "json"
	FormatText = "text"
)

// ParseLevel maps a --log-level value to a slog.Level. It accepts debug,
// info, warn (or warning) and error, in any case. The empty string means info,
// so an unset flag or STRATA_LOG_LEVEL falls back to the default.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	default:
		return 0, fmt.Errorf("%w %q: use debug, info, warn or error", ErrUnknownLogLevel, s)
	}
}

// ParseFormat checks a --log-format value and returns it in canonical form
// (FormatJSON or FormatText). Matching ignores case; the empty string means
// FormatJSON.
func ParseFormat(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", FormatJSON:
		return FormatJSON, nil
	case FormatText:
		return FormatText, nil
	default:
		return "", fmt.Errorf("%w %q: use json or text", ErrUnknownLogFormat, s)
	}
}

// NewLogger returns a logger that writes records at level or above to w, as
// one JSON object per line (format "json") or as key=value text (format
// "text"). A nil w means os.Stderr. See ParseFormat and ParseLevel for the
// accepted spellings.
//
// NewLogger mutates no global state; call slog.SetDefault (or
// Telemetry.SetDefault) if the process-wide default should change.
func NewLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	f, err := ParseFormat(format)
	if err != nil {
		return nil, err
	}
	lvl, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	if w == nil {
		w = os.Stderr
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if f == FormatText {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}
