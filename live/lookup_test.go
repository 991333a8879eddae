package live

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/generation"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/llm"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/render"
	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/rlhf"
)

// TestACommandsLookupsTakeOneRoundTrip: what a generate reads before it plans (the persona,
// its project, the caller's role there and the persona's versions) takes one round trip to
// PostgreSQL, where it took four one after another; and the access decision made from it is
// the one personaFor always made. Each lookup is planned once on its connection.
func TestACommandsLookupsTakeOneRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// One connection: its statements are prepared once, by the warm-up below, so every
	// lookup after it counts only its own round trips.
	pool, trips := pgtest.CountingPool(t, 1)
	models, err := llm.NewRegistry(ctx, llm.RegistryConfig{Getenv: func(string) string { return "" }})
	require.NoError(t, err)
	ps, as := prompts.NewStore(pool), auth.NewStore(pool, nil)
	e, err := New(Deps{Logger: slog.New(slog.DiscardHandler), Pool: pool, Auth: as, Store: rlhf.NewStore(pool), Prompts: ps, Models: models,
		Generator: generation.New(retrieval.NewStore(pool, nil, nil), models, nil), Renderer: render.New(),
		Decode: func(raw []byte, v any) error { return json.Unmarshal(raw, v) }, CheckNUL: func([]byte) error { return nil }},
		Config{Replica: "r", Lease: MinLease, Sweep: time.Hour, Check: time.Hour, Sessions: auth.SessionLimits{Idle: time.Hour, Absolute: time.Hour}})
	require.NoError(t, err) // not run: no loop of its own queries the database meanwhile

	project, err := ps.CreateProject(ctx, prompts.Project{Name: "一次往返", BlindRanking: true})
	require.NoError(t, err)
	persona, err := ps.CreatePersona(ctx, prompts.Persona{ProjectID: project.ID, Name: "助手", Kind: prompts.DomainAssistant})
	require.NoError(t, err)
	for _, model := range []string{llm.BaselineBrief, llm.BaselineThorough} {
		_, err = ps.PublishVersion(ctx, persona.ID, prompts.Version{Template: "你是{{.Persona.Name}}", Model: model,
			Temperature: 0.3, TopP: 1, MaxTokens: 100, Author: "t", CorpusIDs: []int64{}})
		require.NoError(t, err)
	}
	user := func(login string, admin bool, role auth.Role) auth.User {
		u, err := as.CreateUser(ctx, auth.NewUser{Login: login, DisplayName: login, Password: "correct horse battery", IsAdmin: admin})
		require.NoError(t, err)
		if role != "" {
			require.NoError(t, as.SetRole(ctx, project.ID, u.ID, role))
		}
		return u
	}
	admin, trainer, reviewer, outsider := user("root", true, ""), user("trainer", false, auth.RoleTrainer),
		user("reviewer", false, auth.RoleReviewer), user("outsider", false, "")
	commandsOf := func(u auth.User) commands { return commands{e: e, caller: Caller{User: u}} }
	_, _, err = commandsOf(admin).lookup(ctx, persona.ID, auth.Generate, true) // the warm-up
	require.NoError(t, err)

	for _, tc := range []struct {
		name       string
		caller     auth.User
		persona    int64
		perm       auth.Permission
		versions   bool
		wantErr    errs.Kind
		seesModels bool
	}{
		{name: "an admin plans a generate", caller: admin, persona: persona.ID, perm: auth.Generate, versions: true, seesModels: true},
		{name: "a trainer plans a generate, blind", caller: trainer, persona: persona.ID, perm: auth.Generate, versions: true},
		{name: "a reviewer resumes, seeing the models", caller: reviewer, persona: persona.ID, perm: auth.Judge, seesModels: true},
		{name: "someone outside the project finds no persona", caller: outsider, persona: persona.ID, perm: auth.Generate, versions: true, wantErr: errs.NotFound},
		{name: "a persona that does not exist", caller: admin, persona: persona.ID + 1000, perm: auth.Generate, versions: true, wantErr: errs.NotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := trips.Count()
			a, versions, err := commandsOf(tc.caller).lookup(ctx, tc.persona, tc.perm, tc.versions)
			assert.Equal(t, int64(1), trips.Count()-before, "round trips")
			if tc.wantErr != "" {
				assert.Equal(t, tc.wantErr, errs.KindOf(err), "%v", err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, persona.ID, a.persona.ID)
			assert.Equal(t, project.ID, a.project.ID)
			assert.Equal(t, tc.seesModels, a.seesModels)
			if tc.versions {
				require.Len(t, versions, 2)
				assert.Equal(t, 2, versions[0].Version, "newest first")
			} else {
				assert.Empty(t, versions)
			}
		})
	}
	// Key lookups, each planned once on the connection and never for its values: PostgreSQL
	// planned all four anew on every generate (issue 12).
	for _, stmt := range []struct{ name, prefix string }{
		{"the persona", "SELECT id, project_id, slug, kind, name, name_en"},
		{"its project", "SELECT id, slug, name, description, blind_ranking"},
		{"the caller's memberships", "SELECT coalesce(array_agg(project_id)"},
		{"the persona's versions", "SELECT v.id, v.persona_id, v.version, v.template, v.model, v.temperature, v.top_p, v.max_tokens,\n\tv.retrieval_k, v.rrf_k, v.vector_weight, v.text_weight, v.change_note, v.author, v.created_at,\n\t" +
			"coalesce((SELECT array_agg(corpus_id ORDER BY corpus_id) FROM prompt_version_corpora c WHERE c.prompt_version_id = v.id), '{}') AS corpus_ids FROM prompt_versions v WHERE v.persona_id = $1"},
	} {
		pgtest.CheckPlannedOnce(t, pool, stmt.name, stmt.prefix, 4) // 6 lookups, 4 with versions
	}
}
