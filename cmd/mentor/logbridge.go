package main

import (
	"context"
	"log"
	"log/slog"
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
	return slog.New(statementsAtDebug{logger.Handler()})
}

// statementsAtDebug lowers records that carry a SQL statement to debug level.
type statementsAtDebug struct{ next slog.Handler }

// statementKey is the attribute under which goose's verbose mode logs each statement.
const statementKey = "statement"

// Enabled asks at the record's own level: lowering a record can only turn it off, which
// Handle checks again.
func (h statementsAtDebug) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h statementsAtDebug) Handle(ctx context.Context, r slog.Record) error {
	if r.Level > slog.LevelDebug && hasAttr(r, statementKey) {
		r.Level = slog.LevelDebug
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h statementsAtDebug) WithAttrs(attrs []slog.Attr) slog.Handler {
	return statementsAtDebug{h.next.WithAttrs(attrs)}
}

func (h statementsAtDebug) WithGroup(name string) slog.Handler {
	return statementsAtDebug{h.next.WithGroup(name)}
}

func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}
