package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/campaign"
)

type workList struct {
	Campaigns []campaign.Work `json:"campaigns"`
}

type claimAnswer struct {
	Claim campaign.Claim `json:"claim"`
}

type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"error"`
}

func decodeError(t *testing.T, body []byte) apiError {
	var e apiError
	require.NoError(t, json.Unmarshal(body, &e), "%s", body)
	return e
}

// demoCampaign waits until the demo campaign, which mentor serve generates in the
// background, has at least n ready items, and returns it as the trainer sees it.
func demoCampaign(t testing.TB, p *person, n int) campaign.Work {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var w workList
		p.get("/api/v1/work", &w)
		require.Len(t, w.Campaigns, 1, "the demo campaign is open to the demo trainer")
		if w.Campaigns[0].Available >= n {
			return w.Campaigns[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo campaign has %d ready items after a minute, want %d", w.Campaigns[0].Available, n)
		}
		time.Sleep(100 * time.Millisecond) // readiness polling: the background jobs run on their own
	}
}

// TestCampaignThroughMentorServe works the demo campaign through `mentor serve` as its
// people would: the trainer claims, judges and skips; another person cannot touch the
// trainer's claim; the admin sets up a campaign with bad input and imports items.
func TestCampaignThroughMentorServe(t *testing.T) {
	// Not parallel: run before the parallel tests, so this server never adds to the demo
	// loads that race each other's start-up timeout.
	m := startMentor(t, slowStart)
	trainer, reviewer, admin := m.signIn(t, "trainer"), m.signIn(t, "reviewer"), m.signIn(t, "admin")
	work := demoCampaign(t, trainer, 3)
	assert.Equal(t, campaign.DemoName, work.Name)
	assert.Equal(t, 2, work.K)
	assert.Contains(t, work.Guidelines, "标注规范")

	status, body := trainer.call("POST", fmt.Sprintf("/api/v1/campaigns/%d/next", work.CampaignID), nil)
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var first claimAnswer
	require.NoError(t, json.Unmarshal(body, &first))
	require.NotZero(t, first.Claim.TurnID)

	// The candidates are complete before the trainer sees them.
	var turn struct {
		Turn struct {
			Candidates []struct {
				ID      int64  `json:"id"`
				Status  string `json:"status"`
				Content string `json:"content"`
			} `json:"candidates"`
		} `json:"turn"`
	}
	trainer.get(fmt.Sprintf("/api/v1/turns/%d", first.Claim.TurnID), &turn)
	require.Len(t, turn.Turn.Candidates, 2)
	for _, c := range turn.Turn.Candidates {
		assert.Equal(t, "complete", c.Status)
		assert.NotEmpty(t, c.Content)
	}
	a, b := turn.Turn.Candidates[0].ID, turn.Turn.Candidates[1].ID

	// A heartbeat for another's claim is refused by name, in the reader's language.
	status, body = reviewer.call("PUT", fmt.Sprintf("/api/v1/claims/%d/lease", first.Claim.ID), nil)
	assert.Equal(t, http.StatusConflict, status)
	assert.Equal(t, "这是其他训练师的领取", decodeError(t, body).Error.Message)
	status, body = trainer.call("PUT", fmt.Sprintf("/api/v1/claims/%d/lease", first.Claim.ID), nil)
	assert.Equal(t, http.StatusOK, status, "%s", body)

	// The item's turn is judged only through its claim: neither the trainer who holds the claim
	// nor a reviewer never dealt the item may judge it on the ordinary trainer-screen route,
	// which would leave the judgment uncounted, past k and past the lease.
	for i, p := range []*person{trainer, reviewer} {
		status, body = p.call("POST", fmt.Sprintf("/api/v1/turns/%d/judgments", first.Claim.TurnID),
			map[string]any{"idempotency_key": fmt.Sprintf("e2e-bypass-%d", i), "ranking": [][]int64{{a}, {b}},
				"continue_from": map[string]any{"candidate_id": a}, "time_spent_ms": 1000})
		assert.Equal(t, http.StatusConflict, status, "%s", body)
		assert.Equal(t, "这一轮是任务中的题目：请在“我的任务”中评判", decodeError(t, body).Error.Message)
		var detail struct {
			Judgments []map[string]any `json:"judgments"`
		}
		p.get(fmt.Sprintf("/api/v1/turns/%d", first.Claim.TurnID), &detail)
		assert.Empty(t, detail.Judgments, "nothing was stored")
	}
	// Nor does the live session change it: its author (the admin who made the campaign) can
	// neither regenerate a candidate of the item's turn nor continue its conversation.
	var own struct {
		Turn struct {
			ConversationID int64 `json:"conversation_id"`
			Candidates     []struct {
				ID        int64 `json:"id"`
				MessageID int64 `json:"message_id"`
			} `json:"candidates"`
		} `json:"turn"`
	}
	admin.get(fmt.Sprintf("/api/v1/turns/%d", first.Claim.TurnID), &own)
	require.NotEmpty(t, own.Turn.Candidates)
	ws := admin.socket()
	for _, cmd := range []map[string]any{
		{"type": "regenerate", "id": "r1", "turn_id": first.Claim.TurnID, "candidate_id": own.Turn.Candidates[0].ID},
		{"type": "generate", "id": "c1", "persona_id": work.PersonaID, "conversation_id": own.Turn.ConversationID,
			"parent_message_id": own.Turn.Candidates[0].MessageID, "message": "那超过了怎么办？"},
	} {
		ws.send(cmd)
		ev := ws.next()
		assert.Equal(t, "error", ev["type"], "%v: %v", cmd["type"], ev)
		assert.Equal(t, "conflict", ev["code"], "%v: %v", cmd["type"], ev)
		assert.Equal(t, "this turn is a campaign item: judge it from My work", ev["key"], "%v: %v", cmd["type"], ev)
	}

	var progress struct {
		Progress campaign.Progress `json:"progress"`
	}
	admin.get(fmt.Sprintf("/api/v1/campaigns/%d", work.CampaignID), &progress)
	assert.Zero(t, progress.Progress.Judgments, "the refused judgments are not counted")

	sub := map[string]any{"idempotency_key": "e2e-claim-judgment-1", "ranking": [][]int64{{a}, {b}},
		"continue_from": map[string]any{"candidate_id": a}, "time_spent_ms": 4000}
	status, body = trainer.call("POST", fmt.Sprintf("/api/v1/claims/%d/judgment", first.Claim.ID), sub)
	require.Equal(t, http.StatusCreated, status, "%s", body)
	status, _ = trainer.call("POST", fmt.Sprintf("/api/v1/claims/%d/judgment", first.Claim.ID), sub)
	assert.Equal(t, http.StatusOK, status, "a retry replays")
	admin.get(fmt.Sprintf("/api/v1/campaigns/%d", work.CampaignID), &progress)
	assert.Equal(t, 1, progress.Progress.Judgments, "the claim's judgment is the item's one")

	status, body = trainer.call("POST", fmt.Sprintf("/api/v1/campaigns/%d/next", work.CampaignID), nil)
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var second claimAnswer
	require.NoError(t, json.Unmarshal(body, &second))
	assert.NotEqual(t, first.Claim.ItemID, second.Claim.ItemID, "never the same item twice")
	status, body = trainer.call("POST", fmt.Sprintf("/api/v1/claims/%d/skip", second.Claim.ID), map[string]any{"reason": "nonsense"})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "reason", decodeError(t, body).Error.Field)
	status, _ = trainer.call("POST", fmt.Sprintf("/api/v1/claims/%d/skip", second.Claim.ID), map[string]any{"reason": "needs_expertise"})
	assert.Equal(t, http.StatusNoContent, status)

	var after workList
	trainer.get("/api/v1/work", &after)
	assert.Equal(t, 1, after.Campaigns[0].Today)
	assert.Equal(t, 1, after.Campaigns[0].Week)
	assert.Equal(t, 1, after.Campaigns[0].Skipped)

	// The admin's set-up, with the bad inputs the issue lists.
	var project struct {
		Projects []struct {
			ID int64 `json:"id"`
		} `json:"projects"`
	}
	admin.get("/api/v1/projects", &project)
	require.NotEmpty(t, project.Projects)
	var cp struct {
		Campaign campaign.Campaign `json:"campaign"`
	}
	admin.get(fmt.Sprintf("/api/v1/campaigns/%d", work.CampaignID), &cp)
	version := cp.Campaign.Plan[0].PromptVersionID
	create := func(in map[string]any) (int, []byte) {
		base := map[string]any{"persona_id": cp.Campaign.PersonaID, "name": "第二批", "task_kind": "rank_rate", "k": 1,
			"plan": []map[string]any{{"prompt_version_id": version}}}
		for k, v := range in {
			base[k] = v
		}
		return admin.call("POST", fmt.Sprintf("/api/v1/projects/%d/campaigns", cp.Campaign.ProjectID), base)
	}
	for _, tt := range []struct {
		name  string
		in    map[string]any
		field string
	}{
		{"a model that does not exist", map[string]any{"plan": []map[string]any{{"prompt_version_id": version, "model": "gpt-9"}}}, "plan[0].model"},
		{"k out of range", map[string]any{"k": 11}, "k"},
		{"a quota over 100%", map[string]any{"bases": []map[string]any{{"base_id": 1, "quota_share": 1.5}}}, "bases[0].quota_share"},
		{"an unknown task kind", map[string]any{"task_kind": "vote"}, "task_kind"},
	} {
		status, body := create(tt.in)
		assert.Equal(t, http.StatusBadRequest, status, "%s: %s", tt.name, body)
		assert.Equal(t, tt.field, decodeError(t, body).Error.Field, tt.name)
	}
	status, body = create(map[string]any{"k": 5})
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var created struct {
		Campaign campaign.Campaign `json:"campaign"`
		Warnings []string          `json:"warnings"`
	}
	require.NoError(t, json.Unmarshal(body, &created))
	require.Len(t, created.Warnings, 1, "k over the eligible trainers is a warning")
	assert.Contains(t, created.Warnings[0], "k 为 5")

	status, body = admin.upload(fmt.Sprintf("/api/v1/campaigns/%d/items", created.Campaign.ID), nil, map[string][]byte{"items.jsonl": []byte("{\"question\": \"行李里的茶叶要申报吗？\"}\n{\"question\": \"\"}\n{\"question\": \"行李里的茶叶要申报吗？\"}\n")})
	require.Equal(t, http.StatusOK, status, "%s", body)
	var report struct {
		Added      int                  `json:"added"`
		Duplicates []campaign.Duplicate `json:"duplicates"`
		Errors     []struct {
			Line    int    `json:"line"`
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	require.NoError(t, json.Unmarshal(body, &report))
	assert.Equal(t, 1, report.Added)
	assert.Equal(t, []campaign.Duplicate{{Line: 3, Reason: "question"}}, report.Duplicates)
	require.Len(t, report.Errors, 1)
	assert.Equal(t, 2, report.Errors[0].Line)
	assert.Equal(t, "question", report.Errors[0].Field)
	assert.Equal(t, "不能为空", report.Errors[0].Message)

	status, body = admin.upload(fmt.Sprintf("/api/v1/campaigns/%d/items", created.Campaign.ID), nil, map[string][]byte{"items.csv": []byte("PK\x03\x04zip")})
	assert.Equal(t, http.StatusBadRequest, status, "an import file that is not what it claims")
	assert.Equal(t, "file", decodeError(t, body).Error.Field)

	// A closed campaign takes no claims.
	status, body = admin.call("PUT", fmt.Sprintf("/api/v1/campaigns/%d/state", work.CampaignID), map[string]any{"state": "closed"})
	require.Equal(t, http.StatusOK, status, "%s", body)
	status, body = trainer.call("POST", fmt.Sprintf("/api/v1/campaigns/%d/next", work.CampaignID), nil)
	assert.Equal(t, http.StatusUnprocessableEntity, status)
	assert.Contains(t, decodeError(t, body).Error.Message, "不能领取")
}

// slowStart gives mentor serve more time to load the demo project: this package's tests start
// several servers at once, each loading it, and a busy machine took longer than the default
// 10 s (seen once in a full run on two cores).
var slowStart = map[string]string{"MENTOR_START_TIMEOUT": "60s"}
