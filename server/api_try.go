package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/generation"
	"github.com/mentor-ai/mentor/live"
	"github.com/mentor-ai/mentor/llm"
)

type tryInput struct {
	Message string        `json:"message"`
	Locale  string        `json:"locale"`
	Model   string        `json:"model"` // optional: the version's model otherwise
	Seed    int64         `json:"seed"`
	History []llm.Message `json:"history"` // earlier turns, user and assistant
}

func (in tryInput) validate() error {
	if err := live.CheckUserTurn(in.Message, in.Locale); err != nil {
		return err
	}
	if len(in.History) > 100 {
		return errs.Field("history", "at most 100 turns, got %d", len(in.History))
	}
	for i, m := range in.History {
		if m.Role != "user" && m.Role != "assistant" {
			return errs.Field(fmt.Sprintf("history[%d].role", i), "must be user or assistant, got %q", m.Role)
		}
	}
	return nil
}

// tryEvent names are the SSE event types the try endpoint sends, in this order: meta once,
// delta any number of times, done once.
type tryMeta struct {
	Model            string `json:"model"`
	Baseline         bool   `json:"baseline"`
	SystemPromptHash string `json:"system_prompt_hash"`
	Passages         any    `json:"passages"`
}

type tryDone struct {
	Status       llm.Status `json:"status"`
	FinishReason string     `json:"finish_reason,omitempty"`
	Usage        llm.Usage  `json:"usage"`
	TTFTMillis   int64      `json:"time_to_first_token_ms"`
	TotalMillis  int64      `json:"duration_ms"`
	Error        string     `json:"error,omitempty"`
	// HTML is the reply's markdown rendered and sanitised by the server (package render):
	// while streaming the UI shows text; once done, this.
	HTML string `json:"html"`
}

// handleTry streams one reply from a prompt version as server-sent events, so an author can
// try a version before trainers meet it. Errors found before streaming are ordinary JSON
// errors; a failure mid-stream arrives in the done event.
func handleTry(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		persona := personaOf(c)
		version, err := versionParam(c, d, persona.ID)
		if err != nil {
			return err
		}
		var in tryInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		if err := in.validate(); err != nil {
			return err
		}
		release, err := d.Engine.Gate().Acquire(ctx, principalOf(c).user.ID)
		if err != nil {
			return err
		}
		defer release()
		prepared, err := d.Generator.Prepare(ctx, generation.Plan{
			Persona: persona, Version: version, Model: in.Model, Seed: in.Seed, Locale: in.Locale,
			History: append(in.History, llm.Message{Role: "user", Content: in.Message}),
		})
		if err != nil {
			return err
		}

		w := c.Writer
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Accel-Buffering", "no") // nginx would otherwise hold the stream
		w.WriteHeader(http.StatusOK)
		send := func(event string, v any) {
			b, _ := json.Marshal(v)
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
			w.Flush()
		}
		send("meta", tryMeta{Model: prepared.Model.Name, Baseline: prepared.Model.Baseline,
			SystemPromptHash: prepared.SystemPromptHash, Passages: prepared.Passages})
		var reply strings.Builder
		res, err := prepared.Provider.Stream(ctx, prepared.Request, func(delta llm.Delta) {
			reply.WriteString(delta.Content)
			send("delta", delta)
		})
		done := tryDone{Status: res.Status, FinishReason: res.FinishReason, Usage: res.Usage,
			TTFTMillis: res.TimeToFirstToken.Milliseconds(), TotalMillis: res.Duration.Milliseconds(),
			HTML: d.renderer.Markdown(reply.String())}
		if err != nil && res.Status != llm.Cancelled {
			done.Error = errs.Localize(err, requestLang(c.Request)) // with its field: none travels beside it
			d.Logger.WarnContext(ctx, "generation ended early", "model", prepared.Model.Name, "status", res.Status, "err", err)
		}
		if ctx.Err() == nil {
			send("done", done)
		}
		return nil
	}
}
