package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/rlhf"
)

// Several replicas of `mentor serve` on one database, as the scale-out plan runs them: each
// started with run on port 0. A replica that must die abruptly (no shutdown, no final saves)
// runs in a child process, the test binary itself re-run as `mentor serve` (see TestMain),
// and is killed with SIGKILL.

// childRunArgs names the environment variable that makes the test binary run `mentor` with
// the JSON-encoded arguments it holds, instead of the tests.
const childRunArgs = "MENTOR_TEST_RUN_ARGS"

func TestMain(m *testing.M) {
	if raw := os.Getenv(childRunArgs); raw != "" {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if err := run(context.Background(), args, os.Getenv, nil, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// gatedUpstream is an OpenAI-compatible endpoint whose streams send their first piece at once
// and the rest only after release: a test sees every candidate mid-stream for as long as it
// needs, without sleeping.
type gatedUpstream struct {
	*upstream
	once    sync.Once
	release chan struct{}
	held    string // a model whose streams are held until their client goes, whatever release says
}

const firstPiece = "第一段。"

func newGatedUpstream(t *testing.T) *gatedUpstream {
	t.Helper()
	g := &gatedUpstream{upstream: &upstream{}, release: make(chan struct{})}
	chunk := func(w http.ResponseWriter, model, piece string) {
		b, _ := json.Marshal(map[string]any{"id": "c1", "object": "chat.completion.chunk", "model": model,
			"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": piece}}}})
		fmt.Fprintf(w, "data: %s\n\n", b)
		w.(http.Flusher).Flush()
	}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		model := fmt.Sprint(body["model"])
		w.Header().Set("Content-Type", "text/event-stream")
		chunk(w, model, firstPiece)
		release := g.release
		if model == g.held {
			release = nil
		}
		select {
		case <-r.Context().Done():
			return
		case <-release:
		}
		chunk(w, model, "第二段。")
		fmt.Fprint(w, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(func() { g.open(); g.srv.Close() })
	return g
}

// open lets every stream, held or to come, run to its end.
func (g *gatedUpstream) open() { g.once.Do(func() { close(g.release) }) }

// replicaEnv is the environment of a replica on dsn that streams from up, sharing the demo
// accounts' passwords with the other replicas through creds.
func replicaEnv(dsn, upstreamURL, creds string) map[string]string {
	return map[string]string{
		"DATABASE_URL": dsn, "MENTOR_ENV": "development", "MENTOR_DEV": "true", "MENTOR_DEV_CREDENTIALS": creds,
		"OPENAI_BASE_URL": upstreamURL + "/v1", "OPENAI_API_KEY": "sk-test", "MENTOR_OPENAI_MODELS": "qwen-test,deepseek-test",
		"MENTOR_BASELINE_RATE": "0", "MENTOR_STREAM_LEASE": "3s", "MENTOR_LEASE_SWEEP": "500ms",
	}
}

// startReplica runs one more `mentor serve` in this process.
func startReplica(t *testing.T, env map[string]string, id string) mentor {
	t.Helper()
	env["MENTOR_REPLICA_ID"] = id
	srv := serve(t, env)
	t.Cleanup(func() {
		assert.NoError(t, srv.stop())
		if t.Failed() {
			t.Logf("replica %s's log:\n%s", id, srv.stderr.String())
		}
		assert.NotContains(t, srv.stderr.String(), "panic", "replica %s's log has a panic", id)
	})
	srv.waitFor(t, demoAccountsListed)
	return mentorFrom(t, srv.stdout.String(), srv.stop)
}

// startChildReplica runs `mentor serve` in a child process, and returns it and a func that
// kills it with SIGKILL: no shutdown, no final save, as a crash or an OOM kill ends it.
func startChildReplica(t *testing.T, env map[string]string, id string) (mentor, func()) {
	t.Helper()
	env["MENTOR_REPLICA_ID"] = id
	args, err := json.Marshal([]string{"mentor", "serve", "--addr", "127.0.0.1:0"})
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childRunArgs+"="+string(args))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	kill := sync.OnceFunc(func() {
		cmd.Process.Kill() //nolint:errcheck // it may have exited already
		<-exited
	})
	t.Cleanup(func() {
		kill()
		if t.Failed() {
			t.Logf("replica %s's log:\n%s", id, stderr.String())
		}
	})
	deadline := time.After(60 * time.Second)
	for !demoAccountsListed(stdout.String()) {
		select {
		case err := <-exited:
			t.Fatalf("replica %s exited before it was ready: %v\n%s", id, err, stderr.String())
		case <-deadline:
			t.Fatalf("replica %s not ready after 60s:\n%s", id, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return mentorFrom(t, stdout.String(), func() error { kill(); return nil }), kill
}

func mentorFrom(t *testing.T, stdout string, stop func() error) mentor {
	t.Helper()
	m := readyLine.FindStringSubmatch(stdout)
	require.NotNil(t, m, stdout)
	pw := map[string]string{}
	for _, a := range demoAccountLine.FindAllStringSubmatch(stdout, -1) {
		pw[a[1]] = a[2]
	}
	require.Len(t, pw, 3, stdout)
	return mentor{base: m[1], passwords: pw, stop: stop}
}

type streamRow struct {
	ID         int64
	Status     rlhf.Status
	Owner      string
	LeaseUntil *time.Time
	Content    string
}

// streamRows reads a turn's candidates as the database has them.
func streamRows(t *testing.T, dsn string, turnID int64) []streamRow {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT c.id, c.status, coalesce(c.owner, '') AS owner, c.lease_until, m.content
		FROM candidates c JOIN messages m ON m.id = c.message_id WHERE c.turn_id = $1 ORDER BY c.position`, turnID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[streamRow])
	require.NoError(t, err)
	return out
}

// waitRows polls a turn's candidates until ok holds for them, or fails after a minute.
func waitRows(t *testing.T, dsn string, turnID int64, what string, ok func([]streamRow) bool) []streamRow {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		rows := streamRows(t, dsn, turnID)
		if ok(rows) {
			return rows
		}
		select {
		case <-deadline:
			t.Fatalf("%s: not after a minute; candidates: %+v", what, rows)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestReplicasLeaveEachOthersStreamsAlone: a trainer asks on replica A (a child process);
// replica C starts on the same database while A's candidates stream, and sweeps every half
// second, and A's streams go on under A's lease (the old start-up marked every streaming row
// interrupted, and a judgment was then accepted mid-stream). A judgment sent through replica
// B while they stream is refused. Then A is killed: its candidates become interrupted once
// their lease runs out (B and C sweep), keep what A saved, and never become complete.
func TestReplicasLeaveEachOthersStreamsAlone(t *testing.T) {
	// Not parallel: it starts several servers, each loading the demo project, and running
	// beside the other end-to-end tests it pushed their start-up past --start-timeout on 2 cores.
	up := newGatedUpstream(t)
	dsn := pgtest.URL(t)
	creds := filepath.Join(t.TempDir(), "dev-credentials.json")
	a, killA := startChildReplica(t, replicaEnv(dsn, up.srv.URL, creds), "replica-a")
	b := startReplica(t, replicaEnv(dsn, up.srv.URL, creds), "replica-b")

	trainer := a.signIn(t, "trainer")
	customs := trainer.persona("customs-helper")
	ws := trainer.socket()
	ws.send(map[string]any{"type": "generate", "id": "g1", "persona_id": customs.ID, "message": "个人邮寄进境物品的免税额是多少？", "plan": []any{
		map[string]any{"prompt_version": 2, "model": "qwen-test"},
		map[string]any{"prompt_version": 2, "model": "deepseek-test"},
	}})
	turnEv := ws.next()
	require.Equal(t, "turn", turnEv["type"], "%v", turnEv)
	turnID := num(turnEv["turn_id"])
	for deltas := 0; deltas < 2; {
		if ev := ws.next(); ev["type"] == "delta" {
			deltas++
		}
	}
	// A's first save has run: both rows hold the first piece, under A's lease.
	waitRows(t, dsn, turnID, "A saves its streams", func(rows []streamRow) bool {
		return len(rows) == 2 && rows[0].Content == firstPiece && rows[1].Content == firstPiece
	})

	cStarted := time.Now()
	startReplica(t, replicaEnv(dsn, up.srv.URL, creds), "replica-c")
	// Wait until A has renewed its leases past a whole lease after C started: C swept at its
	// start and several times since, and A's streams are still A's.
	rows := waitRows(t, dsn, turnID, "A renews its leases while C sweeps", func(rows []streamRow) bool {
		for _, r := range rows {
			if r.Status != rlhf.StatusStreaming || r.LeaseUntil == nil || r.LeaseUntil.Before(cStarted.Add(4*time.Second)) {
				return r.Status != rlhf.StatusStreaming // a status change ends the wait, and fails below
			}
		}
		return true
	})
	for _, r := range rows {
		assert.Equal(t, rlhf.StatusStreaming, r.Status, "starting C left A's stream %d alone", r.ID)
		assert.Equal(t, "replica-a", r.Owner)
	}

	// A judgment through B of what still streams on A is refused.
	judge := b.signIn(t, "trainer")
	status, body := judge.call("POST", fmt.Sprintf("/api/v1/turns/%d/judgments", turnID), map[string]any{
		"idempotency_key": "replicas-judge-1", "ranking": [][]int64{{rows[0].ID}, {rows[1].ID}},
		"continue_from": map[string]any{"candidate_id": rows[0].ID},
	})
	assert.Equal(t, http.StatusUnprocessableEntity, status, "%s", body)
	assert.Contains(t, string(body), "streaming")

	// A dies without a word. Its candidates end interrupted once their lease runs out.
	killA()
	up.open() // nothing could reach A's streams now anyway
	rows = waitRows(t, dsn, turnID, "the sweep interrupts A's streams", func(rows []streamRow) bool {
		for _, r := range rows {
			if r.Status == rlhf.StatusStreaming {
				return false
			}
		}
		return true
	})
	for _, r := range rows {
		assert.Equal(t, rlhf.StatusInterrupted, r.Status, "candidate %d", r.ID)
		assert.Equal(t, firstPiece, r.Content, "what A saved stays")
		assert.Nil(t, r.LeaseUntil)
	}
}

// TestReplicasTellEachOther: two replicas on one database. A trainer's turn streams on A; the
// trainer's socket on B resumes it and follows it from the database (a snapshot numbered as
// A numbers its events, then the final state exactly once); a cancel sent to B stops a
// stream on A; signing out through B closes the trainer's socket on A.
func TestReplicasTellEachOther(t *testing.T) {
	// Not parallel: it starts several servers, each loading the demo project, and running
	// beside the other end-to-end tests it pushed their start-up past --start-timeout on 2 cores.
	up := newGatedUpstream(t)
	up.held = "deepseek-test"
	dsn := pgtest.URL(t)
	creds := filepath.Join(t.TempDir(), "dev-credentials.json")
	a := startReplica(t, replicaEnv(dsn, up.srv.URL, creds), "replica-a")
	b := startReplica(t, replicaEnv(dsn, up.srv.URL, creds), "replica-b")

	trainer := a.signIn(t, "trainer")
	onB := *trainer // the same browser (cookie jars ignore ports), talking to B
	onB.m = b
	customs := trainer.persona("customs-helper")
	wsA, wsB := trainer.socket(), onB.socket()

	// Resume on B, mid-stream.
	wsA.send(map[string]any{"type": "generate", "id": "g1", "persona_id": customs.ID, "message": "免税额是多少？",
		"plan": []any{map[string]any{"prompt_version": 2, "model": "qwen-test"}}})
	turn1 := wsA.next()
	require.Equal(t, "turn", turn1["type"], "%v", turn1)
	turnID := num(turn1["turn_id"])
	var lastA int64
	var passagesA any
	for ev := wsA.next(); ; ev = wsA.next() {
		lastA = num(ev["seq"])
		if ev["type"] == "passages" {
			passagesA = ev["passages"]
		}
		if ev["type"] == "delta" {
			break
		}
	}
	chunkIDs := func(ps any) []int64 {
		list, _ := ps.([]any)
		var out []int64
		for _, p := range list {
			out = append(out, num(p.(map[string]any)["chunk_id"]))
		}
		return out
	}
	require.NotEmpty(t, chunkIDs(passagesA), "version 2 retrieves: A sends the candidate's passages")
	waitRows(t, dsn, turnID, "A saves the first piece", func(rows []streamRow) bool { return rows[0].Content == firstPiece })
	wsB.send(map[string]any{"type": "resume", "id": "r1", "turn_id": turnID, "after": map[string]any{}})
	snap := wsB.next()
	require.Equal(t, "snapshot", snap["type"], "%v", snap)
	assert.Equal(t, "streaming", snap["status"])
	assert.Equal(t, firstPiece, snap["content"])
	assert.Equal(t, lastA, num(snap["seq"]), "B numbers the text as A did")
	assert.Equal(t, chunkIDs(passagesA), chunkIDs(snap["passages"]), "B's first snapshot carries the passages A sent")

	up.open()
	var doneA map[string]any
	for doneA == nil {
		if ev := wsA.next(); ev["type"] == "done" {
			doneA = ev
		}
	}
	final := wsB.next()
	require.Equal(t, "snapshot", final["type"], "%v", final)
	assert.Equal(t, "complete", final["status"])
	assert.Equal(t, firstPiece+"第二段。", final["content"], "the whole reply, once")
	assert.Equal(t, num(doneA["seq"]), num(final["seq"]), "B's final snapshot is A's done")
	assert.Nil(t, final["passages"], "only the first snapshot carries them")
	assert.NotEmpty(t, final["html"])
	wsB.send(map[string]any{"type": "heartbeat", "id": "h1"})
	assert.Equal(t, "heartbeat", wsB.next()["type"], "nothing more of the finished turn")

	// Cancel from B.
	wsA.send(map[string]any{"type": "generate", "id": "g2", "persona_id": customs.ID, "message": "超过怎么办？",
		"plan": []any{map[string]any{"prompt_version": 2, "model": "deepseek-test"}}})
	turn2 := wsA.next()
	require.Equal(t, "turn", turn2["type"], "%v", turn2)
	for ev := wsA.next(); ev["type"] != "delta"; ev = wsA.next() {
	}
	wsB.send(map[string]any{"type": "cancel", "id": "c1", "turn_id": turn2["turn_id"]})
	for ev := wsA.next(); ; ev = wsA.next() {
		require.NotEqual(t, "error", ev["type"], "%v", ev)
		if ev["type"] == "done" {
			assert.Equal(t, "cancelled", ev["status"], "%v", ev)
			break
		}
	}
	rows := streamRows(t, dsn, num(turn2["turn_id"]))
	assert.Equal(t, rlhf.StatusCancelled, rows[0].Status)

	// Sign out through B: the socket on A closes as the session's end.
	status, body := onB.call("DELETE", "/api/v1/session", nil)
	require.Equal(t, http.StatusNoContent, status, "%s", body)
	require.NoError(t, wsA.conn.SetReadDeadline(time.Now().Add(10*time.Second))) // the periodic check runs every 30 s: only an event from B closes it in time
	var err error
	for err == nil {
		_, _, err = wsA.conn.ReadMessage()
	}
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce, "A's socket is closed by A, not timed out")
	assert.Equal(t, websocket.ClosePolicyViolation, ce.Code)
}
