package campaign_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/campaign"
)

// TestShareQuota: a base's share is of all k × items judgments, rounded up. Claims stop at
// exactly that many, and My work says what is left of it by the same arithmetic (7% of
// 3 × 100 is 21: float64 made it 21.000000000000004, and the screen said 22 while claims
// stopped at 21).
func TestShareQuota(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		share float64
		k     int
		items int
		want  int
	}{
		{name: "7% of 3 × 100", share: 0.07, k: 3, items: 100, want: 21},
		{name: "30% of 2 × 10", share: 0.3, k: 2, items: 10, want: 6},
		{name: "a share under one judgment rounds up", share: 0.05, k: 1, items: 10, want: 1},
		{name: "half of 2 × 3", share: 0.5, k: 2, items: 3, want: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := setup(t)
			var base int64
			require.NoError(t, f.pool.QueryRow(ctx, `INSERT INTO bases (name) VALUES ('积石山') RETURNING id`).Scan(&base))
			_, err := f.pool.Exec(ctx, `INSERT INTO project_bases VALUES ($1, $2)`, f.project.ID, base)
			require.NoError(t, err)
			share := tc.share
			c := f.campaign(t, campaign.Input{K: tc.k, ClaimCap: 20, Bases: []campaign.BaseQuota{{BaseID: base, QuotaShare: &share}}})
			f.readyItems(t, c, tc.items)
			ts := f.trainers(t, "share", tc.k+1) // more than enough people: the quota binds, not the items
			for _, u := range ts {
				_, err := f.pool.Exec(ctx, `INSERT INTO base_members (base_id, user_id) VALUES ($1, $2)`, base, u)
				require.NoError(t, err)
			}
			remaining := func(u int64) int {
				t.Helper()
				work, err := f.store.MyWork(ctx, u, false)
				require.NoError(t, err)
				require.Len(t, work, 1)
				require.NotNil(t, work[0].RemainingQuota)
				return *work[0].RemainingQuota
			}
			assert.Equal(t, tc.want, remaining(ts[0]), "My work's quota before any claim")

			claims, quotaHit := 0, false
			for _, u := range ts {
				for held := 0; !quotaHit && held < 20; held++ { // 20: the claim cap

					_, err := f.store.Next(ctx, c.ID, u)
					if errors.Is(err, campaign.ErrNoWork) {
						break // this trainer has had every item
					}
					if errors.Is(err, campaign.ErrQuotaUsed) {
						quotaHit = true
						break
					}
					require.NoError(t, err, fmt.Sprintf("claim %d", claims+1))
					claims++
				}
			}
			assert.True(t, quotaHit, "the quota stops the claims")
			assert.Equal(t, tc.want, claims, "claims up to the quota, not one more")
			assert.Zero(t, remaining(ts[0]))
			got, err := f.store.Get(ctx, c.ID)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got.Bases[0].Used)
		})
	}
}
