package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/acceptance"
	"github.com/mentor-ai/mentor/review"
	"github.com/mentor-ai/mentor/webhook"
)

// received is one request a webhook receiver got.
type received struct {
	header http.Header
	body   []byte
	at     time.Time
}

// TestIssue16ThroughTheShippedBinary runs issue 16's features against one `mentor serve`
// (webhooks need its key and, for receivers on 127.0.0.1, the allow-private flag). One
// server for all of them, in turn, and not in parallel with the other tests: each server
// loads the demo project, and on a shared two-core machine five, then three, such servers
// at once ran the trainer-loop tests' servers past their 10 s start-up timeout.
func TestIssue16ThroughTheShippedBinary(t *testing.T) {
	m := startMentor(t, map[string]string{"MENTOR_WEBHOOK_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "MENTOR_WEBHOOKS_ALLOW_PRIVATE": "true", "MENTOR_START_TIMEOUT": "60s"})
	// The project page's webhooks first: it starts from a project with none.
	t.Run("webhooks on the project page in Chromium", func(t *testing.T) { webhooksOnTheProjectPage(t, m) })
	t.Run("webhooks through the API", func(t *testing.T) { webhooksThroughTheAPI(t, m) })
	t.Run("Excel and PDF", func(t *testing.T) { excelAndPDF(t, m) })
	t.Run("batch events through the API", func(t *testing.T) { batchEventsThroughTheAPI(t, m) })
}

// webhooksThroughTheAPI registers an endpoint as a project admin would, judges a turn and
// records an export, and checks that both events arrive signed with the secret shown at
// registration, and that the delivery log shows them with their status codes.
func webhooksThroughTheAPI(t *testing.T, m mentor) {
	got := make(chan received, 8)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- received{header: r.Header.Clone(), body: body, at: time.Now()}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(recv.Close)
	admin := m.signIn(t, "admin")

	// Bad URLs are refused with 422, naming url, in the caller's language.
	for _, u := range []string{"ftp://example.com/hook", "not a url"} {
		status, body := admin.call("POST", "/api/v1/projects/demo/webhooks", map[string]any{"url": u, "events": []string{"export.ready"}})
		require.Equal(t, http.StatusUnprocessableEntity, status, "%s", body)
		var e struct {
			Error struct {
				Field   string `json:"field"`
				Message string `json:"message"`
			} `json:"error"`
		}
		require.NoError(t, json.Unmarshal(body, &e), "%s", body)
		assert.Equal(t, "url", e.Error.Field)
		assert.Contains(t, e.Error.Message, "必须是 http 或 https 网址")
	}

	status, body := admin.call("POST", "/api/v1/projects/demo/webhooks", map[string]any{
		"url": recv.URL + "/mentor", "events": []string{"judgment.submitted", "export.ready"}, "description": "质检流水线"})
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var hook struct {
		ID     int64  `json:"id"`
		Secret string `json:"secret"`
	}
	require.NoError(t, json.Unmarshal(body, &hook))
	require.NotEmpty(t, hook.Secret)
	var list struct {
		Webhooks []map[string]any `json:"webhooks"`
	}
	admin.get("/api/v1/projects/demo/webhooks", &list)
	require.Len(t, list.Webhooks, 1)
	assert.NotContains(t, list.Webhooks[0], "secret", "the secret is shown once, at registration")

	// A trainer judges a turn of two baseline candidates.
	trainer := m.signIn(t, "trainer")
	customs := trainer.persona("customs-helper")
	ws := trainer.socket()
	ws.send(map[string]any{"type": "generate", "id": "g1", "persona_id": customs.ID, "message": "行李物品免税额是多少？", "plan": []any{
		map[string]any{"prompt_version": 1, "model": "baseline-extractive"},
		map[string]any{"prompt_version": 1, "model": "baseline-extractive-brief"},
	}})
	turnEv := ws.next()
	require.Equal(t, "turn", turnEv["type"], "%v", turnEv)
	ws.untilDone(2)
	cands := turnEv["candidates"].([]any)
	a, b := num(cands[0].(map[string]any)["candidate_id"]), num(cands[1].(map[string]any)["candidate_id"])
	turnID := num(turnEv["turn_id"])
	status, body = trainer.call("POST", fmt.Sprintf("/api/v1/turns/%d/judgments", turnID), map[string]any{
		"idempotency_key": "webhook-e2e-1", "ranking": [][]int64{{a}, {b}}, "continue_from": map[string]any{"candidate_id": a}})
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var judged struct {
		JudgmentID int64 `json:"judgment_id"`
	}
	require.NoError(t, json.Unmarshal(body, &judged))

	check := func(want webhook.Event) webhook.Envelope {
		t.Helper()
		select {
		case r := <-got:
			require.NoError(t, webhook.Verify(hook.Secret, r.header.Get(webhook.HeaderTimestamp), r.header.Get(webhook.HeaderSignature), r.body, r.at))
			assert.Equal(t, string(want), r.header.Get(webhook.HeaderEvent))
			var env webhook.Envelope
			require.NoError(t, json.Unmarshal(r.body, &env))
			assert.Equal(t, want, env.Event)
			assert.Equal(t, env.ID, r.header.Get(webhook.HeaderID))
			return env
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s delivery within 30s", want)
		}
		return webhook.Envelope{}
	}
	env := check(webhook.JudgmentSubmitted)
	var data struct {
		JudgmentID int64 `json:"judgment_id"`
		TurnID     int64 `json:"turn_id"`
	}
	require.NoError(t, json.Unmarshal(env.Data, &data))
	assert.Equal(t, judged.JudgmentID, data.JudgmentID)
	assert.Equal(t, turnID, data.TurnID)

	// A replay of the same submission is not a new judgment: no second delivery.
	status, _ = trainer.call("POST", fmt.Sprintf("/api/v1/turns/%d/judgments", turnID), map[string]any{
		"idempotency_key": "webhook-e2e-1", "ranking": [][]int64{{a}, {b}}, "continue_from": map[string]any{"candidate_id": a}})
	require.Equal(t, http.StatusOK, status)

	// An export records a snapshot: export.ready follows.
	status, body = admin.call("POST", "/api/v1/projects/demo/exports", map[string]any{"format": "trl-dpo"})
	require.Equal(t, http.StatusCreated, status, "%s", body)
	env = check(webhook.ExportReady)
	assert.Contains(t, string(env.Data), `"download_url":"/api/v1/projects/demo/exports/`)

	// The delivery log shows both, delivered with the receiver's 202. The attempt is recorded
	// just after the receiver answers, so the log is read until it has caught up.
	var log struct {
		Deliveries []webhook.Delivery `json:"deliveries"`
	}
	require.Eventually(t, func() bool {
		admin.get(fmt.Sprintf("/api/v1/projects/demo/webhooks/%d/deliveries", hook.ID), &log)
		return len(log.Deliveries) == 2 && log.Deliveries[0].Status == "delivered" && log.Deliveries[1].Status == "delivered"
	}, 30*time.Second, 50*time.Millisecond, "%+v", log.Deliveries)
	assert.Equal(t, webhook.ExportReady, log.Deliveries[0].Event)
	for _, d := range log.Deliveries {
		require.Len(t, d.Attempts, 1)
		require.NotNil(t, d.Attempts[0].StatusCode)
		assert.Equal(t, http.StatusAccepted, *d.Attempts[0].StatusCode)
	}
	select {
	case r := <-got:
		t.Fatalf("an unexpected delivery: %s", r.body)
	default:
	}
}

// batchEventsThroughTheAPI is issue 14's batch events through mentor serve: a project
// admin subscribes an endpoint to them, the demo trainer judges two items, the admin closes
// the demo base's batch and the reviewer inspects its sample for the centre. The receiver
// gets batch.closed and then batch.accepted, signed, each carrying the batch.
func batchEventsThroughTheAPI(t *testing.T, m mentor) {
	got := make(chan received, 8)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- received{header: r.Header.Clone(), body: body, at: time.Now()}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)
	admin, reviewer, trainer := m.signIn(t, "admin"), m.signIn(t, "reviewer"), m.signIn(t, "trainer")
	status, body := admin.call("POST", "/api/v1/projects/demo/webhooks", map[string]any{
		"url": recv.URL + "/batches", "events": []string{"batch.closed", "batch.accepted", "batch.rejected"}})
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var hook struct {
		Secret string `json:"secret"`
	}
	require.NoError(t, json.Unmarshal(body, &hook))

	work := demoCampaign(t, trainer, 2)
	judgeNext(t, trainer, work.CampaignID, "batch-webhook-1")
	judgeNext(t, trainer, work.CampaignID, "batch-webhook-2")
	var bases struct {
		Bases []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"bases"`
	}
	admin.get("/api/v1/bases", &bases)
	var baseID int64
	for _, b := range bases.Bases {
		if b.Name == review.DemoBase {
			baseID = b.ID
		}
	}
	require.NotZero(t, baseID, "serve --dev puts the demo trainer in the demo base")

	status, body = admin.call("POST", fmt.Sprintf("/api/v1/campaigns/%d/batches", work.CampaignID), map[string]any{"base_id": baseID})
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var closed acceptance.Batch
	require.NoError(t, json.Unmarshal(body, &closed))

	next := func(want webhook.Event) acceptance.Batch {
		t.Helper()
		select {
		case r := <-got:
			require.NoError(t, webhook.Verify(hook.Secret, r.header.Get(webhook.HeaderTimestamp), r.header.Get(webhook.HeaderSignature), r.body, r.at))
			var env webhook.Envelope
			require.NoError(t, json.Unmarshal(r.body, &env))
			require.Equal(t, want, env.Event, "%s", r.body)
			var b acceptance.Batch
			require.NoError(t, json.Unmarshal(env.Data, &b))
			return b
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s delivery within 30s", want)
		}
		return acceptance.Batch{}
	}
	b := next(webhook.BatchClosed)
	assert.Equal(t, closed.ID, b.ID)
	assert.Equal(t, closed.LotSize, b.LotSize)
	assert.Equal(t, closed.Seed, b.Seed, "the payload carries the recorded draw")
	assert.Equal(t, acceptance.Pending, b.CentreResult)

	for range closed.SampleSize {
		status, body = reviewer.call("POST", fmt.Sprintf("/api/v1/batches/%d/next?tier=centre", closed.ID), nil)
		require.Equal(t, http.StatusOK, status, "%s", body)
		var it struct {
			JudgmentID int64 `json:"judgment_id"`
		}
		require.NoError(t, json.Unmarshal(body, &it))
		status, body = reviewer.call("POST", fmt.Sprintf("/api/v1/batches/%d/inspections", closed.ID),
			map[string]any{"tier": "centre", "judgment_id": it.JudgmentID, "verdict": "accepted"})
		require.Equal(t, http.StatusCreated, status, "%s", body)
	}
	b = next(webhook.BatchAccepted)
	assert.Equal(t, closed.ID, b.ID)
	assert.Equal(t, acceptance.Accepted, b.CentreResult)
	assert.Equal(t, closed.SampleSize, b.CentreInspected)
	select {
	case r := <-got:
		t.Fatalf("an unexpected delivery: %s", r.body)
	default:
	}
}
