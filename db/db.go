// Package db opens Mentor's PostgreSQL connections and applies its schema.
//
// Start-up order matters: Migrate runs on a single connection first (the first migration
// creates the vector extension), and only then does Connect open the pool, whose
// connections register pgvector's types as they are made.
package db

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"github.com/mentor-ai/mentor/errs"
)

// ErrNoVector means the server has no pgvector extension to create.
var ErrNoVector = errors.New("the pgvector extension is not installed on this PostgreSQL server " +
	"(install it: `make run` does so for its own cluster; elsewhere see https://github.com/pgvector/pgvector#installation)")

// HNSWEfSearch is the HNSW candidate list size every pooled connection searches with, and
// the vector list's up to HNSWLargeIndex vectors (at least the list's length: see
// retrieval.QueueEfSearch). With the indexes built as retrieval.VectorIndexBuild says
// (ef_construction 200), it held recall@10 ≥ 0.95 at 100k chunks on each of three builds
// (0.987 to 0.994); with pgvector's default build even 200 did not (0.9365, and one build of
// 0.615). 100 walks about half as far as 200, which was most of a search's PostgreSQL CPU
// (issue 17, docs/retrieval.md). Later builds at 200 were poor about one time in four
// (0.83–0.93), with some questions finding none of their 10 nearest at any ef_search: what a
// build connects, a longer search cannot reach. retrieval.RepairVectorIndex, which `mentor
// serve` runs at start and every 6 hours, rebuilds an index whose recall on the trainers'
// latest questions is below 0.95 (docs/retrieval.md, "Recall of the vector index").
const HNSWEfSearch = 100

// HNSWEfSearchLarge is the candidate list size of a search whose index holds more than
// HNSWLargeIndex vectors (retrieval.SearchGroup sets it for the one statement). At 1M
// chunks, with pgvector's default build, recall@10 at ef_search 200 was 0.924 and 0.932 and
// at 400 0.955 and 0.958: a larger graph needs a longer list for the same recall (issue 17,
// docs/retrieval.md). 1M was not measured with ef_construction 200; 400 is the safe side.
const HNSWEfSearchLarge = 400

// HNSWLargeIndex is the largest index, in vectors, that HNSWEfSearch was measured to serve
// at recall@10 ≥ 0.95: above it, searches use HNSWEfSearchLarge.
const HNSWLargeIndex = 100_000

// defaultMaxConns is the pool size unless the URL sets pool_max_conns.
const defaultMaxConns = 32

// connectTimeout bounds how long an unreachable server can stall start-up when the URL
// does not set connect_timeout itself.
const connectTimeout = 5 * time.Second

// ParseConfig parses a connection URL or keyword/value string, with Mentor's defaults.
func ParseConfig(dsn string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx already redacts the password in its parse errors.
		return nil, err
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		// pgx's default (the larger of 4 and the CPU count) starves a replica that runs live
		// streams and durable judgment commits: each commit waits for its WAL flush, and only
		// concurrent commits can share one. Measured: 4 connections held judgment submits to
		// 378/s at p50 466 ms; see docs/benchmarks.md.
		cfg.MaxConns = defaultMaxConns
	}
	return cfg, nil
}

// Connect opens a pool whose connections know pgvector's types, and pings it.
func Connect(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	return ConnectWith(ctx, dsn, nil)
}

// ConnectWith is Connect with adjust, when not nil, applied to the pool's configuration
// before it opens: tests and benchmarks size the pool or count its round trips.
func ConnectWith(ctx context.Context, dsn string, adjust func(*pgxpool.Config)) (*pgxpool.Pool, error) {
	cfg, err := ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		if err := pgxvec.RegisterTypes(ctx, conn); err != nil {
			return err
		}
		// Filtered vector searches keep scanning the HNSW index until the filter has let
		// enough rows through (pgvector 0.8), instead of returning fewer than asked for.
		// ef_search trades recall for time: BenchmarkSearch reports recall@10 at 100, at this
		// value and at 400 (docs/benchmarks.md).
		_, err := conn.Exec(ctx, fmt.Sprintf(`SET hnsw.iterative_scan = relaxed_order; SET hnsw.ef_search = %d`, HNSWEfSearch))
		return err
	}
	if adjust != nil {
		adjust(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool for %s: %w", Redact(dsn), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("cannot reach %s: %w", Redact(dsn), err)
	}
	return pool, nil
}

// CheckVector reports ErrNoVector when the server cannot create the vector extension.
func CheckVector(ctx context.Context, conn interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) error {
	var available bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')`).Scan(&available)
	if err != nil {
		return fmt.Errorf("look for the vector extension: %w", err)
	}
	if !available {
		return ErrNoVector
	}
	return nil
}

var keywordPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// Redact returns dsn with any password replaced, fit for logs and error messages.
func Redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return keywordPassword.ReplaceAllString(dsn, "${1}xxxxx")
}

// Error gives a database error its kind, describing it by what was being done: a missing
// row is NotFound, a duplicate a Conflict, a broken reference NotFound, a change to an
// immutable row (SQLSTATE MN001, raised by our triggers) a Conflict, and a database that
// cannot be reached or went away mid-query Unavailable (see Unreachable). Errors that
// already have a kind pass through; anything else stays internal. Error(nil, …) is nil.
func Error(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	what := errs.P(format, args...) // a phrase, so the message can be translated whole
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return errs.Wrap(errs.NotFound, err, "%s: not found", what)
	}
	if Unreachable(err) {
		// The cause and what was being done go to the log; the user learns only that it is
		// worth trying again.
		return errs.Wrap(errs.Unavailable, fmt.Errorf("%s: %w", what, err), "the database is not reachable: try again in a few seconds")
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			return errs.Wrap(errs.Conflict, err, "%s: already exists", what)
		case "23503": // foreign_key_violation
			return errs.Wrap(errs.NotFound, err, "%s: it refers to something that does not exist", what)
		case "MN001":
			return errs.Wrap(errs.Conflict, err, "%s: %s", what, pgErr.Message)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Unreachable reports whether err says the database could not be reached or dropped the
// connection, rather than that the statement was wrong: a refused or failed connect
// (pgconn.ConnectError), a socket that broke mid-query, a connection the driver had
// already closed, a deadline that ran out waiting for the server or for a pooled
// connection, and the server's own connection-class SQLSTATEs (class 08, 57P01 to 57P03
// while it shuts down or starts up, 53300 when it has no connection slot left). These are
// the errors that clear up by themselves, so the caller may retry.
func Unreachable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch c := pgErr.Code; {
		case strings.HasPrefix(c, "08"), c == "57P01", c == "57P02", c == "57P03", c == "53300":
			return true
		}
		return false // the server answered: whatever it said, it is there
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr), pgconn.Timeout(err):
		return true
	case errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return true
	case errors.Is(err, context.DeadlineExceeded):
		// Waiting for a pooled connection (every one busy or unable to connect) ends with
		// the bare context error.
		return true
	}
	return false
}
