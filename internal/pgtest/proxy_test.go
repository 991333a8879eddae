package pgtest_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/internal/pgtest"
)

// TestProxyDownAndUp checks the three things a "database is down" test relies on: Down
// breaks a query in flight and refuses new connections, and Up serves the same URL again,
// so a pool reconnects by itself.
func TestProxyDownAndUp(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	direct := pgtest.URL(t)
	p := pgtest.NewProxy(t, direct)
	require.NotEqual(t, direct, p.URL())

	pool, err := db.Connect(ctx, p.URL())
	require.NoError(t, err)
	defer pool.Close()
	var one int
	require.NoError(t, pool.QueryRow(ctx, `SELECT 1`).Scan(&one))

	// A query in flight: watch it from a connection that bypasses the proxy, so Down comes
	// only once the server is running it.
	watcher, err := pgx.Connect(ctx, direct)
	require.NoError(t, err)
	defer watcher.Close(ctx)
	failed := make(chan error, 1)
	go func() {
		_, err := pool.Exec(ctx, `SELECT pg_sleep(60) /* in flight */`)
		failed <- err
	}()
	require.Eventually(t, func() bool {
		var n int
		err := watcher.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%/* in flight */' AND pid <> pg_backend_pid()`).Scan(&n)
		return err == nil && n == 1
	}, 30*time.Second, 10*time.Millisecond)

	p.Down()
	select {
	case err := <-failed:
		require.Error(t, err, "the query in flight must fail when the proxy goes down")
	case <-ctx.Done():
		t.Fatal("the query in flight went on after Down")
	}
	_, err = pgx.Connect(ctx, p.URL())
	require.Error(t, err)
	assert.True(t, errors.Is(err, syscall.ECONNREFUSED), "new connections are refused, got %v", err)
	var connectErr *pgconn.ConnectError
	assert.ErrorAs(t, err, &connectErr)
	assert.Error(t, pool.Ping(ctx), "the pool cannot reach the server either")

	p.Up()
	require.NoError(t, pool.QueryRow(ctx, `SELECT 2`).Scan(&one), "the pool reconnects through the same URL")
	assert.Equal(t, 2, one)
}
