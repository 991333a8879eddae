package campaign_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/agreement"
	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/rlhf"
)

// pick judges a claim of a blind pairwise item as a trainer with a habit would: "steady"
// always prefers the same reply (the one at position 1), "leftie" whichever is shown on the
// left, which in a side-swap repeat is the reply at position 2.
func (f *fixture) pick(t *testing.T, claim campaign.Claim, trainer int64, leftie bool) {
	t.Helper()
	ctx := context.Background()
	prep, err := f.store.PrepareSubmit(ctx, claim.ID, trainer)
	require.NoError(t, err)
	turn, err := f.live.Turn(ctx, prep.TurnID)
	require.NoError(t, err)
	cands := slices.Clone(turn.Candidates)
	slices.SortFunc(cands, func(a, b rlhf.Candidate) int { return a.Position - b.Position })
	a, b := cands[0].ID, cands[1].ID
	if leftie && claim.Swapped {
		a, b = b, a
	}
	res, err := f.live.Submit(ctx, prep.TurnID, trainer, rlhf.Submission{IdempotencyKey: fmt.Sprintf("side-swap-pick-%d", claim.ID),
		Ranking: [][]int64{{a}, {b}}, ContinueFrom: rlhf.ContinueFrom{CandidateID: a}, TimeSpentMillis: 5000, InTx: prep.InTx})
	require.NoError(t, err)
	require.False(t, res.Replayed)
	prep.Done(ctx)
}

// TestSideSwapRepeats: in a blind pairwise campaign, trainers are dealt pairs they judged
// again with the sides swapped, never straight after the original and never twice; the
// repeats take no place toward k; and the per-trainer statistics show who is consistent and
// who is swayed by position.
func TestSideSwapRepeats(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	const items, k = 16, 2
	rate := 0.5
	c := f.campaign(t, campaign.Input{K: k, TaskKind: campaign.BlindPairwise, ClaimCap: 1, Checks: campaign.ChecksInput{SwapRate: &rate}})
	f.readyItems(t, c, items)
	// A fixed seed makes the draws, and so the test, the same on every run.
	_, err := f.pool.Exec(ctx, `UPDATE campaigns SET honeypot_seed = 42 WHERE id = $1`, c.ID)
	require.NoError(t, err)
	steady, leftie := f.user(t, "steady", "trainer"), f.user(t, "leftie", "trainer")

	type dealt struct {
		claim campaign.Claim
		seq   int // the trainer's n-th claim
	}
	history := map[int64][]dealt{}
	for progress := true; progress; {
		progress = false
		for _, tr := range []int64{steady, leftie} {
			claim, err := f.store.Next(ctx, c.ID, tr)
			if errors.Is(err, campaign.ErrNoWork) {
				continue
			}
			require.NoError(t, err)
			history[tr] = append(history[tr], dealt{claim, len(history[tr])})
			f.pick(t, claim, tr, tr == leftie)
			progress = true
		}
	}

	repeats := map[int64]int{}
	for tr, hs := range history {
		firstSeen := map[int64]int{}
		swapped := map[int64]bool{}
		for _, h := range hs {
			if !h.claim.Swapped {
				_, again := firstSeen[h.claim.ItemID]
				require.False(t, again, "an item dealt twice as work")
				firstSeen[h.claim.ItemID] = h.seq
				continue
			}
			repeats[tr]++
			first, ok := firstSeen[h.claim.ItemID]
			require.True(t, ok, "a repeat of an item the trainer never judged")
			assert.GreaterOrEqual(t, h.seq-first, 3, "a repeat straight after the original")
			assert.False(t, swapped[h.claim.ItemID], "an item repeated twice")
			swapped[h.claim.ItemID] = true
		}
		assert.Len(t, firstSeen, items, "every item is the trainer's work once")
	}
	require.Positive(t, repeats[steady], "no repeat was dealt to steady")
	require.Positive(t, repeats[leftie], "no repeat was dealt to leftie")

	// Exactly k: repeats take no place, and items count only the work.
	var completed, judged, drift int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE completed_at IS NOT NULL), coalesce(sum(judged), 0),
			count(*) FILTER (WHERE taken <> (SELECT count(*) FROM claims c WHERE c.item_id = i.id AND c.swap_of IS NULL AND c.state IN ('open', 'submitted'))
				OR judged <> (SELECT count(*) FROM claims c WHERE c.item_id = i.id AND c.swap_of IS NULL AND c.state = 'submitted'))
		FROM campaign_items i WHERE campaign_id = $1`, c.ID).Scan(&completed, &judged, &drift))
	assert.Equal(t, items, completed)
	assert.Equal(t, items*k, judged)
	assert.Zero(t, drift)

	// Repeats are checks, not work to review.
	var queued, queuedRepeats int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE cl.swap_of IS NOT NULL)
		FROM review_queue q JOIN claims cl ON cl.judgment_id = q.judgment_id WHERE q.campaign_id = $1`, c.ID).Scan(&queued, &queuedRepeats))
	assert.Equal(t, items*k, queued, "every judgment of work is queued for review")
	assert.Zero(t, queuedRepeats, "a repeat was queued for review")

	// Both trainers' work agrees on every item (each picked the reply at position 1); leftie's
	// repeats, which picked the other, are checks and must not lower any item's W.
	require.NoError(t, agreement.NewRefresher(f.pool, f.clock.now, nil).RefreshAll(ctx))
	var refreshed, below int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE a.agreement < 1)
		FROM item_agreement a JOIN campaign_items i ON i.id = a.item_id WHERE i.campaign_id = $1`, c.ID).Scan(&refreshed, &below))
	assert.Equal(t, items, refreshed)
	assert.Zero(t, below, "a repeat counted in an item's agreement")

	stats, err := f.store.TrainerStats(ctx, c.ID, campaign.StatsScope{All: true})
	require.NoError(t, err)
	byID := map[int64]campaign.TrainerStats{}
	for _, s := range stats {
		byID[s.TrainerID] = s
	}
	s, l := byID[steady], byID[leftie]
	tests := []struct {
		name string
		got  campaign.TrainerStats
		// what the figures must be
		repeats           int
		consistency, left float64
	}{
		// steady picks the reply at position 1, which a repeat shows on the right.
		{"steady", s, repeats[steady], 1, float64(items) / float64(items+repeats[steady])},
		{"leftie", l, repeats[leftie], 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, items, tt.got.Judgments, "repeats are not judgments of the items")
			assert.Zero(t, tt.got.Rework, "a repeat is not rework")
			assert.Equal(t, tt.repeats, tt.got.SwapRepeats)
			require.NotNil(t, tt.got.SwapConsistency)
			assert.InDelta(t, tt.consistency, *tt.got.SwapConsistency, 1e-9)
			require.NotNil(t, tt.got.LeftShare)
			assert.InDelta(t, tt.left, *tt.got.LeftShare, 1e-9)
		})
	}
}

// TestSideSwapSkipAndExpiry: a repeat skipped or left to lapse gives nothing back, since it
// took nothing: the item's places and skips stay as its work left them.
func TestSideSwapSkipAndExpiry(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	rate := 0.5
	c := f.campaign(t, campaign.Input{K: 1, TaskKind: campaign.BlindPairwise, ClaimCap: 1, LeaseSeconds: 60, Checks: campaign.ChecksInput{SwapRate: &rate}})
	f.readyItems(t, c, 30)
	_, err := f.pool.Exec(ctx, `UPDATE campaigns SET honeypot_seed = 7 WHERE id = $1`, c.ID)
	require.NoError(t, err)
	tr := f.user(t, "swapper", "trainer")
	var swaps []campaign.Claim
	for len(swaps) < 2 {
		claim, err := f.store.Next(ctx, c.ID, tr)
		require.NoError(t, err, "the items ran out before two repeats were dealt")
		if !claim.Swapped {
			f.pick(t, claim, tr, false)
			continue
		}
		swaps = append(swaps, claim)
		if len(swaps) == 1 {
			require.NoError(t, f.store.Skip(ctx, claim.ID, tr, campaign.SkipUnclear))
		} else {
			f.clock.add(61 * time.Second) // the lease lapses; the next claim expires it
		}
	}
	_, err = f.store.Next(ctx, c.ID, tr)
	require.NoError(t, err)
	for _, s := range swaps {
		var taken, judged, skips int
		var setAside bool
		require.NoError(t, f.pool.QueryRow(ctx, `SELECT taken, judged, skips, set_aside FROM campaign_items WHERE id = $1`, s.ItemID).
			Scan(&taken, &judged, &skips, &setAside))
		assert.Equal(t, []int{1, 1, 0}, []int{taken, judged, skips}, "item %d", s.ItemID)
		assert.False(t, setAside)
	}
	rows, _ := f.pool.Query(ctx, `SELECT state FROM claims WHERE id = ANY ($1) ORDER BY id`, []int64{swaps[0].ID, swaps[1].ID})
	states, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{"skipped", "expired"}, states)
}

// TestSideSwapsUnderConcurrency is TestExactlyKUnderConcurrency's invariant for a blind
// pairwise campaign that deals repeats: no item ever has more than k claims of work open or
// judged, and each ends with exactly k.
func TestSideSwapsUnderConcurrency(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	const items, k, workers = 60, 3, 400
	rate := 0.3
	c := f.campaign(t, campaign.Input{K: k, TaskKind: campaign.BlindPairwise, ClaimCap: 3, Checks: campaign.ChecksInput{SwapRate: &rate}})
	f.readyItems(t, c, items)
	trainers := f.trainers(t, "sw", 40)
	var wg sync.WaitGroup
	unexpected := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			trainer := trainers[w%len(trainers)]
			claim, err := f.store.Next(ctx, c.ID, trainer)
			if err != nil {
				if kind := errs.KindOf(err); kind != errs.NotFound && kind != errs.Unprocessable {
					unexpected <- err
				}
				return
			}
			if _, err := f.judge(ctx, claim.ID, trainer, fmt.Sprintf("swap-key-%d", claim.ID)); err != nil {
				unexpected <- err
			}
		})
	}
	wg.Wait()
	close(unexpected)
	for err := range unexpected {
		t.Errorf("unexpected: %v", err)
	}
	for progress := true; progress; {
		progress = false
		for _, trainer := range trainers {
			claim, err := f.store.Next(ctx, c.ID, trainer)
			if errors.Is(err, campaign.ErrNoWork) {
				continue
			}
			require.NoError(t, err)
			_, err = f.judge(ctx, claim.ID, trainer, fmt.Sprintf("swap-key-%d", claim.ID))
			require.NoError(t, err)
			progress = true
		}
	}
	var short, over, drift, repeats int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE (SELECT count(*) FROM claims c WHERE c.item_id = i.id AND c.swap_of IS NULL AND c.state = 'submitted') < $2),
			count(*) FILTER (WHERE (SELECT count(*) FROM claims c WHERE c.item_id = i.id AND c.swap_of IS NULL AND c.state = 'submitted') > $2),
			count(*) FILTER (WHERE taken <> (SELECT count(*) FROM claims c WHERE c.item_id = i.id AND c.swap_of IS NULL AND c.state IN ('open', 'submitted'))
				OR judged <> (SELECT count(*) FROM claims c WHERE c.item_id = i.id AND c.swap_of IS NULL AND c.state = 'submitted')),
			(SELECT count(*) FROM claims WHERE campaign_id = $1 AND swap_of IS NOT NULL AND state = 'submitted')
		FROM campaign_items i WHERE campaign_id = $1`, c.ID, k).Scan(&short, &over, &drift, &repeats))
	assert.Zero(t, short, "items with fewer than k judgments")
	assert.Zero(t, over, "items with more than k judgments")
	assert.Zero(t, drift, "items whose taken or judged disagree with their claims")
	t.Logf("%d side-swap repeats among %d judgments", repeats, repeats+items*k)
}
