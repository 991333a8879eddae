package auth

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
)

// Scope limits what an API token may do, whatever its owner's role allows.
type Scope string

// The scopes.
const (
	ScopeRead   Scope = "read"   // read projects, personas, versions, corpora
	ScopeExport Scope = "export" // read, and export datasets
	ScopeWrite  Scope = "write"  // read, and change what the owner's role allows
)

// Token is an API token as its owner sees it; the secret is shown only once, at creation.
type Token struct {
	ID         int64      `json:"id" db:"id"`
	UserID     int64      `json:"user_id" db:"user_id"`
	Name       string     `json:"name" db:"name"`
	Prefix     string     `json:"prefix" db:"prefix"`
	Scopes     []Scope    `json:"scopes" db:"scopes"`
	CreatedAt  time.Time  `json:"created_at" db:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at" db:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at" db:"revoked_at"`
}

// TokenPrefix starts every token, so a leaked one is easy to recognise in logs and scanners.
const TokenPrefix = "mnt_"

// ErrBadToken is the answer to any unusable token.
var ErrBadToken = errs.E(errs.Unauthenticated, "invalid, revoked or expired API token")

const tokenColumns = `id, user_id, name, prefix, scopes, created_at, last_used_at, revoked_at`

// CreateToken makes a token for a user and returns its secret, which is never stored.
func (s *Store) CreateToken(ctx context.Context, userID int64, name string, scopes []Scope) (string, Token, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", Token{}, errs.Field("name", "must not be empty")
	}
	if len(scopes) == 0 {
		return "", Token{}, errs.Field("scopes", "name at least one of read, export, write")
	}
	for i, sc := range scopes {
		if sc != ScopeRead && sc != ScopeExport && sc != ScopeWrite {
			return "", Token{}, errs.Field("scopes", "scopes[%d]: %q is not one of read, export, write", i, sc)
		}
	}
	secret := TokenPrefix + randomToken(30)
	rows, _ := s.pool.Query(ctx, `INSERT INTO api_tokens (user_id, name, token_hash, prefix, scopes, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+tokenColumns, userID, name, hashSecret(secret), secret[:len(TokenPrefix)+6],
		slices.Compact(slices.Sorted(slices.Values(scopes))), s.now())
	t, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Token])
	if err != nil {
		return "", Token{}, db.Error(err, "create token")
	}
	return secret, t, nil
}

// Tokens lists a user's tokens, newest first.
func (s *Store) Tokens(ctx context.Context, userID int64) ([]Token, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE user_id = $1 ORDER BY id DESC`, userID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Token])
	return out, db.Error(err, "list tokens")
}

// RevokeToken ends one of a user's tokens.
func (s *Store) RevokeToken(ctx context.Context, userID, tokenID int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`,
		tokenID, userID, s.now())
	if err == nil && tag.RowsAffected() == 0 {
		err = pgx.ErrNoRows
	}
	return db.Error(err, "token %d", tokenID)
}

// TokenUser returns the token behind a secret and its owner, and records the use.
func (s *Store) TokenUser(ctx context.Context, secret string) (Token, User, error) {
	b := &pgx.Batch{}
	p := s.QueueToken(b, secret)
	if b.Len() > 0 {
		if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
			return Token{}, User{}, db.Error(err, "read token")
		}
	}
	t, u, _, err := p.Finish(ctx)
	return t, u, err
}
