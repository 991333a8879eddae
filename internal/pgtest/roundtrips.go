package pgtest

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mentor-ai/mentor/db"
)

// RoundTrips counts the round trips a pool's connections make to PostgreSQL: each time a
// connection sends after it has received, it has waited for an answer once. A pipelined
// batch is one; a statement that pgx first prepares on a connection is two, once.
type RoundTrips struct{ n atomic.Int64 }

// Count returns the round trips so far.
func (r *RoundTrips) Count() int64 { return r.n.Load() }

// CountingPool returns a pool of at most maxConns connections (db.Connect's setup) on a new,
// fully migrated database, and the count of its round trips.
func CountingPool(t testing.TB, maxConns int32) (*pgxpool.Pool, *RoundTrips) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rt := &RoundTrips{}
	pool, err := db.ConnectWith(ctx, URL(t), func(cfg *pgxpool.Config) {
		cfg.MaxConns = maxConns
		var d net.Dialer
		cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			cc := &countingConn{Conn: c, rt: rt}
			cc.answered.Store(true)
			return cc, nil
		}
	})
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool, rt
}

// countingConn counts a write that follows a read. pgconn may read in a background
// goroutine while it writes, so answered is atomic.
type countingConn struct {
	net.Conn
	rt       *RoundTrips
	answered atomic.Bool
}

func (c *countingConn) Write(p []byte) (int, error) {
	if c.answered.Swap(false) {
		c.rt.n.Add(1)
	}
	return c.Conn.Write(p)
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.answered.Store(true)
	}
	return n, err
}
