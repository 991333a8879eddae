package main

import (
	"log"
	"log/slog"
)

// slogErrorLog routes net/http's internal errors (TLS handshakes, bad requests) into slog.
func slogErrorLog(logger *slog.Logger) *log.Logger {
	return slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
}
