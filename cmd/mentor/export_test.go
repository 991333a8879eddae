package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/rlhf"
)

// judgedProject stores one judged turn in a project "cli" through the real stores.
func judgedProject(t *testing.T, dsn string) {
	t.Helper()
	ctx := context.Background()
	pool, err := db.Connect(ctx, dsn)
	require.NoError(t, err)
	defer pool.Close()
	ps, live := prompts.NewStore(pool), rlhf.NewStore(pool)
	p, err := ps.CreateProject(ctx, prompts.Project{Name: "命令行", Slug: "cli"})
	require.NoError(t, err)
	persona, err := ps.CreatePersona(ctx, prompts.Persona{ProjectID: p.ID, Name: "助手", Slug: "helper", Kind: prompts.DomainAssistant})
	require.NoError(t, err)
	v, err := ps.PublishVersion(ctx, persona.ID, prompts.Version{Template: "你是{{.Persona.Name}}", Model: "m", Temperature: 0.3, TopP: 1,
		MaxTokens: 100, RetrievalK: 1, Author: "t"})
	require.NoError(t, err)
	u, err := auth.NewStore(pool, nil).CreateUser(ctx, auth.NewUser{Login: "wang", DisplayName: "王", Password: "correct horse battery"})
	require.NoError(t, err)
	turn, err := live.StartTurn(ctx, rlhf.NewTurn{ProjectID: p.ID, PersonaID: persona.ID, Locale: "zh-CN", UserID: u.ID, Message: "你好吗？",
		Candidates: []rlhf.CandidateSpec{{Position: 1, Model: "m", Endpoint: "e", PromptVersionID: v.ID, Temperature: 0.3, TopP: 1, MaxTokens: 100, SystemPromptHash: "h"},
			{Position: 2, Model: "m", Endpoint: "e", PromptVersionID: v.ID, Temperature: 0.9, TopP: 1, MaxTokens: 100, SystemPromptHash: "h"}},
		Lease: rlhf.Lease{Owner: "fixture", For: time.Hour}})
	require.NoError(t, err)
	for i, content := range []string{"我很好，谢谢！<你呢>", "不好。"} {
		c := turn.Candidates[i]
		c.Content, c.Status, c.FinishReason = content, "complete", "stop"
		require.NoError(t, live.Finish(ctx, c))
	}
	_, err = live.Submit(ctx, turn.ID, u.ID, rlhf.Submission{IdempotencyKey: "cli-export-1",
		Ranking: [][]int64{{turn.Candidates[0].ID}, {turn.Candidates[1].ID}}, ContinueFrom: rlhf.ContinueFrom{CandidateID: turn.Candidates[0].ID}})
	require.NoError(t, err)
}

func TestExportCommand(t *testing.T) {
	t.Parallel()
	dsn := pgtest.URL(t)
	judgedProject(t, dsn)
	env := envFunc(map[string]string{"DATABASE_URL": dsn, "USER": "ops"})
	export := func(args ...string) (string, string, error) {
		var stdout, stderr syncBuffer
		err := run(context.Background(), append([]string{"mentor", "export"}, args...), env, nil, &stdout, &stderr)
		return stdout.String(), stderr.String(), err
	}
	dir := t.TempDir()
	out, _, err := export("--project", "cli", "--format", "trl-dpo", "--out", dir)
	require.NoError(t, err, out)
	assert.Regexp(t, `exported 1 rows of trl-dpo preference .* \(snapshot \d+`, out)
	assert.Regexp(t, `train\.jsonl  1 rows  \d+ bytes  sha256 [0-9a-f]{64}`, out)
	data, err := os.ReadFile(filepath.Join(dir, "train.jsonl"))
	require.NoError(t, err)
	assert.Contains(t, string(data), `"chosen":[{"role":"assistant","content":"我很好，谢谢！<你呢>"}]`)
	for _, name := range []string{"manifest.json", "README.md"} {
		assert.FileExists(t, filepath.Join(dir, name))
	}

	// The snapshot again, byte for byte.
	id := regexp.MustCompile(`snapshot (\d+)`).FindStringSubmatch(out)[1]
	again := t.TempDir()
	out, _, err = export("--snapshot", id, "--out", again)
	require.NoError(t, err, out)
	data2, err := os.ReadFile(filepath.Join(again, "train.jsonl"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, data2))

	// Nothing matched: said plainly, with a manifest.
	empty := t.TempDir()
	out, _, err = export("--project", "cli", "--format", "trl-kto", "--out", empty, "--to", "2001-01-01")
	require.NoError(t, err)
	assert.Contains(t, out, "no rows")
	assert.FileExists(t, filepath.Join(empty, "manifest.json"))

	_, _, err = export("--project", "cli", "--format", "trl-ppo", "--out", t.TempDir())
	assert.ErrorContains(t, err, `format: "trl-ppo" is not a format; use one of trl-sft, trl-dpo`)
	_, _, err = export("--project", "cli", "--format", "trl-sft", "--out", t.TempDir(), "--persona", "ghost")
	assert.ErrorContains(t, err, `personas: "ghost" is not in project cli; valid values: helper`)
	blocker := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o644))
	_, _, err = export("--project", "cli", "--format", "trl-sft", "--out", filepath.Join(blocker, "x"), "--database-url", "postgres://nowhere.invalid/x")
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "cannot create") && strings.Contains(err.Error(), "not a directory"),
		"checked before the database: %v", err)
}
