package main

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRoutineLogsGoToDebug(t *testing.T) {
	cases := []struct {
		name   string
		logger func(*slog.Logger) *slog.Logger
		log    func(*slog.Logger)
		shown  bool
	}{
		{"River's job counts", jobsLogger, func(l *slog.Logger) { l.Info("producer: Producer job counts", "queue", "default") }, false},
		{"River's maintenance pass", jobsLogger, func(l *slog.Logger) { l.Info("maintenance.JobScheduler: Ran successfully") }, false},
		{"River's start", jobsLogger, func(l *slog.Logger) { l.Info("River client started") }, true},
		{"a job failure", jobsLogger, func(l *slog.Logger) { l.Error("jobexecutor.JobExecutor: Job errored; retrying") }, true},
		{"a goose statement", migrationLogger, func(l *slog.Logger) { l.Info("applying", "statement", "CREATE TABLE t ()") }, false},
		{"a migration applied", migrationLogger, func(l *slog.Logger) { l.Info("OK 00001_init.sql") }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
				var out bytes.Buffer
				tc.log(tc.logger(slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: level}))))
				assert.Equal(t, tc.shown || level == slog.LevelDebug, out.Len() > 0, "at log level %s", level)
			}
		})
	}
}
