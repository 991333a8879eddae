package server_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/rlhf"
)

// TestBlindRankingHidesModelsFromTrainersAndShufflesPositions: in a blind project the panes
// once came in plan order (A was always the newest version) and GET /turns/:turn told the
// trainer each candidate's model and version. Now positions are drawn per turn from a seed
// kept with the turn, and only reviewers and admins learn what wrote each candidate.
func TestBlindRankingHidesModelsFromTrainersAndShufflesPositions(t *testing.T) {
	t.Parallel()
	w := newLiveWorld(t)
	trainer := w.member(t, "blind-trainer", w.persona.ProjectID, auth.RoleTrainer)
	reviewer := w.member(t, "blind-reviewer", w.persona.ProjectID, auth.RoleReviewer)
	s := w.socket(t, trainer)
	plan := []any{
		map[string]any{"prompt_version": 2, "model": "steady"},
		map[string]any{"prompt_version": 1, "model": "steady"},
		map[string]any{"prompt_version": 2, "model": "baseline-extractive"},
		map[string]any{"prompt_version": 1, "model": "baseline-extractive"},
	}
	store := rlhf.NewStore(w.pool)
	var orders [][]int
	var lastTurn int64
	for range 6 {
		s.send(map[string]any{"type": "generate", "id": "g", "persona_id": w.persona.ID, "message": "免税额是多少？", "plan": plan})
		turn := s.next()
		require.Equal(t, "turn", turn["type"], turn)
		for _, c := range turn["candidates"].([]any) {
			c := c.(map[string]any)
			for _, secret := range []string{"model", "prompt_version", "baseline"} {
				assert.NotContains(t, c, secret, "the turn event names no %s to a trainer", secret)
			}
		}
		s.until(allDone(4))
		lastTurn = id(turn["turn_id"])
		st, err := store.Turn(context.Background(), lastTurn)
		require.NoError(t, err)
		order := make([]int, len(st.Candidates)) // plan index by position
		for _, c := range st.Candidates {
			require.NotNil(t, c.PlanIndex, "each candidate keeps its place in the plan")
			order[c.Position-1] = *c.PlanIndex
		}
		orders = append(orders, order)
		var seed *int64
		require.NoError(t, w.pool.QueryRow(context.Background(), `SELECT shuffle_seed FROM turns WHERE id = $1`, lastTurn).Scan(&seed))
		assert.NotNil(t, seed, "the shuffle's seed is kept with the turn")
	}
	identity := []int{0, 1, 2, 3}
	shuffledOnce := slices.ContainsFunc(orders, func(o []int) bool { return !slices.Equal(o, identity) })
	assert.True(t, shuffledOnce, "six turns in plan order: positions are not drawn (chance (1/24)^6): %v", orders)

	// GET /turns/:turn: the trainer sees what was said, not who said it.
	status, body := trainer.call(t, "GET", fmt.Sprintf("/api/v1/turns/%d", lastTurn), nil)
	require.Equal(t, http.StatusOK, status, body)
	for _, c := range body["turn"].(map[string]any)["candidates"].([]any) {
		c := c.(map[string]any)
		assert.NotEmpty(t, c["content"])
		for _, secret := range []string{"model", "endpoint", "baseline", "prompt_version_id", "temperature", "system_prompt_hash", "seed", "plan_index"} {
			assert.NotContains(t, c, secret, "GET /turns/:turn shows a trainer no %s", secret)
		}
	}
	// A reviewer checks the work and sees the models.
	status, body = reviewer.call(t, "GET", fmt.Sprintf("/api/v1/turns/%d", lastTurn), nil)
	require.Equal(t, http.StatusOK, status, body)
	var models []string
	for _, c := range body["turn"].(map[string]any)["candidates"].([]any) {
		models = append(models, c.(map[string]any)["model"].(string))
	}
	assert.ElementsMatch(t, []string{"steady", "steady", "baseline-extractive", "baseline-extractive"}, models)

	// A project that does not rank blind keeps plan order and names the models.
	ps := prompts.NewStore(w.pool)
	project, err := ps.Project(context.Background(), w.persona.ProjectID)
	require.NoError(t, err)
	project.BlindRanking = false
	_, err = ps.UpdateProject(context.Background(), project)
	require.NoError(t, err)
	s.send(map[string]any{"type": "generate", "id": "open", "persona_id": w.persona.ID, "message": "免税额是多少？", "plan": plan})
	turn := s.next()
	require.Equal(t, "turn", turn["type"], turn)
	for i, c := range turn["candidates"].([]any) {
		c := c.(map[string]any)
		assert.Equal(t, plan[i].(map[string]any)["model"], c["model"])
		assert.Equal(t, float64(plan[i].(map[string]any)["prompt_version"].(int)), c["prompt_version"])
	}
	s.until(allDone(4))
}

// TestWebsocketAnswersForeignThingsAsMissing: a generate naming another project's
// conversation once said that it existed ("is with another persona") and would have sent its
// history to the model; a removed member could still resume their old turns.
func TestWebsocketAnswersForeignThingsAsMissing(t *testing.T) {
	t.Parallel()
	w := newLiveWorld(t)
	ctx := context.Background()
	trainer := w.member(t, "probe-trainer", w.persona.ProjectID, auth.RoleTrainer)

	// Another project's conversation, made by its own member.
	ps := prompts.NewStore(w.pool)
	other, err := ps.CreateProject(ctx, prompts.Project{Name: "别的项目"})
	require.NoError(t, err)
	otherPersona, err := ps.CreatePersona(ctx, prompts.Persona{ProjectID: other.ID, Name: "别人", Kind: prompts.DomainAssistant})
	require.NoError(t, err)
	_, err = ps.PublishVersion(ctx, otherPersona.ID, prompts.Version{Template: "你是{{.Persona.Name}}", Model: "baseline-extractive",
		Temperature: 0.3, TopP: 1, MaxTokens: 100, Author: "t", CorpusIDs: []int64{}})
	require.NoError(t, err)
	outsider := w.member(t, "outsider", other.ID, auth.RoleTrainer)
	os := w.socket(t, outsider)
	os.send(map[string]any{"type": "generate", "id": "o", "persona_id": otherPersona.ID, "message": "秘密问题",
		"plan": []any{map[string]any{"prompt_version": 1, "model": "baseline-extractive"}}})
	foreign := os.next()
	require.Equal(t, "turn", foreign["type"], foreign)
	os.until(allDone(1))
	reply := foreign["candidates"].([]any)[0].(map[string]any)["message_id"]

	s := w.socket(t, trainer)
	ask := func(conversation any) map[string]any {
		s.send(map[string]any{"type": "generate", "id": "p", "persona_id": w.persona.ID, "message": "继续",
			"conversation_id": conversation, "parent_message_id": reply})
		return s.next()
	}
	digits := regexp.MustCompile(`\d+`)
	same := func(ev map[string]any) map[string]any { // the ids the caller sent, blanked
		ev["message"] = digits.ReplaceAllString(ev["message"].(string), "N")
		if params, ok := ev["params"].([]any); ok {
			for i := range params {
				params[i] = "N"
			}
		}
		return ev
	}
	missing, existing := same(ask(987654321)), same(ask(foreign["conversation_id"]))
	assert.Equal(t, "error", existing["type"])
	assert.Equal(t, missing, existing, "another project's conversation reads as a missing one")

	// A removed member cannot follow their old turns.
	s.send(map[string]any{"type": "generate", "id": "mine", "persona_id": w.persona.ID, "message": "免税额？",
		"plan": []any{map[string]any{"prompt_version": 1, "model": "steady"}}})
	mine := s.next()
	require.Equal(t, "turn", mine["type"], mine)
	s.until(allDone(1))
	u, err := w.auth.UserByLogin(ctx, "probe-trainer")
	require.NoError(t, err)
	require.NoError(t, w.auth.RemoveMember(ctx, w.persona.ProjectID, u.ID))
	s.send(map[string]any{"type": "resume", "id": "r", "turn_id": mine["turn_id"]})
	gone := same(s.next())
	s.send(map[string]any{"type": "resume", "id": "r", "turn_id": 987654321})
	assert.Equal(t, same(s.next()), gone, "a removed member's old turn reads as a missing one")
	assert.Equal(t, "not_found", gone["code"])
}

// TestBlindErrorsNameNoModel: an endpoint's error often names the model ("the model fickle is
// loading"), which would tell a blind trainer which pane is which. Trainers get it redacted,
// on the websocket and in GET /turns/:turn; reviewers get it whole.
func TestBlindErrorsNameNoModel(t *testing.T) {
	t.Parallel()
	w := newLiveWorld(t)
	w.models.fickleDown.Store(true)
	trainer := w.member(t, "blind-err-trainer", w.persona.ProjectID, auth.RoleTrainer)
	reviewer := w.member(t, "blind-err-reviewer", w.persona.ProjectID, auth.RoleReviewer)
	for _, who := range []struct {
		c     *client
		sees  bool
		label string
	}{{trainer, false, "trainer"}, {reviewer, true, "reviewer"}} {
		status, persona := who.c.call(t, "GET", fmt.Sprintf("/api/v1/personas/%d", w.persona.ID), nil)
		require.Equal(t, http.StatusOK, status, persona)
		assert.Equal(t, who.sees, persona["sees_models"], "%s: the screen is told whether to name versions", who.label)
		s := w.socket(t, who.c)
		s.send(w.generate(map[string]any{"prompt_version": 1, "model": "fickle"}))
		turn := s.next()
		require.Equal(t, "turn", turn["type"], turn)
		events := s.until(allDone(1))
		done := events[len(events)-1]
		require.Equal(t, "failed", done["status"], done)
		status, body := who.c.call(t, "GET", fmt.Sprintf("/api/v1/turns/%d", id(turn["turn_id"])), nil)
		require.Equal(t, http.StatusOK, status, body)
		stored := body["turn"].(map[string]any)["candidates"].([]any)[0].(map[string]any)["error"].(string)
		for _, text := range []string{done["error"].(string), stored} {
			assert.Contains(t, text, "is loading", "%s: the reason is still told", who.label)
			assert.Equal(t, who.sees, strings.Contains(text, "fickle"), "%s: %q", who.label, text)
		}
	}
}
