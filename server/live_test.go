package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/prompts/demo"
	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/rlhf"
)

// model is an OpenAI-compatible upstream for live-session tests. Each candidate's text names
// the model, so interleaving and content can be checked; pause sets the pace.
type model struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls []map[string]any
	// fickleDown makes "fickle" refuse every request (400, before any token) while set.
	fickleDown atomic.Bool
}

// newModels serves several models: "steady" (20 pieces, 10 ms apart), "slow" (200 pieces,
// 20 ms apart) and "flaky" (3 pieces, then an error event).
func newModels(t *testing.T) *model {
	t.Helper()
	m := &model{}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		m.mu.Lock()
		m.calls = append(m.calls, body)
		m.mu.Unlock()
		name := body["model"].(string)
		if name == "fickle" && m.fickleDown.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"message":"the model fickle is loading","type":"invalid_request_error"}}`)
			return
		}
		pieces, pause := 20, 10*time.Millisecond
		switch name {
		case "slow":
			pieces, pause = 200, 20*time.Millisecond
		case "flaky":
			pieces = 3
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range pieces {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(pause):
			}
			fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s%d \"}}]}\n\n", name, i)
			w.(http.Flusher).Flush()
		}
		if name == "flaky" {
			fmt.Fprint(w, "data: {\"error\":{\"message\":\"upstream overloaded\",\"type\":\"server_error\"}}\n\n")
			return
		}
		fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(m.srv.Close)
	return m
}

// liveWorld is a server with the demo project, the test models and the customs persona.
type liveWorld struct {
	fixture
	models  *model
	persona prompts.Persona
}

func newLiveWorld(t *testing.T) liveWorld {
	t.Helper()
	return newLiveWorldWith(t, options{})
}

// newLiveWorldWith is newLiveWorld with fixture options (a database behind a proxy, say).
func newLiveWorldWith(t *testing.T, o options) liveWorld {
	t.Helper()
	m := newModels(t)
	o.env = map[string]string{"OPENAI_BASE_URL": m.srv.URL, "MENTOR_OPENAI_MODELS": "steady,slow,flaky,fickle"}
	f := newFixture(t, discardLogger(), o)
	ps := prompts.NewStore(f.pool)
	sum, err := demo.Load(context.Background(), ps, retrieval.NewStore(f.pool, nil, nil), f.models.Has)
	require.NoError(t, err)
	personas, err := ps.Personas(context.Background(), sum.Project.ID)
	require.NoError(t, err)
	for _, p := range personas {
		if p.Slug == "customs-helper" {
			return liveWorld{fixture: f, models: m, persona: p}
		}
	}
	t.Fatal("no customs persona")
	return liveWorld{}
}

// socket is a test websocket client that keeps every event it reads.
type socket struct {
	t    *testing.T
	conn *websocket.Conn
}

func (w liveWorld) socket(t *testing.T, c *client) *socket {
	return &socket{t: t, conn: dialWS(t, w.fixture, c, "")}
}

func (s *socket) send(v any) {
	s.t.Helper()
	require.NoError(s.t, s.conn.WriteJSON(v))
}

func (s *socket) next() map[string]any {
	s.t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	var ev map[string]any
	require.NoError(s.t, s.conn.ReadJSON(&ev))
	return ev
}

// until reads events until stop returns true for one, and returns them all.
func (s *socket) until(stop func(map[string]any) bool) []map[string]any {
	s.t.Helper()
	var out []map[string]any
	for {
		ev := s.next()
		out = append(out, ev)
		if stop(ev) {
			return out
		}
	}
}

// allDone is a stop condition: every candidate of the turn has sent done.
func allDone(n int) func(map[string]any) bool {
	done := 0
	return func(ev map[string]any) bool {
		if ev["type"] == "done" || ev["type"] == "snapshot" {
			done++
		}
		return done == n
	}
}

func id(v any) int64 { return int64(v.(float64)) }

// byCandidate groups candidate events, checking that each candidate's sequence numbers run
// 1, 2, 3… with no gap and no repeat, and returns each candidate's streamed text.
func byCandidate(t *testing.T, events []map[string]any) map[int64]string {
	t.Helper()
	last := map[int64]int64{}
	text := map[int64]string{}
	for _, ev := range events {
		if ev["candidate_id"] == nil || ev["type"] == "error" {
			continue
		}
		c := id(ev["candidate_id"])
		seq := id(ev["seq"])
		if ev["type"] == "snapshot" {
			// A finished candidate's log is compacted: one snapshot, numbered as its done,
			// holds the whole reply and stands for every event up to it.
			require.Greater(t, seq, last[c], "candidate %d: a snapshot never goes back", c)
			last[c], text[c] = seq, ev["content"].(string)
			continue
		}
		require.Equal(t, last[c]+1, seq, "candidate %d: sequence numbers run on without gaps or repeats", c)
		last[c] = seq
		if ev["type"] == "delta" {
			text[c] += ev["content"].(string)
		}
	}
	return text
}

func (w liveWorld) generate(plan ...map[string]any) map[string]any {
	return map[string]any{"type": "generate", "id": "g1", "persona_id": w.persona.ID, "message": "个人邮寄进境物品的免税额是多少？", "plan": plan}
}

func TestLiveTurnStreamsCandidatesSideBySide(t *testing.T) {
	t.Parallel()
	w := newLiveWorld(t)
	trainer := w.member(t, "trainer1", w.persona.ProjectID, "trainer")
	s := w.socket(t, trainer)
	s.send(w.generate(
		map[string]any{"prompt_version": 1, "model": "steady"},
		map[string]any{"prompt_version": 2, "model": "steady"},
		map[string]any{"prompt_version": 1, "model": "baseline-extractive"},
	))
	turn := s.next()
	require.Equal(t, "turn", turn["type"], turn)
	assert.Equal(t, "g1", turn["id"])
	cands := turn["candidates"].([]any)
	require.Len(t, cands, 3)
	for i, c := range cands {
		c := c.(map[string]any)
		assert.Equal(t, string(rune('A'+i)), c["label"])
		assert.Nil(t, c["model"], "the demo project ranks blind: no model named to a trainer")
	}

	events := s.until(allDone(3))
	text := byCandidate(t, events)

	// The two steady streams interleave: events switch between them before either ends.
	switches, prev := 0, int64(0)
	for _, ev := range events {
		if ev["type"] == "delta" {
			if c := id(ev["candidate_id"]); c != prev {
				switches++
				prev = c
			}
		}
	}
	assert.Greater(t, switches, 4, "candidates stream side by side")

	st, err := rlhf.NewStore(w.pool).Turn(context.Background(), id(turn["turn_id"]))
	require.NoError(t, err)
	for _, c := range st.Candidates {
		assert.Equal(t, rlhf.StatusComplete, c.Status, "candidate %d", c.ID)
		assert.Equal(t, text[c.ID], c.Content, "what was streamed is what was saved")
		assert.Len(t, c.SystemPromptHash, 64)
		assert.NotEmpty(t, c.PassageIDs, "the passages it was given are recorded")
		assert.NotNil(t, c.TTFTMillis)
	}
	byPlan := map[int]rlhf.Candidate{}
	for _, c := range st.Candidates {
		require.NotNil(t, c.PlanIndex)
		byPlan[*c.PlanIndex] = c
	}
	assert.Equal(t, "steady", byPlan[0].Model)
	assert.True(t, byPlan[2].Baseline)
	for _, ev := range events {
		if ev["type"] == "done" {
			assert.NotEmpty(t, ev["html"], "the finished reply comes rendered")
		}
	}

	// Continue the conversation from the first candidate: the model sees the earlier turn.
	first := cands[0].(map[string]any)
	s.send(map[string]any{"type": "generate", "persona_id": w.persona.ID, "conversation_id": turn["conversation_id"],
		"parent_message_id": first["message_id"], "message": "那超过了怎么办？", "plan": []any{map[string]any{"prompt_version": 1, "model": "steady"}}})
	require.Equal(t, "turn", s.next()["type"])
	s.until(allDone(1))
	w.models.mu.Lock()
	lastCall := w.models.calls[len(w.models.calls)-1]
	w.models.mu.Unlock()
	msgs := lastCall["messages"].([]any)
	require.Len(t, msgs, 4, "system, the first question, the chosen reply, the new question")
	assert.Equal(t, "个人邮寄进境物品的免税额是多少？", msgs[1].(map[string]any)["content"])
	assert.Equal(t, text[id(first["candidate_id"])], msgs[2].(map[string]any)["content"])
	assert.Equal(t, "那超过了怎么办？", msgs[3].(map[string]any)["content"])
}

func TestLiveCancelOneCandidate(t *testing.T) {
	t.Parallel()
	w := newLiveWorld(t)
	s := w.socket(t, w.admin)
	s.send(w.generate(map[string]any{"prompt_version": 1, "model": "slow"}, map[string]any{"prompt_version": 2, "model": "steady"}))
	turn := s.next()
	slow := id(turn["candidates"].([]any)[0].(map[string]any)["candidate_id"])
	cancelled, done := false, 0
	events := s.until(func(ev map[string]any) bool {
		if !cancelled && ev["type"] == "delta" && id(ev["candidate_id"]) == slow {
			s.send(map[string]any{"type": "cancel", "turn_id": turn["turn_id"], "candidate_id": slow})
			cancelled = true
		}
		if ev["type"] == "done" {
			done++
		}
		return done == 2
	})
	byCandidate(t, events)
	st, err := rlhf.NewStore(w.pool).Turn(context.Background(), id(turn["turn_id"]))
	require.NoError(t, err)
	assert.Equal(t, rlhf.StatusCancelled, st.Candidates[0].Status)
	assert.NotEmpty(t, st.Candidates[0].Content, "what came before the cancel is kept")
	assert.Less(t, strings.Count(st.Candidates[0].Content, "slow"), 200, "it stopped early")
	assert.Equal(t, rlhf.StatusComplete, st.Candidates[1].Status, "the other candidate finished")
}

func TestLiveResumeAfterADroppedConnection(t *testing.T) {
	t.Parallel()
	w := newLiveWorld(t)
	s := w.socket(t, w.admin)
	s.send(w.generate(map[string]any{"prompt_version": 1, "model": "steady"}, map[string]any{"prompt_version": 2, "model": "steady"}))
	turn := s.next()
	seen := s.until(func(ev map[string]any) bool { return ev["type"] == "delta" && id(ev["seq"]) >= 5 })
	s.conn.Close() // the trainer's wifi drops; the streams go on

	after := map[string]int64{}
	for _, ev := range seen {
		if ev["seq"] != nil {
			after[fmt.Sprint(id(ev["candidate_id"]))] = id(ev["seq"])
		}
	}
	again := w.socket(t, w.admin)
	again.send(map[string]any{"type": "resume", "turn_id": turn["turn_id"], "after": after})
	rest := again.until(allDone(2))

	all := append(seen, rest...)
	text := byCandidate(t, all) // no gap, no repeat across the two connections
	st, err := rlhf.NewStore(w.pool).Turn(context.Background(), id(turn["turn_id"]))
	require.NoError(t, err)
	for _, c := range st.Candidates {
		assert.Equal(t, rlhf.StatusComplete, c.Status)
		assert.Equal(t, c.Content, text[c.ID], "the client has exactly what was saved")
	}
}

func TestLiveUpstreamFailureFailsOnlyThatCandidate(t *testing.T) {
	t.Parallel()
	w := newLiveWorld(t)
	s := w.socket(t, w.admin)
	s.send(w.generate(map[string]any{"prompt_version": 1, "model": "flaky"}, map[string]any{"prompt_version": 2, "model": "steady"}))
	turn := s.next()
	events := s.until(allDone(2))
	byCandidate(t, events)
	for _, ev := range events {
		if ev["type"] == "done" && id(ev["candidate_id"]) == candidateOfModel(t, turn, "flaky") {
			assert.Equal(t, "failed", ev["status"])
			assert.Contains(t, ev["error"], "upstream overloaded")
		}
	}
	st, err := rlhf.NewStore(w.pool).Turn(context.Background(), id(turn["turn_id"]))
	require.NoError(t, err)
	byModel := map[string]rlhf.Candidate{}
	for _, c := range st.Candidates {
		byModel[c.Model] = c
	}
	assert.Equal(t, rlhf.StatusFailed, byModel["flaky"].Status)
	assert.Equal(t, "flaky0 flaky1 flaky2 ", byModel["flaky"].Content, "the partial reply is kept")
	assert.Equal(t, rlhf.StatusComplete, byModel["steady"].Status)
}

// candidateOfModel finds, in a turn event that names models (as it does for an admin), the
// candidate of model.
func candidateOfModel(t *testing.T, turn map[string]any, model string) int64 {
	t.Helper()
	for _, c := range turn["candidates"].([]any) {
		if c := c.(map[string]any); c["model"] == model {
			return id(c["candidate_id"])
		}
	}
	t.Fatalf("no candidate of %s in %v", model, turn)
	return 0
}

func TestLiveShutdownMidStreamMarksInterrupted(t *testing.T) {
	t.Parallel()
	w := newLiveWorld(t)
	s := w.socket(t, w.admin)
	s.send(w.generate(map[string]any{"prompt_version": 1, "model": "slow"}))
	turn := s.next()
	s.until(func(ev map[string]any) bool { return ev["type"] == "delta" && id(ev["seq"]) >= 4 })

	w.stopHub() // what serve does on SIGTERM

	st, err := rlhf.NewStore(w.pool).Turn(context.Background(), id(turn["turn_id"]))
	require.NoError(t, err)
	c := st.Candidates[0]
	assert.Equal(t, rlhf.StatusInterrupted, c.Status)
	assert.Contains(t, c.Content, "slow0 slow1", "partial content is kept")
	assert.Contains(t, c.Error, "server stopped")

	// And the socket was closed as going away.
	s.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var err2 error
	for err2 == nil {
		_, _, err2 = s.conn.ReadMessage()
	}
	var ce *websocket.CloseError
	require.ErrorAs(t, err2, &ce)
	assert.Equal(t, websocket.CloseGoingAway, ce.Code)
}

func TestLiveCommandsRefuseBadInput(t *testing.T) {
	t.Parallel()
	w := newLiveWorld(t)
	empty, err := prompts.NewStore(w.pool).CreatePersona(context.Background(), prompts.Persona{ProjectID: w.persona.ProjectID, Name: "无版本", Kind: prompts.DigitalHuman})
	require.NoError(t, err)
	viewer := w.member(t, "watcher", w.persona.ProjectID, "viewer")
	tests := []struct {
		name      string
		who       *client
		cmd       map[string]any
		wantCode  string
		wantField string
		wantMsg   string
	}{
		{"too many candidates", w.admin, map[string]any{"type": "generate", "persona_id": w.persona.ID, "message": "你好", "n": 9}, "invalid", "n", "between 1 and 8"},
		{"empty message", w.admin, map[string]any{"type": "generate", "persona_id": w.persona.ID, "message": " "}, "invalid", "message", "must not be empty"},
		{"unknown field", w.admin, map[string]any{"type": "generate", "persona_id": w.persona.ID, "message": "x", "colour": 1}, "invalid", "colour", "unknown field"},
		{"unknown persona", w.admin, map[string]any{"type": "generate", "persona_id": 999999, "message": "你好"}, "not_found", "", "no persona 999999"},
		{"no version yet", w.admin, map[string]any{"type": "generate", "persona_id": empty.ID, "message": "你好"}, "unprocessable", "", "no prompt version yet"},
		{"a version that does not exist", w.admin, w.generate(map[string]any{"prompt_version": 9}), "invalid", "plan[0].prompt_version", "no version 9"},
		{"an unknown model", w.admin, w.generate(map[string]any{"prompt_version": 1, "model": "gpt-9"}), "invalid", "plan[0].model", `unknown model "gpt-9"`},
		{"a viewer may not generate", viewer, map[string]any{"type": "generate", "persona_id": w.persona.ID, "message": "你好"}, "forbidden", "", "your role does not allow"},
		{"a conversation that does not exist", w.admin, map[string]any{"type": "generate", "persona_id": w.persona.ID, "message": "x", "conversation_id": 999999, "parent_message_id": 1}, "invalid", "conversation_id", "no conversation 999999"},
		{"a NUL in the message", w.admin, map[string]any{"type": "generate", "persona_id": w.persona.ID, "message": "你\x00好"}, "unprocessable", "message", ""},
		{"a NUL in a plan's model", w.admin, w.generate(map[string]any{"prompt_version": 1, "model": "ste\x00ady"}), "unprocessable", "plan[0].model", ""},
		{"cancel a turn that is not running", w.admin, map[string]any{"type": "cancel", "turn_id": 424242}, "not_found", "", "no running turn"},
		{"resume a turn that does not exist", w.admin, map[string]any{"type": "resume", "turn_id": 424242}, "not_found", "", "no turn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := w.socket(t, tt.who)
			tt.cmd["id"] = "x1"
			s.send(tt.cmd)
			ev := s.next()
			assert.Equal(t, "error", ev["type"], ev)
			assert.Equal(t, "x1", ev["id"])
			assert.Equal(t, tt.wantCode, ev["code"], ev)
			if tt.wantField != "" {
				assert.Equal(t, tt.wantField, ev["field"], ev)
			}
			assert.Contains(t, ev["message"], tt.wantMsg)
			s.send(map[string]any{"type": "heartbeat", "id": "still-there"})
			assert.Equal(t, "heartbeat", s.next()["type"], "the connection stays open after an error")
		})
	}
	var n int
	require.NoError(t, w.pool.QueryRow(context.Background(), `SELECT count(*) FROM candidates WHERE status = $1`, rlhf.StatusStreaming).Scan(&n))
	assert.Zero(t, n, "no refused command left a candidate behind")
}

// TestStreamingContentIsSavedWhileItStreams: a crash must lose at most about a second, so
// the database holds the partial reply while the candidate is still streaming.
func TestStreamingContentIsSavedWhileItStreams(t *testing.T) {
	t.Parallel()
	w := newLiveWorld(t)
	s := w.socket(t, w.admin)
	s.send(w.generate(map[string]any{"prompt_version": 1, "model": "slow"}))
	turn := s.next()
	s.until(func(ev map[string]any) bool { return ev["type"] == "delta" && id(ev["seq"]) >= 10 })
	store := rlhf.NewStore(w.pool)
	require.Eventually(t, func() bool {
		st, err := store.Turn(context.Background(), id(turn["turn_id"]))
		return err == nil && st.Candidates[0].Status == "streaming" && strings.HasPrefix(st.Candidates[0].Content, "slow0 slow1")
	}, 5*time.Second, 50*time.Millisecond, "the partial reply is in the database while it streams")
	s.send(map[string]any{"type": "cancel", "turn_id": turn["turn_id"]})
}

// TestLiveNoAvailableModel: a plan naming a model whose key is missing gets a clear error.
func TestLiveNoAvailableModel(t *testing.T) {
	t.Parallel()
	models := filepath.Join(t.TempDir(), "models.yaml")
	require.NoError(t, os.WriteFile(models, []byte("endpoints:\n  - name: keyless\n    base_url: http://127.0.0.1:1\n    api_key_env: MENTOR_TEST_NO_SUCH_KEY\n    models:\n      - name: locked\n"), 0o600))
	f := newFixture(t, discardLogger(), options{env: map[string]string{}, modelsFile: models})
	persona := personaOn(t, f)
	w := liveWorld{fixture: f}
	s := w.socket(t, f.admin)
	id, _ := strconv.ParseInt(strings.TrimPrefix(persona, "/api/v1/personas/"), 10, 64)
	s.send(map[string]any{"type": "generate", "id": "q", "persona_id": id, "message": "你好", "plan": []any{map[string]any{"prompt_version": 1, "model": "locked"}}})
	ev := s.next()
	assert.Equal(t, "error", ev["type"])
	assert.Equal(t, "unavailable", ev["code"])
	assert.Contains(t, ev["message"], `model "locked" is unavailable: environment variable MENTOR_TEST_NO_SUCH_KEY is not set`)
}
