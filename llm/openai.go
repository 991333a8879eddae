package llm

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/mentor-ai/mentor/errs"
)

// OpenAIConfig describes one model on an OpenAI-compatible endpoint.
type OpenAIConfig struct {
	BaseURL    string // e.g. https://api.deepseek.com/v1
	APIKey     string
	RemoteName string       // the model id the endpoint knows
	HTTPClient *http.Client // optional

	MaxRetries int           // retries before the first token; 0 means 3, -1 means none
	RetryBase  time.Duration // first backoff; doubles each retry, with jitter; default 500ms
	// IdleTimeout ends a stream that sends nothing for this long (keep-alive comments do not
	// count: go-openai consumes them). Default 90s, enough for a reasoning model's first token.
	IdleTimeout time.Duration
	Now         func() time.Time
}

// OpenAI streams chat completions from an OpenAI-compatible endpoint.
type OpenAI struct {
	client *openai.Client
	cfg    OpenAIConfig
}

// NewOpenAI returns a provider for cfg.
func NewOpenAI(cfg OpenAIConfig) *OpenAI {
	c := openai.DefaultConfig(cfg.APIKey)
	c.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.HTTPClient != nil {
		c.HTTPClient = cfg.HTTPClient
	}
	// Keep-alive comments and blank lines count as "empty messages" in go-openai; a slow
	// reasoning model can send many before its first token.
	c.EmptyMessagesLimit = 100000
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = 3
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	if cfg.RetryBase == 0 {
		cfg.RetryBase = 500 * time.Millisecond
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 90 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &OpenAI{client: openai.NewClientWithConfig(c), cfg: cfg}
}

// errIdle marks a stream ended because the endpoint went quiet.
var errIdle = errors.New("idle")

// Stream implements Provider. It retries, with backoff, whatever fails before the first token
// (a 429 or 5xx, a refused connection, an error event or a close before any text) and
// nothing after it: a retry then would duplicate text the trainer has already seen.
func (p *OpenAI) Stream(ctx context.Context, req Request, onDelta func(Delta)) (Result, error) {
	start := p.cfg.Now()
	res := Result{}
	msgs := make([]openai.ChatCompletionMessage, len(req.Messages))
	for i, m := range req.Messages {
		msgs[i] = openai.ChatCompletionMessage{Role: m.Role, Content: m.Content}
	}
	creq := openai.ChatCompletionRequest{
		Model: p.cfg.RemoteName, Messages: msgs, Stream: true,
		Temperature: req.Temperature, TopP: req.TopP,
		StreamOptions: &openai.StreamOptions{IncludeUsage: true},
	}
	// max_tokens, not max_completion_tokens: DeepSeek, DashScope, llama.cpp and older vLLM read
	// only the former, and OpenAI still accepts it for chat models.
	//lint:ignore SA1019 the compatible endpoints we target read max_tokens
	creq.MaxTokens = req.MaxTokens
	if req.Seed != 0 {
		seed := int(req.Seed)
		creq.Seed = &seed
	}
	if creq.Temperature == 0 {
		// go-openai omits a zero temperature, which endpoints read as their default (often 1).
		creq.Temperature = 1e-9
	}
	for {
		res.Attempts++
		emitted, status, err := p.attempt(ctx, creq, onDelta, start, &res)
		retry := !emitted && (status == Failed || status == Interrupted) && res.Attempts <= p.cfg.MaxRetries && retryable(err)
		if !retry {
			res.Status, res.Duration = status, p.cfg.Now().Sub(start)
			if err != nil && status != Cancelled {
				err = describe(err, res.Attempts, p.cfg.APIKey)
			}
			return res, err
		}
		if err := sleep(ctx, backoff(p.cfg.RetryBase, res.Attempts)); err != nil {
			res.Status, res.Duration = Cancelled, p.cfg.Now().Sub(start)
			return res, err
		}
	}
}

// attempt makes one request and reads its stream, reporting whether any text was sent on.
func (p *OpenAI) attempt(parent context.Context, creq openai.ChatCompletionRequest, onDelta func(Delta), start time.Time, res *Result) (bool, Status, error) {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	idle := time.AfterFunc(p.cfg.IdleTimeout, func() { cancel(errIdle) })
	defer idle.Stop()
	ended := func(err error) (Status, error) {
		switch {
		case parent.Err() != nil:
			return Cancelled, parent.Err()
		case errors.Is(context.Cause(ctx), errIdle):
			return Interrupted, errs.Wrap(errs.Unavailable, err, "the model sent nothing for %s", p.cfg.IdleTimeout)
		}
		return "", nil
	}

	stream, err := p.client.CreateChatCompletionStream(ctx, creq)
	if err != nil {
		if st, cerr := ended(err); st != "" {
			return false, st, cerr
		}
		return false, Failed, err
	}
	defer stream.Close()

	emitted, gotUsage := false, false
	res.FinishReason = ""
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if st, cerr := ended(err); st != "" {
				return emitted, st, cerr
			}
			var apiErr *openai.APIError
			if errors.As(err, &apiErr) {
				return emitted, Failed, err
			}
			return emitted, Interrupted, err
		}
		idle.Reset(p.cfg.IdleTimeout)
		if chunk.Usage != nil {
			gotUsage = true
			res.Usage = Usage{PromptTokens: chunk.Usage.PromptTokens, CompletionTokens: chunk.Usage.CompletionTokens, TotalTokens: chunk.Usage.TotalTokens}
		}
		for _, c := range chunk.Choices {
			d := Delta{Content: c.Delta.Content, Reasoning: c.Delta.ReasoningContent}
			if d.Content != "" || d.Reasoning != "" {
				if !emitted {
					res.TimeToFirstToken = p.cfg.Now().Sub(start)
					emitted = true
				}
				onDelta(d)
			}
			if c.FinishReason != "" {
				res.FinishReason = string(c.FinishReason)
			}
		}
	}
	// go-openai reports a bare close and a proper [DONE] alike, as io.EOF. Only a finish reason
	// or the usage chunk says the model finished.
	if res.FinishReason == "" && !gotUsage {
		return emitted, Interrupted, errEndedEarly
	}
	return emitted, Complete, nil
}

var errEndedEarly = errors.New("the stream ended without a finish reason")

// retryable reports whether a failed attempt may succeed if made again: a 429 or 5xx, an
// error event without a client-error status, or no answer at all (refused, reset, cut off).
func retryable(err error) bool {
	if code := statusCode(err); code != 0 {
		return code == http.StatusTooManyRequests || code >= 500
	}
	var e *errs.Error
	return !errors.As(err, &e) // an idle timeout already waited long enough
}

func statusCode(err error) int {
	var apiErr *openai.APIError
	if errors.As(err, &apiErr) {
		return apiErr.HTTPStatusCode
	}
	var reqErr *openai.RequestError
	if errors.As(err, &reqErr) {
		return reqErr.HTTPStatusCode
	}
	return 0
}

var (
	htmlTags   = regexp.MustCompile(`(?s)<script.*?</script>|<style.*?</style>|<[^>]*>`)
	whitespace = regexp.MustCompile(`\s+`)
)

// keyLike matches what looks like a credential in an endpoint's error text: some gateways
// repeat the key they were sent.
var keyLike = regexp.MustCompile(`(?i)\b(sk|mnt|key)[-_][A-Za-z0-9_\-]{8,}|bearer\s+\S+`)

// describe turns an endpoint's refusal into a message a trainer can act on, including a
// proxy's HTML error page reduced to its text, with anything like a key removed.
func describe(err error, attempts int, apiKey string) error {
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	// tried adds the number of attempts to what the trainer reads, when there was more than one.
	tried := func(e *errs.Error) error {
		if attempts > 1 {
			return errs.Wrap(errs.Unavailable, e.Err, "%s (after %d attempts)", e, attempts)
		}
		return e
	}
	scrub := func(s string) string {
		if apiKey != "" {
			s = strings.ReplaceAll(s, apiKey, "[key]")
		}
		return keyLike.ReplaceAllString(s, "[key]")
	}
	if errors.Is(err, errEndedEarly) {
		return tried(errs.Wrap(errs.Unavailable, err, "the stream ended without a finish reason"))
	}
	var apiErr *openai.APIError
	if errors.As(err, &apiErr) {
		if apiErr.HTTPStatusCode == 0 {
			return tried(errs.Wrap(errs.Unavailable, errors.New(scrub(err.Error())),
				"the model reported an error mid-stream: %s", scrub(apiErr.Message)))
		}
		return tried(errs.Wrap(errs.Unavailable, errors.New(scrub(err.Error())),
			"the model endpoint answered %d: %s", apiErr.HTTPStatusCode, scrub(apiErr.Message)))
	}
	var reqErr *openai.RequestError
	if errors.As(err, &reqErr) {
		body := scrub(strings.TrimSpace(whitespace.ReplaceAllString(htmlTags.ReplaceAllString(string(reqErr.Body), " "), " ")))
		if r := []rune(body); len(r) > 160 {
			body = string(r[:160]) + "…"
		}
		return tried(errs.Wrap(errs.Unavailable, errors.New(scrub(err.Error())),
			"the model endpoint answered %s with a non-JSON body: %q", reqErr.HTTPStatus, body))
	}
	return tried(errs.Wrap(errs.Unavailable, errors.New(scrub(err.Error())), "the stream broke off or the endpoint could not be reached"))
}

// backoff is exponential with "equal jitter" (half fixed, half random), so many clients
// retrying at once spread out.
func backoff(base time.Duration, attempt int) time.Duration {
	d := base << min(attempt-1, 6)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
