// Package demo holds Mentor's demo content, written for this project in Chinese and English:
// three personas (a companion, a customs-clearance helper and a personal-finance helper),
// two prompt versions each, and a small knowledge base each. The documents are illustrative,
// not legal, financial or medical advice.
package demo

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/retrieval"
)

//go:embed *.json
var files embed.FS

// ProjectSlug names the demo project.
const ProjectSlug = "demo"

// File is one persona's demo content.
type File struct {
	Persona        prompts.Persona           `json:"persona"`
	PromptVersions []prompts.NewVersion      `json:"prompt_versions"`
	Documents      []retrieval.DocumentInput `json:"documents"`
}

// Files returns the demo content, in file-name order.
func Files() ([]File, error) {
	names, err := fs.Glob(files, "*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []File
	for _, name := range names {
		b, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var f File
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("demo %s: %w", name, err)
		}
		out = append(out, f)
	}
	return out, nil
}

// Summary says what Load added.
type Summary struct {
	Project   prompts.Project
	Personas  int
	Versions  int // published by this call
	Documents int // stored or refreshed by this call
}

// Load creates the demo project, or completes it: it is safe to run at every start, and
// never publishes a version twice or touches anything outside the demo project.
func Load(ctx context.Context, ps *prompts.Store, rs *retrieval.Store, knownModel func(string) bool) (Summary, error) {
	var sum Summary
	demoFiles, err := Files()
	if err != nil {
		return sum, err
	}
	if len(demoFiles) == 0 {
		return sum, errors.New("demo: no persona files embedded")
	}
	project, err := ps.ProjectBySlug(ctx, ProjectSlug)
	if errs.KindOf(err) == errs.NotFound {
		project, err = ps.CreateProject(ctx, prompts.Project{Slug: ProjectSlug, Name: "演示项目 · Demo",
			Description:  "示例人设与知识库，仅供体验，不构成法律、财务或医疗建议。Illustrative personas and knowledge; not legal, financial or medical advice.",
			BlindRanking: true})
	}
	if err != nil {
		return sum, fmt.Errorf("demo project: %w", err)
	}
	sum.Project = project

	existing, err := ps.Personas(ctx, project.ID)
	if err != nil {
		return sum, err
	}
	bySlug := map[string]prompts.Persona{}
	for _, p := range existing {
		bySlug[p.Slug] = p
	}
	corpora, err := rs.Corpora(ctx, project.ID)
	if err != nil {
		return sum, err
	}
	corpusBySlug := map[string]retrieval.Corpus{}
	for _, c := range corpora {
		corpusBySlug[c.Slug] = c.Corpus
	}

	for _, f := range demoFiles {
		if err := loadPersona(ctx, ps, rs, knownModel, project, f, bySlug, corpusBySlug, &sum); err != nil {
			return sum, fmt.Errorf("demo persona %s: %w", f.Persona.Slug, err)
		}
	}
	return sum, nil
}

func loadPersona(ctx context.Context, ps *prompts.Store, rs *retrieval.Store, knownModel func(string) bool,
	project prompts.Project, f File, bySlug map[string]prompts.Persona, corpusBySlug map[string]retrieval.Corpus, sum *Summary) error {
	persona, ok := bySlug[f.Persona.Slug]
	if !ok {
		f.Persona.ProjectID = project.ID
		var err error
		if persona, err = ps.CreatePersona(ctx, f.Persona); err != nil {
			return err
		}
	}
	sum.Personas++

	corpusSlug := f.Persona.Slug + "-kb"
	corpus, ok := corpusBySlug[corpusSlug]
	if !ok {
		var err error
		corpus, err = rs.CreateCorpus(ctx, retrieval.Corpus{ProjectID: project.ID, Slug: corpusSlug,
			Name: f.Persona.Name + " · 知识库", Description: "演示知识库（示例内容）· Demo knowledge base (illustrative)"})
		if err != nil {
			return err
		}
	}
	for _, d := range f.Documents {
		d.Source = "demo:" + f.Persona.Slug
		if _, err := rs.Ingest(ctx, corpus, d); err != nil {
			return fmt.Errorf("document %s: %w", d.Slug, err)
		}
		sum.Documents++
	}

	versions, err := ps.Versions(ctx, persona.ID)
	if err != nil {
		return err
	}
	for i, nv := range f.PromptVersions {
		if i < len(versions) {
			continue // published on an earlier start
		}
		nv.CorpusIDs = []int64{corpus.ID}
		nv.Author = "Mentor demo"
		v, err := nv.Version(knownModel)
		if err != nil {
			return fmt.Errorf("prompt version %d: %w", i+1, err)
		}
		if _, err := ps.PublishVersion(ctx, persona.ID, v); err != nil {
			return fmt.Errorf("prompt version %d: %w", i+1, err)
		}
		sum.Versions++
	}
	return nil
}
