package prompts

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/mentor-ai/mentor/errs"
)

// Version is an immutable, numbered prompt version of a persona.
type Version struct {
	ID          int64   `json:"id" db:"id"`
	PersonaID   int64   `json:"persona_id" db:"persona_id"`
	Version     int     `json:"version" db:"version"`
	Template    string  `json:"template" db:"template"`
	Model       string  `json:"model" db:"model"`
	Temperature float32 `json:"temperature" db:"temperature"`
	TopP        float32 `json:"top_p" db:"top_p"`
	MaxTokens   int     `json:"max_tokens" db:"max_tokens"`
	RetrievalK  int     `json:"retrieval_k" db:"retrieval_k"`
	// How retrieval fuses its vector and full-text lists (reciprocal rank fusion).
	RRFK         int       `json:"rrf_k" db:"rrf_k"`
	VectorWeight float32   `json:"vector_weight" db:"vector_weight"`
	TextWeight   float32   `json:"text_weight" db:"text_weight"`
	CorpusIDs    []int64   `json:"corpus_ids" db:"corpus_ids"`
	ChangeNote   string    `json:"change_note" db:"change_note"`
	Author       string    `json:"author" db:"author"`
	CreatedAt    time.Time `json:"created_at" db:"created_at"`
}

// NewVersion is what an author submits. Omitted numbers take the defaults below.
type NewVersion struct {
	Template     string   `json:"template"`
	Model        string   `json:"model"`
	Temperature  *float32 `json:"temperature"`
	TopP         *float32 `json:"top_p"`
	MaxTokens    *int     `json:"max_tokens"`
	RetrievalK   *int     `json:"retrieval_k"`
	RRFK         *int     `json:"rrf_k"`
	VectorWeight *float32 `json:"vector_weight"`
	TextWeight   *float32 `json:"text_weight"`
	CorpusIDs    []int64  `json:"corpus_ids"`
	ChangeNote   string   `json:"change_note"`
	Author       string   `json:"author"`
}

// Version checks nv and returns the version to store. knownModel says whether a model name
// is in the registry.
func (nv NewVersion) Version(knownModel func(string) bool) (Version, error) {
	v := Version{
		Template: nv.Template, Model: strings.TrimSpace(nv.Model), Temperature: 0.7, TopP: 1,
		MaxTokens: 1024, RetrievalK: 4, RRFK: 60, VectorWeight: 1, TextWeight: 1, CorpusIDs: nv.CorpusIDs,
		ChangeNote: strings.TrimSpace(nv.ChangeNote), Author: strings.TrimSpace(nv.Author),
	}
	if nv.Temperature != nil {
		v.Temperature = *nv.Temperature
	}
	if nv.TopP != nil {
		v.TopP = *nv.TopP
	}
	if nv.MaxTokens != nil {
		v.MaxTokens = *nv.MaxTokens
	}
	if nv.RetrievalK != nil {
		v.RetrievalK = *nv.RetrievalK
	}
	if nv.RRFK != nil {
		v.RRFK = *nv.RRFK
	}
	if nv.VectorWeight != nil {
		v.VectorWeight = *nv.VectorWeight
	}
	if nv.TextWeight != nil {
		v.TextWeight = *nv.TextWeight
	}
	// Sorted and without repeats, so "found 1 of 2" never comes from a duplicate id.
	v.CorpusIDs = slices.Compact(slices.Sorted(slices.Values(v.CorpusIDs)))
	if v.CorpusIDs == nil {
		v.CorpusIDs = []int64{}
	}
	switch {
	case v.Model == "":
		return v, errs.Field("model", "must name a model")
	case !knownModel(v.Model):
		return v, errs.Field("model", "unknown model %q: see GET /api/v1/models", v.Model)
	case v.Temperature < 0 || v.Temperature > 2:
		return v, errs.Field("temperature", "must be between 0 and 2, got %g", v.Temperature)
	case v.TopP <= 0 || v.TopP > 1:
		return v, errs.Field("top_p", "must be greater than 0 and at most 1, got %g", v.TopP)
	case v.MaxTokens <= 0 || v.MaxTokens > 32768:
		return v, errs.Field("max_tokens", "must be between 1 and 32768, got %d", v.MaxTokens)
	case v.RetrievalK < 0 || v.RetrievalK > 50:
		return v, errs.Field("retrieval_k", "must be between 0 and 50, got %d", v.RetrievalK)
	case v.RRFK < 1 || v.RRFK > 1000:
		return v, errs.Field("rrf_k", "must be between 1 and 1000, got %d", v.RRFK)
	case v.VectorWeight < 0 || v.TextWeight < 0 || v.VectorWeight+v.TextWeight == 0:
		return v, errs.Field("vector_weight", "weights must not be negative and at least one must be positive, got vector %g and text %g", v.VectorWeight, v.TextWeight)
	case v.Author == "":
		return v, errs.Field("author", "must not be empty")
	case len(v.ChangeNote) > 2000:
		return v, errs.Field("change_note", "must be at most 2000 bytes")
	}
	if _, err := ParseTemplate(v.Template); err != nil {
		return v, err
	}
	return v, nil
}

// Diff returns a unified diff from a to b: the template, then the parameters.
func Diff(a, b Version) string {
	out, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(describe(a)), B: difflib.SplitLines(describe(b)),
		FromFile: fmt.Sprintf("v%d", a.Version), ToFile: fmt.Sprintf("v%d", b.Version), Context: 3,
	})
	return out
}

// describe lays a version out as text, so that parameter changes show in the diff too.
func describe(v Version) string {
	var b strings.Builder
	b.WriteString(strings.TrimRight(v.Template, "\n"))
	fmt.Fprintf(&b, "\n\n# model: %s\n# temperature: %g\n# top_p: %g\n# max_tokens: %d\n# retrieval_k: %d\n# rrf_k: %d\n# weights: vector %g, text %g\n# corpora: %v\n",
		v.Model, v.Temperature, v.TopP, v.MaxTokens, v.RetrievalK, v.RRFK, v.VectorWeight, v.TextWeight, v.CorpusIDs)
	return b.String()
}
