package main

import (
	"fmt"

	"github.com/mentor-ai/mentor/retrieval"
)

// embeddingsConfig is the optional OpenAI-compatible embeddings endpoint; corpora use the
// offline embedder otherwise.
type embeddingsConfig struct {
	url, model, keyEnv string
	dimension, rpm     int
}

func (c *embeddingsConfig) register(f *flagSet) {
	f.StringVar(&c.url, "embeddings-url", "", "base URL of an OpenAI-compatible embeddings endpoint (…/v1); corpora can then choose its model")
	f.env("embeddings-url", "MENTOR_EMBEDDINGS_URL")
	f.StringVar(&c.model, "embeddings-model", "", "the embeddings endpoint's model, as corpora name it")
	f.env("embeddings-model", "MENTOR_EMBEDDINGS_MODEL")
	f.IntVar(&c.dimension, "embeddings-dimension", 0, "dimensions the embeddings model returns (fixed per corpus)")
	f.env("embeddings-dimension", "MENTOR_EMBEDDINGS_DIMENSION")
	f.StringVar(&c.keyEnv, "embeddings-key-env", "MENTOR_EMBEDDINGS_API_KEY", "the environment variable holding the embeddings endpoint's API key")
	f.IntVar(&c.rpm, "embeddings-rpm", 0, "requests per minute to the embeddings endpoint (0: no limit)")
	f.env("embeddings-rpm", "MENTOR_EMBEDDINGS_RPM")
}

// embedders returns the offline embedder plus the configured endpoint's.
func (c embeddingsConfig) embedders(f *flagSet, getenv func(string) string) (*retrieval.Embedders, error) {
	if c.url == "" && c.model == "" {
		return retrieval.NewEmbedders(), nil
	}
	if c.url == "" || c.model == "" || c.dimension == 0 {
		return nil, fmt.Errorf("%s, %s and %s go together: set all three or none",
			f.source("embeddings-url"), f.source("embeddings-model"), f.source("embeddings-dimension"))
	}
	e, err := retrieval.NewOpenAIEmbedder(retrieval.OpenAIEmbedderConfig{BaseURL: c.url, APIKey: getenv(c.keyEnv), Model: c.model,
		Dimension: c.dimension, RequestsPerMinute: c.rpm})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.source("embeddings-url"), err)
	}
	return retrieval.NewEmbedders(e), nil
}
