// Package bulkpairs fills a project with many judged turns and their preference pairs
// straight in SQL, for tests and benchmarks of exports: a million pairs take seconds this way,
// where the store's one-submission-at-a-time API would take many minutes.
package bulkpairs

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Owner is where the rows go: a project, one of its personas with a prompt version, and the
// user who judged.
type Owner struct {
	Project, Persona, PromptVersion, User int64
}

// base is where the generated ids start, far above anything a fixture makes.
const base = 10_000_000

// Insert adds n/10 judgments of five-candidate turns in single-turn conversations, ten
// ranking pairs each. Contents are Chinese and unique per turn, so nothing is deduplicated.
// It runs once per database: the ids are fixed.
func Insert(ctx context.Context, pool *pgxpool.Pool, o Owner, n int) error {
	judgments := n / 10
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
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET synchronous_commit = off`); err != nil {
		return err
	}
	args := pgx.NamedArgs{"base": base, "n": judgments, "project": o.Project, "persona": o.Persona, "version": o.PromptVersion, "user": o.User}
	for i, sql := range steps {
		if _, err := conn.Exec(ctx, sql, args); err != nil {
			return fmt.Errorf("bulk pairs, step %d: %w", i+1, err)
		}
	}
	_, err = conn.Exec(ctx, `ANALYZE`)
	return err
}
