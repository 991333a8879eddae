package prompts_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/prompts"
)

func newPersona(t *testing.T, s *prompts.Store, kind prompts.Kind) (prompts.Project, prompts.Persona) {
	t.Helper()
	ctx := context.Background()
	proj, err := s.CreateProject(ctx, prompts.Project{Name: "海关项目"})
	require.NoError(t, err)
	p, err := s.CreatePersona(ctx, prompts.Persona{ProjectID: proj.ID, Name: "海关通关助手", Kind: kind})
	require.NoError(t, err)
	return proj, p
}

func version(template string) prompts.Version {
	return prompts.Version{Template: template, Model: "baseline-extractive", Temperature: 0.3, TopP: 1, MaxTokens: 256,
		RetrievalK: 4, Author: "王老师", CorpusIDs: []int64{}}
}

func TestPublishedVersionsAreImmutable(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	s := prompts.NewStore(pool)
	ctx := context.Background()
	_, p := newPersona(t, s, prompts.DomainAssistant)

	v1, err := s.PublishVersion(ctx, p.ID, version("v1：简洁"))
	require.NoError(t, err)
	v2, err := s.PublishVersion(ctx, p.ID, version("v2：详细"))
	require.NoError(t, err)
	assert.Equal(t, 1, v1.Version)
	assert.Equal(t, 2, v2.Version)

	// Not through the store, not through raw SQL: the database itself refuses.
	for _, stmt := range []string{
		`UPDATE prompt_versions SET template = 'changed' WHERE id = $1`,
		`UPDATE prompt_versions SET temperature = 1.5 WHERE id = $1`,
		`DELETE FROM prompt_versions WHERE id = $1`,
	} {
		_, err := pool.Exec(ctx, stmt, v1.ID)
		require.Error(t, err, stmt)
		assert.Contains(t, err.Error(), "immutable once published")
	}
	got, err := s.Version(ctx, v1.ID)
	require.NoError(t, err)
	assert.Equal(t, "v1：简洁", got.Template, "publishing v2 and attempted edits left v1 untouched")
	assert.Equal(t, v1.Temperature, got.Temperature)

	list, err := s.Versions(ctx, p.ID)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, []int{2, 1}, []int{list[0].Version, list[1].Version}, "newest first")
}

func TestConcurrentPublishesGetDistinctNumbers(t *testing.T) {
	t.Parallel()
	s := prompts.NewStore(pgtest.Pool(t))
	_, p := newPersona(t, s, prompts.DomainAssistant)
	var wg sync.WaitGroup
	nums := make([]int, 8)
	errs := make([]error, 8)
	for i := range nums {
		wg.Go(func() {
			v, err := s.PublishVersion(context.Background(), p.ID, version(fmt.Sprintf("版本 %d", i)))
			nums[i], errs[i] = v.Version, err
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.ElementsMatch(t, []int{1, 2, 3, 4, 5, 6, 7, 8}, nums)
}

func TestVersionCorporaMustBelongToTheProject(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	s := prompts.NewStore(pool)
	ctx := context.Background()
	proj, p := newPersona(t, s, prompts.DomainAssistant)
	other, err := s.CreateProject(ctx, prompts.Project{Name: "别的项目"})
	require.NoError(t, err)
	var own, foreign int64
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO corpora (project_id, slug, name) VALUES ($1, 'kb', '知识库') RETURNING id`, proj.ID).Scan(&own))
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO corpora (project_id, slug, name) VALUES ($1, 'kb', '别人的') RETURNING id`, other.ID).Scan(&foreign))

	v := version("x")
	v.CorpusIDs = []int64{own, foreign}
	_, err = s.PublishVersion(ctx, p.ID, v)
	require.Error(t, err)
	assert.Contains(t, errs.Message(err), "corpus_ids")

	v.CorpusIDs = []int64{own}
	got, err := s.PublishVersion(ctx, p.ID, v)
	require.NoError(t, err)
	assert.Equal(t, []int64{own}, got.CorpusIDs)
}

func TestPersonasAndRubrics(t *testing.T) {
	t.Parallel()
	s := prompts.NewStore(pgtest.Pool(t))
	ctx := context.Background()

	tests := []struct {
		kind      prompts.Kind
		wantFirst string
		wantAxis  prompts.Axis
	}{
		{prompts.DigitalHuman, "empathy", prompts.EQ},
		{prompts.DomainAssistant, "accuracy", prompts.IQ},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			_, p := newPersona(t, s, tt.kind)
			rubric, err := s.Rubric(ctx, p.ID)
			require.NoError(t, err)
			require.Len(t, rubric, 6)
			assert.Equal(t, tt.wantFirst, rubric[0].Key)
			assert.Equal(t, tt.wantAxis, rubric[0].Axis)
			for _, d := range rubric {
				assert.Equal(t, 1, d.ScaleMin)
				assert.Equal(t, 5, d.ScaleMax)
				assert.NotEmpty(t, d.Label)
				assert.NotEmpty(t, d.GuideEN)
			}
		})
	}

	_, p := newPersona(t, s, prompts.DigitalHuman)
	custom := []prompts.Dimension{
		{Key: "humour", Axis: prompts.EQ, Label: "幽默感", LabelEN: "Humour", ScaleMin: 0, ScaleMax: 3},
		{Key: "accuracy", Axis: prompts.IQ, Label: "准确性", LabelEN: "Accuracy", ScaleMin: 1, ScaleMax: 5},
	}
	require.NoError(t, s.ReplaceRubric(ctx, p.ID, custom))
	got, err := s.Rubric(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, custom, got)

	bad := []struct {
		name      string
		dims      []prompts.Dimension
		wantField string
	}{
		{"empty", nil, "dimensions"},
		{"duplicate key", []prompts.Dimension{custom[0], custom[0]}, "dimensions[1].key"},
		{"inverted scale", []prompts.Dimension{{Key: "x", Axis: prompts.IQ, Label: "x", LabelEN: "x", ScaleMin: 5, ScaleMax: 1}}, "dimensions[0].scale_max"},
		{"bad axis", []prompts.Dimension{{Key: "x", Axis: "iqq", Label: "x", LabelEN: "x", ScaleMin: 1, ScaleMax: 5}}, "dimensions[0].axis"},
		{"bad key", []prompts.Dimension{{Key: "Bad Key", Axis: prompts.IQ, Label: "x", LabelEN: "x", ScaleMin: 1, ScaleMax: 5}}, "dimensions[0].key"},
	}
	for _, tt := range bad {
		t.Run("rubric "+tt.name, func(t *testing.T) {
			err := s.ReplaceRubric(ctx, p.ID, tt.dims)
			var e *errs.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tt.wantField, e.Field)
		})
	}
	got, err = s.Rubric(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, custom, got, "a rejected rubric changes nothing")
}

func TestPersonaValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		p         prompts.Persona
		wantField string
	}{
		{"empty name", prompts.Persona{Name: "  ", Kind: prompts.DigitalHuman}, "name"},
		{"bad kind", prompts.Persona{Name: "x", Kind: "robot"}, "kind"},
		{"bad locale", prompts.Persona{Name: "x", Kind: prompts.DigitalHuman, Locale: "fr"}, "locale"},
		{"bad colour", prompts.Persona{Name: "x", Kind: prompts.DigitalHuman, AvatarColor: "red"}, "avatar_color"},
		{"long initials", prompts.Persona{Name: "x", Kind: prompts.DigitalHuman, AvatarInitials: "ABC"}, "avatar_initials"},
		{"bad slug", prompts.Persona{Name: "x", Kind: prompts.DigitalHuman, Slug: "Not OK"}, "slug"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.p.Validate()
			var e *errs.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tt.wantField, e.Field)
		})
	}
	p := prompts.Persona{Name: "小暖", Kind: prompts.DigitalHuman}
	require.NoError(t, p.Validate())
	assert.Equal(t, "zh-CN", p.Locale, "Chinese by default")
	assert.Equal(t, "小", p.AvatarInitials)
	assert.Regexp(t, `^persona-[0-9a-f]{8}$`, p.Slug)
}

func TestStoreErrorsHaveKinds(t *testing.T) {
	t.Parallel()
	s := prompts.NewStore(pgtest.Pool(t))
	ctx := context.Background()
	_, err := s.Persona(ctx, 999999)
	assert.Equal(t, errs.NotFound, errs.KindOf(err))
	_, err = s.CreatePersona(ctx, prompts.Persona{ProjectID: 999999, Name: "x", Kind: prompts.DigitalHuman})
	assert.Equal(t, errs.NotFound, errs.KindOf(err))
	_, err = s.CreateProject(ctx, prompts.Project{Name: "a", Slug: "same"})
	require.NoError(t, err)
	_, err = s.CreateProject(ctx, prompts.Project{Name: "b", Slug: "same"})
	assert.Equal(t, errs.Conflict, errs.KindOf(err))
	_, err = s.CreateProject(ctx, prompts.Project{Name: "c", Slug: "7"})
	assert.Contains(t, errs.Message(err), "at least one letter", "a numeric slug would shadow project id 7")
}
