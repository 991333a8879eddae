package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/internal/pgtest"
)

// TestStillValidChecksManyCredentialsAtOnce: the batched re-check of websockets agrees with
// the one-by-one checks it replaces, for every way a credential stops holding.
func TestStillValidChecksManyCredentialsAtOnce(t *testing.T) {
	t.Parallel()
	s := auth.NewStore(pgtest.Pool(t), nil)
	ctx := context.Background()
	limits := auth.SessionLimits{Idle: time.Hour, Absolute: time.Hour}
	user := func(login string) auth.User {
		u, err := s.CreateUser(ctx, auth.NewUser{Login: login, DisplayName: login, Password: "correct horse battery"})
		require.NoError(t, err)
		return u
	}
	session := func(u auth.User) string {
		secret, _, err := s.CreateSession(ctx, u.ID, "127.0.0.1", "test", limits)
		require.NoError(t, err)
		return secret
	}
	token := func(u auth.User) (string, auth.Token) {
		secret, tok, err := s.CreateToken(ctx, u.ID, "t", []auth.Scope{auth.ScopeRead})
		require.NoError(t, err)
		return secret, tok
	}
	alice, bob := user("alice"), user("bob")
	live, ended, ofDisabled := session(alice), session(alice), session(bob)
	require.NoError(t, s.EndSession(ctx, ended))
	tokenOK, _ := token(alice)
	revoked, revokedTok := token(alice)
	require.NoError(t, s.RevokeToken(ctx, alice.ID, revokedTok.ID))
	tokenOfDisabled, _ := token(bob)
	require.NoError(t, s.SetDisabled(ctx, bob.ID, true))

	tests := []struct {
		name string
		cred auth.Credential
		want bool
	}{
		{"a live session", auth.Credential{Session: live}, true},
		{"a signed-out session", auth.Credential{Session: ended}, false},
		{"a disabled account's session", auth.Credential{Session: ofDisabled}, false},
		{"an unknown session", auth.Credential{Session: "nope"}, false},
		{"a token", auth.Credential{Token: tokenOK}, true},
		{"a revoked token", auth.Credential{Token: revoked}, false},
		{"a disabled account's token", auth.Credential{Token: tokenOfDisabled}, false},
		{"not a token", auth.Credential{Token: "abc"}, false},
		{"nothing", auth.Credential{}, false},
	}
	creds := make([]auth.Credential, len(tests))
	for i, tt := range tests {
		creds[i] = tt.cred
	}
	got, err := s.StillValid(ctx, creds, limits)
	require.NoError(t, err)
	for i, tt := range tests {
		assert.Equal(t, tt.want, got[i], tt.name)
		if tt.cred.Session != "" {
			assert.Equal(t, s.Alive(ctx, tt.cred.Session, limits), got[i], "%s: as Alive says", tt.name)
		}
	}
}

// TestStillValidIsPlannedOnce: every websocket's sign-in check runs StillValid, and
// PostgreSQL planned it anew each time (about 1.2 ms against 0.04 ms to run it), judging no
// generic plan cheaper; each connection now plans it once. The pool has one connection, so
// its prepared statement is every call's.
func TestStillValidIsPlannedOnce(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.CountingPool(t, 1)
	s := auth.NewStore(pool, nil)
	ctx := context.Background()
	limits := auth.SessionLimits{Idle: time.Hour, Absolute: time.Hour}
	u, err := s.CreateUser(ctx, auth.NewUser{Login: "alice", DisplayName: "alice", Password: "correct horse battery"})
	require.NoError(t, err)
	secret, _, err := s.CreateSession(ctx, u.ID, "127.0.0.1", "test", limits)
	require.NoError(t, err)
	for range 7 {
		got, err := s.StillValid(ctx, []auth.Credential{{Session: secret}, {Token: auth.TokenPrefix + "nope"}}, limits)
		require.NoError(t, err)
		assert.Equal(t, []bool{true, false}, got)
	}
	pgtest.CheckPlannedOnce(t, pool, "the credentials' check", "SELECT c.n, CASE c.kind", 7)
}
