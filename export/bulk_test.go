package export_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stretchr/testify/require"
)

// bulkPairs adds judgments of five-candidate turns to w's project straight in SQL, ten
// ranking pairs per judgment, so that n pairs take seconds rather than the minutes the
// store's one-submission-at-a-time API would. Ids start high so they never meet the
// fixture's. Contents are Chinese and unique per turn, so nothing is deduplicated.
func bulkPairs(t testing.TB, w *world, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	judgments := n / 10
	persona, version, user := w.personas["customs-helper"].ID, w.versions["customs-helper"][0].ID, w.users["wang"].ID
	const base = 10_000_000
	steps := []string{
		`INSERT INTO conversations (id, project_id, persona_id, created_by, locale) OVERRIDING SYSTEM VALUE
			SELECT @base + g, @project, @persona, @user, 'zh-CN' FROM generate_series(1, @n) g`,
		`INSERT INTO messages (id, conversation_id, parent_id, role, author, author_id, content) OVERRIDING SYSTEM VALUE
			SELECT @base + g * 10, @base + g, NULL, 'user', 'human', @user, '第' || g || '个问题：个人邮寄进境物品的免税额是多少？超过了怎么办？'
			FROM generate_series(1, @n) g`,
		`INSERT INTO messages (id, conversation_id, parent_id, role, author, content) OVERRIDING SYSTEM VALUE
			SELECT @base + g * 10 + c, @base + g, @base + g * 10, 'assistant', 'model',
				'候选' || c || '：应征进口税税额在人民币50元（含）以下的，海关予以免征；超过50元的，应全额缴纳进口税。"引用" [' || c || '] 编号' || g
			FROM generate_series(1, @n) g, generate_series(1, 5) c`,
		`INSERT INTO turns (id, conversation_id, user_message_id, created_by) OVERRIDING SYSTEM VALUE
			SELECT @base + g, @base + g, @base + g * 10, @user FROM generate_series(1, @n) g`,
		`INSERT INTO candidates (id, turn_id, message_id, position, model, endpoint, baseline, prompt_version_id, temperature, top_p,
				max_tokens, seed, system_prompt_hash, status, finish_reason) OVERRIDING SYSTEM VALUE
			SELECT @base + g * 10 + c, @base + g, @base + g * 10 + c, c, CASE WHEN c % 2 = 0 THEN 'qwen-plus' ELSE 'deepseek-chat' END,
				'http://models.test/v1', false, @version, 0.7, 1, 200, c, 'sha', 'complete', 'stop'
			FROM generate_series(1, @n) g, generate_series(1, 5) c`,
		`INSERT INTO judgments (id, turn_id, trainer_id, revision, idempotency_key, request_hash, ranking, ratings, flags,
				continuation_message_id, time_spent_ms) OVERRIDING SYSTEM VALUE
			SELECT @base + g, @base + g, @user, 1, 'bulk-judgment-' || g, '\x00',
				jsonb_build_array(jsonb_build_array(@base + g * 10 + 1), jsonb_build_array(@base + g * 10 + 2), jsonb_build_array(@base + g * 10 + 3),
					jsonb_build_array(@base + g * 10 + 4), jsonb_build_array(@base + g * 10 + 5)),
				'{}', '{}', @base + g * 10 + 1, 1000
			FROM generate_series(1, @n) g`,
		`INSERT INTO preference_pairs (judgment_id, chosen_message_id, rejected_message_id, rule, margin)
			SELECT @base + g, @base + g * 10 + a, @base + g * 10 + b, 'ranking', 0.5 * (b - a)
			FROM generate_series(1, @n) g, generate_series(1, 5) a, generate_series(1, 5) b WHERE a < b
			ORDER BY g, a, b`,
	}
	conn, err := w.pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, `SET synchronous_commit = off`)
	require.NoError(t, err)
	for _, sql := range steps {
		_, err := conn.Exec(ctx, sql, pgx.NamedArgs{"base": base, "n": judgments, "project": w.project.ID, "persona": persona, "version": version, "user": user})
		require.NoError(t, err, sql)
	}
	_, err = conn.Exec(ctx, `ANALYZE`)
	require.NoError(t, err)
}
