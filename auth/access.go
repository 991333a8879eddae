package auth

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/db"
)

// Memberships is a user's role in each project they are a member of. The credential's
// lookup reads them in the same statement, so the access check knows the caller's role in
// whatever project the route turns out to be about without asking again (issue 17: the
// session, the route's target and the role were three round trips before every request).
type Memberships map[int64]Role

// In returns the role in a project, or "" for one the user is not a member of (as Role does).
func (m Memberships) In(projectID int64) Role { return m[projectID] }

// memberships is the lateral join that reads a user's memberships beside the credential.
const memberships = `LEFT JOIN LATERAL (SELECT array_agg(pm.project_id) AS projects, array_agg(pm.role) AS roles
		FROM project_members pm WHERE pm.user_id = u.id) m ON true`

func toMemberships(projects []int64, roles []Role) Memberships {
	out := make(Memberships, len(projects))
	for i, p := range projects {
		out[p] = roles[i]
	}
	return out
}

// touchEvery is how stale a session's last_seen_at may grow before a request writes it anew.
const touchEvery = time.Minute

// PendingSession is a session's lookup queued on a batch; Finish checks it once the batch
// has been sent.
type PendingSession struct {
	s        *Store
	secret   string
	sess     Session
	projects []int64
	roles    []Role
	found    bool
}

// QueueSession queues the lookup of the session behind a cookie secret, with its user's
// memberships, on b. An empty secret queues nothing, and Finish answers ErrNoSession.
func (s *Store) QueueSession(b *pgx.Batch, secret string) *PendingSession {
	p := &PendingSession{s: s, secret: secret}
	if secret == "" {
		return p
	}
	p.sess.idHash = hashSecret(secret)
	b.Queue(`SELECT s.csrf_token, s.created_at, s.last_seen_at, s.expires_at,
			u.id, u.login, u.display_name, u.locale, u.is_admin, u.disabled_at, u.created_at, m.projects, m.roles
		FROM sessions s JOIN users u ON u.id = s.user_id `+memberships+` WHERE s.id_hash = $1`, p.sess.idHash).
		QueryRow(func(row pgx.Row) error {
			sess, u := &p.sess, &p.sess.User
			err := row.Scan(&sess.CSRFToken, &sess.CreatedAt, &sess.LastSeenAt, &sess.ExpiresAt,
				&u.ID, &u.Login, &u.DisplayName, &u.Locale, &u.IsAdmin, &u.DisabledAt, &u.CreatedAt, &p.projects, &p.roles)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err != nil {
				return db.Error(err, "read session")
			}
			p.found = true
			return nil
		})
	return p
}

// Finish returns the live session and its user's memberships, and notes that it was used.
// Expired sessions are deleted on sight.
func (p *PendingSession) Finish(ctx context.Context, limits SessionLimits) (Session, Memberships, error) {
	if !p.found {
		return Session{}, nil, ErrNoSession
	}
	s, sess := p.s, p.sess
	now := s.now()
	if !now.Before(sess.ExpiresAt) || !now.Before(sess.LastSeenAt.Add(limits.Idle)) || sess.User.DisabledAt != nil {
		s.pool.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, sess.idHash) //nolint:errcheck // best effort; it is dead either way
		return Session{}, nil, ErrNoSession
	}
	// Write last_seen_at at most once a minute: a busy trainer makes many requests, and a
	// write on each would cost every API call a WAL record and a dirtied page (issue 17).
	// The idle limit counts from the last request written, so a session may end up to a
	// minute before Idle has passed since its very last request, never after
	// (TestSessionTouchIsThrottled).
	if now.Sub(sess.LastSeenAt) > touchEvery {
		if _, err := s.pool.Exec(ctx, `UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1`, sess.idHash, now); err != nil {
			return Session{}, nil, db.Error(err, "touch session")
		}
		sess.LastSeenAt = now
	}
	return sess, toMemberships(p.projects, p.roles), nil
}

// PendingToken is an API token's lookup queued on a batch; Finish checks it once the batch
// has been sent.
type PendingToken struct {
	s        *Store
	tok      Token
	user     User
	projects []int64
	roles    []Role
	found    bool
}

// QueueToken queues the lookup of the token behind a secret, with its owner and the owner's
// memberships, on b. A secret that cannot be a token queues nothing, and Finish answers
// ErrBadToken.
func (s *Store) QueueToken(b *pgx.Batch, secret string) *PendingToken {
	p := &PendingToken{s: s}
	if len(secret) <= len(TokenPrefix) || secret[:len(TokenPrefix)] != TokenPrefix {
		return p
	}
	b.Queue(`SELECT t.id, t.user_id, t.name, t.prefix, t.scopes, t.created_at, t.last_used_at, t.revoked_at,
			u.id, u.login, u.display_name, u.locale, u.is_admin, u.disabled_at, u.created_at, m.projects, m.roles
		FROM api_tokens t JOIN users u ON u.id = t.user_id `+memberships+` WHERE t.token_hash = $1`, hashSecret(secret)).
		QueryRow(func(row pgx.Row) error {
			t, u := &p.tok, &p.user
			err := row.Scan(&t.ID, &t.UserID, &t.Name, &t.Prefix, &t.Scopes, &t.CreatedAt, &t.LastUsedAt, &t.RevokedAt,
				&u.ID, &u.Login, &u.DisplayName, &u.Locale, &u.IsAdmin, &u.DisabledAt, &u.CreatedAt, &p.projects, &p.roles)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err != nil {
				return db.Error(err, "read token")
			}
			p.found = true
			return nil
		})
	return p
}

// Finish returns the token, its owner and the owner's memberships, and records the use.
func (p *PendingToken) Finish(ctx context.Context) (Token, User, Memberships, error) {
	t, u := p.tok, p.user
	if !p.found || t.RevokedAt != nil || u.DisabledAt != nil {
		return Token{}, User{}, nil, ErrBadToken
	}
	now := p.s.now()
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > time.Minute {
		if _, err := p.s.pool.Exec(ctx, `UPDATE api_tokens SET last_used_at = $2 WHERE id = $1`, t.ID, now); err != nil {
			return Token{}, User{}, nil, db.Error(err, "record token use")
		}
		t.LastUsedAt = &now
	}
	return t, u, toMemberships(p.projects, p.roles), nil
}
