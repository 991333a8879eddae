package auth

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/db"
)

// Sign-in throttling. Every attempt is charged before the password is checked, in a
// transaction that locks the counters, so concurrent guesses cannot all slip past one check.
// Counters are kept per (login, address) and per address, in Postgres so every replica
// agrees. Not per login alone: that would let anyone lock any account, the admin's included,
// by guessing badly now and then. A counter past its free attempts locks for a delay that
// doubles, up to maxDelay; attempts older than forgetAfter stop counting.
const (
	pairFree    = 5  // per login and address
	addressFree = 50 // per address: higher, as an office behind one NAT shares it
	baseDelay   = time.Second
	maxDelay    = 15 * time.Minute
	forgetAfter = time.Hour
)

// ThrottleKey is one counter a sign-in attempt is charged to.
type ThrottleKey struct {
	key  string
	free int
}

// ThrottleKeys are the counters for a sign-in as login from address ip.
func ThrottleKeys(login, ip string) []ThrottleKey {
	return []ThrottleKey{
		{key: "pair:" + NormalizeLogin(login) + "|" + ip, free: pairFree}, // logins cannot contain |

		{key: "ip:" + ip, free: addressFree},
	}
}

func names(keys []ThrottleKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.key
	}
	return out
}

// Admit charges one attempt to every key and returns zero, or, when a key is locked, how
// long to wait (and charges nothing).
func (s *Store) Admit(ctx context.Context, keys []ThrottleKey) (time.Duration, error) {
	now := s.now()
	var wait time.Duration
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, k := range keys {
			if _, err := tx.Exec(ctx, `INSERT INTO sign_in_failures (key, failures, last_failure_at, locked_until)
				VALUES ($1, 0, $2, $2) ON CONFLICT (key) DO NOTHING`, k.key, now); err != nil {
				return err
			}
		}
		type counter struct {
			failures     int
			last, locked time.Time
		}
		counters := map[string]counter{}
		rows, err := tx.Query(ctx, `SELECT key, failures, last_failure_at, locked_until FROM sign_in_failures
			WHERE key = ANY($1) ORDER BY key FOR UPDATE`, names(keys))
		if err != nil {
			return err
		}
		for rows.Next() {
			var key string
			var c counter
			if err := rows.Scan(&key, &c.failures, &c.last, &c.locked); err != nil {
				return err
			}
			counters[key] = c
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, c := range counters {
			if c.locked.After(now) {
				wait = max(wait, c.locked.Sub(now))
			}
		}
		if wait > 0 {
			return nil
		}
		for _, k := range keys {
			c := counters[k.key]
			if c.last.Before(now.Add(-forgetAfter)) {
				c.failures = 0
			}
			c.failures++
			locked := c.locked
			if c.failures > k.free {
				delay := math.Min(float64(maxDelay), float64(baseDelay)*math.Pow(2, float64(c.failures-k.free-1)))
				locked = now.Add(time.Duration(delay))
			}
			if _, err := tx.Exec(ctx, `UPDATE sign_in_failures SET failures = $2, last_failure_at = $3, locked_until = $4 WHERE key = $1`,
				k.key, c.failures, now, locked); err != nil {
				return err
			}
		}
		return nil
	})
	return wait, db.Error(err, "sign-in throttle")
}

// Succeeded gives back a correct sign-in's charge: the login-and-address counter is cleared,
// and the address counter loses the one attempt.
func (s *Store) Succeeded(ctx context.Context, keys []ThrottleKey) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM sign_in_failures WHERE key = $1`, keys[0].key); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE sign_in_failures SET failures = greatest(failures - 1, 0) WHERE key = $1`, keys[1].key)
		return err
	})
	return db.Error(err, "sign-in throttle")
}

// CountGeneration charges one generation to a user's current hour and reports whether it
// is within limit per hour (0: no limit). A refused attempt is not charged.
func (s *Store) CountGeneration(ctx context.Context, userID int64, limit int) (bool, error) {
	return s.CountGenerations(ctx, userID, limit, 1)
}

// CountGenerations counts n generations for userID in this hour, all or none: false when they
// would take the hour past limit. One statement for a whole turn's candidates: one per
// candidate was a commit each while other trainers' first tokens flowed (issue 12).
func (s *Store) CountGenerations(ctx context.Context, userID int64, limit, n int) (bool, error) {
	if limit <= 0 {
		return true, nil
	}
	hour := s.now().UTC().Truncate(time.Hour)
	var count int
	err := s.pool.QueryRow(ctx, `INSERT INTO generation_usage (user_id, hour, count) SELECT $1, $2, $4::int WHERE $4::int <= $3::int
		ON CONFLICT (user_id, hour) DO UPDATE SET count = generation_usage.count + $4::int
		WHERE generation_usage.count + $4::int <= $3::int
		RETURNING count`, userID, hour, limit, n).Scan(&count)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // the WHERE refused the increment: it would pass the limit
	}
	return err == nil, db.Error(err, "count generation")
}
