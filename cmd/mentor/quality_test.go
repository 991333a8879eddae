package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/agreement"
	"github.com/mentor-ai/mentor/campaign"
)

// TestQualityChecksThroughMentorServe: through `mentor serve`, a rushed judgment is
// speed-flagged at submit, bad check settings and gold answers are refused by field, an
// admin makes a gold item, the periodic refresh computes agreement, and each reader sees the
// trainers' statistics they may: a trainer only their own.
func TestQualityChecksThroughMentorServe(t *testing.T) {
	m := startMentor(t, map[string]string{"MENTOR_START_TIMEOUT": "60s", "MENTOR_AGREEMENT_REFRESH": "1s"})
	trainer, reviewer, admin := m.signIn(t, "trainer"), m.signIn(t, "reviewer"), m.signIn(t, "admin")
	work := demoCampaign(t, trainer, 8) // every demo item ready, so both trainers judge them all
	id := work.CampaignID
	// The demo campaign is given to the demo base (演示基地): the reviewer judges it here as a
	// second trainer, so they join that base, keeping their role.
	status, body := admin.upload("/api/v1/projects/demo/people", nil,
		map[string][]byte{"people.csv": []byte("login,name,base,role\nreviewer,审核员 Reviewer,演示基地,reviewer\n")})
	require.Equal(t, http.StatusOK, status, "%s", body)
	require.NotContains(t, string(body), `"errors":[{`, "%s", body)

	status, body = admin.call("PUT", fmt.Sprintf("/api/v1/campaigns/%d/checks", id), map[string]any{"honeypot_rate": 0.6})
	require.Equal(t, http.StatusBadRequest, status, "%s", body)
	e := decodeError(t, body)
	assert.Equal(t, "checks.honeypot_rate", e.Error.Field)
	assert.Contains(t, e.Error.Message, "必须在 0% 到 50% 之间")
	zero := 0.0
	status, body = admin.call("PUT", fmt.Sprintf("/api/v1/campaigns/%d/checks", id), map[string]any{"honeypot_rate": zero})
	require.Equal(t, http.StatusOK, status, "%s", body)
	status, _ = trainer.call("PUT", fmt.Sprintf("/api/v1/campaigns/%d/checks", id), map[string]any{"honeypot_rate": zero})
	assert.Equal(t, http.StatusForbidden, status, "a trainer cannot change the checks")

	// Trainer and reviewer judge every item (k = 2): the trainer rushes, the reviewer takes
	// their time and reverses the trainer's order on every other item.
	var firstItem, firstTurn int64
	var firstCands []int64
	for pi, p := range []*person{trainer, reviewer} {
		for n := 0; ; n++ {
			status, body := p.call("POST", fmt.Sprintf("/api/v1/campaigns/%d/next", id), nil)
			if status == http.StatusNotFound {
				break
			}
			require.Equal(t, http.StatusCreated, status, "%s", body)
			var claim claimAnswer
			require.NoError(t, json.Unmarshal(body, &claim))
			var turn struct {
				Turn struct {
					Candidates []struct {
						ID int64 `json:"id"`
					} `json:"candidates"`
				} `json:"turn"`
			}
			p.get(fmt.Sprintf("/api/v1/turns/%d", claim.Claim.TurnID), &turn)
			a, b := turn.Turn.Candidates[0].ID, turn.Turn.Candidates[1].ID
			if pi == 1 && n%2 == 1 {
				a, b = b, a
			}
			if firstItem == 0 {
				firstItem, firstTurn, firstCands = claim.Claim.ItemID, claim.Claim.TurnID, []int64{a, b}
			}
			spent := 1000 // under the 3 s floor
			if pi == 1 {
				spent = 20000
			}
			status, body = p.call("POST", fmt.Sprintf("/api/v1/claims/%d/judgment", claim.Claim.ID), map[string]any{
				"idempotency_key": fmt.Sprintf("quality-%d-%d", pi, claim.Claim.ID), "ranking": [][]int64{{a}, {b}},
				"continue_from": map[string]any{"candidate_id": a}, "time_spent_ms": spent})
			require.Equal(t, http.StatusCreated, status, "%s", body)
		}
	}
	require.NotZero(t, firstTurn)

	// Gold items: an answer naming another item's candidate is refused by field; a trainer
	// may not make one; the admin may.
	gold := func(p *person, candidate int64) (int, []byte) {
		return p.call("POST", fmt.Sprintf("/api/v1/campaigns/%d/gold", id), map[string]any{"item_id": firstItem,
			"answer": map[string]any{"kind": "best", "candidate_id": candidate}})
	}
	status, body = gold(admin, 999999999)
	require.Equal(t, http.StatusBadRequest, status, "%s", body)
	assert.Equal(t, "answer.candidate_id", decodeError(t, body).Error.Field)
	status, _ = gold(trainer, firstCands[0])
	assert.Equal(t, http.StatusForbidden, status)
	status, body = gold(admin, firstCands[0])
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var list struct {
		Gold []campaign.GoldItem `json:"gold"`
	}
	admin.get(fmt.Sprintf("/api/v1/campaigns/%d/gold", id), &list)
	require.Len(t, list.Gold, 1)
	assert.Equal(t, firstItem, list.Gold[0].ItemID)

	// The periodic refresh (every second here) computes agreement without anyone asking.
	var ag struct {
		Agreement agreement.Report `json:"agreement"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		admin.get(fmt.Sprintf("/api/v1/campaigns/%d/agreement", id), &ag)
		if ag.Agreement.RefreshedAt != nil && ag.Agreement.Items > 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "no agreement after a minute: %+v", ag.Agreement)
		time.Sleep(200 * time.Millisecond) // readiness polling: the refresh runs on its own
	}
	assert.NotNil(t, ag.Agreement.AlphaRanking)
	assert.NotNil(t, ag.Agreement.MeanW)
	assert.Len(t, ag.Agreement.Trainers, 2, "the admin sees both trainers' agreement")

	type statsPage struct {
		Scope    string                  `json:"scope"`
		Trainers []campaign.TrainerStats `json:"trainers"`
	}
	var mine, all statsPage
	trainer.get(fmt.Sprintf("/api/v1/campaigns/%d/trainer-stats", id), &mine)
	admin.get(fmt.Sprintf("/api/v1/campaigns/%d/trainer-stats", id), &all)
	assert.Equal(t, "self", mine.Scope)
	require.Len(t, mine.Trainers, 1, "a trainer sees only their own statistics")
	assert.Equal(t, "trainer", mine.Trainers[0].Login)
	assert.Equal(t, mine.Trainers[0].Judgments, mine.Trainers[0].SpeedFlagged, "every rushed judgment is flagged")
	require.NotNil(t, mine.Trainers[0].ItemsPerHour)
	assert.InDelta(t, 3600, *mine.Trainers[0].ItemsPerHour, 1e-9, "a second per item")
	assert.Equal(t, "all", all.Scope)
	assert.Len(t, all.Trainers, 2)
	for _, s := range all.Trainers {
		if s.Login == "reviewer" {
			assert.Zero(t, s.SpeedFlagged, "careful work is not flagged")
		}
	}
}
