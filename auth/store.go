package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"regexp"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/locale"
)

// User is a person who signs in to Mentor.
type User struct {
	ID          int64      `json:"id" db:"id"`
	Login       string     `json:"login" db:"login"`
	DisplayName string     `json:"display_name" db:"display_name"`
	Locale      string     `json:"locale" db:"locale"`
	IsAdmin     bool       `json:"is_admin" db:"is_admin"` // instance admin
	DisabledAt  *time.Time `json:"disabled_at" db:"disabled_at"`
	CreatedAt   time.Time  `json:"created_at" db:"created_at"`
}

// NewUser is what an admin submits to create an account.
type NewUser struct {
	Login       string `json:"login"`
	DisplayName string `json:"display_name"`
	Locale      string `json:"locale"`
	Password    string `json:"password"`
	IsAdmin     bool   `json:"is_admin"`
}

var loginPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._@+-]{1,127}$`)

// NormalizeLogin lowercases and trims a login, so "Wang@Example.com " signs in as itself.
func NormalizeLogin(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ValidatePassword enforces length only, as NIST SP 800-63B advises: no composition rules.
func ValidatePassword(field, p string) error {
	switch n := utf8.RuneCountInString(p); {
	case n < 10:
		return errs.Field(field, "must be at least 10 characters, got %d", n)
	case len(p) > 1024:
		return errs.Field(field, "must be at most 1024 bytes")
	}
	return nil
}

// Store reads and writes accounts, sessions, memberships and tokens.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
	// hashing bounds concurrent argon2id runs: each takes 19 MiB, and a burst of sign-ins
	// must not run the server out of memory.
	hashing chan struct{}
}

// NewStore returns a Store; now may be nil for time.Now.
func NewStore(pool *pgxpool.Pool, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{pool: pool, now: now, hashing: make(chan struct{}, max(2, runtime.NumCPU()))}
}

// hashSlot waits for a turn to run argon2id.
func (s *Store) hashSlot(ctx context.Context) (func(), error) {
	select {
	case s.hashing <- struct{}{}:
		return func() { <-s.hashing }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ValidLogin reports whether s could be a login at all; nothing else is worth hashing for.
func ValidLogin(s string) bool { return loginPattern.MatchString(NormalizeLogin(s)) }

const userColumns = `id, login, display_name, locale, is_admin, disabled_at, created_at`

// CreateUser stores a new account.
func (s *Store) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	nu.Login, nu.DisplayName = NormalizeLogin(nu.Login), strings.TrimSpace(nu.DisplayName)
	if nu.Locale == "" {
		nu.Locale = "zh-CN"
	}
	switch {
	case !loginPattern.MatchString(nu.Login):
		return User{}, errs.Field("login", "must be 2 to 128 letters, digits or . _ @ + -, got %q", nu.Login)
	case nu.DisplayName == "":
		return User{}, errs.Field("display_name", "must not be empty")
	}
	if err := locale.Check("locale", nu.Locale); err != nil {
		return User{}, err
	}
	if err := ValidatePassword("password", nu.Password); err != nil {
		return User{}, err
	}
	release, err := s.hashSlot(ctx)
	if err != nil {
		return User{}, err
	}
	hash, err := HashPassword(nu.Password)
	release()
	if err != nil {
		return User{}, err
	}
	rows, _ := s.pool.Query(ctx, `INSERT INTO users (login, display_name, locale, password_hash, is_admin)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+userColumns, nu.Login, nu.DisplayName, nu.Locale, hash, nu.IsAdmin)
	u, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[User])
	return u, db.Error(err, "create user %q", nu.Login)
}

// User returns the user with id.
func (s *Store) User(ctx context.Context, id int64) (User, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id)
	u, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[User])
	return u, db.Error(err, "user %d", id)
}

// UserByLogin returns the user who signs in as login.
func (s *Store) UserByLogin(ctx context.Context, login string) (User, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users WHERE login = $1`, NormalizeLogin(login))
	u, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[User])
	return u, db.Error(err, "user %q", login)
}

// Users lists every account.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY id`)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[User])
	return out, db.Error(err, "list users")
}

// SetDisabled disables or re-enables an account. Disabling ends every session and revokes
// every API token at once.
func (s *Store) SetDisabled(ctx context.Context, id int64, disabled bool) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var at *time.Time
		if disabled {
			now := s.now()
			at = &now
		}
		tag, err := tx.Exec(ctx, `UPDATE users SET disabled_at = $2 WHERE id = $1`, id, at)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		if disabled {
			if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, id); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`, id, s.now())
		}
		return err
	})
	return db.Error(err, "user %d", id)
}

// SetPassword changes a password, ends every session of the account and revokes its API
// tokens: whoever stole a session must not keep a token minted with it.
func (s *Store) SetPassword(ctx context.Context, id int64, password string) error {
	if err := ValidatePassword("password", password); err != nil {
		return err
	}
	release, err := s.hashSlot(ctx)
	if err != nil {
		return err
	}
	hash, err := HashPassword(password)
	release()
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE id = $1`, id, hash, s.now())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`, id, s.now())
		return err
	})
	return db.Error(err, "user %d", id)
}

// dummyHash is checked against when the login is unknown, so that a wrong login and a wrong
// password take the same time and an attacker cannot list accounts by timing.
var dummyHash = func() string { h, _ := HashPassword("no such user, no such password"); return h }()

// ErrBadCredentials is the one answer to a failed sign-in, whatever was wrong.
var ErrBadCredentials = errs.E(errs.Unauthenticated, "wrong login or password")

// Authenticate checks a login and password. A disabled account cannot sign in. Callers that
// face the network charge the attempt to the throttle first (Admit).
func (s *Store) Authenticate(ctx context.Context, login, password string) (User, error) {
	if !ValidLogin(login) || len(password) > 1024 {
		return User{}, ErrBadCredentials // cannot be an account: not worth 19 MiB of hashing
	}
	release, err := s.hashSlot(ctx)
	if err != nil {
		return User{}, err
	}
	defer release()
	var u User
	var hash string
	err = s.pool.QueryRow(ctx, `SELECT id, login, display_name, locale, is_admin, disabled_at, created_at, password_hash
		FROM users WHERE login = $1`, NormalizeLogin(login)).
		Scan(&u.ID, &u.Login, &u.DisplayName, &u.Locale, &u.IsAdmin, &u.DisabledAt, &u.CreatedAt, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		CheckPassword(dummyHash, password) //nolint:errcheck // for the timing only
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, db.Error(err, "sign in")
	}
	ok, err := CheckPassword(hash, password)
	if err != nil {
		return User{}, err
	}
	if !ok || u.DisabledAt != nil {
		return User{}, ErrBadCredentials
	}
	return u, nil
}

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}
