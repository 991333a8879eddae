package main

import (
	"context"
	"fmt"
	"io/fs"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/migrations"
)

// sqlStatement matches the DDL the migrations hold, as goose logs it statement by statement.
var sqlStatement = regexp.MustCompile(`(?i)\b(CREATE|ALTER|DROP)\s+(TABLE|INDEX|EXTENSION|UNIQUE\s+INDEX|FUNCTION|TRIGGER|OR\s+REPLACE)\b`)

// The first `make run` or `make test` migrates an empty database. It must say which
// migrations it applied without printing every SQL statement; debug level still shows them.
func TestMigrateUpSaysWhatItDidWithoutTheSQL(t *testing.T) {
	t.Parallel()
	names := migrationNames(t)
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantSQL bool
	}{
		{name: "default level"},
		{name: "info level from the environment", env: map[string]string{"MENTOR_LOG_LEVEL": "info"}},
		{name: "debug level from the flag shows the statements", args: []string{"--log-level", "debug"}, wantSQL: true},
		{name: "debug level from the environment shows the statements", env: map[string]string{"MENTOR_LOG_LEVEL": "debug"}, wantSQL: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"DATABASE_URL": pgtest.EmptyURL(t)}
			for k, v := range tt.env {
				env[k] = v
			}
			var stdout, stderr syncBuffer
			args := append(append([]string{"mentor", "migrate"}, tt.args...), "up")
			require.NoError(t, run(context.Background(), args, envFunc(env), nil, &stdout, &stderr), stderr.String())

			out := stdout.String() + stderr.String()
			assert.Contains(t, stdout.String(), fmt.Sprintf("applied %d migration(s)", len(names)))
			for _, n := range names {
				assert.Contains(t, out, n, "the output names every migration it applied")
			}
			if tt.wantSQL {
				assert.Regexp(t, sqlStatement, stderr.String())
				assert.Contains(t, stderr.String(), "level=DEBUG")
				return
			}
			assert.NotRegexp(t, sqlStatement, out, "SQL statements belong to the debug level")
			assert.NotContains(t, out, "executing statement")
		})
	}
}

func TestMigrateRefusesABadLogLevel(t *testing.T) {
	t.Parallel()
	var stdout, stderr syncBuffer
	err := run(context.Background(), []string{"mentor", "migrate", "up"},
		envFunc(map[string]string{"DATABASE_URL": pgtest.EmptyURL(t), "MENTOR_LOG_LEVEL": "loud"}), nil, &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "MENTOR_LOG_LEVEL")
	assert.Contains(t, err.Error(), "loud")
}

// `make run` is `mentor serve` on a database nothing has migrated yet: its log says which
// migrations it applied, and shows no SQL.
func TestServeMigratesWithoutPrintingSQL(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": pgtest.EmptyURL(t)}
	log := serveLogUntilReady(t, env)
	assert.NotRegexp(t, sqlStatement, log)
	assert.NotContains(t, log, "executing statement")
	for _, n := range migrationNames(t) {
		assert.Contains(t, log, n, "the log names every migration it applied")
	}
	assert.Contains(t, log, "successfully migrated database")
}

// serveLogUntilReady runs `mentor serve` until it says where it listens, stops it, and
// returns what it logged.
func serveLogUntilReady(t *testing.T, env map[string]string) string {
	t.Helper()
	// Migrating an empty database is part of the start, which the start timeout bounds: on
	// the CI machine, under the race detector and the suite's parallel tests, 23 migrations
	// once took longer than the default (migration 16 was cut off), so these tests allow 60 s.
	if _, ok := env["MENTOR_START_TIMEOUT"]; !ok {
		env["MENTOR_START_TIMEOUT"] = slowStart["MENTOR_START_TIMEOUT"]
	}
	s := serve(t, env)
	s.waitFor(t, readyLine.MatchString)
	require.NoError(t, s.stop())
	return s.stderr.String()
}

// migrationNames lists the embedded migrations' file names.
func migrationNames(t *testing.T) []string {
	t.Helper()
	names, err := fs.Glob(migrations.FS, "*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, names)
	return names
}
