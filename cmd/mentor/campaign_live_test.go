package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/campaign"
)

// liveUpstream is an OpenAI-compatible SSE endpoint for live campaigns: it streams
// upstreamAnswer as newUpstream does, but a question with "等一等" in it holds its first
// stream after the first piece until the test releases it, and a question with "断流" in it
// fails its first deepseek-test stream mid-way, after two pieces and once the test says so,
// with an API error (as an overloaded endpoint does); later streams succeed.
type liveUpstream struct {
	srv      *httptest.Server
	release  chan struct{}
	breakNow chan struct{}
	mu       sync.Mutex
	held     bool
	broke    bool
	calls    map[string]int // question → streams asked for
}

func newLiveUpstream(t *testing.T) *liveUpstream {
	u := &liveUpstream{release: make(chan struct{}), breakNow: make(chan struct{}), calls: map[string]int{}}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/chat/completions") {
			http.NotFound(w, r)
			return
		}
		var body struct {
			Model    string `json:"model"`
			Messages []struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		question := body.Messages[len(body.Messages)-1].Content
		u.mu.Lock()
		u.calls[question]++
		hold := strings.Contains(question, "等一等") && !u.held
		u.held = u.held || hold
		breakIt := strings.Contains(question, "断流") && body.Model == "deepseek-test" && !u.broke
		u.broke = u.broke || breakIt
		u.mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		for i, piece := range upstreamAnswer(body.Model, body.Messages) {
			if breakIt && i == 2 {
				select { // the test has seen the first pieces: now the endpoint fails
				case <-u.breakNow:
				case <-r.Context().Done():
					return
				}
				fmt.Fprint(w, "data: {\"error\":{\"message\":\"upstream overloaded\",\"type\":\"server_error\",\"code\":\"overloaded\"}}\n\n")
				return
			}
			chunk, _ := json.Marshal(map[string]any{"id": "c1", "object": "chat.completion.chunk", "model": body.Model,
				"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": piece}}}})
			fmt.Fprintf(w, "data: %s\n\n", chunk)
			w.(http.Flusher).Flush()
			if hold && i == 0 {
				select {
				case <-u.release:
				case <-r.Context().Done():
					return
				}
			}
		}
		fmt.Fprint(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")
		fmt.Fprint(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":20,\"total_tokens\":60}}\n\n")
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// itemStream is a claimant's GET /claims/:claim/stream, read as the work screen reads it.
type itemStream struct {
	t    *testing.T
	res  *http.Response
	read *bufio.Reader
}

func (p *person) stream(t *testing.T, claimID int64, after map[int64]int64) *itemStream {
	t.Helper()
	q := url.Values{}
	if len(after) > 0 {
		b, _ := json.Marshal(after)
		q.Set("after", string(b))
	}
	req, err := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/claims/%d/stream?%s", p.m.base, claimID, q.Encode()), nil)
	require.NoError(t, err)
	req.Header.Set("Accept-Language", p.lang)
	res, err := p.http.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { res.Body.Close() })
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, res.Header.Get("Content-Type"), "text/event-stream")
	return &itemStream{t: t, res: res, read: bufio.NewReader(res.Body)}
}

// next returns the next event, or nil after the end event.
func (s *itemStream) next() map[string]any {
	s.t.Helper()
	event := ""
	for {
		line, err := s.read.ReadString('\n')
		require.NoError(s.t, err, "the stream ended before its end event")
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if event == "end" {
				return nil
			}
			var ev map[string]any
			require.NoError(s.t, json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev), line)
			return ev
		}
	}
}

// apply applies an event as the work screen does: deltas add to a candidate's text, a
// snapshot replaces it, and done or a snapshot says its status.
func apply(ev map[string]any, texts, status map[int64]string, seqs map[int64]int64) {
	id := num(ev["candidate_id"])
	seqs[id] = num(ev["seq"])
	switch ev["type"] {
	case "start":
		texts[id], status[id] = "", "streaming"
	case "delta":
		texts[id] += ev["content"].(string)
	case "snapshot":
		texts[id] = fmt.Sprint(ev["content"])
		status[id] = fmt.Sprint(ev["status"])
	case "done":
		status[id] = fmt.Sprint(ev["status"])
	}
}

// replies reads events until the end event, applying them to texts, and returns each
// candidate's final status and last event number.
func (s *itemStream) replies(texts map[int64]string) (status map[int64]string, seqs map[int64]int64) {
	s.t.Helper()
	status, seqs = map[int64]string{}, map[int64]int64{}
	for ev := s.next(); ev != nil; ev = s.next() {
		apply(ev, texts, status, seqs)
	}
	return status, seqs
}

// liveCampaign has the admin create a live campaign like the demo one (its persona and
// version; the two upstream models), import questions as its items and open it.
func liveCampaign(t *testing.T, admin *person, demo campaign.Work, name string, k int, questions ...string) campaign.Campaign {
	t.Helper()
	var cp struct {
		Campaign campaign.Campaign `json:"campaign"`
	}
	admin.get(fmt.Sprintf("/api/v1/campaigns/%d", demo.CampaignID), &cp)
	version := cp.Campaign.Plan[0].PromptVersionID
	status, body := admin.call("POST", fmt.Sprintf("/api/v1/projects/%d/campaigns", cp.Campaign.ProjectID), map[string]any{
		"persona_id": cp.Campaign.PersonaID, "name": name, "task_kind": "rank_rate", "k": k, "live": true,
		"plan": []map[string]any{{"prompt_version_id": version, "model": "qwen-test"}, {"prompt_version_id": version, "model": "deepseek-test"}}})
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var created struct {
		Campaign campaign.Campaign `json:"campaign"`
	}
	require.NoError(t, json.Unmarshal(body, &created))
	assert.True(t, created.Campaign.Live)
	var lines []byte
	for _, q := range questions {
		lines = fmt.Appendf(lines, "{\"question\": %q}\n", q)
	}
	status, body = admin.upload(fmt.Sprintf("/api/v1/campaigns/%d/items", created.Campaign.ID), nil, map[string][]byte{"items.jsonl": lines})
	require.Equal(t, http.StatusOK, status, "%s", body)
	status, body = admin.call("PUT", fmt.Sprintf("/api/v1/campaigns/%d/state", created.Campaign.ID), map[string]any{"state": "open"})
	require.Equal(t, http.StatusOK, status, "%s", body)
	var detail struct {
		Campaign campaign.Campaign `json:"campaign"`
		Progress campaign.Progress `json:"progress"`
	}
	admin.get(fmt.Sprintf("/api/v1/campaigns/%d", created.Campaign.ID), &detail)
	assert.Equal(t, campaign.Open, detail.Campaign.State, "a live campaign opens at once: nothing generates ahead")
	assert.Equal(t, campaign.Progress{Ready: len(questions)}, detail.Progress, "its items are ready without candidates")
	return created.Campaign
}

// held is a candidate with no text yet, or any candidate when each has some.
func held(texts map[int64]string) int64 {
	var any int64
	for id, t := range texts {
		if t == "" {
			return id
		}
		any = id
	}
	return any
}

// TestLiveCampaignThroughMentorServe works a live campaign through mentor serve: the first
// claim of an item starts its turn streaming, a second claimant of the same item follows the
// same turn while it streams, both judge it, and the item is done at k. An upstream that
// fails mid-stream leaves the item's claim open and counted once; opening the item again
// streams the failed candidate again, and the judgment completes the item at k.
func TestLiveCampaignThroughMentorServe(t *testing.T) {
	// Not parallel, as TestCampaignThroughMentorServe.
	up := newLiveUpstream(t)
	env := map[string]string{"OPENAI_BASE_URL": up.srv.URL + "/v1"}
	for k, v := range slowStart {
		env[k] = v
	}
	m := startMentor(t, env)
	trainer, reviewer, admin := m.signIn(t, "trainer"), m.signIn(t, "reviewer"), m.signIn(t, "admin")
	demo := demoCampaign(t, trainer, 1)
	create := func(name string, k int, question string) campaign.Campaign {
		t.Helper()
		return liveCampaign(t, admin, demo, name, k, question)
	}
	claim := func(p *person, c campaign.Campaign) campaign.Claim {
		t.Helper()
		status, body := p.call("POST", fmt.Sprintf("/api/v1/campaigns/%d/next", c.ID), nil)
		require.Equal(t, http.StatusCreated, status, "%s", body)
		var a claimAnswer
		require.NoError(t, json.Unmarshal(body, &a))
		assert.True(t, a.Claim.Live)
		require.NotZero(t, a.Claim.TurnID, "the claim starts the item's turn")
		return a.Claim
	}
	judge := func(p *person, cl campaign.Claim, key string) {
		t.Helper()
		var turn turnView
		p.get(fmt.Sprintf("/api/v1/turns/%d", cl.TurnID), &turn)
		require.Len(t, turn.Turn.Candidates, 2, "never duplicate candidates")
		a, b := turn.Turn.Candidates[0].ID, turn.Turn.Candidates[1].ID
		status, body := p.call("POST", fmt.Sprintf("/api/v1/claims/%d/judgment", cl.ID), map[string]any{"idempotency_key": key,
			"ranking": [][]int64{{a}, {b}}, "continue_from": map[string]any{"candidate_id": a}, "time_spent_ms": 4000})
		require.Equal(t, http.StatusCreated, status, "%s", body)
	}
	conn, err := pgx.Connect(context.Background(), m.dsn)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	counts := func(c campaign.Campaign) (taken, judged int, completed bool) {
		t.Helper()
		require.NoError(t, conn.QueryRow(context.Background(), `SELECT taken, judged, completed_at IS NOT NULL FROM campaign_items WHERE campaign_id = $1`, c.ID).
			Scan(&taken, &judged, &completed))
		return taken, judged, completed
	}

	t.Run("a second claimant follows the turn the first claim started", func(t *testing.T) {
		c := create("实时任务", 2, "等一等：行李里的茶叶要申报吗？")
		first := claim(trainer, c)
		s1 := trainer.stream(t, first.ID, nil)
		// The first pieces are here, and the upstream holds the rest: the turn is streaming.
		texts1, texts2 := map[int64]string{}, map[int64]string{}
		early := map[int64]string{}
		for len(texts1) < 2 || texts1[held(texts1)] == "" {
			ev := s1.next()
			require.NotNil(t, ev, "the stream ended while the upstream held a reply")
			apply(ev, texts1, early, map[int64]int64{})
		}
		assert.Contains(t, slices.Collect(maps.Values(early)), "streaming", "a reply is held mid-stream: %v", early)
		second := claim(reviewer, c)
		assert.Equal(t, first.ItemID, second.ItemID)
		assert.Equal(t, first.TurnID, second.TurnID, "one turn for the item, whoever claims it")
		s2 := reviewer.stream(t, second.ID, nil)
		close(up.release)
		status1, _ := s1.replies(texts1)
		for id, st := range early {
			if _, ok := status1[id]; !ok {
				status1[id] = st // finished before the hold was let go
			}
		}
		status2, _ := s2.replies(texts2)
		var turn turnView
		trainer.get(fmt.Sprintf("/api/v1/turns/%d", first.TurnID), &turn)
		require.Len(t, turn.Turn.Candidates, 2)
		for _, cand := range turn.Turn.Candidates {
			assert.Equal(t, "complete", cand.Status)
			assert.Equal(t, "complete", status1[cand.ID])
			assert.Equal(t, "complete", status2[cand.ID])
			assert.Contains(t, cand.Content, "海关予以免征")
			assert.Equal(t, cand.Content, texts2[cand.ID], "the follower got the whole reply, from its start")
			assert.Equal(t, cand.Content, texts1[cand.ID], "the first claimant got the whole reply")
		}
		up.mu.Lock()
		assert.Equal(t, 2, up.calls["等一等：行李里的茶叶要申报吗？"], "each candidate streamed once")
		up.mu.Unlock()

		// Opened again once finished, the stream sends the stored candidates and ends.
		texts3 := map[int64]string{}
		status3, _ := reviewer.stream(t, second.ID, nil).replies(texts3)
		for _, cand := range turn.Turn.Candidates {
			assert.Equal(t, "complete", status3[cand.ID])
			assert.Equal(t, cand.Content, texts3[cand.ID])
		}

		judge(trainer, first, "live-e2e-1")
		judge(reviewer, second, "live-e2e-2")
		taken, judged, completed := counts(c)
		assert.Equal(t, 2, taken)
		assert.Equal(t, 2, judged)
		assert.True(t, completed, "the k-th judgment completes the item")
		status, _ := admin.call("POST", fmt.Sprintf("/api/v1/campaigns/%d/next", c.ID), nil)
		assert.Equal(t, http.StatusNotFound, status, "the item left every queue")
	})

	t.Run("an upstream failing mid-stream loses nothing and counts once", func(t *testing.T) {
		c := create("断流任务", 1, "断流：带药品入境要申报吗？")
		cl := claim(trainer, c)
		texts := map[int64]string{}
		s := trainer.stream(t, cl.ID, nil)
		status, seqs := map[int64]string{}, map[int64]int64{}
		for len(texts) < 2 || texts[held(texts)] == "" {
			ev := s.next()
			require.NotNil(t, ev, "the stream ended while the upstream held a reply")
			apply(ev, texts, status, seqs)
		}
		close(up.breakNow)
		more, last := s.replies(texts)
		maps.Copy(status, more)
		maps.Copy(seqs, last)
		require.Len(t, status, 2)
		var failed int64
		for id, st := range status {
			if st == "failed" {
				failed = id
			}
		}
		require.NotZero(t, failed, "one candidate failed mid-stream: %v", status)
		assert.NotEmpty(t, texts[failed], "it had sent some of its reply")
		taken, judged, _ := counts(c)
		assert.Equal(t, 1, taken, "the claim still holds the item, once")
		assert.Zero(t, judged)
		var mine struct {
			Claims []campaign.Claim `json:"claims"`
		}
		trainer.get(fmt.Sprintf("/api/v1/campaigns/%d/claims", c.ID), &mine)
		require.Len(t, mine.Claims, 1, "the claim is open: a reload resumes it")

		// Opened again, the failed candidate streams again, in place; the other is not resent.
		status, _ = trainer.stream(t, cl.ID, seqs).replies(texts)
		assert.Equal(t, map[int64]string{failed: "complete"}, status)
		assert.Contains(t, texts[failed], "海关予以免征")
		var turn turnView
		trainer.get(fmt.Sprintf("/api/v1/turns/%d", cl.TurnID), &turn)
		for _, cand := range turn.Turn.Candidates {
			assert.Equal(t, "complete", cand.Status)
		}
		judge(trainer, cl, "live-e2e-3")
		taken, judged, completed := counts(c)
		assert.Equal(t, 1, taken)
		assert.Equal(t, 1, judged, "one judgment toward k")
		assert.True(t, completed)
		var turns int
		require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM turns t JOIN messages m ON m.id = t.user_message_id
			WHERE m.content = '断流：带药品入境要申报吗？'`).Scan(&turns))
		assert.Equal(t, 1, turns, "the item has one turn")
	})

	t.Run("an item generated ahead has nothing to stream", func(t *testing.T) {
		status, body := trainer.call("POST", fmt.Sprintf("/api/v1/campaigns/%d/next", demo.CampaignID), nil)
		require.Equal(t, http.StatusCreated, status, "%s", body)
		var a claimAnswer
		require.NoError(t, json.Unmarshal(body, &a))
		assert.False(t, a.Claim.Live)
		status, body = trainer.call("GET", fmt.Sprintf("/api/v1/claims/%d/stream", a.Claim.ID), nil)
		assert.Equal(t, http.StatusConflict, status, "%s", body)
		assert.Equal(t, "此题目的候选是提前生成的：请从它的轮次读取", decodeError(t, body).Error.Message)
		status, body = trainer.call("GET", fmt.Sprintf("/api/v1/claims/%d/stream?after=%s", a.Claim.ID, url.QueryEscape(`{"x":1}`)), nil)
		assert.Equal(t, http.StatusBadRequest, status, "%s", body)
		assert.Equal(t, "after", decodeError(t, body).Error.Field)
	})
}
