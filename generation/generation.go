// Package generation prepares one candidate reply: it retrieves passages for the question,
// renders the prompt version's system prompt, and picks the model, recording everything
// needed to reproduce the reply (model, parameters, system-prompt hash, passages).
package generation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/llm"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/retrieval"
)

// Generator prepares replies. Its dependencies are read-only, so it is safe for concurrent use.
type Generator struct {
	retrieval *retrieval.Store
	models    *llm.Registry
	now       func() time.Time
}

// New returns a Generator.
func New(r *retrieval.Store, models *llm.Registry, now func() time.Time) *Generator {
	if now == nil {
		now = time.Now
	}
	return &Generator{retrieval: r, models: models, now: now}
}

// Plan is one candidate to generate.
type Plan struct {
	Persona     prompts.Persona
	Version     prompts.Version
	Model       string   // optional: the version's model otherwise
	Temperature *float32 // optional: the version's temperature otherwise
	Seed        int64
	Locale      string        // the conversation's locale; the persona's otherwise
	History     []llm.Message // the conversation so far, ending with the user's turn
	// Retrieved, when set, are the passages to use instead of searching: the candidates of
	// one version in one turn share a search, so they share their numbering (see Retrieve).
	Retrieved *[]retrieval.Passage
}

// Prepared is a request ready to stream, with its provenance.
type Prepared struct {
	Request          llm.Request
	Model            llm.Model
	Provider         llm.Provider
	SystemPrompt     string
	SystemPromptHash string // SHA-256 of the rendered system prompt, hex
	Passages         []retrieval.Passage
}

// Retrieve finds the passages a prompt version gives a reply to question: its corpora, k
// and fusion weights.
func (g *Generator) Retrieve(ctx context.Context, v prompts.Version, question string) ([]retrieval.Passage, error) {
	if v.RetrievalK == 0 || len(v.CorpusIDs) == 0 {
		return nil, nil
	}
	passages, err := g.retrieval.Search(ctx, retrieval.Query{CorpusIDs: v.CorpusIDs, Text: question, K: v.RetrievalK,
		Fusion: retrieval.Fusion{RRFK: v.RRFK, VectorWeight: float64(v.VectorWeight), TextWeight: float64(v.TextWeight)}})
	if err != nil {
		return nil, fmt.Errorf("retrieve passages: %w", err)
	}
	return passages, nil
}

// Passages returns the stored chunks with ids, in the order given: the passages a candidate
// was given, as a replica that did not generate it shows them.
func (g *Generator) Passages(ctx context.Context, ids []int64) ([]retrieval.Passage, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	passages, err := g.retrieval.Chunks(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("read a candidate's passages: %w", err)
	}
	return passages, nil
}

// Prepare retrieves, renders and resolves the model for plan.
func (g *Generator) Prepare(ctx context.Context, plan Plan) (Prepared, error) {
	var out Prepared
	if len(plan.History) == 0 || plan.History[len(plan.History)-1].Role != "user" {
		return out, errs.Field("message", "the conversation must end with the user's turn")
	}
	modelName := plan.Model
	if modelName == "" {
		modelName = plan.Version.Model
	}
	model, provider, err := g.models.Model(modelName)
	if err != nil {
		return out, err
	}
	tmpl, err := prompts.CompileTemplate(plan.Version.Template)
	if err != nil {
		return out, err
	}
	var passages []retrieval.Passage
	if plan.Retrieved != nil {
		passages = *plan.Retrieved
	} else if passages, err = g.Retrieve(ctx, plan.Version, plan.History[len(plan.History)-1].Content); err != nil {
		return out, err
	}
	locale := plan.Locale
	if locale == "" {
		locale = plan.Persona.Locale
	}
	turns := 0
	for _, m := range plan.History[:len(plan.History)-1] {
		if m.Role == "user" {
			turns++
		}
	}
	data := prompts.TemplateData{
		Persona: prompts.TemplatePersona{Name: plan.Persona.Name, Description: plan.Persona.Description,
			Kind: string(plan.Persona.Kind), Locale: plan.Persona.Locale},
		Locale:       locale,
		Date:         g.now().Format("2006-01-02"),
		Conversation: prompts.TemplateConversation{Turns: turns},
	}
	llmPassages := make([]llm.Passage, len(passages))
	for i, p := range passages {
		data.Passages = append(data.Passages, prompts.TemplatePassage{N: i + 1, Title: p.Title, Text: p.Text, Source: p.Slug})
		llmPassages[i] = llm.Passage{N: i + 1, Title: p.Title, Text: p.Text}
	}
	system, err := tmpl.Render(data)
	if err != nil {
		return out, err
	}
	opening, err := tmpl.Block(prompts.BlockOpening, data)
	if err != nil {
		return out, err
	}
	closing, err := tmpl.Block(prompts.BlockClosing, data)
	if err != nil {
		return out, err
	}
	temperature := plan.Version.Temperature
	if plan.Temperature != nil {
		temperature = *plan.Temperature
	}
	sum := sha256.Sum256([]byte(system))
	out = Prepared{
		Model: model, Provider: provider, SystemPrompt: system, SystemPromptHash: hex.EncodeToString(sum[:]),
		Passages: passages,
		Request: llm.Request{
			Messages:    append([]llm.Message{{Role: "system", Content: system}}, plan.History...),
			Temperature: temperature, TopP: plan.Version.TopP, MaxTokens: plan.Version.MaxTokens, Seed: plan.Seed,
			Passages: llmPassages, Opening: opening, Closing: closing, Locale: locale,
		},
	}
	return out, nil
}
