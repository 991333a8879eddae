package llm

import (
	"context"
	"errors"
	"fmt"
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

	MaxRetries int           // retries before the first token; default 3
	RetryBase  time.Duration // first backoff; doubles each retry, with jitter; default 500ms
	Now        func() time.Time
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
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 3
	}
	if cfg.RetryBase == 0 {
		cfg.RetryBase = 500 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &OpenAI{client: openai.NewClientWithConfig(c), cfg: cfg}
}

// Stream implements Provider. It retries 429 and 5xx answers and connection failures, but
// only before the first token: after that, a retry would duplicate text the trainer has seen.
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
	finish := func(st Status, err error) (Result, error) {
		res.Status, res.Duration = st, p.cfg.Now().Sub(start)
		return res, err
	}

	var stream *openai.ChatCompletionStream
	for {
		res.Attempts++
		var err error
		stream, err = p.client.CreateChatCompletionStream(ctx, creq)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return finish(Cancelled, ctx.Err())
		}
		if !retryable(err) || res.Attempts > p.cfg.MaxRetries {
			return finish(Failed, describe(err, res.Attempts))
		}
		if err := sleep(ctx, backoff(p.cfg.RetryBase, res.Attempts)); err != nil {
			return finish(Cancelled, err)
		}
	}
	defer stream.Close()

	gotUsage := false
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return finish(Cancelled, ctx.Err())
			}
			var apiErr *openai.APIError
			if errors.As(err, &apiErr) {
				return finish(Failed, &errs.Error{Kind: errs.Unavailable, Message: "the model reported an error mid-stream: " + apiErr.Message, Err: err})
			}
			return finish(Interrupted, &errs.Error{Kind: errs.Unavailable, Message: "the stream broke off", Err: err})
		}
		if chunk.Usage != nil {
			gotUsage = true
			res.Usage = Usage{PromptTokens: chunk.Usage.PromptTokens, CompletionTokens: chunk.Usage.CompletionTokens, TotalTokens: chunk.Usage.TotalTokens}
		}
		for _, c := range chunk.Choices {
			d := Delta{Content: c.Delta.Content, Reasoning: c.Delta.ReasoningContent}
			if d.Content != "" || d.Reasoning != "" {
				if res.TimeToFirstToken == 0 {
					res.TimeToFirstToken = p.cfg.Now().Sub(start)
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
		return finish(Interrupted, errs.E(errs.Unavailable, "the stream ended without a finish reason"))
	}
	return finish(Complete, nil)
}

// retryable reports whether a failed request may succeed if sent again.
func retryable(err error) bool {
	if code := statusCode(err); code != 0 {
		return code == http.StatusTooManyRequests || code >= 500
	}
	// No HTTP status: the request never got an answer (refused, reset, timed out).
	return true
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

// describe turns an endpoint's refusal into a message a trainer can act on, including a
// proxy's HTML error page reduced to its text.
func describe(err error, attempts int) error {
	tries := ""
	if attempts > 1 {
		tries = fmt.Sprintf(" (after %d attempts)", attempts)
	}
	var apiErr *openai.APIError
	if errors.As(err, &apiErr) {
		return &errs.Error{Kind: errs.Unavailable, Err: err,
			Message: fmt.Sprintf("the model endpoint answered %d: %s%s", apiErr.HTTPStatusCode, apiErr.Message, tries)}
	}
	var reqErr *openai.RequestError
	if errors.As(err, &reqErr) {
		body := strings.TrimSpace(whitespace.ReplaceAllString(htmlTags.ReplaceAllString(string(reqErr.Body), " "), " "))
		if r := []rune(body); len(r) > 160 {
			body = string(r[:160]) + "…"
		}
		return &errs.Error{Kind: errs.Unavailable, Err: err,
			Message: fmt.Sprintf("the model endpoint answered %s with a non-JSON body: %q%s", reqErr.HTTPStatus, body, tries)}
	}
	return &errs.Error{Kind: errs.Unavailable, Err: err, Message: "cannot reach the model endpoint" + tries}
}

// backoff is exponential with full jitter, so many clients retrying at once spread out.
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
