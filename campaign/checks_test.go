package campaign_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/honeypot"
	"github.com/mentor-ai/mentor/rlhf"
)

// judgeAs submits the claim's judgment ranking the first candidate first (or last, when
// reversed) after spending ms on it.
func (f *fixture) judgeAs(t *testing.T, claimID, trainerID int64, reversed bool, ms int) int64 {
	t.Helper()
	ctx := context.Background()
	prep, err := f.store.PrepareSubmit(ctx, claimID, trainerID)
	require.NoError(t, err)
	turn, err := f.live.Turn(ctx, prep.TurnID)
	require.NoError(t, err)
	a, b := turn.Candidates[0].ID, turn.Candidates[1].ID
	if reversed {
		a, b = b, a
	}
	res, err := f.live.Submit(ctx, prep.TurnID, trainerID, rlhf.Submission{IdempotencyKey: fmt.Sprintf("judge-as-%d", claimID),
		Ranking: [][]int64{{a}, {b}}, ContinueFrom: rlhf.ContinueFrom{CandidateID: a}, TimeSpentMillis: ms, InTx: prep.InTx})
	require.NoError(t, err)
	prep.Done(ctx)
	return res.JudgmentID
}

func fieldOf(err error) string {
	var e *errs.Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

func TestChecksRefuseBadSettings(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ptr := func(v float64) *float64 { return &v }
	neg := -1
	tests := []struct {
		name   string
		checks campaign.ChecksInput
		field  string
	}{
		{"rate over 50%", campaign.ChecksInput{HoneypotRate: ptr(0.51)}, "checks.honeypot_rate"},
		{"negative rate", campaign.ChecksInput{HoneypotRate: ptr(-0.01)}, "checks.honeypot_rate"},
		{"threshold over 1", campaign.ChecksInput{HoneypotThreshold: ptr(1.5)}, "checks.honeypot_threshold"},
		{"negative floor", campaign.ChecksInput{SpeedFloorMS: &neg}, "checks.speed_floor_ms"},
		{"agreement floor", campaign.ChecksInput{AgreementFloor: ptr(2)}, "checks.agreement_floor"},
		{"swap rate over 50%", campaign.ChecksInput{SwapRate: ptr(0.6)}, "checks.swap_rate"},
		{"negative swap rate", campaign.ChecksInput{SwapRate: ptr(-0.1)}, "checks.swap_rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.store.Create(context.Background(), f.project.ID, f.admin, campaign.Input{Name: "x", PersonaID: f.persona.ID,
				TaskKind: campaign.RankRate, K: 1, Plan: []campaign.PlanEntry{{PromptVersionID: f.version.ID}}, Checks: tt.checks})
			assert.Equal(t, tt.field, fieldOf(err), "%v", err)
		})
	}
	c := f.campaign(t, campaign.Input{K: 1})
	assert.InDelta(t, 0.05, c.Checks.HoneypotRate, 1e-9, "the default rate")
	assert.Equal(t, 3000, c.Checks.SpeedFloorMS)
	assert.InDelta(t, 0.05, c.Checks.SwapRate, 1e-9, "the default side-swap rate")
	got, err := f.store.SetChecks(context.Background(), c.ID, campaign.ChecksInput{HoneypotRate: ptr(0.5)})
	require.NoError(t, err)
	assert.InDelta(t, 0.5, got.Checks.HoneypotRate, 1e-9)
	assert.Equal(t, 3000, got.Checks.SpeedFloorMS, "an absent setting keeps its value")
}

func TestGoldNeedsAValidAnswer(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	c := f.campaign(t, campaign.Input{K: 1})
	ids := f.readyItems(t, c, 2)
	other := f.campaign(t, campaign.Input{K: 1, Name: "另一个"})
	tests := []struct {
		name  string
		in    campaign.GoldInput
		field string
	}{
		{"no item", campaign.GoldInput{Answer: honeypot.Answer{Kind: honeypot.Best, CandidateID: 1}}, "item_id"},
		{"no kind", campaign.GoldInput{ItemID: ids[0]}, "answer.kind"},
		{"a candidate of another item", campaign.GoldInput{ItemID: ids[0], Answer: honeypot.Answer{Kind: honeypot.Best, CandidateID: -5}}, "answer.candidate_id"},
		{"a flag nobody can set", campaign.GoldInput{ItemID: ids[0], Answer: honeypot.Answer{Kind: honeypot.Defect, CandidateID: -5, Flag: "boring"}}, "answer.candidate_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.store.SetGold(ctx, c.ID, f.admin, tt.in)
			assert.Equal(t, tt.field, fieldOf(err), "%v", err)
		})
	}
	_, err := f.store.SetGold(ctx, other.ID, f.admin, campaign.GoldInput{ItemID: ids[0], Answer: honeypot.Answer{Kind: honeypot.Best, CandidateID: 1}})
	assert.Equal(t, "item_id", fieldOf(err), "an item of another campaign: %v", err)
	g := f.gold(t, c.ID, ids[1])
	assert.Equal(t, "expert", g.Source)
	list, err := f.store.Gold(ctx, c.ID)
	require.NoError(t, err)
	assert.Len(t, list, 1)
}

func TestSpeedFloor(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		median  *int // the campaign's median time per item
		spentMS int
		flagged bool
	}{
		{"instant", nil, 0, true},
		{"under 3 s", nil, 2999, true},
		{"at 3 s", nil, 3000, false},
		{"a quarter of a slow median is longer", ptrInt(40000), 9000, true},
		{"above a quarter of the median", ptrInt(40000), 10000, false},
		{"a quick median leaves 3 s", ptrInt(4000), 3500, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.campaign(t, campaign.Input{K: 1, Name: tt.name})
			f.readyItems(t, c, 1)
			_, err := f.pool.Exec(ctx, `UPDATE campaigns SET median_ms = $2 WHERE id = $1`, c.ID, tt.median)
			require.NoError(t, err)
			trainer := f.user(t, fmt.Sprintf("speed-%d", i), "trainer")
			claim, err := f.store.Next(ctx, c.ID, trainer)
			require.NoError(t, err)
			j := f.judgeAs(t, claim.ID, trainer, false, tt.spentMS)
			var flagged bool
			err = f.pool.QueryRow(ctx, `SELECT coalesce((SELECT speed_flagged FROM judgment_checks WHERE judgment_id = $1), false)`, j).Scan(&flagged)
			require.NoError(t, err)
			assert.Equal(t, tt.flagged, flagged)
		})
	}
}

func ptrInt(v int) *int { return &v }

// TestHoneypotAccuracyPauses: a trainer who gets gold items wrong is paused once 10 are
// scored below 70%; next refuses with the reason, their unreviewed work is held, a lead is
// told, and lifting the pause lets them claim again.
func TestHoneypotAccuracyPauses(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	rate := 0.5
	c := f.campaign(t, campaign.Input{K: 1, ClaimCap: 1, Checks: campaign.ChecksInput{HoneypotRate: &rate}})
	ids := f.readyItems(t, c, 60)
	for _, id := range ids[:30] {
		f.gold(t, c.ID, id)
	}
	trainer := f.user(t, "careless", "trainer")
	var normal []int64
	golds, paused := 0, false
	for range 60 {
		claim, err := f.store.Next(ctx, c.ID, trainer)
		if err != nil {
			require.Equal(t, errs.Unprocessable, errs.KindOf(err), "%v", err)
			assert.Contains(t, err.Error(), "you are paused in this campaign")
			paused = true
			break
		}
		var isGold bool
		require.NoError(t, f.pool.QueryRow(ctx, `SELECT gold FROM campaign_items WHERE id = $1`, claim.ItemID).Scan(&isGold))
		// Every gold item wrong (the gold answer is the first candidate), at a careful pace.
		j := f.judgeAs(t, claim.ID, trainer, isGold, 20000)
		if isGold {
			golds++
		} else {
			normal = append(normal, j)
		}
	}
	require.True(t, paused, "never paused")
	assert.Equal(t, 10, golds, "paused at the tenth wrong gold item")
	require.Len(t, f.events.paused, 1)
	assert.Equal(t, trainer, f.events.paused[0].TrainerID)
	assert.Zero(t, f.events.paused[0].Accuracy)
	var held, notHeld int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE jc.held), count(*) FILTER (WHERE NOT coalesce(jc.held, false))
		FROM claims cl LEFT JOIN judgment_checks jc ON jc.judgment_id = cl.judgment_id WHERE cl.campaign_id = $1 AND cl.state = 'submitted'`, c.ID).Scan(&held, &notHeld))
	assert.Equal(t, golds+len(normal), held, "every unreviewed judgment of theirs is held")
	assert.Zero(t, notHeld)
	pauses, err := f.store.Pauses(ctx, c.ID)
	require.NoError(t, err)
	require.Len(t, pauses, 1)
	assert.Equal(t, "careless", pauses[0].Login)

	require.NoError(t, f.store.Lift(ctx, c.ID, trainer, f.admin))
	assert.ErrorIs(t, f.store.Lift(ctx, c.ID, trainer, f.admin), campaign.ErrNotPaused)
	_, err = f.store.Next(ctx, c.ID, trainer)
	assert.NoError(t, err, "a lifted pause lets them claim")
}

func TestPromoteUnanimous(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	zero := 0.0
	c := f.campaign(t, campaign.Input{K: 3, Checks: campaign.ChecksInput{HoneypotRate: &zero}})
	ids := f.readyItems(t, c, 2)
	for i, tr := range f.trainers(t, "u", 3) {
		for range 2 {
			claim, err := f.store.Next(ctx, c.ID, tr)
			require.NoError(t, err)
			// Everyone agrees on the first item; the third trainer breaks the second.
			f.judgeAs(t, claim.ID, tr, claim.ItemID == ids[1] && i == 2, 5000)
		}
	}
	found, err := f.store.Promotable(ctx, c.ID)
	require.NoError(t, err)
	require.Len(t, found, 1)
	assert.Equal(t, ids[0], found[0].ItemID)
	_, err = f.store.Promote(ctx, c.ID, ids[1], f.admin)
	assert.Equal(t, "item_id", fieldOf(err), "a split item cannot be promoted")
	g, err := f.store.Promote(ctx, c.ID, ids[0], f.admin)
	require.NoError(t, err)
	assert.Equal(t, "promoted", g.Source)
	assert.Equal(t, honeypot.Best, g.Answer.Kind)
}
