package quorum

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/lni/dragonboat/v4/logger"
)

// dbLogger adapts dragonboat's logger interface to slog.
type dbLogger struct {
	log   *slog.Logger
	level logger.LogLevel
	set   atomic.Int32
}

func (d *dbLogger) SetLevel(l logger.LogLevel) { d.set.Store(int32(l) + 1) }

func (d *dbLogger) enabled(l logger.LogLevel) bool {
	lvl := d.level
	if s := d.set.Load(); s != 0 {
		lvl = logger.LogLevel(s - 1)
	}
	return l <= lvl
}

func (d *dbLogger) logf(l logger.LogLevel, sl slog.Level, format string, args ...any) {
	if d.enabled(l) {
		d.log.Log(context.Background(), sl, fmt.Sprintf(format, args...))
	}
}

func (d *dbLogger) Debugf(format string, args ...any) {
	d.logf(logger.DEBUG, slog.LevelDebug, format, args...)
}

func (d *dbLogger) Infof(format string, args ...any) {
	d.logf(logger.INFO, slog.LevelInfo, format, args...)
}

func (d *dbLogger) Warningf(format string, args ...any) {
	d.logf(logger.WARNING, slog.LevelWarn, format, args...)
}

func (d *dbLogger) Errorf(format string, args ...any) {
	d.logf(logger.ERROR, slog.LevelError, format, args...)
}

func (d *dbLogger) Panicf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	d.log.Error(msg)
	panic(msg)
}
