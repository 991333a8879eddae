package llm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/llm"
)

func chunk(content, reasoning, finish string) string {
	delta := map[string]any{}
	if content != "" {
		delta["content"] = content
	}
	if reasoning != "" {
		delta["reasoning_content"] = reasoning
	}
	var fr any
	if finish != "" {
		fr = finish
	}
	b, _ := json.Marshal(map[string]any{"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
		"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": fr}}})
	return "data: " + string(b) + "\n\n"
}

const usageChunk = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}` + "\n\n"

// upstream is an OpenAI-compatible server whose every answer is scripted by the test.
type upstream struct {
	*httptest.Server
	calls    atomic.Int32
	lastBody atomic.Value // map[string]any
	lastAuth atomic.Value // string
}

func newUpstream(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, call int)) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(u.calls.Add(1))
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		u.lastBody.Store(body)
		u.lastAuth.Store(r.Header.Get("Authorization"))
		answer(w, r, n)
	}))
	t.Cleanup(u.Close)
	return u
}

func streamHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
}

func write(w http.ResponseWriter, parts ...string) {
	for _, p := range parts {
		io.WriteString(w, p)
		w.(http.Flusher).Flush()
	}
}

type collected struct {
	content, reasoning strings.Builder
	deltas             int
}

func (c *collected) add(d llm.Delta) {
	c.content.WriteString(d.Content)
	c.reasoning.WriteString(d.Reasoning)
	c.deltas++
}

func provider(u *upstream) *llm.OpenAI {
	return llm.NewOpenAI(llm.OpenAIConfig{BaseURL: u.URL + "/v1", APIKey: "sk-test", RemoteName: "remote-model",
		MaxRetries: 3, RetryBase: time.Millisecond})
}

var request = llm.Request{Messages: []llm.Message{{Role: "system", Content: "你是助手"}, {Role: "user", Content: "你好"}},
	Temperature: 0.3, TopP: 0.9, MaxTokens: 64, Seed: 7}

func TestOpenAIStreams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		answer        func(w http.ResponseWriter, r *http.Request, call int)
		wantStatus    llm.Status
		wantContent   string
		wantReasoning string
		wantFinish    string
		wantUsage     llm.Usage
		wantAttempts  int
		wantErr       []string // substrings of the error; none when the stream completes
	}{
		{
			name: "normal stream with usage chunk",
			answer: func(w http.ResponseWriter, _ *http.Request, _ int) {
				streamHeaders(w)
				write(w, chunk("你", "", ""), chunk("好！", "", ""), chunk("", "", "stop"), usageChunk, "data: [DONE]\n\n")
			},
			wantStatus: llm.Complete, wantContent: "你好！", wantFinish: "stop", wantAttempts: 1,
			wantUsage: llm.Usage{PromptTokens: 12, CompletionTokens: 3, TotalTokens: 15},
		},
		{
			name: "usage chunk without a finish reason still completes",
			answer: func(w http.ResponseWriter, _ *http.Request, _ int) {
				streamHeaders(w)
				write(w, chunk("ok", "", ""), usageChunk, "data: [DONE]\n\n")
			},
			wantStatus: llm.Complete, wantContent: "ok", wantAttempts: 1,
			wantUsage: llm.Usage{PromptTokens: 12, CompletionTokens: 3, TotalTokens: 15},
		},
		{
			name: "data lines without a space and keep-alive comments",
			answer: func(w http.ResponseWriter, _ *http.Request, _ int) {
				streamHeaders(w)
				write(w, ": keep-alive\n\n", strings.Replace(chunk("A", "", ""), "data: ", "data:", 1), ": keep-alive\n\n", ": ping\n\n",
					strings.Replace(chunk("B", "", "length"), "data: ", "data:", 1), "data:[DONE]\n\n")
			},
			wantStatus: llm.Complete, wantContent: "AB", wantFinish: "length", wantAttempts: 1,
		},
		{
			name: "reasoning deltas are kept apart from the answer",
			answer: func(w http.ResponseWriter, _ *http.Request, _ int) {
				streamHeaders(w)
				write(w, chunk("", "先想一想。", ""), chunk("", "再确认。", ""), chunk("答案是 42", "", ""), chunk("", "", "stop"), "data: [DONE]\n\n")
			},
			wantStatus: llm.Complete, wantContent: "答案是 42", wantReasoning: "先想一想。再确认。", wantFinish: "stop", wantAttempts: 1,
		},
		{
			name: "a mid-stream error event fails the stream and keeps what came before",
			answer: func(w http.ResponseWriter, _ *http.Request, _ int) {
				streamHeaders(w)
				write(w, chunk("部分", "", ""), `data: {"error":{"message":"model overloaded","type":"server_error","code":"overloaded"}}`+"\n\n")
			},
			wantStatus: llm.Failed, wantContent: "部分", wantAttempts: 1, wantErr: []string{"model overloaded"},
		},
		{
			name: "a close without [DONE] or a finish reason is interrupted, never complete",
			answer: func(w http.ResponseWriter, _ *http.Request, _ int) {
				streamHeaders(w)
				write(w, chunk("half a rep", "", ""))
			},
			wantStatus: llm.Interrupted, wantContent: "half a rep", wantAttempts: 1, wantErr: []string{"without a finish reason"},
		},
		{
			name: "a finish reason then a bare close is complete",
			answer: func(w http.ResponseWriter, _ *http.Request, _ int) {
				streamHeaders(w)
				write(w, chunk("done", "", "stop"))
			},
			wantStatus: llm.Complete, wantContent: "done", wantFinish: "stop", wantAttempts: 1,
		},
		{
			name: "429 then success is retried before the first token",
			answer: func(w http.ResponseWriter, _ *http.Request, call int) {
				if call == 1 {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusTooManyRequests)
					io.WriteString(w, `{"error":{"message":"rate limited","type":"rate_limit"}}`)
					return
				}
				streamHeaders(w)
				write(w, chunk("second try", "", "stop"), "data: [DONE]\n\n")
			},
			wantStatus: llm.Complete, wantContent: "second try", wantFinish: "stop", wantAttempts: 2,
		},
		{
			name: "502 with an HTML body fails after bounded retries, with readable text",
			answer: func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusBadGateway)
				io.WriteString(w, "<html><head><title>502 Bad Gateway</title><style>body{color:red}</style></head><body><h1>Bad Gateway</h1><p>nginx</p></body></html>")
			},
			wantStatus: llm.Failed, wantAttempts: 4,
			wantErr: []string{"502 Bad Gateway", "non-JSON body", "Bad Gateway nginx", "after 4 attempts"},
		},
		{
			name: "an error event before any text is retried",
			answer: func(w http.ResponseWriter, _ *http.Request, call int) {
				streamHeaders(w)
				if call == 1 {
					write(w, `data: {"error":{"message":"overloaded","type":"server_error"}}`+"\n\n")
					return
				}
				write(w, chunk("ok", "", "stop"), "data: [DONE]\n\n")
			},
			wantStatus: llm.Complete, wantContent: "ok", wantFinish: "stop", wantAttempts: 2,
		},
		{
			name: "a close before any text is retried",
			answer: func(w http.ResponseWriter, _ *http.Request, call int) {
				streamHeaders(w)
				if call > 1 {
					write(w, chunk("second time", "", "stop"))
				}
			},
			wantStatus: llm.Complete, wantContent: "second time", wantFinish: "stop", wantAttempts: 2,
		},
		{
			name: "an echoed key is scrubbed from the message",
			answer: func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"error":{"message":"Incorrect API key provided: sk-test and also sk-proj-ABCDEFGHIJKLMNOP","type":"auth"}}`)
			},
			wantStatus: llm.Failed, wantAttempts: 1, wantErr: []string{"401", "Incorrect API key provided: [key] and also [key]"},
		},
		{
			name: "400 is not retried",
			answer: func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"error":{"message":"max_tokens is too large","type":"invalid_request_error"}}`)
			},
			wantStatus: llm.Failed, wantAttempts: 1, wantErr: []string{"400", "max_tokens is too large"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := newUpstream(t, tt.answer)
			var got collected
			res, err := provider(u).Stream(context.Background(), request, got.add)
			assert.Equal(t, tt.wantStatus, res.Status)
			assert.Equal(t, tt.wantContent, got.content.String())
			assert.Equal(t, tt.wantReasoning, got.reasoning.String())
			assert.Equal(t, tt.wantFinish, res.FinishReason)
			assert.Equal(t, tt.wantAttempts, res.Attempts)
			assert.Equal(t, tt.wantAttempts, int(u.calls.Load()))
			if tt.wantUsage != (llm.Usage{}) {
				assert.Equal(t, tt.wantUsage, res.Usage)
			}
			if len(tt.wantErr) == 0 {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
				assert.Equal(t, errs.Unavailable, errs.KindOf(err))
				shown := errs.Message(err)
				for _, w := range tt.wantErr {
					assert.Contains(t, shown, w)
				}
				assert.NotContains(t, shown, "<h1>")
			}
			if got.deltas > 0 {
				assert.Positive(t, res.TimeToFirstToken)
				assert.GreaterOrEqual(t, res.Duration, res.TimeToFirstToken)
			}
		})
	}
}

func TestOpenAISendsTheRequestAsConfigured(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		streamHeaders(w)
		write(w, chunk("x", "", "stop"), "data: [DONE]\n\n")
	})
	_, err := provider(u).Stream(context.Background(), request, func(llm.Delta) {})
	require.NoError(t, err)
	body := u.lastBody.Load().(map[string]any)
	assert.Equal(t, "remote-model", body["model"])
	assert.Equal(t, true, body["stream"])
	assert.Equal(t, map[string]any{"include_usage": true}, body["stream_options"])
	assert.InDelta(t, 0.3, body["temperature"], 1e-6)
	assert.InDelta(t, 0.9, body["top_p"], 1e-6)
	assert.EqualValues(t, 64, body["max_tokens"])
	assert.EqualValues(t, 7, body["seed"])
	assert.Len(t, body["messages"], 2)
	assert.Equal(t, "Bearer sk-test", u.lastAuth.Load())
}

// TestOpenAICancelledMidStream stops a slow stream half-way. The upstream never sends its
// next chunk until the test ends, so Stream can only return by honouring the cancellation.
func TestOpenAICancelledMidStream(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		streamHeaders(w)
		write(w, chunk("第一段", "", ""))
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	var got collected
	done := make(chan struct{})
	var res llm.Result
	var err error
	go func() {
		defer close(done)
		res, err = provider(u).Stream(ctx, request, func(d llm.Delta) {
			got.add(d)
			cancel() // the trainer presses stop after the first piece
		})
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Stream did not return after its context was cancelled")
	}
	assert.Equal(t, llm.Cancelled, res.Status)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, "第一段", got.content.String())
}

func TestOpenAICancelledWhileBackingOff(t *testing.T) {
	t.Parallel()
	answered := make(chan struct{})
	u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "busy")
		w.(http.Flusher).Flush()
		close(answered) // only one request may ever come: the retry waits an hour
	})
	p := llm.NewOpenAI(llm.OpenAIConfig{BaseURL: u.URL, RemoteName: "m", MaxRetries: 5, RetryBase: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-answered
		time.Sleep(20 * time.Millisecond) // let the client read the 503 and start its backoff
		cancel()
	}()
	res, err := p.Stream(ctx, request, func(llm.Delta) {})
	assert.Equal(t, llm.Cancelled, res.Status)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, res.Attempts)
}

func TestOpenAIIdleStreamIsInterrupted(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		streamHeaders(w)
		write(w, chunk("开头", "", ""))
		select { // then nothing at all
		case <-release:
		case <-r.Context().Done():
		}
	})
	p := llm.NewOpenAI(llm.OpenAIConfig{BaseURL: u.URL, RemoteName: "m", IdleTimeout: 50 * time.Millisecond})
	var got collected
	res, err := p.Stream(context.Background(), request, got.add)
	assert.Equal(t, llm.Interrupted, res.Status)
	assert.Equal(t, "开头", got.content.String())
	assert.Contains(t, errs.Message(err), "the model sent nothing for 50ms")
	assert.Equal(t, 1, res.Attempts, "text was sent on, so no retry")
}

func TestOpenAIRetriesCanBeTurnedOff(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	p := llm.NewOpenAI(llm.OpenAIConfig{BaseURL: u.URL, RemoteName: "m", MaxRetries: -1})
	res, err := p.Stream(context.Background(), request, func(llm.Delta) {})
	require.Error(t, err)
	assert.Equal(t, 1, res.Attempts)
	assert.EqualValues(t, 1, u.calls.Load())
}
