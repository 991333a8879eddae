package retrieval

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	openai "github.com/sashabaranov/go-openai"
	"golang.org/x/time/rate"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/segment"
)

// Embedder turns texts into vectors of a fixed dimension.
type Embedder interface {
	Name() string
	Dimension() int
	// Local embedders are pure functions of their input: they run inline during import,
	// where remote ones run as background jobs.
	Local() bool
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// OfflineEmbedderName is the embedder every instance has, and corpora's default.
const OfflineEmbedderName = "offline-ngram-256"

// NgramEmbedder is the offline embedder: hashed character n-grams, L2-normalised. Chinese
// runs give unigrams, bigrams and trigrams; Latin words give the word itself and its
// character trigrams (single letters would pile into a few buckets and swamp everything
// else). Each gram adds its weight to one of dim buckets, with a sign from the hash, so
// collisions cancel out on average. It knows no meaning, but it is deterministic, needs no
// network, and tolerates the variants full text misses (粤港澳 vs 港澳), which makes it an
// honest vector baseline.
type NgramEmbedder struct{ dim int }

// NewNgramEmbedder returns the offline embedder with dim buckets.
func NewNgramEmbedder(dim int) NgramEmbedder { return NgramEmbedder{dim: dim} }

func (e NgramEmbedder) Name() string   { return fmt.Sprintf("offline-ngram-%d", e.dim) }
func (e NgramEmbedder) Dimension() int { return e.dim }
func (e NgramEmbedder) Local() bool    { return true }

// Embed implements Embedder.
func (e NgramEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = e.Vector(t)
	}
	return out, nil
}

// cjkGrams are the Chinese n-gram sizes and their weights, in a fixed order so that
// floating-point sums are the same on every run.
var cjkGrams = []struct {
	size   int
	weight float32
}{{1, 0.5}, {2, 1}, {3, 1}}

// FNV-1a, inline: hash/fnv allocates per call, and this runs per gram.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// Vector embeds one text. A CJK run's grams are hashed as slices of the text itself, which
// are the bytes the grams' own encodings would be, and a word's as slices of its lowercased
// encoding: embedding was a fifth of an import's CPU (issue 17).
// TestNgramEmbedderMatchesTheReference holds the vectors to the rune-by-rune version, bit
// for bit, since stored vectors must keep matching queries.
func (e NgramEmbedder) Vector(text string) []float32 {
	v := make([]float32, e.dim)
	add := func(sum uint64, weight float32) {
		if sum>>63 == 1 {
			weight = -weight
		}
		v[sum%uint64(e.dim)] += weight
	}
	var enc, padded []byte
	var offs []int
	segment.Spans(text, func(isCJK bool, span string) {
		offs = offs[:0]
		if isCJK {
			for i := range span {
				offs = append(offs, i)
			}
			offs = append(offs, len(span))
			runes := len(offs) - 1
			for _, g := range cjkGrams {
				for i := 0; i+g.size <= runes; i++ {
					add(fnv1a(span[offs[i]:offs[i+g.size]]), g.weight)
				}
			}
			return
		}
		enc = enc[:0]
		for _, r := range span {
			offs = append(offs, len(enc))
			enc = utf8.AppendRune(enc, unicode.ToLower(r))
		}
		add(fnv1a(enc), 1)
		// The word's trigrams with # at both ends: "#" is one byte, so the padded word's
		// encoding is the word's with a byte either side.
		padded = append(append(append(padded[:0], '#'), enc...), '#')
		n := len(offs) + 2
		at := func(i int) int { // byte offset of the padded word's rune i
			switch {
			case i == 0:
				return 0
			case i == n:
				return len(padded)
			case i == n-1:
				return len(padded) - 1
			}
			return offs[i-1] + 1
		}
		for i := 0; i+3 <= n; i++ {
			add(fnv1a(padded[at(i):at(i+3)]), 0.5)
		}
	})
	normalise(v)
	return v
}

// fnv1a is FNV-1a of gram, inline: hash/fnv allocates per call, and this runs per gram.
func fnv1a[T string | []byte](gram T) uint64 {
	sum := uint64(fnvOffset)
	for i := 0; i < len(gram); i++ {
		sum = (sum ^ uint64(gram[i])) * fnvPrime
	}
	return sum
}

func normalise(v []float32) {
	var sq float64
	for _, x := range v {
		sq += float64(x) * float64(x)
	}
	if sq == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(sq))
	for i := range v {
		v[i] *= inv
	}
}

// OpenAIEmbedder calls an OpenAI-compatible /v1/embeddings endpoint in batches, under a
// request rate limit. Retries belong to the job that calls it, which backs off between
// attempts and survives restarts.
type OpenAIEmbedder struct {
	client  *openai.Client
	model   string
	dim     int
	batch   int
	limiter *rate.Limiter
}

// OpenAIEmbedderConfig configures an OpenAIEmbedder.
type OpenAIEmbedderConfig struct {
	BaseURL, APIKey, Model string
	Dimension              int
	BatchSize              int // texts per request; 64 by default
	RequestsPerMinute      int // 0 means no limit
}

// NewOpenAIEmbedder returns an embedder for cfg.
func NewOpenAIEmbedder(cfg OpenAIEmbedderConfig) (*OpenAIEmbedder, error) {
	switch {
	case cfg.BaseURL == "":
		return nil, errs.Field("base_url", "an embeddings endpoint needs a base URL")
	case cfg.Model == "":
		return nil, errs.Field("model", "an embeddings endpoint needs a model name")
	case cfg.Dimension < 8 || cfg.Dimension > 2000:
		return nil, errs.Field("dimension", "must be between 8 and 2000 (the HNSW index's limit), not %d", cfg.Dimension)
	}
	oc := openai.DefaultConfig(cfg.APIKey)
	oc.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	e := &OpenAIEmbedder{client: openai.NewClientWithConfig(oc), model: cfg.Model, dim: cfg.Dimension, batch: cfg.BatchSize,
		limiter: rate.NewLimiter(rate.Inf, 1)}
	if e.batch <= 0 {
		e.batch = 64
	}
	if cfg.RequestsPerMinute > 0 {
		e.limiter = rate.NewLimiter(rate.Limit(float64(cfg.RequestsPerMinute)/60), 1)
	}
	return e, nil
}

func (e *OpenAIEmbedder) Name() string   { return e.model }
func (e *OpenAIEmbedder) Dimension() int { return e.dim }
func (e *OpenAIEmbedder) Local() bool    { return false }

// Embed implements Embedder. A vector of the wrong length is an error, never stored.
func (e *OpenAIEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); start += e.batch {
		batch := texts[start:min(start+e.batch, len(texts))]
		if err := e.limiter.Wait(ctx); err != nil {
			return nil, err
		}
		resp, err := e.client.CreateEmbeddings(ctx, openai.EmbeddingRequestStrings{Input: batch, Model: openai.EmbeddingModel(e.model)})
		if err != nil {
			return nil, fmt.Errorf("embeddings endpoint: %w", err)
		}
		if len(resp.Data) != len(batch) {
			return nil, fmt.Errorf("embeddings endpoint returned %d vectors for %d texts", len(resp.Data), len(batch))
		}
		vecs := make([][]float32, len(batch))
		for _, d := range resp.Data {
			if d.Index < 0 || d.Index >= len(batch) {
				return nil, fmt.Errorf("embeddings endpoint returned index %d for a batch of %d", d.Index, len(batch))
			}
			if len(d.Embedding) != e.dim {
				return nil, &DimensionError{Embedder: e.model, Want: e.dim, Got: len(d.Embedding)}
			}
			vecs[d.Index] = d.Embedding
		}
		out = append(out, vecs...)
	}
	return out, nil
}

// DimensionError is a vector whose length is not the corpus's dimension. Retrying cannot
// fix it, so jobs stop on it.
type DimensionError struct {
	Embedder  string
	Want, Got int
}

func (e *DimensionError) Error() string {
	return fmt.Sprintf("embedder %s returned %d dimensions, but the corpus is fixed at %d", e.Embedder, e.Got, e.Want)
}

// Embedders are the embedders an instance can use, by name.
type Embedders struct {
	byName map[string]Embedder
	names  []string
}

// NewEmbedders returns the offline embedder plus extra.
func NewEmbedders(extra ...Embedder) *Embedders {
	es := &Embedders{byName: map[string]Embedder{}}
	for _, e := range append([]Embedder{NewNgramEmbedder(256)}, extra...) {
		if _, dup := es.byName[e.Name()]; !dup {
			es.names = append(es.names, e.Name())
		}
		es.byName[e.Name()] = e
	}
	return es
}

// Get returns the embedder called name, or an error that lists the known ones.
func (es *Embedders) Get(name string) (Embedder, error) {
	if e, ok := es.byName[name]; ok {
		return e, nil
	}
	return nil, errs.Field("embedder", "%q is not configured; known: %s", name, strings.Join(es.names, ", "))
}

// Names lists the configured embedders.
func (es *Embedders) Names() []string { return slices.Clone(es.names) }
