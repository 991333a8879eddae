// Package llm reaches language models. Every model is an OpenAI-compatible endpoint reached
// through go-openai (OpenAI, DeepSeek, Qwen, vLLM, Ollama, llama.cpp server), except the
// offline baseline: an extractive, retrieval-grounded responder that needs no network and is
// always labelled as a baseline, never as an LLM.
package llm

import (
	"context"
	"time"
)

// Message is one turn of a chat.
type Message struct {
	Role    string `json:"role"` // system, user or assistant
	Content string `json:"content"`
}

// Passage is retrieved knowledge given to a reply, numbered for citation as [N].
type Passage struct {
	N     int
	Title string
	Text  string
}

// Request asks a model for one reply.
type Request struct {
	Messages    []Message // the rendered system prompt first, then the conversation
	Temperature float32
	TopP        float32
	MaxTokens   int
	Seed        int64 // for providers that honour one; the baseline always does

	// For the offline baseline, which cannot read a system prompt: the passages to answer
	// from, and the prompt version's opening and closing lines in the persona's voice.
	Passages []Passage
	Opening  string
	Closing  string
	Locale   string
}

// Delta is a piece of a streaming reply: answer text, or reasoning kept apart from it.
type Delta struct {
	Content   string `json:"content,omitempty"`
	Reasoning string `json:"reasoning,omitempty"`
}

// Status is how a stream ended.
type Status string

// The statuses.
const (
	Complete    Status = "complete"    // a finish reason or the usage chunk arrived
	Interrupted Status = "interrupted" // the stream ended without saying it was finished
	Failed      Status = "failed"      // the endpoint refused or reported an error
	Cancelled   Status = "cancelled"   // the caller's context ended first
)

// Usage counts tokens as the endpoint reported them.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Result describes a finished stream, whatever its status. It is filled in even when Stream
// returns an error, so partial replies keep their timings.
type Result struct {
	Status           Status
	FinishReason     string
	Usage            Usage
	TimeToFirstToken time.Duration // zero if no token arrived
	Duration         time.Duration
	Attempts         int // requests made, retries included
}

// Provider streams replies from one model.
type Provider interface {
	// Stream sends the reply's pieces to onDelta, in order, from the calling goroutine, and
	// returns when the stream ends. The error is nil exactly when the status is Complete.
	Stream(ctx context.Context, req Request, onDelta func(Delta)) (Result, error)
}
