package auth

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
)

// Session is a signed-in browser.
type Session struct {
	User       User
	CSRFToken  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	idHash     []byte
}

// SessionLimits says how long a session lives.
type SessionLimits struct {
	Idle     time.Duration // ends after this long without a request
	Absolute time.Duration // ends this long after sign-in, however busy
}

// ErrNoSession means the cookie names no live session.
var ErrNoSession = errs.E(errs.Unauthenticated, "not signed in, or the session has ended")

// CreateSession starts a session for a user who just signed in and returns the secret for
// the cookie. A new secret at every sign-in is what stops session fixation.
func (s *Store) CreateSession(ctx context.Context, userID int64, ip, userAgent string, limits SessionLimits) (string, Session, error) {
	secret := randomToken(32)
	now := s.now()
	sess := Session{CSRFToken: randomToken(24), CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(limits.Absolute),
		idHash: hashSecret(secret)}
	if len(userAgent) > 512 {
		userAgent = userAgent[:512]
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at, ip, user_agent)
		VALUES ($1, $2, $3, $4, $4, $5, $6, $7)`, sess.idHash, userID, sess.CSRFToken, now, sess.ExpiresAt, ip, userAgent)
	if err != nil {
		return "", Session{}, db.Error(err, "start session")
	}
	sess.User, err = s.User(ctx, userID)
	return secret, sess, err
}

// Session returns the live session for a cookie secret and notes that it was used. Expired
// sessions are deleted on sight.
func (s *Store) Session(ctx context.Context, secret string, limits SessionLimits) (Session, error) {
	b := &pgx.Batch{}
	p := s.QueueSession(b, secret)
	if b.Len() > 0 {
		if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
			return Session{}, db.Error(err, "read session")
		}
	}
	sess, _, err := p.Finish(ctx, limits)
	return sess, err
}

// EndSession signs a browser out.
func (s *Store) EndSession(ctx context.Context, secret string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, hashSecret(secret))
	return db.Error(err, "end session")
}

// Alive reports whether the session behind secret still holds, for long-lived connections
// that check back now and then. Unlike Session it does not count as activity, so an open
// socket does not keep an idle session alive; and a database error is not an ended session,
// so a brief outage does not drop every socket.
func (s *Store) Alive(ctx context.Context, secret string, limits SessionLimits) bool {
	var alive bool
	now := s.now()
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 AND u.disabled_at IS NULL)`,
		hashSecret(secret), now, now.Add(-limits.Idle)).Scan(&alive)
	return alive || err != nil
}
