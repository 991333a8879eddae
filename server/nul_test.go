package server_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNULIsRefusedNamingTheField sends a NUL character (\u0000) in every kind of text a
// person types, through the real handlers. PostgreSQL cannot store NUL in text or jsonb,
// so each used to fail in the database as a 500; now each is a 422 naming the field as a
// JSON path (or the parameter), and nothing is stored.
func TestNULIsRefusedNamingTheField(t *testing.T) {
	t.Parallel()
	j := newJudgeable(t, options{})
	turn, c := j.turn(t, 2)
	judge := func(extra map[string]any) map[string]any {
		b := minimalJudgment("nul-judgment-1", c)
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	c0 := fmt.Sprint(c[0])
	persona := fmt.Sprintf("/api/v1/personas/%d", j.persona.ID)
	judgments := fmt.Sprintf("/api/v1/turns/%d/judgments", turn)
	const nul = "有\u0000空字符"

	tests := []struct {
		name         string
		as           *client
		method, path string
		body         any
		field        string
	}{
		{"judgment comment", j.trainer, "POST", judgments, judge(map[string]any{"comment": nul}), "comment"},
		{"gold reply", j.trainer, "POST", judgments, judge(map[string]any{"gold": map[string]any{"content": nul}}), "gold.content"},
		{"edit", j.trainer, "POST", judgments, judge(map[string]any{"edit": map[string]any{"candidate_id": c[0], "content": nul}}), "edit.content"},
		{"idempotency key", j.trainer, "POST", judgments, judge(map[string]any{"idempotency_key": "key-" + nul}), "idempotency_key"},
		{"rating dimension", j.trainer, "POST", judgments, judge(map[string]any{"ratings": map[string]any{c0: map[string]int{"accuracy\u0000": 3}}}),
			"ratings." + c0 + `["accuracy\u0000"]`},
		{"flag", j.trainer, "POST", judgments, judge(map[string]any{"flags": map[string]any{c0: []string{"unsafe", nul}}}), "flags." + c0 + "[1]"},
		{"sign-in login", j.anonymous(), "POST", "/api/v1/session", map[string]any{"login": "root\u0000", "password": testPassword}, "login"},
		{"new persona's name", j.admin, "POST", "/api/v1/projects/judge/personas", map[string]any{"name": nul, "kind": "domain_assistant"}, "name"},
		{"persona's new name", j.admin, "PUT", persona, map[string]any{"name": nul, "kind": "domain_assistant"}, "name"},
		{"prompt template", j.admin, "POST", persona + "/versions", map[string]any{"template": "你是{{.Persona.Name}}" + nul, "model": "baseline-extractive",
			"author": "王老师"}, "template"},
		{"display name", j.admin, "POST", "/api/v1/users", map[string]any{"login": "newcomer", "display_name": nul, "password": testPassword}, "display_name"},
		{"new project's name", j.admin, "POST", "/api/v1/projects", map[string]any{"name": nul, "slug": "nul"}, "name"},
		{"project's new name", j.admin, "PUT", "/api/v1/projects/judge", map[string]any{"name": nul}, "name"},
		{"path parameter", j.trainer, "GET", "/api/v1/projects/judge%00", nil, "project"},
		{"query parameter", j.admin, "GET", "/api/v1/projects/judge/exports/count?format=trl-sft&persona=customs%00", nil, "persona"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := tt.as.call(t, tt.method, tt.path, tt.body)
			code, field, msg := errorOf(body)
			assert.Equal(t, http.StatusUnprocessableEntity, status, body)
			assert.Equal(t, "unprocessable", code)
			assert.Equal(t, tt.field, field)
			assert.Contains(t, msg, "NUL")
		})
	}

	// Nothing was stored: no judgment, persona, version, user or project beyond the fixture's.
	ctx := context.Background()
	for table, want := range map[string]int{"judgments": 0, "personas": 1, "prompt_versions": 1, "users": 2, "projects": 1} {
		var n int
		require.NoError(t, j.pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n))
		assert.Equal(t, want, n, table)
	}
	var name string
	require.NoError(t, j.pool.QueryRow(ctx, `SELECT name FROM projects`).Scan(&name))
	assert.Equal(t, "评判项目", name)

	// The same requests without the NUL go through, so the table tested the NUL, not a
	// mistake in the requests.
	status, body := j.trainer.call(t, "POST", judgments, judge(map[string]any{"comment": "没问题", "gold": map[string]any{"content": "税额50元及以下免征。"}}))
	assert.Equal(t, http.StatusCreated, status, body)
}
