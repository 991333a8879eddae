package demo_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/generation"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/llm"
	"github.com/mentor-ai/mentor/locale"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/prompts/demo"
	"github.com/mentor-ai/mentor/retrieval"
)

func TestDemoContentIsCompleteAndBilingual(t *testing.T) {
	t.Parallel()
	files, err := demo.Files()
	require.NoError(t, err)
	kinds := map[prompts.Kind]int{}
	for _, f := range files {
		t.Run(f.Persona.Slug, func(t *testing.T) {
			kinds[f.Persona.Kind]++
			p := f.Persona
			require.NoError(t, p.Validate())
			assert.NotEmpty(t, p.NameEN)
			assert.NotEmpty(t, p.DescriptionEN)
			require.Len(t, f.PromptVersions, 2, "two prompt versions per persona")
			assert.NotEqual(t, f.PromptVersions[0].Template, f.PromptVersions[1].Template)
			for _, v := range f.PromptVersions {
				tmpl, err := prompts.ParseTemplate(v.Template)
				require.NoError(t, err)
				for _, loc := range locale.Supported {
					data := prompts.SampleData(p, loc)
					opening, err := tmpl.Block(prompts.BlockOpening, data)
					require.NoError(t, err)
					assert.NotEmpty(t, opening, "every version gives the baseline an opening line in %s", loc)
				}
			}
			langs := map[string]int{}
			for _, d := range f.Documents {
				langs[d.Lang]++
			}
			assert.GreaterOrEqual(t, langs["zh-CN"], 20, "at least 20 Chinese documents")
			assert.GreaterOrEqual(t, langs["en"], 20, "at least 20 English documents")
			last := f.Documents[len(f.Documents)-1]
			assert.Contains(t, strings.ToLower(last.Body), "illustrative", "the knowledge base says it is illustrative")
		})
	}
	assert.Equal(t, map[prompts.Kind]int{prompts.DigitalHuman: 1, prompts.DomainAssistant: 2}, kinds)
}

func TestLoadIsIdempotentAndEveryPersonaAnswers(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := context.Background()
	ps, rs := prompts.NewStore(pool), retrieval.NewStore(pool, nil, nil)
	models, err := llm.NewRegistry(ctx, llm.RegistryConfig{})
	require.NoError(t, err)

	first, err := demo.Load(ctx, ps, rs, models.Has)
	require.NoError(t, err)
	assert.Equal(t, 3, first.Personas)
	assert.Equal(t, 6, first.Versions)
	second, err := demo.Load(ctx, ps, rs, models.Has)
	require.NoError(t, err)
	assert.Equal(t, 0, second.Versions, "a second start publishes nothing new")
	assert.Equal(t, first.Documents, second.Documents)

	personas, err := ps.Personas(ctx, first.Project.ID)
	require.NoError(t, err)
	require.Len(t, personas, 3)
	questions := map[string]map[string]string{
		"customs-helper": {"zh-CN": "个人邮寄进境物品的免税额是多少？", "en": "How much cash can I carry without declaring it?"},
		"finance-helper": {"zh-CN": "什么是货币市场基金？", "en": "What is a money-market fund?"},
		"companion":      {"zh-CN": "我最近总是睡不着，怎么办？", "en": "I can't sleep lately, what can I do?"},
	}
	gen := generation.New(rs, models, nil)
	for _, p := range personas {
		versions, err := ps.Versions(ctx, p.ID)
		require.NoError(t, err)
		require.Len(t, versions, 2)
		answers := map[int]string{}
		for _, v := range versions {
			for locale, q := range questions[p.Slug] {
				prep, err := gen.Prepare(ctx, generation.Plan{Persona: p, Version: v, Locale: locale, Seed: 1,
					History: []llm.Message{{Role: "user", Content: q}}})
				require.NoError(t, err, "%s v%d", p.Slug, v.Version)
				require.NotEmpty(t, prep.Passages, "%s: %q finds passages", p.Slug, q)
				var out strings.Builder
				res, err := prep.Provider.Stream(ctx, prep.Request, func(d llm.Delta) { out.WriteString(d.Content) })
				require.NoError(t, err)
				assert.Equal(t, llm.Complete, res.Status)
				assert.Contains(t, out.String(), "[", "%s v%d %s cites its sources: %s", p.Slug, v.Version, locale, out.String())
				if locale == "zh-CN" {
					answers[v.Version] = out.String()
					assert.Equal(t, "zh-CN", prep.Passages[0].Lang, "%s: a Chinese question finds a Chinese passage first", p.Slug)
				} else {
					assert.Equal(t, "en", prep.Passages[0].Lang, "%s: an English question finds an English passage first", p.Slug)
				}
			}
		}
		assert.NotEqual(t, answers[1], answers[2], "%s: the two versions answer differently", p.Slug)
	}
}

func TestDemoAccountsNeverTakeOverAnExistingAccount(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := context.Background()
	store := auth.NewStore(pool, nil)
	_, err := store.CreateUser(ctx, auth.NewUser{Login: "admin", DisplayName: "真正的管理员", Password: "the real admin's password", IsAdmin: true})
	require.NoError(t, err)
	models, _ := llm.NewRegistry(ctx, llm.RegistryConfig{})
	sum, err := demo.Load(ctx, prompts.NewStore(pool), retrieval.NewStore(pool, nil, nil), models.Has)
	require.NoError(t, err)
	_, err = demo.Accounts(ctx, store, sum.Project.ID, filepath.Join(t.TempDir(), "creds.json"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `an account "admin" exists that development mode did not create`)
	_, err = store.Authenticate(ctx, "admin", "the real admin's password")
	assert.NoError(t, err, "its password is untouched")
}
