package campaign_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/rlhf"
)

// goneStarter starts a live item's turn as the engine does (stored, committed) and then the
// trainer's request goes away: it cancels the context StartLive was called with.
type goneStarter struct {
	f      *fixture
	cancel context.CancelFunc
	turns  int
}

func (g *goneStarter) StartItem(ctx context.Context, t campaign.LiveTurn) (int64, error) {
	g.turns++
	turn, err := g.f.live.StartTurn(context.WithoutCancel(ctx), rlhf.NewTurn{ProjectID: t.ProjectID, PersonaID: t.PersonaID, Locale: "zh-CN",
		UserID: t.TrainerID, Message: t.Question, Lease: rlhf.Lease{Owner: "test", For: time.Hour},
		Candidates: []rlhf.CandidateSpec{{Position: 1, Model: "m", PromptVersionID: g.f.version.ID, SystemPromptHash: "h"}}})
	g.cancel()
	return turn.ID, err
}

func (g *goneStarter) RestartItem(context.Context, int64, int64, bool) (int, error) { return 0, nil }

// TestLiveItemKeepsItsTurnWhenTheRequestGoesAway: once a live item's turn has started, the
// item gets it even if the trainer's request is cancelled at that moment (a reload, a closed
// tab); before, the link was lost with the request, and the item's next claim started, and
// paid for, a second turn.
func TestLiveItemKeepsItsTurnWhenTheRequestGoesAway(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.campaign(t, campaign.Input{K: 2, Live: true})
	_, err := f.store.AddItems(context.Background(), c.ID, []campaign.ItemInput{{Question: "进口奶粉要交哪些税？"}})
	require.NoError(t, err)
	_, err = f.store.SetState(context.Background(), c.ID, campaign.Open)
	require.NoError(t, err)
	trainers := f.trainers(t, "gone", 2)
	claim, err := f.store.Next(context.Background(), c.ID, trainers[0])
	require.NoError(t, err)
	require.True(t, claim.Live)

	ctx, cancel := context.WithCancel(context.Background())
	starter := &goneStarter{f: f, cancel: cancel}
	_, _, _ = f.store.StartLive(ctx, claim.ID, trainers[0], starter) // its answer goes nowhere
	var turn *int64
	require.NoError(t, f.pool.QueryRow(context.Background(), `SELECT turn_id FROM campaign_items WHERE id = $1`, claim.ItemID).Scan(&turn))
	require.NotNil(t, turn, "the started turn is the item's")

	second, err := f.store.Next(context.Background(), c.ID, trainers[1])
	require.NoError(t, err)
	got, _, err := f.store.StartLive(context.Background(), second.ID, trainers[1], starter)
	require.NoError(t, err)
	assert.Equal(t, *turn, got.TurnID, "the second claimant follows the same turn")
	assert.Equal(t, 1, starter.turns, "one turn was started")
}
