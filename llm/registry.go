package llm

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/mentor-ai/mentor/errs"
)

// The offline baseline's two variants. They are always registered: with no endpoint they are
// what `make run` answers with, and with endpoints they are a retrieval baseline to rank against.
const (
	BaselineThorough = "baseline-extractive"
	BaselineBrief    = "baseline-extractive-brief"
)

// Model is a model as prompt versions name it, with where it lives and its limits.
type Model struct {
	Name              string   `json:"name"`
	Endpoint          string   `json:"endpoint"`
	RemoteName        string   `json:"remote_name,omitempty"`
	Baseline          bool     `json:"baseline"` // the offline baseline, not a language model
	Temperature       *float32 `json:"temperature,omitempty"`
	TopP              *float32 `json:"top_p,omitempty"`
	MaxTokens         *int     `json:"max_tokens,omitempty"`
	MaxConcurrent     int      `json:"max_concurrent"`
	RequestsPerMinute int      `json:"requests_per_minute,omitempty"`
	Available         bool     `json:"available"`
	Reason            string   `json:"reason,omitempty"` // why it is unavailable
}

// Health is the result of a cheap probe of a model's endpoint.
type Health struct {
	Model     string        `json:"model"`
	Available bool          `json:"available"`
	Reason    string        `json:"reason,omitempty"`
	Latency   time.Duration `json:"latency_ns"`
	CheckedAt time.Time     `json:"checked_at"`
}

// RegistryConfig says where models come from.
type RegistryConfig struct {
	ModelsFile string              // optional YAML models file
	Getenv     func(string) string // for OPENAI_BASE_URL, OPENAI_API_KEY, MENTOR_OPENAI_MODELS and api_key_env
	HTTPClient *http.Client        // optional, for endpoints
	// BaselineInterval paces the baseline's stream; zero streams at once.
	BaselineInterval time.Duration
	Logger           *slog.Logger
}

type entry struct {
	model    Model
	provider Provider
	probe    func(context.Context) error // nil for the baseline
	sem      chan struct{}
	limiter  *rate.Limiter // nil when unlimited
	// healthKey groups models that one probe answers for: the same URL with the same key.
	healthKey string
}

// Registry holds every configured model. It is read-only after NewRegistry, so it is safe
// for concurrent use.
type Registry struct {
	entries map[string]*entry
	order   []string

	probes singleflight.Group // one probe per endpoint at a time
	mu     sync.Mutex
	health map[string]Health // by endpoint, cached for healthTTL
}

const healthTTL = 30 * time.Second

// NewRegistry builds the registry: the baseline, then the models file, then the
// OPENAI_BASE_URL shortcut. A malformed models file is an error naming file, line and
// problem; a missing API key only marks that endpoint's models unavailable.
func NewRegistry(ctx context.Context, cfg RegistryConfig) (*Registry, error) {
	if cfg.Getenv == nil {
		cfg.Getenv = func(string) string { return "" }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Registry{entries: map[string]*entry{}, health: map[string]Health{}}
	r.add(&entry{model: Model{Name: BaselineThorough, Endpoint: "offline", Baseline: true, Available: true},
		provider: NewBaseline(BaselineConfig{Sentences: 4, Interval: cfg.BaselineInterval})})
	r.add(&entry{model: Model{Name: BaselineBrief, Endpoint: "offline", Baseline: true, Available: true},
		provider: NewBaseline(BaselineConfig{Sentences: 4, Brief: true, Interval: cfg.BaselineInterval})})

	var endpoints []EndpointSpec
	if cfg.ModelsFile != "" {
		file, err := LoadModelsFile(cfg.ModelsFile)
		if err != nil {
			return nil, err
		}
		endpoints = file.Endpoints
	}
	if base := cfg.Getenv("OPENAI_BASE_URL"); base != "" {
		ep, err := endpointFromEnv(ctx, cfg, base)
		if err != nil {
			return nil, err
		}
		endpoints = append(endpoints, ep)
	}
	seen := map[string]bool{}
	for _, ep := range endpoints {
		if seen[ep.Name] {
			return nil, fmt.Errorf("two endpoints are named %q (the OPENAI_BASE_URL one is called openai-compatible): give each its own name", ep.Name)
		}
		seen[ep.Name] = true
		client := cfg.HTTPClient
		if client == nil {
			client = endpointClient(ep)
		}
		for _, m := range ep.Models {
			if _, dup := r.entries[m.Name]; dup {
				return nil, fmt.Errorf("model %q is configured twice (second time on endpoint %q)", m.Name, ep.Name)
			}
			r.add(openAIEntry(cfg, ep, m, client))
		}
	}
	return r, nil
}

func (r *Registry) add(e *entry) {
	if e.model.MaxConcurrent <= 0 {
		e.model.MaxConcurrent = 64
	}
	e.sem = make(chan struct{}, e.model.MaxConcurrent)
	if rpm := e.model.RequestsPerMinute; rpm > 0 {
		e.limiter = rate.NewLimiter(rate.Limit(float64(rpm)/60), max(1, rpm/10))
	}
	r.entries[e.model.Name] = e
	r.order = append(r.order, e.model.Name)
}

// endpointClient is the HTTP client of one endpoint's models: Go's default transport, but
// keeping as many idle connections to the endpoint as its models may stream at once. The
// default keeps 2, so every stream past the second opened a new connection (and, to a real
// API, a TLS handshake) even when the endpoint had just served one: pre-generating at N = 4
// with 16 workers spent a sixth of its CPU dialling.
func endpointClient(ep EndpointSpec) *http.Client {
	streams := 0
	for _, m := range ep.Models {
		streams += cmp.Or(m.MaxConcurrent, ep.MaxConcurrent, 64)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = max(streams, 2)
	t.MaxIdleConns = 0 // no limit across hosts: each endpoint has its own transport
	return &http.Client{Transport: t}
}

func openAIEntry(cfg RegistryConfig, ep EndpointSpec, m ModelSpec, client *http.Client) *entry {
	model := Model{Name: m.Name, Endpoint: ep.Name, RemoteName: m.RemoteName, Temperature: m.Temperature, TopP: m.TopP,
		MaxTokens: m.MaxTokens, MaxConcurrent: ep.MaxConcurrent, RequestsPerMinute: ep.RequestsPerMinute, Available: true}
	if model.RemoteName == "" {
		model.RemoteName = m.Name
	}
	if m.MaxConcurrent > 0 {
		model.MaxConcurrent = m.MaxConcurrent
	}
	if m.RequestsPerMinute > 0 {
		model.RequestsPerMinute = m.RequestsPerMinute
	}
	key := ""
	if ep.APIKeyEnv != "" {
		// The key is read from the environment here and kept only in the client: it is never
		// stored, logged or returned by the API.
		if key = cfg.Getenv(ep.APIKeyEnv); key == "" {
			model.Available, model.Reason = false, fmt.Sprintf("environment variable %s is not set", ep.APIKeyEnv)
		}
	}
	p := NewOpenAI(OpenAIConfig{BaseURL: ep.BaseURL, APIKey: key, RemoteName: model.RemoteName, HTTPClient: client})
	return &entry{model: model, provider: p, healthKey: ep.BaseURL + " " + ep.APIKeyEnv, probe: func(ctx context.Context) error {
		_, err := p.client.ListModels(ctx)
		if err != nil {
			return describe(err, 1, key)
		}
		return nil
	}}
}

// endpointFromEnv is the common case: one endpoint from OPENAI_BASE_URL and OPENAI_API_KEY,
// with models listed in MENTOR_OPENAI_MODELS or else discovered from its /models.
func endpointFromEnv(ctx context.Context, cfg RegistryConfig, base string) (EndpointSpec, error) {
	ep := EndpointSpec{Name: "openai-compatible", BaseURL: base, MaxConcurrent: 8}
	if cfg.Getenv("OPENAI_API_KEY") != "" {
		ep.APIKeyEnv = "OPENAI_API_KEY"
	}
	for _, name := range strings.Split(cfg.Getenv("MENTOR_OPENAI_MODELS"), ",") {
		if name = strings.TrimSpace(name); name != "" {
			ep.Models = append(ep.Models, ModelSpec{Name: name})
		}
	}
	if len(ep.Models) > 0 {
		return ep, nil
	}
	discover := NewOpenAI(OpenAIConfig{BaseURL: base, APIKey: cfg.Getenv("OPENAI_API_KEY"), HTTPClient: cfg.HTTPClient})
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	list, err := discover.client.ListModels(ctx)
	if err != nil {
		return ep, fmt.Errorf("OPENAI_BASE_URL=%s: cannot list its models (%s); name them in MENTOR_OPENAI_MODELS instead",
			base, errs.Message(describe(err, 1, cfg.Getenv("OPENAI_API_KEY"))))
	}
	for _, m := range list.Models {
		ep.Models = append(ep.Models, ModelSpec{Name: m.ID})
	}
	if len(ep.Models) == 0 {
		return ep, fmt.Errorf("OPENAI_BASE_URL=%s lists no models; name them in MENTOR_OPENAI_MODELS", base)
	}
	cfg.Logger.Info("discovered models", "endpoint", base, "count", len(ep.Models))
	return ep, nil
}

// Has reports whether name is a configured model, available or not.
func (r *Registry) Has(name string) bool {
	_, ok := r.entries[name]
	return ok
}

// Models lists every model in configuration order.
func (r *Registry) Models() []Model {
	out := make([]Model, 0, len(r.order))
	for _, n := range r.order {
		out = append(out, r.entries[n].model)
	}
	return out
}

// Model returns a model and a provider that honours its concurrency and rate limits.
func (r *Registry) Model(name string) (Model, Provider, error) {
	e, ok := r.entries[name]
	if !ok {
		return Model{}, nil, errs.E(errs.NotFound, "unknown model %q", name)
	}
	if !e.model.Available {
		return e.model, nil, errs.E(errs.Unavailable, "model %q is unavailable: %s", name, e.model.Reason)
	}
	return e.model, limited{e}, nil
}

// Health probes every model's endpoint (once per endpoint, cached for 30 seconds).
func (r *Registry) Health(ctx context.Context) []Health {
	out := make([]Health, len(r.order))
	var wg sync.WaitGroup
	for i, n := range r.order {
		wg.Go(func() { out[i] = r.probe(ctx, r.entries[n]) })
	}
	wg.Wait()
	return out
}

func (r *Registry) probe(ctx context.Context, e *entry) Health {
	h := Health{Model: e.model.Name, Available: e.model.Available, Reason: e.model.Reason, CheckedAt: time.Now()}
	if !e.model.Available || e.probe == nil {
		return h
	}
	key := e.healthKey
	r.mu.Lock()
	cached, ok := r.health[key]
	r.mu.Unlock()
	if ok && time.Since(cached.CheckedAt) < healthTTL {
		cached.Model = e.model.Name
		return cached
	}
	v, _, _ := r.probes.Do(key, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		defer cancel()
		start := time.Now()
		err := e.probe(ctx)
		h.Latency = time.Since(start)
		if err != nil {
			h.Available, h.Reason = false, errs.Message(err)
		}
		r.mu.Lock()
		r.health[key] = h
		r.mu.Unlock()
		return h, nil
	})
	shared := v.(Health)
	shared.Model = e.model.Name
	return shared
}

// limited applies a model's concurrency and rate limits around its provider.
type limited struct{ e *entry }

func (l limited) Stream(ctx context.Context, req Request, onDelta func(Delta)) (Result, error) {
	select {
	case l.e.sem <- struct{}{}:
		defer func() { <-l.e.sem }()
	case <-ctx.Done():
		return Result{Status: Cancelled}, ctx.Err()
	}
	if l.e.limiter != nil {
		if err := l.e.limiter.Wait(ctx); err != nil {
			return Result{Status: Cancelled}, err
		}
	}
	return l.e.provider.Stream(ctx, req, onDelta)
}
