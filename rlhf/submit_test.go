package rlhf_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/rlhf"
)

// TestSubmitRoundTrips holds Submit to its round trips (issue 17): one pipelined batch of
// lookups and one batch of writes, where it once made ten, each a wait on PostgreSQL that a
// trainer feels. A retry answered from its key costs a third, the stored judgment's read
// once the write has found the key taken (the lookups no longer read it, so that they can
// run in the server's access check's batch, before the trainer is known); so does a refusal
// of bad input, which writes nothing but first asks whether its key holds a judgment.
// Counted on a warm connection, as a busy server has them.
func TestSubmitRoundTrips(t *testing.T) {
	t.Parallel()
	pool, rt := pgtest.CountingPool(t, 1)
	store := rlhf.NewStore(pool)
	ctx := context.Background()
	turns := make([]rlhf.Turn, 4)
	for i := range turns {
		turns[i] = finishedTurn(t, pool, 4)
	}
	trainer := turns[0].CreatedBy
	// The last turn's project has a webhook for judgments: the event is emitted in the
	// judgment's transaction, which is then an explicit one.
	_, err := pool.Exec(ctx, `INSERT INTO webhooks (project_id, url, events, secret_sealed)
		SELECT c.project_id, 'https://receiver.example/hook', '{judgment.submitted}', '\x00'
		FROM turns t JOIN conversations c ON c.id = t.conversation_id WHERE t.id = $1`, turns[3].ID)
	require.NoError(t, err)
	full := func(turn rlhf.Turn, key string) rlhf.Submission {
		c := turn.Candidates
		return rlhf.Submission{IdempotencyKey: key, Ranking: [][]int64{{c[0].ID}, {c[1].ID, c[2].ID}, {c[3].ID}},
			Flags: map[string][]string{fmt.Sprint(c[3].ID): {"hallucination"}}, Comment: "好",
			Edit: &rlhf.EditInput{CandidateID: c[1].ID, Content: "改过的回复"}, Gold: &rlhf.GoldInput{Content: "标准答案"},
			ContinueFrom: rlhf.ContinueFrom{Gold: true}, TimeSpentMillis: 1000}
	}
	// Warm the connection's statement cache: pgx prepares each statement once per connection.
	_, err = store.Submit(ctx, turns[0].ID, trainer, full(turns[0], "warm-up-key"))
	require.NoError(t, err)
	_, err = store.Submit(ctx, turns[3].ID, trainer, full(turns[3], "warm-up-hooked"))
	require.NoError(t, err)
	_, err = store.Submit(ctx, turns[0].ID, trainer, full(turns[0], "warm-up-key")) // and the stored judgment's read
	require.NoError(t, err)

	cases := []struct {
		name      string
		turn      rlhf.Turn
		sub       rlhf.Submission
		trips     int64
		replayed  bool
		wantKind  errs.Kind
		wantPairs int
	}{
		{name: "new judgment with edit and gold", turn: turns[1], sub: full(turns[1], "new-judgment-1"), trips: 2, wantPairs: 10},
		{name: "retry of it", turn: turns[1], sub: full(turns[1], "new-judgment-1"), trips: 3, replayed: true, wantPairs: 10},
		{name: "another revision", turn: turns[1], sub: full(turns[1], "new-judgment-2"), trips: 2, wantPairs: 10},
		{name: "in a project with a webhook", turn: turns[3], sub: full(turns[3], "hooked-judgment"), trips: 4, wantPairs: 10},
		// The write's explicit transaction finds the key taken and is rolled back, then the key is read.
		{name: "retry in a project with a webhook", turn: turns[3], sub: full(turns[3], "hooked-judgment"), trips: 4, replayed: true, wantPairs: 10},
		{name: "key reused for another turn", turn: turns[2], sub: full(turns[2], "new-judgment-1"), trips: 3, wantKind: errs.Conflict},
		{name: "bad ranking", turn: turns[2], sub: rlhf.Submission{IdempotencyKey: "bad-ranking-1", Ranking: [][]int64{{-5}},
			ContinueFrom: rlhf.ContinueFrom{CandidateID: turns[2].Candidates[0].ID}}, trips: 2, wantKind: errs.Unprocessable},
	}
	for _, tc := range cases { // in order: the retry and the revision follow the first
		before := rt.Count()
		got, err := store.Submit(ctx, tc.turn.ID, trainer, tc.sub)
		assert.Equal(t, tc.trips, rt.Count()-before, "%s: round trips", tc.name)
		if tc.wantKind != "" {
			assert.Equal(t, tc.wantKind, errs.KindOf(err), "%s: %v", tc.name, err)
			continue
		}
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.replayed, got.Replayed, tc.name)
		assert.Equal(t, tc.wantPairs, got.Pairs, tc.name)
		assert.NotNil(t, got.GoldMessageID, tc.name)
		assert.Equal(t, *got.GoldMessageID, got.ContinuationMessageID, tc.name)
	}
	var deliveries int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE event = 'judgment.submitted'`).Scan(&deliveries))
	assert.Equal(t, 2, deliveries, "the hooked project's two judgments, and only they, queued a delivery each")

	// The write and the two lookups are planned once per connection and never again
	// (plan_cache_mode, set in the lock's statement and by db.QueueGenericPlans): PostgreSQL
	// would otherwise plan them anew for their first five runs, and whenever it judged a
	// custom plan cheaper, which for the lookups was always. The pool has one connection,
	// so this is it.
	for _, stmt := range []struct{ name, prefix string }{
		{"the judgment's write", "WITH fresh AS"},
		{"the lookup of turn and rubric", "SELECT t.user_message_id"},
		{"the lookup of candidates", "SELECT c.id, c.message_id"},
	} {
		pgtest.CheckPlannedOnce(t, pool, stmt.name, stmt.prefix, 5)
		assert.NotContains(t, pgtest.CachedGenericPlan(t, pool, stmt.prefix), "Seq Scan",
			"%s, planned once while the tables were small, reads a table whole", stmt.name)
	}
}

// TestPairReferencesAreChecked holds the statement-level check that stands in for
// preference pairs' foreign keys (migrations 00013 and 00023): a pair naming a judgment or a
// message that does not exist is refused as a foreign key would refuse it, in a small insert
// (index lookups, planned with sequential scans off) and in a bulk one (a join); the check
// leaves enable_seqscan as the transaction had it.
func TestPairReferencesAreChecked(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	store := rlhf.NewStore(pool)
	ctx := context.Background()
	turn := finishedTurn(t, pool, 2)
	c := turn.Candidates
	got, err := store.Submit(ctx, turn.ID, turn.CreatedBy, rlhf.Submission{IdempotencyKey: "references-1",
		Ranking: [][]int64{{c[0].ID}, {c[1].ID}}, ContinueFrom: rlhf.ContinueFrom{CandidateID: c[0].ID}})
	require.NoError(t, err)
	require.Equal(t, 1, got.Pairs)
	var chosen, rejected int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT chosen_message_id, rejected_message_id FROM preference_pairs WHERE judgment_id = $1`,
		got.JudgmentID).Scan(&chosen, &rejected))
	const missing = int64(1) << 40
	cases := []struct {
		name                       string
		judgment, chosen, rejected int64
		copies                     int // 1: the small check; over 1,000 ids: the bulk one
		ok                         bool
	}{
		{"valid", got.JudgmentID, chosen, rejected, 1, true},
		{"valid, in bulk", got.JudgmentID, chosen, rejected, 1200, true},
		{"missing judgment", missing, chosen, rejected, 1, false},
		{"missing chosen message", got.JudgmentID, missing, rejected, 1, false},
		{"missing rejected message", got.JudgmentID, chosen, missing, 1, false},
		{"missing message, in bulk", got.JudgmentID, chosen, missing, 1200, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := pool.Begin(ctx)
			require.NoError(t, err)
			defer tx.Rollback(ctx) //nolint:errcheck // nothing here is kept
			// In bulk, every pair but the last names a message of its own (made here, in the
			// transaction) as chosen, so that the ids named pass the small check's limit.
			_, err = tx.Exec(ctx, `WITH extra AS (
					INSERT INTO messages (conversation_id, parent_id, role, author, author_id, content)
					SELECT m.conversation_id, m.parent_id, 'assistant', 'human', $5::bigint, 'x' FROM messages m, generate_series(2, $4::int)
					WHERE m.id = $6::bigint RETURNING id
				), pairs AS (
					SELECT id AS chosen, $6::bigint AS rejected FROM extra UNION ALL SELECT $2::bigint, $3::bigint
				)
				INSERT INTO preference_pairs (judgment_id, chosen_message_id, rejected_message_id, rule, margin)
				SELECT $1::bigint, chosen, rejected, 'ranking', 0.5 FROM pairs`, tc.judgment, tc.chosen, tc.rejected, tc.copies, turn.CreatedBy, rejected)
			if !tc.ok {
				var pgErr *pgconn.PgError
				require.ErrorAs(t, err, &pgErr)
				assert.Equal(t, "23503", pgErr.Code, "foreign_key_violation")
				return
			}
			require.NoError(t, err)
			var seqscan string
			require.NoError(t, tx.QueryRow(ctx, `SELECT current_setting('enable_seqscan')`).Scan(&seqscan))
			assert.Equal(t, "on", seqscan, "the check puts enable_seqscan back")
		})
	}
}

// TestRetriesAreAnsweredFromTheirKey: the stored judgment is read only once the write finds
// the key taken, or the checks refuse the submission, so that the lookups can run before the
// trainer is known (issue 17). A retry must still get its acknowledged answer when the checks
// would now refuse it (the persona's rubric narrowed since, so its rating is out of range),
// and a key reused for other content must still be a Conflict, not the new content's error.
func TestRetriesAreAnsweredFromTheirKey(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	store := rlhf.NewStore(pool)
	ctx := context.Background()
	turn := finishedTurn(t, pool, 2)
	_, err := pool.Exec(ctx, `INSERT INTO rubric_dimensions (persona_id, key, axis, label, label_en, scale_min, scale_max, position)
		SELECT c.persona_id, 'retry_scale', 'iq', '准确', 'accuracy', 1, 5, 99
		FROM turns t JOIN conversations c ON c.id = t.conversation_id WHERE t.id = $1`, turn.ID)
	require.NoError(t, err)
	c := turn.Candidates
	sub := rlhf.Submission{IdempotencyKey: "retried-key", Ranking: [][]int64{{c[0].ID}, {c[1].ID}},
		Ratings: map[string]map[string]int{fmt.Sprint(c[0].ID): {"retry_scale": 5}}, ContinueFrom: rlhf.ContinueFrom{CandidateID: c[0].ID}}
	first, err := store.Submit(ctx, turn.ID, turn.CreatedBy, sub)
	require.NoError(t, err)
	// The scale narrowed: a rating of 5 is out of range now.
	_, err = pool.Exec(ctx, `UPDATE rubric_dimensions SET scale_max = 3 WHERE key = 'retry_scale'`)
	require.NoError(t, err)

	cases := []struct {
		name     string
		sub      rlhf.Submission
		wantKind errs.Kind // "" for the stored answer
	}{
		{name: "the same submission again", sub: sub},
		{name: "other content under the key", sub: rlhf.Submission{IdempotencyKey: "retried-key", Ranking: [][]int64{{c[1].ID}, {c[0].ID}},
			Ratings: sub.Ratings, ContinueFrom: rlhf.ContinueFrom{CandidateID: c[1].ID}}, wantKind: errs.Conflict},
		{name: "a new key is checked", sub: rlhf.Submission{IdempotencyKey: "another-key", Ranking: sub.Ranking,
			Ratings: sub.Ratings, ContinueFrom: sub.ContinueFrom}, wantKind: errs.Unprocessable},
	}
	for _, tc := range cases {
		got, err := store.Submit(ctx, turn.ID, turn.CreatedBy, tc.sub)
		if tc.wantKind != "" {
			assert.Equal(t, tc.wantKind, errs.KindOf(err), "%s: %v", tc.name, err)
			continue
		}
		require.NoError(t, err, tc.name)
		assert.True(t, got.Replayed, tc.name)
		assert.Equal(t, first.JudgmentID, got.JudgmentID, tc.name)
	}
}

// finishedTurn is newTurn with its n candidates finished, each with a reply of its own.
func finishedTurn(t *testing.T, pool *pgxpool.Pool, n int) rlhf.Turn {
	t.Helper()
	turn := newTurn(t, pool, n)
	for _, c := range turn.Candidates {
		c.Content, c.Status, c.FinishReason = fmt.Sprintf("回复 %d", c.ID), "complete", "stop"
		require.NoError(t, rlhf.NewStore(pool).Finish(context.Background(), c))
	}
	return turn
}
