package main

import (
	"context"
	"log"
	"log/slog"
	"strings"
)

// slogErrorLog routes net/http's internal errors (TLS handshakes, bad requests) into slog.
func slogErrorLog(logger *slog.Logger) *log.Logger {
	return slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
}

// migrationLogger is the logger goose gets. Goose logs every SQL statement it runs at info
// level, which on a first run is hundreds of lines of DDL between the lines that matter;
// those records go to debug, so the log says which migrations ran and `--log-level debug`
// still shows what they executed.
func migrationLogger(logger *slog.Logger) *slog.Logger {
	return slog.New(routineAtDebug{logger.Handler(), carriesStatement})
}

// jobsLogger is the logger River gets. River reports each queue's job counts every few
// seconds and each maintenance pass at info level; on `make run` those were nearly every
// line of the log. They go to debug; River's start, stop and job failures keep their level.
func jobsLogger(logger *slog.Logger) *slog.Logger {
	return slog.New(routineAtDebug{logger.Handler(), isRoutineJobReport})
}

// statementKey is the attribute under which goose's verbose mode logs each statement.
const statementKey = "statement"

func carriesStatement(r slog.Record) bool { return hasAttr(r, statementKey) }

// routineJobReports end River's periodic info messages (its messages are prefixed with the
// reporting service's name, as "producer: Producer job counts").
var routineJobReports = []string{"Producer job counts", "Ran successfully"}

func isRoutineJobReport(r slog.Record) bool {
	if r.Level != slog.LevelInfo {
		return false
	}
	for _, suffix := range routineJobReports {
		if strings.HasSuffix(r.Message, suffix) {
			return true
		}
	}
	return false
}

// routineAtDebug lowers the records that routine reports to debug level.
type routineAtDebug struct {
	next    slog.Handler
	routine func(slog.Record) bool
}

// Enabled asks at the record's own level: lowering a record can only turn it off, which
// Handle checks again.
func (h routineAtDebug) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h routineAtDebug) Handle(ctx context.Context, r slog.Record) error {
	if r.Level > slog.LevelDebug && h.routine(r) {
		r.Level = slog.LevelDebug
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h routineAtDebug) WithAttrs(attrs []slog.Attr) slog.Handler {
	return routineAtDebug{h.next.WithAttrs(attrs), h.routine}
}

func (h routineAtDebug) WithGroup(name string) slog.Handler {
	return routineAtDebug{h.next.WithGroup(name), h.routine}
}

func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}
