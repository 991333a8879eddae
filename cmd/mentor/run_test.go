package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/migrations"
)

// syncBuffer is an io.Writer that a test can read while run is still writing to it.
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

func envFunc(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

var readyLine = regexp.MustCompile(`Mentor is ready at (http://\S+)`)

// served is a `mentor serve` running in the test process, through run as main calls it.
type served struct {
	stdout, stderr *syncBuffer
	done           chan error
	// stop cancels run as SIGINT would, and returns run's error; safe to call again.
	stop func() error
}

// serve starts `mentor serve` on a free port; the test's cleanup stops it.
func serve(t testing.TB, env map[string]string, args ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	go func() {
		s.done <- run(ctx, append([]string{"mentor", "serve", "--addr", "127.0.0.1:0"}, args...), envFunc(env), nil, s.stdout, s.stderr)
	}()
	s.stop = sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-s.done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("run did not return within 30s of cancellation")
		}
	})
	t.Cleanup(func() { s.stop() })
	return s
}

// waitFor waits until what serve printed satisfies ready, failing the test (with the log)
// if serve exits first or a minute passes.
func (s *served) waitFor(t testing.TB, ready func(stdout string) bool) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for !ready(s.stdout.String()) {
		select {
		case err := <-s.done:
			s.done <- err // for stop
			t.Fatalf("serve exited before it was ready: %v\nstderr:\n%s", err, s.stderr.String())
		case <-deadline:
			t.Fatalf("serve not ready after 60s; stderr:\n%s", s.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// startServe runs `mentor serve` and waits until it says where it listens. The returned
// func stops it as SIGINT would and returns run's error.
func startServe(t *testing.T, env map[string]string, args ...string) (string, func() error) {
	t.Helper()
	s := serve(t, env, args...)
	s.waitFor(t, readyLine.MatchString)
	return readyLine.FindStringSubmatch(s.stdout.String())[1], s.stop
}

func TestServeMigratesAnEmptyDatabaseAndServes(t *testing.T) {
	t.Parallel()
	dsn := pgtest.EmptyURL(t)
	base, stop := startServe(t, map[string]string{"DATABASE_URL": dsn, "MENTOR_LOG_FORMAT": "json"})

	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200} {
		res, err := http.Get(base + path)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, want, res.StatusCode, path)
	}
	require.NoError(t, stop(), "a cancelled serve shuts down cleanly")

	// The schema it applied stays: vector is there.
	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var ext string
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT extname FROM pg_extension WHERE extname = 'vector'`).Scan(&ext))
}

func TestServeFailsFastWithTheSettingNamed(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { busy.Close() })
	good := pgtest.URL(t)
	badModels := filepath.Join(t.TempDir(), "models.yaml")
	require.NoError(t, os.WriteFile(badModels, []byte("endpoints:\n  - name: x\n    base_url: http://127.0.0.1:1\n    models:\n      - {name: m, temperature: 9}\n"), 0o600))
	unreachable := "postgres://mentor:s3cret-pw@127.0.0.1:1/mentor?sslmode=disable"

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    []string
		notWant string
	}{
		{name: "no database url", env: map[string]string{},
			want: []string{"DATABASE_URL is not set"}},
		{name: "unreachable database from the environment", env: map[string]string{"DATABASE_URL": unreachable},
			want: []string{"DATABASE_URL:", "cannot reach", "127.0.0.1:1", "xxxxx"}, notWant: "s3cret-pw"},
		{name: "unreachable database from the flag", args: []string{"--database-url", unreachable}, env: map[string]string{},
			want: []string{"--database-url:", "cannot reach"}, notWant: "s3cret-pw"},
		{name: "malformed database url", env: map[string]string{"DATABASE_URL": "postgres://mentor:pw@host:notaport/db"},
			want: []string{"DATABASE_URL:"}, notWant: ":pw@"},
		{name: "port in use", args: []string{"--addr", busy.Addr().String()}, env: map[string]string{"DATABASE_URL": good},
			want: []string{"port in use", busy.Addr().String(), "--addr"}},
		{name: "port in use from the environment", env: map[string]string{"DATABASE_URL": good, "MENTOR_ADDR": busy.Addr().String()},
			want: []string{"port in use", "MENTOR_ADDR"}},
		{name: "address without a port", env: map[string]string{"DATABASE_URL": good, "MENTOR_ADDR": "localhost"},
			want: []string{"MENTOR_ADDR", "not host:port"}},
		{name: "bad log format", env: map[string]string{"DATABASE_URL": good, "MENTOR_LOG_FORMAT": "xml"},
			want: []string{"MENTOR_LOG_FORMAT", `"xml" is not one of text, json`}},
		{name: "bad log level", env: map[string]string{"DATABASE_URL": good, "MENTOR_LOG_LEVEL": "loud"},
			want: []string{"MENTOR_LOG_LEVEL", "loud"}},
		{name: "bad boolean", env: map[string]string{"DATABASE_URL": good, "MENTOR_MIGRATE": "maybe"},
			want: []string{`MENTOR_MIGRATE="maybe": want true or false`}},
		{name: "bad duration", env: map[string]string{"DATABASE_URL": good, "MENTOR_SHUTDOWN_TIMEOUT": "soon"},
			want: []string{`MENTOR_SHUTDOWN_TIMEOUT="soon"`}},
		{name: "stray argument", args: []string{"extra"}, env: map[string]string{"DATABASE_URL": good},
			want: []string{"takes no arguments"}},
		{name: "malformed models file", env: map[string]string{"DATABASE_URL": good, "MENTOR_MODELS_FILE": badModels},
			want: []string{"models file " + badModels + ", line 5", "temperature: must be between 0 and 2"}},
		{name: "missing models file", env: map[string]string{"DATABASE_URL": good, "MENTOR_MODELS_FILE": "/nonexistent/models.yaml"},
			want: []string{"models file /nonexistent/models.yaml", "no such file"}},
		{name: "bad baseline rate", env: map[string]string{"DATABASE_URL": good, "MENTOR_BASELINE_RATE": "-1"},
			want: []string{"MENTOR_BASELINE_RATE: must be between 0 and 10000"}},
		{name: "development flag in production", env: map[string]string{"DATABASE_URL": good, "MENTOR_DEV": "true"},
			want: []string{"MENTOR_DEV is a development flag: refusing to start with --env / MENTOR_ENV=production"}},
		{name: "development flag with production said out loud", env: map[string]string{"DATABASE_URL": good, "MENTOR_DEV": "1", "MENTOR_ENV": "production"},
			want: []string{"refusing to start with MENTOR_ENV=production"}},
		{name: "unknown environment", env: map[string]string{"DATABASE_URL": good, "MENTOR_ENV": "staging"},
			want: []string{`MENTOR_ENV: "staging" is not one of development, production`}},
		{name: "bad trusted proxy", env: map[string]string{"DATABASE_URL": good, "MENTOR_TRUSTED_PROXIES": "10.0.0.0/8, nonsense"},
			want: []string{`MENTOR_TRUSTED_PROXIES: "nonsense" is neither an IP nor a CIDR`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"mentor", "serve"}
			if !containsFlag(tt.args, "--addr") && tt.env["MENTOR_ADDR"] == "" {
				args = append(args, "--addr", "127.0.0.1:0")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var stdout, stderr syncBuffer
			err := run(ctx, append(args, tt.args...), envFunc(tt.env), nil, &stdout, &stderr)
			require.Error(t, err, "serve must refuse to start")
			require.NoError(t, ctx.Err(), "serve must fail fast, not hang")
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			if tt.notWant != "" {
				assert.NotContains(t, err.Error(), tt.notWant)
				assert.NotContains(t, stderr.String(), tt.notWant)
			}
		})
	}
}

func containsFlag(args []string, name string) bool {
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

func TestMigrateUpDownStatus(t *testing.T) {
	t.Parallel()
	dsn := pgtest.EmptyURL(t)
	env := envFunc(map[string]string{"DATABASE_URL": dsn})
	migrate := func(action string) string {
		t.Helper()
		var stdout, stderr syncBuffer
		require.NoError(t, run(context.Background(), []string{"mentor", "migrate", action}, env, nil, &stdout, &stderr), stderr.String())
		return stdout.String()
	}
	versions := migrationVersions(t)
	assert.Regexp(t, `(?m)^1\s+pending\s+-\s+00001_vector_extension.sql$`, migrate("status"))
	assert.Contains(t, migrate("up"), fmt.Sprintf("applied %d migration(s)", len(versions)))
	assert.Regexp(t, `(?m)^1\s+applied\s+\d{4}-`, migrate("status"))
	assert.Contains(t, migrate("up"), "applied 0 migration(s)", "up is idempotent")
	// Every migration rolls back cleanly, newest first, down to an empty schema.
	for i := len(versions) - 1; i >= 0; i-- {
		assert.Regexp(t, fmt.Sprintf(`rolled back %05d_\w+\.sql`, versions[i]), migrate("down"))
	}
	assert.NotRegexp(t, `applied`, migrate("status"))
	assert.Contains(t, migrate("up"), fmt.Sprintf("applied %d migration(s)", len(versions)), "and applies again after a full rollback")

	var stdout, stderr syncBuffer
	err := run(context.Background(), []string{"mentor", "migrate", "sideways"}, env, nil, &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown action "sideways" (want up, down or status)`)
}

// migrationVersions lists the versions of the embedded migrations in order. Numbers may have
// gaps (a branch can take a later number while an earlier one is in review elsewhere), so
// tests count files rather than trust the latest number.
func migrationVersions(t *testing.T) []int {
	t.Helper()
	entries, err := fs.ReadDir(migrations.FS, ".")
	require.NoError(t, err)
	var out []int
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		if !ok {
			continue
		}
		v, err := strconv.Atoi(prefix)
		require.NoError(t, err, e.Name())
		out = append(out, v)
	}
	return out
}

func TestMigrateConcurrentlyAppliesOnce(t *testing.T) {
	t.Parallel()
	dsn := pgtest.EmptyURL(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			errs[i] = run(context.Background(), []string{"mentor", "migrate", "up"},
				envFunc(map[string]string{"DATABASE_URL": dsn}), nil, io.Discard, io.Discard)
		})
	}
	wg.Wait()
	for _, err := range errs {
		assert.NoError(t, err)
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var applied, distinct int
	require.NoError(t, conn.QueryRow(context.Background(),
		`SELECT count(*), count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&applied, &distinct))
	assert.Len(t, migrationVersions(t), applied, "the advisory lock lets exactly one runner apply each migration")
	assert.Equal(t, applied, distinct)
}

func TestHelpAndUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr error
		want    []string
	}{
		{"serve help lists variables", []string{"serve", "--help"}, flag.ErrHelp,
			[]string{"--addr", "MENTOR_ADDR", "DATABASE_URL", "MENTOR_LOG_FORMAT", "(default 127.0.0.1:8080)"}},
		{"migrate help", []string{"migrate", "-h"}, flag.ErrHelp, []string{"up|down|status", "DATABASE_URL"}},
		{"no command", nil, errUsage, []string{"Commands:"}},
		{"unknown command", []string{"fly"}, errUsage, []string{`unknown command "fly"`}},
		{"unknown flag", []string{"serve", "--colour"}, errUsage, []string{"flag provided but not defined: -colour"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr syncBuffer
			err := run(context.Background(), append([]string{"mentor"}, tt.args...), envFunc(nil), nil, &stdout, &stderr)
			assert.ErrorIs(t, err, tt.wantErr)
			for _, w := range tt.want {
				assert.Contains(t, stdout.String()+stderr.String(), w)
			}
		})
	}

	var stdout syncBuffer
	require.NoError(t, run(context.Background(), []string{"mentor", "version"}, envFunc(nil), nil, &stdout, io.Discard))
	assert.Regexp(t, `^mentor \S+\n$`, stdout.String())
}

func TestUserCommand(t *testing.T) {
	t.Parallel()
	dsn := pgtest.URL(t)
	env := envFunc(map[string]string{"DATABASE_URL": dsn, "USER": "ops"})
	user := func(stdin string, args ...string) (string, error) {
		var stdout, stderr syncBuffer
		err := run(context.Background(), append([]string{"mentor", "user"}, args...), env, strings.NewReader(stdin), &stdout, &stderr)
		return stdout.String() + stderr.String(), err
	}
	out, err := user("a very good password\n", "add", "--login", "Wang@Example.com", "--name", "王老师", "--admin")
	require.NoError(t, err, out)
	assert.Contains(t, out, "created wang@example.com")
	assert.NotContains(t, out, "password:", "a password given on stdin is not echoed")

	out, err = user("", "add", "--login", "li")
	require.NoError(t, err, out)
	assert.Regexp(t, `password: \S{20,}`, out, "none given: one is generated and shown once")

	out, err = user("", "disable", "li")
	require.NoError(t, err, out)
	assert.Contains(t, out, "disabled li")
	out, err = user("", "reset-password", "li")
	require.NoError(t, err, out)
	assert.Contains(t, out, "their sessions have ended")

	_, err = user("short\n", "add", "--login", "zhao")
	assert.ErrorContains(t, err, "password: must be at least 10 characters")
	_, err = user("", "disable", "nobody")
	assert.ErrorContains(t, err, "not found")
	_, err = user("", "fly", "x")
	assert.ErrorContains(t, err, `unknown action "fly"`)

	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var actions []string
	rows, _ := conn.Query(context.Background(), `SELECT action || ' ' || target || ' by ' || actor FROM audit_events ORDER BY id`)
	actions, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{"user_created wang@example.com by cli:ops", "user_created li by cli:ops",
		"user_disabled li by cli:ops", "password_reset li by cli:ops"}, actions)
}

func TestDevelopmentModePrintsDemoAccounts(t *testing.T) {
	t.Parallel()
	creds := filepath.Join(t.TempDir(), "dev-credentials.json")
	env := map[string]string{"DATABASE_URL": pgtest.URL(t), "MENTOR_ENV": "development", "MENTOR_DEV": "true", "MENTOR_DEV_CREDENTIALS": creds}
	out := startServeOutput(t, env)
	assert.Contains(t, out, "Demo accounts (development mode only")
	admin := regexp.MustCompile(`(?m)^  admin\s+(\S+)\s+instance administrator`).FindStringSubmatch(out)
	require.NotNil(t, admin, out)
	assert.Regexp(t, `(?m)^  trainer\s+\S+\s+trainer in the demo project`, out)

	// A second start prints the same passwords, kept in the credentials file.
	again := startServeOutput(t, env)
	assert.Contains(t, again, "  admin     "+admin[1])
	info, err := os.Stat(creds)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
}

// startServeOutput starts serve, returns what it printed once the demo accounts are listed,
// and stops it.
func startServeOutput(t *testing.T, env map[string]string) string {
	t.Helper()
	s := serve(t, env)
	s.waitFor(t, demoAccountsListed)
	require.NoError(t, s.stop())
	return s.stdout.String()
}

// demoAccountsListed says whether development mode has printed all three demo accounts,
// the last thing serve prints once ready.
func demoAccountsListed(stdout string) bool {
	return len(demoAccountLine.FindAllString(stdout, -1)) == 3
}
