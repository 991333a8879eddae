package leaderboard_test

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/jobs"
	"github.com/mentor-ai/mentor/leaderboard"
	"github.com/mentor-ai/mentor/llm"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/prompts/demo"
	"github.com/mentor-ai/mentor/retrieval"
)

type fixture struct {
	store    *leaderboard.Store
	project  prompts.Project
	personas map[string]prompts.Persona
	rubrics  map[string][]prompts.Dimension
	versions map[string][]prompts.Version
	trainers []int64
}

func setup(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	models, err := llm.NewRegistry(ctx, llm.RegistryConfig{Getenv: func(string) string { return "" }})
	require.NoError(t, err)
	ps := prompts.NewStore(pool)
	sum, err := demo.Load(ctx, ps, retrieval.NewStore(pool, nil, nil), models.Has)
	require.NoError(t, err)
	queue, err := jobs.NewInserter(pool)
	require.NoError(t, err)
	f := fixture{store: leaderboard.NewStore(pool, queue, leaderboard.StoreOptions{}), project: sum.Project, personas: map[string]prompts.Persona{}, rubrics: map[string][]prompts.Dimension{}, versions: map[string][]prompts.Version{}}
	personas, err := ps.Personas(ctx, sum.Project.ID)
	require.NoError(t, err)
	for _, p := range personas {
		f.personas[p.Slug] = p
		f.versions[p.Slug], err = ps.Versions(ctx, p.ID)
		require.NoError(t, err)
		slices.SortFunc(f.versions[p.Slug], func(a, b prompts.Version) int { return a.Version - b.Version })
		f.rubrics[p.Slug], err = ps.Rubric(ctx, p.ID)
		require.NoError(t, err)
	}
	as := auth.NewStore(pool, nil)
	for _, login := range []string{"voter-a", "voter-b", "voter-c"} {
		u, err := as.CreateUser(ctx, auth.NewUser{Login: login, DisplayName: login, Password: "correct horse battery staple"})
		require.NoError(t, err)
		f.trainers = append(f.trainers, u.ID)
	}
	return f
}

// TestBoardFromSeededCampaign: a simulated blind campaign with known strengths, read back
// from the database, ranks the truly better version first, counts only checked votes by
// default, and says which votes it counted.
func TestBoardFromSeededCampaign(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	p, vs := f.personas["customs-helper"], f.versions["customs-helper"]
	require.Len(t, vs, 2)
	rubric := map[string][2]int{}
	for _, d := range f.rubrics["customs-helper"] {
		rubric[d.Key] = [2]int{d.ScaleMin, d.ScaleMax}
	}
	require.NotEmpty(t, rubric)
	first := f.rubrics["customs-helper"][0].Key
	spec := leaderboard.SeedSpec{ProjectID: f.project.ID, PersonaID: p.ID, CreatedBy: f.trainers[0], Name: "checked",
		Versions: [2]leaderboard.SeedVersion{{ID: vs[0].ID, Model: vs[0].Model},
			{ID: vs[1].ID, Model: vs[1].Model, Strength: 1.0, Dimensions: map[string]float64{first: 2}}},
		Trainers: f.trainers, Items: 150, K: 2, TieShare: 0.1, Rubric: rubric, Checked: true, Seed: 3}
	require.NoError(t, leaderboard.Seed(ctx, f.store.Pool(), spec))
	// The same campaign again is left alone; an unchecked one favouring v1 must not count.
	require.NoError(t, leaderboard.Seed(ctx, f.store.Pool(), spec))
	spec.Name, spec.Checked, spec.Seed = "unchecked", false, 4
	spec.Versions[0].Strength, spec.Versions[1].Strength = 3, 0
	require.NoError(t, leaderboard.Seed(ctx, f.store.Pool(), spec))

	// A side-swap repeat of one checked vote, answered the other way: stored as a newer
	// revision, it must neither replace the vote nor count as one.
	tag, err := f.store.Pool().Exec(ctx, `WITH vote AS (
			SELECT i.campaign_id, i.id AS item_id, j.id, j.turn_id, j.trainer_id, j.revision, j.ranking, j.continuation_message_id
			FROM campaign_items i JOIN campaigns c ON c.id = i.campaign_id JOIN judgments j ON j.turn_id = i.turn_id
			WHERE c.name LIKE 'checked%' AND jsonb_array_length(j.ranking) = 2 ORDER BY j.id LIMIT 1),
		orig AS (INSERT INTO claims (campaign_id, item_id, trainer_id, state, claimed_at, lease_until, closed_at, judgment_id, guidelines_version)
			SELECT campaign_id, item_id, trainer_id, 'submitted', now(), now(), now(), id, 1 FROM vote RETURNING id),
		rep AS (INSERT INTO judgments (turn_id, trainer_id, revision, idempotency_key, request_hash, ranking, ratings, flags, continuation_message_id, time_spent_ms)
			SELECT turn_id, trainer_id, revision + 1, 'side-swap-repeat-1', '\x00', jsonb_build_array(ranking->1, ranking->0), '{}', '{}', continuation_message_id, 4000
			FROM vote RETURNING id)
		INSERT INTO claims (campaign_id, item_id, trainer_id, state, claimed_at, lease_until, closed_at, judgment_id, guidelines_version, swap_of)
		SELECT vote.campaign_id, vote.item_id, vote.trainer_id, 'submitted', now(), now(), now(), rep.id, 1, orig.id FROM vote, orig, rep`)
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected(), "the repeat is stored")
	require.NoError(t, err)

	b, err := f.store.Board(ctx, f.project.ID, leaderboard.Options{Persona: "customs-helper", Rounds: 200})
	require.NoError(t, err)
	assert.Equal(t, leaderboard.CountChecked, b.Counted)
	assert.Equal(t, leaderboard.SourceBlind, b.Source)
	assert.Equal(t, 300, b.Judgments, "150 items × k = 2, checked ones only")
	assert.Equal(t, 300, b.Votes, "two candidates: one vote per judgment")
	require.Len(t, b.Parts, 1)
	require.Len(t, b.Parts[0].Entries, 2)
	top := b.Parts[0].Entries[0]
	assert.Equal(t, "customs-helper/v2", top.Key, "the stronger version wins")
	assert.Equal(t, 2, top.Version)
	assert.True(t, top.Preliminary, "300 votes")
	assert.NotEmpty(t, b.Matrix)

	all, err := f.store.Board(ctx, f.project.ID, leaderboard.Options{Persona: "customs-helper", Counted: leaderboard.CountSubmitted, Rounds: 200})
	require.NoError(t, err)
	assert.Equal(t, 600, all.Judgments, "all submitted: the unchecked campaign too")

	byDim, err := f.store.Board(ctx, f.project.ID, leaderboard.Options{Persona: "customs-helper", Dimension: first, Rounds: 200})
	require.NoError(t, err)
	require.Len(t, byDim.Parts, 1)
	assert.Equal(t, "customs-helper/v2", byDim.Parts[0].Entries[0].Key)

	cmp, err := f.store.Compare(ctx, f.project.ID, "customs-helper", 1, 2, leaderboard.Options{Rounds: 200})
	require.NoError(t, err)
	assert.Equal(t, leaderboard.VerdictBetter, cmp.Overall.Verdict, "%+v", cmp.Overall)
	require.NotNil(t, cmp.Overall.WinRate)
	assert.Greater(t, *cmp.Overall.WinRate, 0.5)
	assert.Contains(t, cmp.VerdictEn, "better overall")
	assert.Contains(t, cmp.VerdictZh, "总体更好")
	assert.Nil(t, cmp.Campaign, "decided: no campaign offered")
	assert.Len(t, cmp.Dimensions, len(f.rubrics["customs-helper"]))

	// finance-helper was never compared: a campaign is offered over its two versions.
	never, err := f.store.Compare(ctx, f.project.ID, "finance-helper", 1, 2, leaderboard.Options{Rounds: 50})
	require.NoError(t, err)
	assert.Equal(t, leaderboard.VerdictNeverCompared, never.Overall.Verdict)
	require.NotNil(t, never.Campaign)
	assert.Equal(t, "blind_pairwise", string(never.Campaign.TaskKind))
	assert.Len(t, never.Campaign.Plan, 2)

	check, err := f.store.Voters(ctx, f.project.ID, leaderboard.Options{Persona: "customs-helper", Rounds: 50})
	require.NoError(t, err)
	require.Len(t, check.Voters, 3)
	for _, v := range check.Voters {
		assert.False(t, v.Flagged, "%s votes as the model says", v.Login)
		assert.Positive(t, v.Decided)
		assert.InDelta(t, 0.5, v.FirstExpected, 1e-9, "two candidates shown")
	}
}

func TestBoardBadInput(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	_, err := f.store.Board(ctx, f.project.ID, leaderboard.Options{Persona: "customs-helper", Dimension: "charm"})
	require.Error(t, err)
	assert.Equal(t, errs.Unprocessable, errs.KindOf(err))
	assert.Contains(t, errs.Message(err), f.rubrics["customs-helper"][0].Key, "the valid dimensions are listed")
	_, err = f.store.Board(ctx, f.project.ID, leaderboard.Options{By: "colour"})
	assert.Equal(t, errs.Invalid, errs.KindOf(err))
	_, err = f.store.Board(ctx, f.project.ID, leaderboard.Options{Persona: "nobody"})
	assert.Equal(t, errs.NotFound, errs.KindOf(err))
	_, err = f.store.Compare(ctx, f.project.ID, "customs-helper", 1, 9, leaderboard.Options{})
	assert.Equal(t, errs.NotFound, errs.KindOf(err))

	empty, err := f.store.Board(ctx, f.project.ID, leaderboard.Options{})
	require.NoError(t, err)
	assert.Equal(t, []string{leaderboard.NoticeTooFewEntries}, empty.Notices, "no votes: a message, not an empty chart")
}

// TestBoardStyleControlReadsReplyStyle: the vote SQL counts each reply's length and
// markdown. In a campaign between two equally strong versions, a third of the judgments'
// winners are rewritten long and formatted; the style-controlled board must find that
// trainers favoured both, and the plain board carries no coefficients. The rewritten reply
// always won, and is long exactly when formatted: the fit must survive both (βs without a
// maximum-likelihood value, and collinear covariates).
func TestBoardStyleControlReadsReplyStyle(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	p, vs := f.personas["customs-helper"], f.versions["customs-helper"]
	require.Len(t, vs, 2)
	spec := leaderboard.SeedSpec{ProjectID: f.project.ID, PersonaID: p.ID, CreatedBy: f.trainers[0], Name: "style",
		Versions: [2]leaderboard.SeedVersion{{ID: vs[0].ID, Model: vs[0].Model}, {ID: vs[1].ID, Model: vs[1].Model}},
		Trainers: f.trainers, Items: 200, K: 1, TieShare: 0.05, Checked: true, Seed: 9}
	require.NoError(t, leaderboard.Seed(ctx, f.store.Pool(), spec))
	_, err := f.store.Pool().Exec(ctx, `UPDATE messages SET content = repeat(E'## 要点\n- 第一条\n1. **加粗**说明\n', 8)
		WHERE id IN (SELECT cand.message_id FROM judgments j JOIN candidates cand ON cand.id = (j.ranking->0->>0)::bigint
			WHERE jsonb_array_length(j.ranking->0) = 1 AND j.id % 3 = 0)`)
	require.NoError(t, err)

	plain, err := f.store.Board(ctx, f.project.ID, leaderboard.Options{Persona: "customs-helper", Rounds: 50})
	require.NoError(t, err)
	assert.False(t, plain.StyleControl)
	require.Len(t, plain.Parts, 1)
	assert.Empty(t, plain.Parts[0].Style)

	styled, err := f.store.Board(ctx, f.project.ID, leaderboard.Options{Persona: "customs-helper", Style: leaderboard.StyleControl, Rounds: 50})
	require.NoError(t, err)
	assert.True(t, styled.StyleControl)
	require.Len(t, styled.Parts, 1)
	require.Len(t, styled.Parts[0].Style, leaderboard.Covariates)
	t.Logf("coefficients %+v", styled.Parts[0].Style)
	for _, c := range styled.Parts[0].Style {
		assert.Greater(t, c.Value, 0.0, "trainers favoured the rewritten replies: %+v", c)
	}
	assert.Greater(t, styled.Parts[0].Style[0].Lower+styled.Parts[0].Style[1].Lower, 0.0, "%+v", styled.Parts[0].Style)

	cmp, err := f.store.Compare(ctx, f.project.ID, "customs-helper", 1, 2, leaderboard.Options{Style: leaderboard.StyleControl, Rounds: 50})
	require.NoError(t, err)
	assert.True(t, cmp.StyleControl, "the comparison says it adjusted for style")
	require.NotNil(t, cmp.Overall.Diff)

	_, err = f.store.Board(ctx, f.project.ID, leaderboard.Options{Style: "fancy"})
	require.Error(t, err)
	assert.Equal(t, errs.Invalid, errs.KindOf(err))
	assert.Contains(t, errs.Message(err), "style")
}
