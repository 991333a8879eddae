package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	openai "github.com/sashabaranov/go-openai"

	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/prompts"
)

// The relay benchmark: C trainers, started a little apart, each streaming 4 candidates of N
// tokens at 50 tokens a second from an OpenAI-compatible upstream. Each token carries the
// time it was sent, so the clients measure how long it took to arrive. A bare relay
// (go-openai straight to gorilla: no persistence, no engine, no access checks) is the
// baseline; Mentor's added latency is the difference, round by round.
//
// The upstream and the clients run in processes of their own (internal/relayload, built
// once here), so this process's CPU and allocations are the server's alone. Rounds
// alternate bare and Mentor, and each figure is the median of the rounds.
//
// Size: MENTOR_BENCH_RELAY_C (default 50 sessions), MENTOR_BENCH_RELAY_TOKENS (default 200
// per candidate), MENTOR_BENCH_RELAY_ROUNDS (default 3 of each), after
// MENTOR_BENCH_RELAY_WARMUP (default 3) Mentor rounds that are not measured.
const (
	relayInterval = 20 * time.Millisecond // 50 tokens a second
	relayCands    = 4
	relaySkip     = 20                    // mid-stream latency leaves out this many tokens at each end
	relayStagger  = 20 * time.Millisecond // between two sessions' starts
)

func relaySize(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive whole number", name, v)
	}
	return n
}

// buildRelayLoad builds internal/relayload into the benchmark's temporary directory.
func buildRelayLoad(b *testing.B) string {
	goTool, err := exec.LookPath("go")
	if err != nil {
		b.Fatalf("the relay benchmark builds its harness with the go command: %v", err)
	}
	bin := filepath.Join(b.TempDir(), "relayload")
	out, err := exec.Command(goTool, "build", "-o", bin, "github.com/mentor-ai/mentor/internal/relayload").CombinedOutput()
	if err != nil {
		b.Fatalf("build internal/relayload: %v\n%s", err, out)
	}
	return bin
}

// startUpstream starts the upstream process and returns its base URL. It stops when the
// benchmark ends (its stdin closes).
func startUpstream(b *testing.B, bin string, tokens int) string {
	cmd := exec.Command(bin, "upstream", "-tokens", strconv.Itoa(tokens), "-interval", relayInterval.String())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("start the upstream: %v", err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() }) //nolint:errcheck // it is stopping
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("the upstream did not say its address: %v", err)
	}
	return strings.TrimSpace(line)
}

// bareRelay is the baseline: a websocket that streams four go-openai streams to the client
// through one writer goroutine, and nothing else.
func bareRelay(b *testing.B, upstream string) *httptest.Server {
	client := openai.NewClientWithConfig(func() openai.ClientConfig {
		c := openai.DefaultConfig("")
		c.BaseURL = upstream
		return c
	}())
	var up websocket.Upgrader
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		if _, _, err := conn.ReadMessage(); err != nil {
			return
		}
		events := make(chan map[string]any, 256)
		var wg sync.WaitGroup
		for i := range relayCands {
			wg.Go(func() {
				stream, err := client.CreateChatCompletionStream(r.Context(), openai.ChatCompletionRequest{Model: "bench", Stream: true,
					Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "hi"}}})
				if err != nil {
					return
				}
				defer stream.Close()
				for {
					chunk, err := stream.Recv()
					if err != nil {
						break
					}
					if len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
						events <- map[string]any{"type": "delta", "candidate_id": i, "content": chunk.Choices[0].Delta.Content}
					}
				}
				events <- map[string]any{"type": "done", "candidate_id": i}
			})
		}
		go func() { wg.Wait(); close(events) }()
		for e := range events {
			if err := conn.WriteJSON(e); err != nil {
				return
			}
		}
	}))
	b.Cleanup(srv.Close)
	return srv
}

// relayConfig is internal/relayload's Config.
type relayConfig struct {
	URL        string          `json:"url"`
	Origin     string          `json:"origin"`
	Cookies    []string        `json:"cookies"`
	Generate   json.RawMessage `json:"generate"`
	Candidates int             `json:"candidates"`
	Tokens     int             `json:"tokens"`
	Skip       int             `json:"skip"`
	Stagger    time.Duration   `json:"stagger"`
}

// relayResult is internal/relayload's Result.
type relayResult struct {
	Mid, TTFT, Done []int64
	Tokens          int64
	Errors          []string
}

// relayRound is one round's figures.
type relayRound struct {
	cpuPer1k, pgPer1k, cores         float64 // ms per 1,000 tokens; cores this process used on average
	allocsPerToken, bytesPerToken    float64
	heapKiBPerSession                float64
	midP50, midP99, ttftP50, ttftP99 float64 // ms
	doneP50, doneP99                 float64 // ms
	notifyPerSec                     float64 // LISTEN/NOTIFY events between replicas, per second of the round
}

func percentileMs(ns []int64, p float64) float64 {
	if len(ns) == 0 {
		return 0
	}
	s := slices.Clone(ns)
	slices.Sort(s)
	rank := int(p/100*float64(len(s))+0.999999) - 1
	return float64(s[min(max(rank, 0), len(s)-1)]) / 1e6
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru) //nolint:errcheck // cannot fail for RUSAGE_SELF
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pgCPU follows the CPU time of the Postgres backends connected to one database, from
// /proc (the cluster runs on this machine): the server's pool, and nothing else, uses that
// database. pg_stat_statements would need a restart of the shared cluster to load.
type pgCPU struct {
	admin    *pgx.Conn
	database string
	exclude  uint32 // the benchmark's own listener
	mu       sync.Mutex
	first    map[int]int64 // clock ticks when first seen (0 for a backend started meanwhile)
	last     map[int]int64
}

func (p *pgCPU) sample(ctx context.Context, started bool) {
	rows, _ := p.admin.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = $1`, p.database)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pid := range pids {
		if uint32(pid) == p.exclude {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
		f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		if _, ok := p.first[int(pid)]; !ok {
			p.first[int(pid)] = 0
			if !started {
				p.first[int(pid)] = u + s
			}
		}
		p.last[int(pid)] = u + s
	}
}

// during samples every 100 ms until stop is closed, and returns the backends' CPU time.
func (p *pgCPU) during(stop <-chan struct{}) time.Duration {
	p.first, p.last = map[int]int64{}, map[int]int64{}
	ctx := context.Background()
	p.sample(ctx, false)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			p.sample(ctx, true)
			var ticks int64
			for pid, last := range p.last {
				ticks += last - p.first[pid]
			}
			return time.Duration(ticks) * time.Second / 100 // USER_HZ is 100 on Linux
		case <-t.C:
			p.sample(ctx, true)
		}
	}
}

// countNotify counts the notifications listen (a connection to the server's database that
// listens on the engine's channel) receives until stop is closed.
func countNotify(listen *pgx.Conn, stop <-chan struct{}) int {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-stop; cancel() }()
	n := 0
	for {
		if _, err := listen.WaitForNotification(ctx); err != nil {
			return n
		}
		n++
	}
}

// relayRun runs one round: the clients process with cfg, the server in this process. pg and
// listenCfg (the server's database, for the NOTIFY count) are nil for the bare relay.
func relayRun(b *testing.B, bin string, cfg relayConfig, pg *pgCPU, listenCfg *pgx.ConnConfig) relayRound {
	raw, err := json.Marshal(cfg)
	if err != nil {
		b.Fatal(err)
	}
	sessions := len(cfg.Cookies)
	runtime.GC()
	var before, after, mid runtime.MemStats
	runtime.ReadMemStats(&before)
	if path := os.Getenv("MENTOR_BENCH_RELAY_HEAPPROFILE"); path != "" && pg != nil {
		if f, err := os.Create(path + ".base"); err == nil { // for pprof -diff_base
			pprof.Lookup("heap").WriteTo(f, 0) //nolint:errcheck // a diagnostic
			f.Close()
		}
	}
	// Live heap per session: one GC while every session streams (the last has started, the
	// first is a quarter through), against the heap after a GC before the round.
	streamTime := time.Duration(cfg.Tokens) * relayInterval
	heapAt := time.Duration(sessions-1)*cfg.Stagger + streamTime/4
	heapTimer := time.AfterFunc(heapAt, func() {
		runtime.GC()
		runtime.ReadMemStats(&mid)
		// MENTOR_BENCH_RELAY_HEAPPROFILE: where Mentor's live heap per session goes, at the
		// moment it is measured (the last round's profile is kept).
		if path := os.Getenv("MENTOR_BENCH_RELAY_HEAPPROFILE"); path != "" && pg != nil {
			if f, err := os.Create(path); err == nil {
				pprof.Lookup("heap").WriteTo(f, 0) //nolint:errcheck // a diagnostic
				f.Close()
			}
		}
	})

	stopPG, pgDone := make(chan struct{}), make(chan time.Duration, 1)
	notified := make(chan int, 1)
	if pg != nil {
		// A listener of its own each round: a wait ended by cancelling closes the connection.
		listen, err := pgx.ConnectConfig(context.Background(), listenCfg.Copy())
		if err != nil {
			b.Fatal(err)
		}
		defer listen.Close(context.Background())
		if _, err := listen.Exec(context.Background(), "LISTEN mentor_live"); err != nil { // live's notifyChannel
			b.Fatal(err)
		}
		pg.exclude = listen.PgConn().PID()
		go func() { pgDone <- pg.during(stopPG) }()
		go func() { notified <- countNotify(listen, stopPG) }()
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "clients")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(raw), &out, os.Stderr
	start, cpu0 := time.Now(), cpuTime()
	err = cmd.Run()
	wall, cpu := time.Since(start), cpuTime()-cpu0
	runtime.ReadMemStats(&after)
	heapTimer.Stop()
	var pgTime time.Duration
	var notifications int
	if pg != nil {
		close(stopPG)
		pgTime, notifications = <-pgDone, <-notified
	}
	if err != nil {
		b.Fatalf("the clients process: %v", err)
	}
	var res relayResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		b.Fatalf("the clients' result: %v", err)
	}
	if len(res.Errors) > 0 {
		b.Fatalf("%d clients failed, the first: %s", len(res.Errors), res.Errors[0])
	}
	if want := int64(sessions * relayCands * cfg.Tokens); res.Tokens != want {
		b.Fatalf("received %d tokens, want %d", res.Tokens, want)
	}
	if mid.NumGC == 0 {
		b.Fatalf("the round ended before the heap was measured (%s)", heapAt)
	}
	tokens := float64(res.Tokens)
	return relayRound{
		cpuPer1k: float64(cpu.Microseconds()) / 1000 / tokens * 1000, pgPer1k: float64(pgTime.Microseconds()) / 1000 / tokens * 1000,
		cores:          cpu.Seconds() / wall.Seconds(),
		allocsPerToken: float64(after.Mallocs-before.Mallocs) / tokens, bytesPerToken: float64(after.TotalAlloc-before.TotalAlloc) / tokens,
		heapKiBPerSession: (float64(mid.HeapAlloc) - float64(before.HeapAlloc)) / float64(sessions) / 1024,
		midP50:            percentileMs(res.Mid, 50), midP99: percentileMs(res.Mid, 99),
		ttftP50: percentileMs(res.TTFT, 50), ttftP99: percentileMs(res.TTFT, 99),
		doneP50: percentileMs(res.Done, 50), doneP99: percentileMs(res.Done, 99),
		notifyPerSec: float64(notifications) / wall.Seconds(),
	}
}

// roundMedian is the median of the rounds' values of one figure.
func roundMedian(rounds []relayRound, f func(relayRound) float64) float64 {
	v := make([]float64, len(rounds))
	for i, r := range rounds {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func BenchmarkRelay(b *testing.B) {
	if os.Getenv("MENTOR_BENCH_RELAY_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 4096 // a fine sample: the profile is for reading, not timing
	}
	c := relaySize(b, "MENTOR_BENCH_RELAY_C", 50)
	tokens := relaySize(b, "MENTOR_BENCH_RELAY_TOKENS", 200)
	rounds := relaySize(b, "MENTOR_BENCH_RELAY_ROUNDS", 3)
	warmups := relaySize(b, "MENTOR_BENCH_RELAY_WARMUP", 3)
	if tokens <= 2*relaySkip {
		b.Fatalf("MENTOR_BENCH_RELAY_TOKENS=%d: want more than %d, the tokens left out at both ends", tokens, 2*relaySkip)
	}
	bin := buildRelayLoad(b)
	upstream := startUpstream(b, bin, tokens)
	bare := bareRelay(b, upstream)

	models := filepath.Join(b.TempDir(), "models.yaml")
	os.WriteFile(models, []byte("endpoints:\n  - name: bench\n    base_url: "+upstream+"\n    max_concurrent: 100000\n    models:\n      - name: bench\n"), 0o600)
	f := newFixture(b, discardLogger(), options{env: map[string]string{}, modelsFile: models})
	ctx := context.Background()
	ps := prompts.NewStore(f.pool)
	proj, _ := ps.CreateProject(ctx, prompts.Project{Name: "relay", Slug: "relay", BlindRanking: true})
	persona, _ := ps.CreatePersona(ctx, prompts.Persona{ProjectID: proj.ID, Name: "基准", Kind: prompts.DomainAssistant})
	if _, err := ps.PublishVersion(ctx, persona.ID, prompts.Version{Template: "你是{{.Persona.Name}}。", Model: "bench", Temperature: 0.5,
		TopP: 1, MaxTokens: 1000, RetrievalK: 0, Author: "bench", CorpusIDs: []int64{}}); err != nil {
		b.Fatal(err)
	}
	// C trainers, each with a session.
	cookies := make([]string, c)
	for i, t := range signedInTrainers(b, f, proj.ID, "relay", c) {
		cookies[i] = t.secret
	}
	plan := make([]map[string]any, relayCands)
	for i := range plan {
		plan[i] = map[string]any{"prompt_version": 1, "model": "bench"}
	}
	generate, _ := json.Marshal(map[string]any{"type": "generate", "persona_id": persona.ID, "message": "开始", "plan": plan})
	admin, err := pgx.Connect(ctx, pgtest.AdminURL(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { admin.Close(context.Background()) })
	pg := &pgCPU{admin: admin, database: f.pool.Config().ConnConfig.Database}
	// NOTIFY is per database: the listener connects to the server's own.
	listenCfg := f.pool.Config().ConnConfig

	// Warm the server's pool to its size, as a server that has run a while has it: a pool
	// growing during a round counted its connections (about 55 KiB each with their buffers
	// and statement caches) as heap per session.
	warm := make([]*pgxpool.Conn, 0, f.pool.Config().MaxConns)
	for range f.pool.Config().MaxConns {
		c, err := f.pool.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		warm = append(warm, c)
	}
	for _, c := range warm {
		c.Release()
	}

	base := relayConfig{Generate: generate, Candidates: relayCands, Tokens: tokens, Skip: relaySkip, Stagger: relayStagger}
	bareCfg, mentorCfg := base, base
	bareCfg.URL, bareCfg.Cookies = "ws"+strings.TrimPrefix(bare.URL, "http"), make([]string, c)
	mentorCfg.URL, mentorCfg.Origin, mentorCfg.Cookies = "ws"+strings.TrimPrefix(f.srv.URL, "http")+"/api/v1/ws", f.srv.URL, cookies
	// Warm-up rounds, not measured. A pool connection prepares a statement at its first run,
	// and PostgreSQL plans it afresh for each of its first five runs before it settles on a
	// generic plan: at 50 sessions over 32 connections that takes a few rounds, and a cold
	// round's statements spent 0.21 s planning against 0.66 s executing (pg_stat_statements
	// with track_planning). A server that has run a while plans none of it. The first round's
	// PostgreSQL CPU is reported apart (pg-cpu-ms/1k-tokens-cold), as the start-up figure.
	var cold relayRound
	for i := range warmups {
		if r := relayRun(b, bin, mentorCfg, pg, listenCfg); i == 0 {
			cold = r
		}
	}
	// A checkpoint before the measured rounds (as loadgen.Profile takes one), so that no
	// timed checkpoint of the benchmarks before this one falls in them: its writes compete
	// with the final saves' WAL flushes, and where it fell decided the `done` p99.
	if _, err := admin.Exec(ctx, `CHECKPOINT`); err != nil {
		b.Fatal(err)
	}
	var bareRounds, mentorRounds []relayRound
	for range rounds { // interleaved, so that a noisy moment of the machine falls on both
		bareRounds = append(bareRounds, relayRun(b, bin, bareCfg, nil, nil))
		mentorRounds = append(mentorRounds, relayRun(b, bin, mentorCfg, pg, listenCfg))
	}
	report := func(b *testing.B, rs []relayRound, vs []relayRound) {
		m := func(f func(relayRound) float64) float64 { return roundMedian(rs, f) }
		b.ReportMetric(m(func(r relayRound) float64 { return r.cpuPer1k }), "go-cpu-ms/1k-tokens")
		b.ReportMetric(m(func(r relayRound) float64 { return r.pgPer1k }), "pg-cpu-ms/1k-tokens")
		b.ReportMetric(m(func(r relayRound) float64 { return r.cores }), "cores")
		b.ReportMetric(m(func(r relayRound) float64 { return r.allocsPerToken }), "allocs/token")
		b.ReportMetric(m(func(r relayRound) float64 { return r.bytesPerToken }), "B/token")
		b.ReportMetric(m(func(r relayRound) float64 { return r.heapKiBPerSession }), "heap-KiB/session")
		b.ReportMetric(m(func(r relayRound) float64 { return r.midP50 }), "mid-p50-ms")
		b.ReportMetric(m(func(r relayRound) float64 { return r.midP99 }), "mid-p99-ms")
		b.ReportMetric(m(func(r relayRound) float64 { return r.ttftP50 }), "ttft-p50-ms")
		b.ReportMetric(m(func(r relayRound) float64 { return r.ttftP99 }), "ttft-p99-ms")
		b.ReportMetric(m(func(r relayRound) float64 { return r.doneP50 }), "done-p50-ms")
		b.ReportMetric(m(func(r relayRound) float64 { return r.doneP99 }), "done-p99-ms")
		if vs != nil {
			b.ReportMetric(cold.pgPer1k, "pg-cpu-ms/1k-tokens-cold")
			b.ReportMetric(m(func(r relayRound) float64 { return r.notifyPerSec }), "notify/s")
			// Added latency: each round against the bare relay's round just before it.
			added := make([]relayRound, len(rs))
			for i := range rs {
				added[i] = relayRound{midP50: rs[i].midP50 - vs[i].midP50, midP99: rs[i].midP99 - vs[i].midP99}
			}
			b.ReportMetric(roundMedian(added, func(r relayRound) float64 { return r.midP50 }), "added-mid-p50-ms")
			b.ReportMetric(roundMedian(added, func(r relayRound) float64 { return r.midP99 }), "added-mid-p99-ms")
		}
	}
	// The rounds ran above; these only report their medians (their ns/op means nothing).
	b.Run(fmt.Sprintf("bare/C=%d", c), func(b *testing.B) { report(b, bareRounds, nil) })
	b.Run(fmt.Sprintf("mentor/C=%d", c), func(b *testing.B) { report(b, mentorRounds, bareRounds) })
}
