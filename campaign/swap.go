package campaign

// Side-swap checks (issue 14; docs/quality.md): in a blind pairwise campaign a trainer is now
// and then dealt again a pair they judged a while ago, with its two replies' places swapped.
// Picking the same reply both times is consistency; picking the left one both times is
// position bias, which the per-trainer left-hand share shows. A repeat is a claim of its own
// (swap_of names the claim it repeats), so leases, heartbeats, skips and expiry need nothing
// new; it takes no place toward k and no unit of a base's quota, so exactly-k holds.

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// maxSwapRate is the most of a trainer's claims that may be repeats: beyond half, the
// trainer would be re-judging more than judging.
const maxSwapRate = 0.5

// swapGap is how many of the trainer's claims must come between a pair and its repeat: a
// repeat dealt straight after the original tests memory, not judgment.
const swapGap = 3

// swapDealt says whether a trainer's n-th claim (0-based) in a campaign should be a repeat,
// from a keyed hash like honeypot.Dealt's but on a different key, so that the draws for gold
// items and repeats are independent; and unlike gold items, at the same rate from the first
// claim on.
func swapDealt(seed uint64, trainerID int64, n int, rate float64) bool {
	if rate <= 0 {
		return false
	}
	h := splitmix(seed ^ 0x5a5a_c3c3_5a5a_c3c3 ^ splitmix(uint64(trainerID)^splitmix(uint64(n)+0x9e3779b97f4a7c15)))
	return float64(h>>11)/(1<<53) < rate
}

// splitmix is SplitMix64's finaliser: every input bit moves every output bit.
func splitmix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// dealSwap picks a submitted claim of the trainer's to repeat: of an item that is not gold
// and still ready, at least swapGap claims back, never repeated before. It returns the
// claim's id and item, or zeros when none is due. The order is a per-trainer shuffle.
func dealSwap(ctx context.Context, tx querier, campaignID, trainerID int64) (claimID, itemID int64, err error) {
	err = tx.QueryRow(ctx, `SELECT cl.id, cl.item_id FROM claims cl JOIN campaign_items i ON i.id = cl.item_id
		WHERE cl.campaign_id = $1 AND cl.trainer_id = $2 AND cl.state = 'submitted' AND cl.swap_of IS NULL
			AND NOT i.gold AND NOT i.set_aside AND i.generation = 'ready'
			AND cl.id < coalesce((SELECT r.id FROM claims r WHERE r.trainer_id = $2 AND r.campaign_id = $1
				ORDER BY r.id DESC OFFSET $3 - 1 LIMIT 1), 0)
			AND NOT EXISTS (SELECT 1 FROM claims s WHERE s.item_id = cl.item_id AND s.trainer_id = $2 AND s.swap_of IS NOT NULL)
		ORDER BY hashint8extended(cl.id, $2) LIMIT 1`, campaignID, trainerID, swapGap).Scan(&claimID, &itemID)
	if err == pgx.ErrNoRows {
		return 0, 0, nil
	}
	return claimID, itemID, err
}
