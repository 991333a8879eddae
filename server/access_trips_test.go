package server_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
)

// TestAccessRoundTrips holds the access check to one round trip (issue 17): the session or
// token, the caller's memberships and what the route is about go to PostgreSQL as one
// pipelined batch, where they were three waits (session, target, role) before every
// request. A judgment through the whole server is then two: the check, whose batch also
// reads the submission's lookups (fromJudgedTurn), and the write. A retry answered from
// its key is three: the write finds the key taken, and the stored judgment is read.
// Each case is the fewest of three tries, each warm: the engine's background work shares
// the pool and can only add to a count, never take from it.
func TestAccessRoundTrips(t *testing.T) {
	t.Parallel()
	f := newFixture(t, discardLogger(), options{countTrips: true})
	ctx := context.Background()
	turns := judgedTurns(t, f, 8)
	projectID, _, err := f.deps.Live.TurnOwner(ctx, turns[0][0])
	require.NoError(t, err)
	trainer := f.member(t, "trainer", projectID, auth.RoleTrainer)
	u, err := f.auth.UserByLogin(ctx, "trainer")
	require.NoError(t, err)
	secret, _, err := f.auth.CreateToken(ctx, u.ID, "script", []auth.Scope{auth.ScopeWrite})
	require.NoError(t, err)
	script := f.withToken(secret)
	f.user(t, "outsider", false)
	outsider := f.signIn(t, "outsider")

	var seq int64
	fresh := func(turn []int64) (string, map[string]any) { seq++; return submission(turn, seq) }
	cases := []struct {
		name   string
		client *client
		turn   []int64
		retry  bool // send the same key again
		status int
		trips  int64
	}{
		{name: "session, new judgment", client: trainer, turn: turns[1], status: http.StatusCreated, trips: 2},
		{name: "session, retry answered from its key", client: trainer, turn: turns[1], retry: true, status: http.StatusOK, trips: 3},
		{name: "token, new judgment", client: script, turn: turns[2], status: http.StatusCreated, trips: 2},
		{name: "instance admin, no membership needed", client: f.admin, turn: turns[3], status: http.StatusCreated, trips: 2},
		{name: "not a member: not found, and nothing else asked", client: outsider, turn: turns[4], status: http.StatusNotFound, trips: 1},
		{name: "no such turn", client: trainer, turn: []int64{1 << 40, 1, 2, 3, 4}, status: http.StatusNotFound, trips: 1},
		{name: "not signed in: nothing to look up", client: f.anonymous(), turn: turns[5], status: http.StatusUnauthorized, trips: 0},
	}
	for _, tc := range cases { // in order: the retry repeats the case before it
		path, body := fresh(tc.turn)
		if tc.retry {
			seq--
			path, body = submission(tc.turn, seq)
		}
		// Warm: pgx prepares a statement once per connection, and a token records its
		// first use.
		res := tc.client.request(t, "POST", path, body)
		res.Body.Close()
		best := fewestRoundTrips(t, f, tc.name, tc.status, func() *http.Response {
			if !tc.retry && tc.status == http.StatusCreated {
				path, body = fresh(tc.turn) // another revision
			}
			return tc.client.request(t, "POST", path, body)
		})
		assert.Equal(t, tc.trips, best, "%s: round trips", tc.name)
	}
}

// fewestRoundTrips sends three requests (send makes each) and returns the fewest round trips
// to PostgreSQL one of them took, checking each answer's status: the engine's background
// work shares the pool and can only add to a count, never take from it.
func fewestRoundTrips(t *testing.T, f fixture, name string, status int, send func() *http.Response) int64 {
	t.Helper()
	best := int64(-1)
	for range 3 {
		before := f.roundTrips.Count()
		res := send()
		res.Body.Close()
		n := f.roundTrips.Count() - before
		require.Equal(t, status, res.StatusCode, name)
		if best < 0 || n < best {
			best = n
		}
	}
	return best
}

// TestAccessPlansOnce holds the access check's lookups to one generic plan per connection
// (db.QueueGenericPlans, issue 17): PostgreSQL planned the session's lookup anew for every
// request, and the planning cost three times what running it does. Every connection the
// pool holds is asked, since any of them may have served a request.
func TestAccessPlansOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, discardLogger(), options{countTrips: true})
	ctx := context.Background()
	turns := judgedTurns(t, f, 1)
	var projectID int64 // not by TurnOwner, whose statement is the one counted below
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT project_id FROM conversations c JOIN turns t ON t.conversation_id = c.id
		WHERE t.id = $1`, turns[0][0]).Scan(&projectID))
	trainer := f.member(t, "trainer", projectID, auth.RoleTrainer)
	for i := range 12 {
		res := trainer.request(t, "GET", fmt.Sprintf("/api/v1/turns/%d", turns[0][0]), nil)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, "request %d", i)
	}
	conns := f.pool.AcquireAllIdle(ctx)
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	lookups := []struct{ name, prefix string }{
		{"the session's lookup", "SELECT s.csrf_token"},
		{"the turn's owner", "SELECT c.project_id, c.persona_id FROM turns"},
	}
	for _, l := range lookups {
		var generic, custom int64
		for _, c := range conns {
			var g, cu int64
			err := c.QueryRow(ctx, `SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0)
				FROM pg_prepared_statements WHERE starts_with(statement, $1)`, l.prefix).Scan(&g, &cu)
			require.NoError(t, err)
			generic, custom = generic+g, custom+cu
		}
		assert.Zero(t, custom, "custom plans of %s", l.name)
		assert.GreaterOrEqual(t, generic, int64(12), "generic plans of %s", l.name)
	}
}
