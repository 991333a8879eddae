package live

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/generation"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/llm"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/render"
	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/rlhf"
)

// pipe is a Transport with no network under it: the test writes the client's messages into
// in and reads what the engine sends, decoded as a client would, from out.
type pipe struct {
	in     chan []byte
	out    chan map[string]any
	closed chan struct{}
	once   sync.Once
}

func newPipe() *pipe {
	return &pipe{in: make(chan []byte), out: make(chan map[string]any, 1024), closed: make(chan struct{})}
}

func (p *pipe) ReadMessage() (int, []byte, error) {
	select {
	case b := <-p.in:
		return websocket.TextMessage, b, nil
	case <-p.closed:
		return 0, nil, io.EOF
	}
}

func (p *pipe) WriteJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return p.WriteMessage(websocket.TextMessage, b)
}

// WriteMessage takes text messages as the client gets them (pings carry no data and are
// dropped).
func (p *pipe) WriteMessage(typ int, b []byte) error {
	if typ != websocket.TextMessage {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	select {
	case p.out <- m:
		return nil
	case <-p.closed:
		return io.ErrClosedPipe
	}
}

func (p *pipe) WriteControl(int, []byte, time.Time) error {
	p.Close()
	return nil
}
func (p *pipe) SetReadLimit(int64)                  {}
func (p *pipe) SetReadDeadline(time.Time) error     { return nil }
func (p *pipe) SetWriteDeadline(time.Time) error    { return nil }
func (p *pipe) SetPongHandler(func(string) error)   {}
func (p *pipe) Close() error                        { p.once.Do(func() { close(p.closed) }); return nil }
func (p *pipe) send(t *testing.T, v map[string]any) { b, _ := json.Marshal(v); p.in <- b }
func (p *pipe) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case ev := <-p.out:
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no event within 30s")
		return nil
	}
}

// startEngine runs an engine until the test ends. Its saves and leases go through pool; the
// prompts and accounts it reads, and those the test seeds, through direct (the same pool,
// unless a test cuts only the live store's connection). The engine's one model, m1, is the
// upstream at upstreamURL. It returns the engine with a persona answering on m1 and an
// admin's session cookie.
func startEngine(t *testing.T, pool, direct *pgxpool.Pool, upstreamURL, projectName string, cfg Config) (e *Engine, persona prompts.Persona, admin auth.User, cookie string) {
	t.Helper()
	ctx := context.Background()
	env := map[string]string{"OPENAI_BASE_URL": upstreamURL, "OPENAI_API_KEY": "sk-test", "MENTOR_OPENAI_MODELS": "m1"}
	models, err := llm.NewRegistry(ctx, llm.RegistryConfig{Getenv: func(k string) string { return env[k] }})
	require.NoError(t, err)
	ps, rs, as := prompts.NewStore(direct), retrieval.NewStore(direct, nil, nil), auth.NewStore(direct, nil)
	cfg.Sessions = auth.SessionLimits{Idle: time.Hour, Absolute: time.Hour}
	e, err = New(Deps{Logger: slog.New(slog.DiscardHandler), Pool: pool, Auth: as, Store: rlhf.NewStore(pool), Prompts: ps, Models: models,
		Generator: generation.New(rs, models, nil), Renderer: render.New(),
		Decode: func(raw []byte, v any) error { return json.Unmarshal(raw, v) }, CheckNUL: func([]byte) error { return nil }}, cfg)
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); e.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	project, err := ps.CreateProject(ctx, prompts.Project{Name: projectName})
	require.NoError(t, err)
	persona, err = ps.CreatePersona(ctx, prompts.Persona{ProjectID: project.ID, Name: "助手", Kind: prompts.DomainAssistant})
	require.NoError(t, err)
	_, err = ps.PublishVersion(ctx, persona.ID, prompts.Version{Template: "你是{{.Persona.Name}}", Model: "m1",
		Temperature: 0.3, TopP: 1, MaxTokens: 100, Author: "t", CorpusIDs: []int64{}})
	require.NoError(t, err)
	admin, err = as.CreateUser(ctx, auth.NewUser{Login: "root", DisplayName: "管理员", Password: "correct horse battery", IsAdmin: true})
	require.NoError(t, err)
	cookie, _, err = as.CreateSession(ctx, admin.ID, "127.0.0.1", "test", cfg.Sessions)
	require.NoError(t, err)
	return e, persona, admin, cookie
}

// TestAnEngineRunsATurnWithoutHTTP: the engine is driven through a Transport and a Caller
// only, with no gin and no HTTP server of its own: a generate streams a candidate from an
// OpenAI-compatible upstream to the end, and the database holds it complete, streamed by this
// replica.
func TestAnEngineRunsATurnWithoutHTTP(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, piece := range []string{"免税额", "是50元。"} {
			fmt.Fprintf(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":%q}}]}\n\n", piece)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(upstream.Close)
	pool := pgtest.Pool(t)
	ctx := context.Background()
	e, persona, admin, cookie := startEngine(t, pool, pool, upstream.URL, "无 HTTP",
		Config{Replica: "replica-t", Lease: 10 * time.Second, Sweep: time.Hour, Check: time.Hour})
	p := newPipe()
	served := make(chan struct{})
	go func() {
		defer close(served)
		e.Serve(ctx, p, Caller{User: admin, Lang: "zh-CN", Credential: auth.Credential{Session: cookie}})
	}()
	p.send(t, map[string]any{"type": "generate", "id": "g", "persona_id": persona.ID, "message": "免税额是多少？",
		"plan": []any{map[string]any{"prompt_version": 1, "model": "m1"}}})
	turn := p.next(t)
	require.Equal(t, "turn", turn["type"], turn)
	var text strings.Builder
	var last map[string]any
	for last == nil {
		switch ev := p.next(t); ev["type"] {
		case "delta":
			text.WriteString(ev["content"].(string))
		case "done":
			last = ev
		case "error":
			t.Fatalf("error event: %v", ev)
		}
	}
	assert.Equal(t, "complete", last["status"], last)
	assert.Equal(t, "免税额是50元。", text.String())

	st, err := rlhf.NewStore(pool).Turn(ctx, int64(turn["turn_id"].(float64)))
	require.NoError(t, err)
	assert.Equal(t, rlhf.StatusComplete, st.Candidates[0].Status)
	assert.Equal(t, "免税额是50元。", st.Candidates[0].Content)
	assert.Equal(t, "replica-t", st.Candidates[0].Owner)
	p.Close()
	<-served
}
