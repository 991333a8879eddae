package db_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/internal/pgtest"
)

// TestErrorKinds checks how db.Error classifies what the driver returns: the server's
// connection-class SQLSTATEs and broken connections are Unavailable, while errors the
// server answered with keep their kinds.
func TestErrorKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want errs.Kind
	}{
		{"no rows", pgx.ErrNoRows, errs.NotFound},
		{"unique violation", &pgconn.PgError{Code: "23505"}, errs.Conflict},
		{"immutable row", &pgconn.PgError{Code: "MN001", Message: "judgments are append-only"}, errs.Conflict},
		{"syntax error", &pgconn.PgError{Code: "42601"}, errs.Internal},
		{"NUL in text", &pgconn.PgError{Code: "22021"}, errs.Internal},
		{"connection failure", &pgconn.PgError{Code: "08006"}, errs.Unavailable},
		{"connection does not exist", &pgconn.PgError{Code: "08003"}, errs.Unavailable},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, errs.Unavailable},
		{"crash shutdown", &pgconn.PgError{Code: "57P02"}, errs.Unavailable},
		{"starting up", &pgconn.PgError{Code: "57P03"}, errs.Unavailable},
		{"too many connections", &pgconn.PgError{Code: "53300"}, errs.Unavailable},
		{"query cancelled", &pgconn.PgError{Code: "57014"}, errs.Internal},
		{"connection closed by the driver", fmt.Errorf("begin: %w", pgconn.ErrConnClosed), errs.Unavailable},
		{"socket ended mid-message", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), errs.Unavailable},
		{"no pooled connection in time", fmt.Errorf("acquire: %w", context.DeadlineExceeded), errs.Unavailable},
		{"a kind already given", errs.E(errs.Invalid, "bad"), errs.Invalid},
		{"anything else", errors.New("boom"), errs.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := db.Error(tt.err, "load thing %d", 7)
			assert.Equal(t, tt.want, errs.KindOf(err))
			assert.ErrorIs(t, err, tt.err, "the cause stays in the chain, for the log")
			if tt.want == errs.Unavailable {
				assert.Contains(t, err.Error(), "load thing 7", "the log says what was being done")
				assert.NotContains(t, errs.Message(err), "load thing", "the user is told to retry, not what failed inside")
			}
		})
	}
}

// TestErrorKindsFromARealOutage takes the server away through the test proxy: a refused
// connect, and a query the outage cut off, are both Unavailable.
func TestErrorKindsFromARealOutage(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := pgtest.NewProxy(t, pgtest.URL(t))
	conn, err := pgx.Connect(ctx, p.URL())
	require.NoError(t, err)
	defer conn.Close(ctx)

	p.Down()
	_, err = conn.Exec(ctx, `SELECT 1`)
	require.Error(t, err)
	assert.Equal(t, errs.Unavailable, errs.KindOf(db.Error(err, "query")), "a connection the outage broke: %v", err)
	assert.True(t, db.Unreachable(err))

	_, err = pgx.Connect(ctx, p.URL())
	require.Error(t, err)
	assert.Equal(t, errs.Unavailable, errs.KindOf(db.Error(err, "connect")), "a refused connect: %v", err)

	_, err = db.Connect(ctx, p.URL())
	require.Error(t, err)
	assert.True(t, db.Unreachable(err), "opening the pool: %v", err)
}
