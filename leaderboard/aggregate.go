package leaderboard

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/rlhf"
)

// The board of the ranking (no dimension) is a function of per-pair counts: wins, losses
// and ties between two entries, and, with style control, the same per pair and binned
// covariate cell with the cell's summed covariates. aggregate has PostgreSQL count them
// from the judgments' rankings, so a million votes never cross the wire one by one: what
// comes back is a row per pair (or cell). BenchmarkRefreshFromDatabase measures it; the
// per-vote read (load) stays for dimension boards, comparisons and the voter check, which
// need each vote.

// countedSQL is the latest revision of each trainer's judgment of a turn, of the project
// ($1) and persona ($2, "" for all), counted by the options: $3 takes open judgments too
// (source all), $4 unchecked ones (counted submitted). It is load's filter.
const countedSQL = `
	latest AS (
		SELECT DISTINCT ON (j.turn_id, j.trainer_id) j.id, j.turn_id, j.ranking
		FROM judgments j
		JOIN turns t ON t.id = j.turn_id
		JOIN conversations c ON c.id = t.conversation_id
		JOIN personas p ON p.id = c.persona_id
		WHERE c.project_id = $1 AND ($2 = '' OR p.slug = $2)
			AND ` + rlhf.DataSQL + ` -- a side-swap repeat measures its trainer; it is no vote
		ORDER BY j.turn_id, j.trainer_id, j.revision DESC
	),
	counted AS MATERIALIZED (
		SELECT l.id, l.turn_id, l.ranking
		FROM latest l
		LEFT JOIN campaign_items ci ON ci.turn_id = l.turn_id
		LEFT JOIN campaigns camp ON camp.id = ci.campaign_id
		LEFT JOIN judgment_checks jc ON jc.judgment_id = l.id
		WHERE ($3 OR coalesce(camp.task_kind = 'blind_pairwise', false))
		  AND ($4 OR coalesce(jc.review_state = 'accepted' AND NOT jc.speed_flagged AND NOT jc.held, false))
	)`

// entrySQL is each candidate of a counted turn with the entry it counts as ($5: by) and,
// when $6 (style control), its reply's style features, counted as load counts them.
const entrySQL = `
	entry AS MATERIALIZED (
		SELECT cand.id, cand.model, pv.version, p.slug, pv.created_at,
			CASE $5 WHEN 'model' THEN cand.model
				WHEN 'model_version' THEN p.slug || '/v' || pv.version || '/' || cand.model
				ELSE p.slug || '/v' || pv.version END AS key,
			CASE WHEN $6 THEN char_length(m.content) ELSE 0 END AS length,
			CASE WHEN $6 THEN regexp_count(m.content, '^#{1,6}[ \t]', 1, 'n')
				+ regexp_count(m.content, '^[ \t]*([-*+]|[0-9]+[.)])[ \t]', 1, 'n')
				+ regexp_count(m.content, '\*\*[^*]+\*\*', 1, 'n') ELSE 0 END AS markdown
		FROM candidates cand
		JOIN messages m ON m.id = cand.message_id
		JOIN prompt_versions pv ON pv.id = cand.prompt_version_id
		JOIN personas p ON p.id = pv.persona_id
		WHERE cand.turn_id IN (SELECT turn_id FROM counted)
	)`

// pairSQL is one row per pair of entries (i < j as strings) and, with style control, per
// binned covariate cell: wins of i, of j, ties, and the cell's summed covariates, i's
// reply against j's. A ranking's groups are numbered from 1, best first; two candidates
// of one group tie. The covariates are StyleDiff's and the bins StyleBin's; numeric round
// rounds half away from zero, as Go's math.Round does, so the cells are tallyStyle's.
const pairSQL = `WITH ` + countedSQL + `, ` + entrySQL + `,
	-- Each judgment's candidates with their group (from 1, best first), paired within the
	-- judgment by two lateral expansions of its ranking (16 rows for four candidates).
	-- MATERIALIZED, here and above: the planner cannot know how many judgments pass the
	-- filters or how many candidates a ranking holds, guessed few, and joined the entries
	-- inside the per-judgment loop, which at 20,000 votes took over a minute. Computed
	-- first, the pairs are joined to the entries by hash.
	placed AS MATERIALIZED (
		SELECT a.cand AS ca, b.cand AS cb, sign(b.grp - a.grp)::int AS outcome
		FROM counted k
		CROSS JOIN LATERAL (
			SELECT g.ord AS grp, e.cid::bigint AS cand
			FROM jsonb_array_elements(k.ranking) WITH ORDINALITY g(members, ord), jsonb_array_elements_text(g.members) e(cid)
		) a
		CROSS JOIN LATERAL (
			SELECT g.ord AS grp, e.cid::bigint AS cand
			FROM jsonb_array_elements(k.ranking) WITH ORDINALITY g(members, ord), jsonb_array_elements_text(g.members) e(cid)
		) b
		WHERE (a.grp, a.cand) < (b.grp, b.cand)
	),
	pairs AS (
		SELECT least(ea.key, eb.key) AS i, greatest(ea.key, eb.key) AS j,
			-- the outcome for i: 1 won, -1 lost, 0 tie
			p.outcome * CASE WHEN ea.key < eb.key THEN 1 ELSE -1 END AS outcome,
			CASE WHEN ea.key < eb.key THEN 1 ELSE -1 END
				* CASE WHEN ea.length + eb.length = 0 THEN 0 ELSE (ea.length - eb.length)::float8 / (ea.length + eb.length) END AS x_length,
			CASE WHEN ea.key < eb.key THEN 1 ELSE -1 END
				* CASE WHEN ea.markdown + eb.markdown = 0 THEN 0 ELSE (ea.markdown - eb.markdown)::float8 / (ea.markdown + eb.markdown) END AS x_markdown
		FROM placed p
		JOIN entry ea ON ea.id = p.ca
		JOIN entry eb ON eb.id = p.cb
		WHERE ea.key <> eb.key
	)
	SELECT i, j,
		CASE WHEN $6 THEN round((x_length / $7)::numeric)::int ELSE 0 END AS bin_length,
		CASE WHEN $6 THEN round((x_markdown / $7)::numeric)::int ELSE 0 END AS bin_markdown,
		count(*) FILTER (WHERE outcome > 0)::int, count(*) FILTER (WHERE outcome < 0)::int, count(*) FILTER (WHERE outcome = 0)::int,
		sum(x_length), sum(x_markdown)
	FROM pairs
	GROUP BY 1, 2, 3, 4
	ORDER BY 1, 2, 3, 4`

// entriesSQL is the entries that have candidates in counted turns, and the number of
// counted judgments.
const entriesSQL = `WITH ` + countedSQL + `, ` + entrySQL + `
	SELECT DISTINCT ON (key) key, model, version, slug, created_at, (SELECT count(*) FROM counted)::int
	FROM entry
	ORDER BY key, created_at`

// aggregated is what aggregate reads: the entries, the counted judgments, and the pair (or
// style cell) rows by entry key.
type aggregated struct {
	entries   []EntryInfo
	judgments int
	cells     []pairCell
}

type pairCell struct {
	I, J               string
	BinLength, BinMark int
	WinsI, WinsJ, Ties int
	SumLength, SumMark float64
}

// aggregate reads the board of o (the ranking, not a dimension) as per-pair counts, in one
// repeatable-read snapshot.
func (s *Store) aggregate(ctx context.Context, projectID int64, o Options) (aggregated, error) {
	var out aggregated
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return out, fmt.Errorf("leaderboard: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	// The planner estimates each JSON array's expansion at 100 rows, so the pairs' plan
	// is costed at billions of rows: it then compiled the query with JIT (9 s of a query
	// that runs in 0.1 s at 3,000 votes) and merge-joined the pairs to the entries through
	// a 1.4 GB sort on disk (4 minutes at 20,000 votes; hash joins take 0.8 s). Neither
	// is ever the right plan here, whatever the estimates say.
	for _, set := range []string{`SET LOCAL jit = off`, `SET LOCAL enable_mergejoin = off`} {
		if _, err := tx.Exec(ctx, set); err != nil {
			return out, fmt.Errorf("leaderboard: plan: %w", err)
		}
	}
	args := []any{projectID, o.Persona, o.Source == SourceAll, o.Counted == CountSubmitted, o.By, o.Style == StyleControl}
	rows, _ := tx.Query(ctx, entriesSQL, args...)
	var (
		key, model, slug string
		version          int
		published        time.Time
	)
	if _, err := pgx.ForEachRow(rows, []any{&key, &model, &version, &slug, &published, &out.judgments}, func() error {
		out.entries = append(out.entries, entryFor(o.By, candidateRow{Model: model, Version: version, Persona: slug, PublishedAt: published}))
		return nil
	}); err != nil {
		return out, fmt.Errorf("leaderboard: entries of project %d: %w", projectID, err)
	}
	rows, _ = tx.Query(ctx, pairSQL, append(args, StyleBin)...)
	out.cells, err = pgx.CollectRows(rows, pgx.RowToStructByPos[pairCell])
	if err != nil {
		return out, fmt.Errorf("leaderboard: votes of project %d: %w", projectID, err)
	}
	return out, nil
}

// matrices turns the pair rows into the win matrix and, with style control, the style
// matrix over entries in the order of index, as tally and tallyStyle would from the votes.
func (a aggregated) matrices(index map[string]int, n int, style bool) (Matrix, *StyleMatrix, int) {
	m := Matrix{N: n}
	var sm *StyleMatrix
	if style {
		sm = &StyleMatrix{Matrix: Matrix{N: n}}
	}
	pairs := map[[2]int]int{}
	var bins [][Covariates]int
	votes := 0
	for _, c := range a.cells {
		i, ok1 := index[c.I]
		j, ok2 := index[c.J]
		if !ok1 || !ok2 || i == j {
			continue
		}
		t := Tally{I: i, J: j, WinsI: c.WinsI, WinsJ: c.WinsJ, Ties: c.Ties}
		x := [Covariates]float64{c.SumLength, c.SumMark}
		bin := [Covariates]int{c.BinLength, c.BinMark}
		if i > j { // the matrices are oriented by index, the rows by key
			t = Tally{I: j, J: i, WinsI: c.WinsJ, WinsJ: c.WinsI, Ties: c.Ties}
			x, bin = [Covariates]float64{-x[0], -x[1]}, [Covariates]int{-bin[0], -bin[1]}
		}
		votes += t.N()
		at, ok := pairs[[2]int{t.I, t.J}]
		if !ok {
			at = len(m.Tallies)
			pairs[[2]int{t.I, t.J}] = at
			m.Tallies = append(m.Tallies, Tally{I: t.I, J: t.J})
		}
		p := &m.Tallies[at]
		p.WinsI, p.WinsJ, p.Ties = p.WinsI+t.WinsI, p.WinsJ+t.WinsJ, p.Ties+t.Ties
		if sm != nil {
			sm.Tallies = append(sm.Tallies, t)
			sm.X = append(sm.X, [Covariates]float64{x[0] / float64(t.N()), x[1] / float64(t.N())})
			bins = append(bins, bin)
		}
	}
	sortTallies(m.Tallies)
	if sm != nil {
		sm.Matrix.N = n
		sortStyleCells(sm, bins)
	}
	return m, sm, votes
}
