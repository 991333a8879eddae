package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/rlhf"
)

// judgeable is a project ("judge") with a domain-assistant persona (default rubric, one
// prompt version) and a trainer, for tests about judging that need no live stream.
type judgeable struct {
	fixture
	project prompts.Project
	persona prompts.Persona
	version prompts.Version
	trainer *client
}

func newJudgeable(t *testing.T, o options) judgeable {
	t.Helper()
	f := newFixture(t, discardLogger(), o)
	ctx := context.Background()
	ps := prompts.NewStore(f.pool)
	p, err := ps.CreateProject(ctx, prompts.Project{Name: "评判项目", Slug: "judge"})
	require.NoError(t, err)
	persona, err := ps.CreatePersona(ctx, prompts.Persona{ProjectID: p.ID, Name: "通关助手", Slug: "customs", Kind: prompts.DomainAssistant})
	require.NoError(t, err)
	v, err := ps.PublishVersion(ctx, persona.ID, prompts.Version{Template: "你是{{.Persona.Name}}", Model: "baseline-extractive",
		Temperature: 0.3, TopP: 1, MaxTokens: 100, RetrievalK: 1, Author: "t"})
	require.NoError(t, err)
	return judgeable{fixture: f, project: p, persona: persona, version: v, trainer: f.member(t, "trainer", p.ID, auth.RoleTrainer)}
}

// turn stores a finished turn with n complete candidates, as a generate would have left
// it, and returns its id and its candidates' ids in position order.
func (j judgeable) turn(t *testing.T, n int) (int64, []int64) {
	t.Helper()
	ctx := context.Background()
	store := rlhf.NewStore(j.pool)
	root, err := j.auth.UserByLogin(ctx, "root")
	require.NoError(t, err)
	specs := make([]rlhf.CandidateSpec, n)
	for i := range specs {
		specs[i] = rlhf.CandidateSpec{Position: i + 1, Model: "baseline-extractive", Endpoint: "offline", PromptVersionID: j.version.ID,
			Temperature: 0.3, TopP: 1, MaxTokens: 100, SystemPromptHash: "x"}
	}
	turn, err := store.StartTurn(ctx, rlhf.NewTurn{ProjectID: j.project.ID, PersonaID: j.persona.ID, Locale: "zh-CN", UserID: root.ID,
		Message: "个人邮寄物品免税额是多少？", Candidates: specs, Lease: rlhf.Lease{Owner: "fixture", For: time.Hour}})
	require.NoError(t, err)
	var ids []int64
	for i, c := range turn.Candidates {
		c.Content, c.Status, c.FinishReason = fmt.Sprintf("候选回复 %c：税额50元及以下免征。", 'A'+i), "complete", "stop"
		require.NoError(t, store.Finish(ctx, c))
		ids = append(ids, c.ID)
	}
	return turn.ID, ids
}

// minimalJudgment is a valid judgment of a turn: the candidates ranked in order,
// continuing from the first.
func minimalJudgment(key string, candidates []int64) map[string]any {
	ranking := make([][]int64, len(candidates))
	for i, c := range candidates {
		ranking[i] = []int64{c}
	}
	return map[string]any{"idempotency_key": key, "ranking": ranking, "continue_from": map[string]any{"candidate_id": candidates[0]}}
}
