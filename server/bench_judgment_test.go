package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/internal/loadgen"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/prompts/demo"
	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/rlhf"
)

// judgedTurns stores n finished turns of four candidates each, ready to be judged.
func judgedTurns(b testing.TB, f fixture, n int) [][]int64 {
	b.Helper()
	ctx := context.Background()
	ps := prompts.NewStore(f.pool)
	sum, err := demo.Load(ctx, ps, retrieval.NewStore(f.pool, nil, nil), f.models.Has)
	if err != nil {
		b.Fatal(err)
	}
	personas, _ := ps.Personas(ctx, sum.Project.ID)
	versions, _ := ps.Versions(ctx, personas[0].ID)
	root, _ := f.auth.UserByLogin(ctx, "root")
	store := rlhf.NewStore(f.pool)
	var out [][]int64
	for range n {
		specs := make([]rlhf.CandidateSpec, 4)
		for i := range specs {
			specs[i] = rlhf.CandidateSpec{Position: i + 1, Model: "baseline-extractive", Endpoint: "offline", PromptVersionID: versions[0].ID,
				Temperature: 0.3, TopP: 1, MaxTokens: 100, SystemPromptHash: "h"}
		}
		turn, err := store.StartTurn(ctx, rlhf.NewTurn{ProjectID: sum.Project.ID, PersonaID: personas[0].ID, Locale: "zh-CN", UserID: root.ID,
			Message: "基准测试的问题", Candidates: specs, Lease: rlhf.Lease{Owner: "fixture", For: time.Hour}})
		if err != nil {
			b.Fatal(err)
		}
		ids := []int64{turn.ID}
		for _, c := range turn.Candidates {
			c.Content, c.Status = "一个候选回复。", "complete"
			if err := store.Finish(ctx, c); err != nil {
				b.Fatal(err)
			}
			ids = append(ids, c.ID)
		}
		out = append(out, ids)
	}
	return out
}

func submission(turn []int64, n int64) (string, map[string]any) {
	c := turn[1:]
	return fmt.Sprintf("/api/v1/turns/%d/judgments", turn[0]), map[string]any{
		"idempotency_key": fmt.Sprintf("bench-%020d", n),
		"ranking":         [][]int64{{c[0]}, {c[1], c[2]}, {c[3]}},
		"ratings":         map[string]any{fmt.Sprint(c[0]): map[string]int{"accuracy": 5}, fmt.Sprint(c[3]): map[string]int{"accuracy": 2}},
		"gold":            map[string]any{"content": "标准答案。"},
		"continue_from":   map[string]any{"gold": true},
		"time_spent_ms":   30000,
	}
}

// benchTrainers is how many trainers BenchmarkJudgmentSubmit's load comes from. A trainer
// submits one judgment at a time, so no two submits in flight should be one trainer's while
// fewer than this many are in flight. 32, as many as the sweep's most, was too few for the
// open loop: a moment's stall queued a few hundred requests, several of each trainer then
// locked the same users row (the judgment's and the gold reply's foreign keys), PostgreSQL
// made a multixact of each overlap, and the queue fed itself (p99-ms@70% of 130–180 ms,
// with 193 connections open).
const benchTrainers = 1000

// trainerSession is a signed-in trainer: the session cookie's secret and its CSRF token.
type trainerSession struct{ secret, csrf string }

// headers are the session's request headers, as a browser sends them on a write.
func (s trainerSession) headers() map[string]string {
	return map[string]string{"Cookie": "mentor_session=" + s.secret, "X-CSRF-Token": s.csrf}
}

// signedInTrainers makes n trainers of the project (logins prefix-0000, …), each with a
// session. They share root's password hash and skip the sign-in, since n argon2 hashes
// would take a minute.
func signedInTrainers(b *testing.B, f fixture, projectID int64, prefix string, n int) []trainerSession {
	b.Helper()
	ctx := context.Background()
	var hash string
	if err := f.pool.QueryRow(ctx, `SELECT password_hash FROM users WHERE login = 'root'`).Scan(&hash); err != nil {
		b.Fatal(err)
	}
	out := make([]trainerSession, n)
	for i := range out {
		var id int64
		if err := f.pool.QueryRow(ctx, `INSERT INTO users (login, display_name, password_hash) VALUES ($1, $1, $2) RETURNING id`,
			fmt.Sprintf("%s-%04d", prefix, i), hash).Scan(&id); err != nil {
			b.Fatal(err)
		}
		if err := f.auth.SetRole(ctx, projectID, id, auth.RoleTrainer); err != nil {
			b.Fatal(err)
		}
		secret, sess, err := f.auth.CreateSession(ctx, id, "", "", auth.SessionLimits{Idle: time.Hour, Absolute: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		out[i] = trainerSession{secret: secret, csrf: sess.CSRFToken}
	}
	return out
}

// BenchmarkJudgmentSubmit measures POST /api/v1/turns/:turn/judgments end to end (session,
// access check, the lookups, the locked write, ten derived pairs) with the load from
// loadgen's own process: capacity from a concurrency sweep, CPU per submit of the server
// and of PostgreSQL, and latency from an open loop at 50% and 70% of capacity (issue 17).
// round-trips/op is what one warm submit costs on the wire, whatever the machine.
func BenchmarkJudgmentSubmit(b *testing.B) {
	f := newFixture(b, discardLogger(), options{countTrips: true})
	turns := judgedTurns(b, f, 400)
	gen := loadgen.Build(b)

	// One submit through the whole server, warm, for the round trips.
	path, body := submission(turns[0], 1)
	f.admin.request(b, "POST", path, body).Body.Close()
	path, body = submission(turns[1], 2)
	before := f.roundTrips.Count()
	res := f.admin.request(b, "POST", path, body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		b.Fatalf("status %d", res.StatusCode)
	}
	trips := f.roundTrips.Count() - before

	// The load comes from benchTrainers trainers, each signed in, as it does in use: a trainer
	// submits one judgment at a time. All from one account, every concurrent submit locked
	// that account's users row FOR KEY SHARE (the judgment's and the gold reply's foreign
	// keys), and PostgreSQL made a multixact of each overlap, which real traffic does not do.
	ctx := context.Background()
	projectID, _, err := rlhf.NewStore(f.pool).TurnOwner(ctx, turns[0][0])
	if err != nil {
		b.Fatal(err)
	}
	trainers := signedInTrainers(b, f, projectID, "bench-trainer", benchTrainers)
	reqs := make([]loadgen.Request, len(trainers))
	for i := range reqs {
		path, body := submission(turns[i%len(turns)], 0)
		body["idempotency_key"] = "bench-{{seq}}-key"
		raw, err := json.Marshal(body)
		if err != nil {
			b.Fatal(err)
		}
		// Requests go round in order, so those in flight at once are consecutive ones, of
		// different trainers while no more than benchTrainers are.
		reqs[i] = loadgen.Request{Method: "POST", Path: path, Body: raw, Header: trainers[i%len(trainers)].headers()}
	}
	cfg := loadgen.Config{BaseURL: f.srv.URL, Requests: reqs, Status: http.StatusCreated,
		Concurrency: 8, Duration: loadgen.PhaseDuration(b), SeqStart: 1}
	// Judgments in the tables and statistics on them, as autovacuum keeps them on a live
	// database: a connection's cached plans, made while judgments was empty, would scan it
	// whole ever after (ANALYZE invalidates them).
	warm, err := gen.Run(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	cfg.Concurrency, cfg.SeqStart = 0, warm.Sent+1
	gen.Profile(b, f.pool, cfg, []int{1, 2, 4, 8, 16, 32})
	b.ReportMetric(float64(trips), "round-trips/op")
}
