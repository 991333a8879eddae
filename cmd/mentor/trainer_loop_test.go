package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/pgtest"
)

// The end-to-end suite runs Mentor exactly as `mentor serve` does: run(ctx, args, getenv, …)
// on port 0, against a real database and an OpenAI-compatible upstream that speaks real SSE.
// Nothing here builds its own server wiring, so a dependency missing from serve.go fails
// these tests the way it would fail a trainer.

// upstream is a fake OpenAI-compatible endpoint. Every model streams a grounded answer in
// pieces that name the model, so each candidate's text can be told apart and checked whole.
type upstream struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls []map[string]any
}

// upstreamAnswer is what model streams for a request; pieces keep multi-byte characters
// whole. The tail is a hash of the model and the prompt, so two models or two prompt
// versions give different replies, as they would (and a blind screen that shows the text
// still names no model).
func upstreamAnswer(model string, messages any) []string {
	h := fnv.New32a()
	b, _ := json.Marshal(messages)
	h.Write([]byte(model))
	h.Write(b)
	return []string{"根据规定", "[1]，", "个人邮寄进境物品", "应征进口税税额", "在人民币50元（含）以下的，", "海关予以免征。",
		fmt.Sprintf("（%08x）", h.Sum32())}
}

func newUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/chat/completions") {
			http.NotFound(w, r)
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		u.mu.Lock()
		u.calls = append(u.calls, body)
		u.mu.Unlock()
		model := fmt.Sprint(body["model"])
		w.Header().Set("Content-Type", "text/event-stream")
		for _, piece := range upstreamAnswer(model, body["messages"]) {
			chunk, _ := json.Marshal(map[string]any{"id": "c1", "object": "chat.completion.chunk", "model": model,
				"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": piece}}}})
			fmt.Fprintf(w, "data: %s\n\n", chunk)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(5 * time.Millisecond): // a stream, not one burst
			}
		}
		fmt.Fprint(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")
		fmt.Fprint(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":20,\"total_tokens\":60}}\n\n")
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// mentor is one running `mentor serve` with the demo project, and its demo accounts.
type mentor struct {
	base      string
	passwords map[string]string
	stop      func() error
	upstream  *upstream
	dsn       string
}

var demoAccountLine = regexp.MustCompile(`(?m)^  (admin|trainer|reviewer)\s+(\S+)\s`)

// startMentor runs `mentor serve --env development --dev` as `make run` does, with two
// OpenAI-compatible models beside the offline baselines.
func startMentor(t testing.TB, extra map[string]string) mentor {
	t.Helper()
	up := newUpstream(t)
	dsn := pgtest.URL(t)
	env := map[string]string{
		"DATABASE_URL": dsn, "MENTOR_ENV": "development", "MENTOR_DEV": "true",
		"MENTOR_DEV_CREDENTIALS": filepath.Join(t.TempDir(), "dev-credentials.json"),
		"OPENAI_BASE_URL":        up.srv.URL + "/v1", "OPENAI_API_KEY": "sk-test", "MENTOR_OPENAI_MODELS": "qwen-test,deepseek-test",
		"MENTOR_BASELINE_RATE": "0",
	}
	for k, v := range extra {
		env[k] = v
	}
	srv := serve(t, env)
	t.Cleanup(func() {
		assert.NoError(t, srv.stop())
		if t.Failed() {
			t.Logf("mentor serve's log:\n%s", srv.stderr.String())
		}
		// A panic anywhere in the server is a failure, whatever the test checked.
		assert.NotContains(t, srv.stderr.String(), "panic", "the server log has a panic")
	})
	srv.waitFor(t, demoAccountsListed)
	stdout := srv.stdout
	m := readyLine.FindStringSubmatch(stdout.String())
	require.NotNil(t, m, stdout.String())
	pw := map[string]string{}
	for _, a := range demoAccountLine.FindAllStringSubmatch(stdout.String(), -1) {
		pw[a[1]] = a[2]
	}
	require.Len(t, pw, 3, stdout.String())
	return mentor{base: m[1], passwords: pw, stop: srv.stop, upstream: up, dsn: dsn}
}

// person is a signed-in browser: a cookie jar and the session's CSRF token.
type person struct {
	t     testing.TB
	m     mentor
	http  *http.Client
	csrf  string
	lang  string
	login string
}

func (m mentor) signIn(t testing.TB, login string) *person {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	p := &person{t: t, m: m, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}, lang: "zh-CN", login: login}
	status, body := p.call("POST", "/api/v1/session", map[string]any{"login": login, "password": m.passwords[login]})
	require.Equal(t, http.StatusOK, status, "%s", body)
	var s struct {
		CSRFToken string `json:"csrf_token"`
	}
	require.NoError(t, json.Unmarshal(body, &s))
	require.NotEmpty(t, s.CSRFToken)
	p.csrf = s.CSRFToken
	return p
}

// call makes an API call as the browser does, and returns the status and body.
func (p *person) call(method, path string, body any) (int, []byte) {
	p.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(p.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.m.base+path, rd)
	require.NoError(p.t, err)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Accept-Language", p.lang)
	req.Header.Set("Origin", p.m.base)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != "GET" && p.csrf != "" {
		req.Header.Set("X-CSRF-Token", p.csrf)
	}
	res, err := p.http.Do(req)
	require.NoError(p.t, err)
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	require.NoError(p.t, err)
	return res.StatusCode, out
}

// get calls path and decodes a 200 answer into v.
func (p *person) get(path string, v any) {
	p.t.Helper()
	status, body := p.call("GET", path, nil)
	require.Equal(p.t, http.StatusOK, status, "GET %s: %s", path, body)
	require.NoError(p.t, json.Unmarshal(body, v), "GET %s", path)
}

// socket is the trainer's websocket, opened as the browser opens it.
type socket struct {
	t    testing.TB
	conn *websocket.Conn
}

func (p *person) socket() *socket {
	p.t.Helper()
	u, err := url.Parse(p.m.base)
	require.NoError(p.t, err)
	h := http.Header{"Origin": {p.m.base}}
	for _, ck := range p.http.Jar.Cookies(u) {
		h.Add("Cookie", ck.Name+"="+ck.Value)
	}
	conn, res, err := websocket.DefaultDialer.Dial("ws://"+u.Host+"/api/v1/ws?lang="+p.lang, h)
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	require.NoError(p.t, err)
	p.t.Cleanup(func() { conn.Close() })
	return &socket{t: p.t, conn: conn}
}

func (s *socket) send(v any) {
	s.t.Helper()
	require.NoError(s.t, s.conn.WriteJSON(v))
}

func (s *socket) next() map[string]any {
	s.t.Helper()
	require.NoError(s.t, s.conn.SetReadDeadline(time.Now().Add(30*time.Second)))
	var ev map[string]any
	require.NoError(s.t, s.conn.ReadJSON(&ev))
	return ev
}

// untilDone reads a turn's events until each of its n candidates has sent done, and returns
// them all.
func (s *socket) untilDone(n int) []map[string]any {
	s.t.Helper()
	var out []map[string]any
	done := 0
	for done < n {
		ev := s.next()
		require.NotEqual(s.t, "error", ev["type"], "%v", ev)
		out = append(out, ev)
		if ev["type"] == "done" {
			done++
		}
	}
	return out
}

func num(v any) int64 { return int64(v.(float64)) }

// exportRows runs an export as the export page does and returns its JSON lines.
func (p *person) exportRows(format string) (rows []map[string]any) {
	p.t.Helper()
	status, body := p.call("POST", "/api/v1/projects/demo/exports", map[string]any{"format": format})
	require.Equal(p.t, http.StatusCreated, status, "export %s: %s", format, body)
	var created struct {
		DownloadURL string `json:"download_url"`
		Manifest    struct {
			Rows int `json:"rows"`
		} `json:"manifest"`
	}
	require.NoError(p.t, json.Unmarshal(body, &created))
	status, body = p.call("GET", created.DownloadURL, nil)
	require.Equal(p.t, http.StatusOK, status, "download %s: %s", format, body)
	defer func() { assert.Equal(p.t, created.Manifest.Rows, len(rows), "the manifest counts the rows downloaded") }()
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var row map[string]any
		require.NoError(p.t, json.Unmarshal(sc.Bytes(), &row), "export %s: %s", format, sc.Text())
		rows = append(rows, row)
	}
	return rows
}

type personaView struct {
	ID   int64  `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

func (p *person) persona(slug string) personaView {
	p.t.Helper()
	var list struct {
		Personas []personaView `json:"personas"`
	}
	p.get("/api/v1/projects/demo/personas", &list)
	for _, x := range list.Personas {
		if x.Slug == slug {
			return x
		}
	}
	p.t.Fatalf("no persona %s in the demo project", slug)
	return personaView{}
}

type turnView struct {
	Turn struct {
		ID             int64 `json:"id"`
		ConversationID int64 `json:"conversation_id"`
		Candidates     []struct {
			ID            int64  `json:"id"`
			MessageID     int64  `json:"message_id"`
			Position      int    `json:"position"`
			Content       string `json:"content"`
			Status        string `json:"status"`
			Model         string `json:"model"`
			PromptVersion int    `json:"prompt_version"`
		} `json:"candidates"`
	} `json:"turn"`
	Passages []struct {
		N       int    `json:"n"`
		ChunkID int64  `json:"chunk_id"`
		Content string `json:"content"`
	} `json:"passages"`
}

// TestTrainerLoopThroughTheShippedBinary is a trainer's whole loop on the real binary's
// wiring: sign in, generate four candidates from several models and versions, watch them
// stream, judge (a tie, ratings, a flag, an edit, gold citing a passage, passage marks),
// submit, continue from the gold reply, judge the second turn, and export what it made.
func TestTrainerLoopThroughTheShippedBinary(t *testing.T) {
	t.Parallel()
	m := startMentor(t, nil)
	trainer := m.signIn(t, "trainer")
	customs := trainer.persona("customs-helper")
	ws := trainer.socket()

	// 1–3. Generate N = 4 from two upstream models and the offline baseline, over two versions.
	question := "个人邮寄进境物品的免税额是多少？"
	ws.send(map[string]any{"type": "generate", "id": "g1", "persona_id": customs.ID, "message": question, "plan": []any{
		map[string]any{"prompt_version": 2, "model": "qwen-test"},
		map[string]any{"prompt_version": 1, "model": "qwen-test"},
		map[string]any{"prompt_version": 2, "model": "deepseek-test"},
		map[string]any{"prompt_version": 1, "model": "baseline-extractive"},
	}})
	turnEv := ws.next()
	require.Equal(t, "turn", turnEv["type"], "%v", turnEv)
	assert.Equal(t, "g1", turnEv["id"])
	cands := turnEv["candidates"].([]any)
	require.Len(t, cands, 4)
	events := ws.untilDone(4)
	streamed := map[int64]string{}
	deltas := 0
	for _, ev := range events {
		if ev["type"] == "delta" {
			streamed[num(ev["candidate_id"])] += ev["content"].(string)
			deltas++
		}
		if ev["type"] == "done" {
			assert.Equal(t, "complete", ev["status"], "%v", ev)
		}
	}
	assert.Greater(t, deltas, 4, "replies arrive as a stream of pieces, not at once")

	turnID := num(turnEv["turn_id"])
	var tv turnView
	trainer.get(fmt.Sprintf("/api/v1/turns/%d", turnID), &tv)
	require.Len(t, tv.Turn.Candidates, 4)
	for _, c := range tv.Turn.Candidates {
		assert.Equal(t, "complete", c.Status)
		assert.Equal(t, streamed[c.ID], c.Content, "what was saved is what streamed")
		assert.NotEmpty(t, c.Content)
	}
	require.NotEmpty(t, tv.Passages, "the customs helper's answers are grounded in its knowledge")
	byPos := map[int]int64{}
	for _, c := range tv.Turn.Candidates {
		byPos[c.Position] = c.ID
	}
	a, b, c, d := byPos[1], byPos[2], byPos[3], byPos[4]
	key := func(id int64) string { return fmt.Sprint(id) }

	// 4. Mark passages: the first is key, the last irrelevant.
	first, last := tv.Passages[0], tv.Passages[len(tv.Passages)-1]
	status, body := trainer.call("PUT", fmt.Sprintf("/api/v1/turns/%d/passages/%d/mark", turnID, first.ChunkID), map[string]any{"grade": 2})
	require.Equal(t, http.StatusOK, status, "%s", body)
	if last.ChunkID != first.ChunkID {
		status, body = trainer.call("PUT", fmt.Sprintf("/api/v1/turns/%d/passages/%d/mark", turnID, last.ChunkID), map[string]any{"grade": 0})
		require.Equal(t, http.StatusOK, status, "%s", body)
	}

	// Rank with a tie, rate every dimension, flag, edit and write gold citing passage [1].
	var personaDetail struct {
		Rubric []struct {
			Key      string `json:"key"`
			ScaleMin int    `json:"scale_min"`
			ScaleMax int    `json:"scale_max"`
		} `json:"rubric"`
	}
	trainer.get(fmt.Sprintf("/api/v1/personas/%d", customs.ID), &personaDetail)
	require.NotEmpty(t, personaDetail.Rubric)
	ratings := map[string]map[string]int{}
	for i, id := range []int64{a, b, c, d} {
		r := map[string]int{}
		for _, dim := range personaDetail.Rubric {
			r[dim.Key] = max(dim.ScaleMin, dim.ScaleMax-i)
		}
		ratings[key(id)] = r
	}
	gold := "个人邮寄进境物品，应征进口税税额在人民币50元（含）以下的，海关予以免征[1]。超过的，按规定全额征税。"
	edited := streamed[b] + "超出部分需全额缴纳。"
	submission := map[string]any{
		"idempotency_key": "loop-turn-1-aaaa",
		"ranking":         [][]int64{{a}, {b, c}, {d}},
		"ratings":         ratings,
		"flags":           map[string][]string{key(d): {"hallucination"}},
		"comment":         "B 与 C 一样好",
		"edit":            map[string]any{"candidate_id": b, "content": edited},
		"gold":            map[string]any{"content": gold},
		"continue_from":   map[string]any{"gold": true},
		"time_spent_ms":   42000,
	}
	// 5. Submit.
	status, body = trainer.call("POST", fmt.Sprintf("/api/v1/turns/%d/judgments", turnID), submission)
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var submitted struct {
		JudgmentID            int64  `json:"judgment_id"`
		Pairs                 int    `json:"pairs"`
		ContinuationMessageID int64  `json:"continuation_message_id"`
		GoldMessageID         *int64 `json:"gold_message_id"`
	}
	require.NoError(t, json.Unmarshal(body, &submitted))
	require.NotNil(t, submitted.GoldMessageID)
	assert.Equal(t, *submitted.GoldMessageID, submitted.ContinuationMessageID, "the conversation goes on from the gold reply")
	assert.Positive(t, submitted.Pairs)
	// The same submission again (a retry after a lost answer) is the same judgment.
	status, body = trainer.call("POST", fmt.Sprintf("/api/v1/turns/%d/judgments", turnID), submission)
	require.Equal(t, http.StatusOK, status, "%s", body)

	// 6. Continue from the gold reply.
	ws.send(map[string]any{"type": "generate", "id": "g2", "persona_id": customs.ID, "conversation_id": tv.Turn.ConversationID,
		"parent_message_id": submitted.ContinuationMessageID, "message": "超过50元怎么算？", "plan": []any{
			map[string]any{"prompt_version": 2, "model": "qwen-test"},
			map[string]any{"prompt_version": 2, "model": "deepseek-test"},
		}})
	turn2 := ws.next()
	require.Equal(t, "turn", turn2["type"], "%v", turn2)
	assert.Equal(t, float64(tv.Turn.ConversationID), turn2["conversation_id"])
	ws.untilDone(2)
	turn2ID := num(turn2["turn_id"])
	// The second turn's prompt carries the first exchange, ending with the gold reply.
	m.upstream.mu.Lock()
	lastCall := m.upstream.calls[len(m.upstream.calls)-1]
	m.upstream.mu.Unlock()
	msgs := lastCall["messages"].([]any)
	require.GreaterOrEqual(t, len(msgs), 4)
	assert.Equal(t, gold, msgs[len(msgs)-2].(map[string]any)["content"], "the model sees the gold reply as the last answer")

	// 7. Judge the second turn.
	var tv2 turnView
	trainer.get(fmt.Sprintf("/api/v1/turns/%d", turn2ID), &tv2)
	require.Len(t, tv2.Turn.Candidates, 2)
	first2, second2 := tv2.Turn.Candidates[0].ID, tv2.Turn.Candidates[1].ID
	status, body = trainer.call("POST", fmt.Sprintf("/api/v1/turns/%d/judgments", turn2ID), map[string]any{
		"idempotency_key": "loop-turn-2-bbbb",
		"ranking":         [][]int64{{second2}, {first2}},
		"continue_from":   map[string]any{"candidate_id": second2},
	})
	require.Equal(t, http.StatusCreated, status, "%s", body)

	// 8. The team exports what the trainer made.
	admin := m.signIn(t, "admin")
	dpo := admin.exportRows("trl-dpo")
	require.NotEmpty(t, dpo)
	goldChosen, tiedPair := 0, false
	for _, row := range dpo {
		prompt := row["prompt"].([]any)
		assert.Equal(t, "user", prompt[len(prompt)-1].(map[string]any)["role"], "a DPO prompt ends with the user's turn")
		chosen := row["chosen"].([]any)[0].(map[string]any)["content"].(string)
		rejected := row["rejected"].([]any)[0].(map[string]any)["content"].(string)
		assert.NotEmpty(t, chosen)
		assert.NotEmpty(t, rejected)
		assert.NotEqual(t, chosen, rejected)
		if chosen == gold {
			goldChosen++
		}
		if (chosen == streamed[b] && rejected == streamed[c]) || (chosen == streamed[c] && rejected == streamed[b]) {
			tiedPair = true
		}
	}
	assert.Positive(t, goldChosen, "gold is preferred to the candidates")
	assert.False(t, tiedPair, "tied candidates make no pair")

	sft := admin.exportRows("openai-sft")
	require.NotEmpty(t, sft)
	var sftGold, sftSecond bool
	for _, row := range sft {
		msgs := row["messages"].([]any)
		lastMsg := msgs[len(msgs)-1].(map[string]any)
		assert.Equal(t, "assistant", lastMsg["role"])
		assert.NotEmpty(t, lastMsg["content"])
		if lastMsg["content"] == gold {
			sftGold = true
		}
		if len(msgs) >= 4 && msgs[len(msgs)-2].(map[string]any)["content"] == "超过50元怎么算？" {
			sftSecond = true
			// The earlier exchange is context, not trained on.
			for _, mm := range msgs[:len(msgs)-1] {
				if mm.(map[string]any)["role"] == "assistant" {
					assert.Equal(t, float64(0), mm.(map[string]any)["weight"])
				}
			}
		}
	}
	assert.True(t, sftGold, "the gold reply is an SFT row")
	assert.True(t, sftSecond, "the second turn's chosen reply is an SFT row, with the first exchange as context")

	triplets := admin.exportRows("retrieval-triplets")
	require.NotEmpty(t, triplets)
	var found bool
	for _, row := range triplets {
		if row["query"] == question {
			found = true
			pos, _ := json.Marshal(row["positive"])
			assert.Contains(t, string(pos), firstRunes(first.Content, 20), "the passage marked key is a positive")
		}
	}
	assert.True(t, found, "the first question is a retrieval query: %v", triplets)
}

func firstRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	if !utf8.ValidString(s) {
		return ""
	}
	return s
}
