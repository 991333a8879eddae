package auth

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/db"
)

// Sign-in throttling: after freeFailures failed attempts, each further failure locks the
// account (and, separately, the client address) for a delay that doubles, up to maxDelay.
// The state lives in Postgres, so every replica enforces the same limit.
const (
	freeFailures = 5
	baseDelay    = time.Second
	maxDelay     = 15 * time.Minute
	forgetAfter  = time.Hour // failures older than this no longer count
)

// ThrottleKeys are the counters a sign-in attempt is charged to.
func ThrottleKeys(login, ip string) []string {
	return []string{"login:" + NormalizeLogin(login), "ip:" + ip}
}

// Throttled returns how long the caller must wait before trying again, or zero.
func (s *Store) Throttled(ctx context.Context, keys []string) (time.Duration, error) {
	var until *time.Time
	err := s.pool.QueryRow(ctx, `SELECT max(locked_until) FROM sign_in_failures WHERE key = ANY($1)`, keys).Scan(&until)
	if err != nil {
		return 0, db.Error(err, "read sign-in throttle")
	}
	if until == nil {
		return 0, nil
	}
	return max(0, until.Sub(s.now())), nil
}

// RecordFailure counts a failed sign-in against every key.
func (s *Store) RecordFailure(ctx context.Context, keys []string) error {
	now := s.now()
	for _, k := range keys {
		var failures int
		err := s.pool.QueryRow(ctx, `INSERT INTO sign_in_failures (key, failures, last_failure_at, locked_until)
			VALUES ($1, 1, $2, $2)
			ON CONFLICT (key) DO UPDATE SET
				failures = CASE WHEN sign_in_failures.last_failure_at < $3 THEN 1 ELSE sign_in_failures.failures + 1 END,
				last_failure_at = $2
			RETURNING failures`, k, now, now.Add(-forgetAfter)).Scan(&failures)
		if err != nil {
			return db.Error(err, "record sign-in failure")
		}
		if failures > freeFailures {
			delay := time.Duration(math.Min(float64(maxDelay), float64(baseDelay)*math.Pow(2, float64(failures-freeFailures-1))))
			if _, err := s.pool.Exec(ctx, `UPDATE sign_in_failures SET locked_until = $2 WHERE key = $1`, k, now.Add(delay)); err != nil {
				return db.Error(err, "record sign-in failure")
			}
		}
	}
	return nil
}

// ClearFailures forgets an account's failures after it signs in. The address keeps its
// count, so one good account cannot be used to reset guessing at others.
func (s *Store) ClearFailures(ctx context.Context, login string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM sign_in_failures WHERE key = $1`, "login:"+NormalizeLogin(login))
	return db.Error(err, "clear sign-in failures")
}

// CountGeneration charges one generation to a user's current hour and reports whether it
// is within limit per hour (0: no limit). A refused attempt is not charged.
func (s *Store) CountGeneration(ctx context.Context, userID int64, limit int) (bool, error) {
	if limit <= 0 {
		return true, nil
	}
	hour := s.now().UTC().Truncate(time.Hour)
	var count int
	err := s.pool.QueryRow(ctx, `INSERT INTO generation_usage (user_id, hour, count) VALUES ($1, $2, 1)
		ON CONFLICT (user_id, hour) DO UPDATE SET count = generation_usage.count + 1
		WHERE generation_usage.count < $3
		RETURNING count`, userID, hour, limit).Scan(&count)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // the WHERE refused the increment: at the limit already
	}
	return err == nil, db.Error(err, "count generation")
}
