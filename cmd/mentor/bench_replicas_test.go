package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/prompts"
)

// BenchmarkRelayReplicas runs the relay benchmark's load (internal/relayload: C sessions of
// 4 candidates, 50 tokens a second, in processes of their own) against one replica of
// `mentor serve` and against two, each a child process given one core (GOMAXPROCS=1), on one
// database. It reports each setup's replica CPU per 1,000 tokens (all replicas together),
// mid-stream p99, done p99, the NOTIFY rate, and the scaling efficiency: one replica's CPU
// per token over two replicas' together (1 means a second replica costs nothing extra). Each
// figure is the median of MENTOR_BENCH_REPLICAS_ROUNDS interleaved rounds (default 3), with
// its spread (max − min) beside it.
//
// Size: MENTOR_BENCH_REPLICAS_C (default 125 sessions: 500 concurrent streams),
// MENTOR_BENCH_RELAY_TOKENS (default 200), after MENTOR_BENCH_REPLICAS_WARMUP (default 1)
// unmeasured rounds on each setup's fresh replicas.
func BenchmarkRelayReplicas(b *testing.B) {
	c := benchSize(b, "MENTOR_BENCH_REPLICAS_C", 125)
	tokens := benchSize(b, "MENTOR_BENCH_RELAY_TOKENS", 200)
	rounds := benchSize(b, "MENTOR_BENCH_REPLICAS_ROUNDS", 3)
	warmups := benchSize(b, "MENTOR_BENCH_REPLICAS_WARMUP", 1)
	const skip, cands = 20, 4
	if tokens <= 2*skip {
		b.Fatalf("MENTOR_BENCH_RELAY_TOKENS=%d: want more than %d", tokens, 2*skip)
	}
	bin := filepath.Join(b.TempDir(), "relayload")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/mentor-ai/mentor/internal/relayload").CombinedOutput(); err != nil {
		b.Fatalf("build internal/relayload: %v\n%s", err, out)
	}
	up := exec.Command(bin, "upstream", "-tokens", strconv.Itoa(tokens), "-interval", "20ms")
	upIn, _ := up.StdinPipe()
	upOut, _ := up.StdoutPipe()
	up.Stderr = os.Stderr
	if err := up.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { upIn.Close(); up.Wait() }) //nolint:errcheck // it is stopping
	line, err := bufio.NewReader(upOut).ReadString('\n')
	if err != nil {
		b.Fatalf("the upstream did not say its address: %v", err)
	}
	upstream := strings.TrimSpace(line)

	dsn := pgtest.URL(b)
	ctx := context.Background()
	if err := run(ctx, []string{"mentor", "migrate", "up"}, envFunc(map[string]string{"DATABASE_URL": dsn}), nil, &syncBuffer{}, &syncBuffer{}); err != nil {
		b.Fatalf("migrate: %v", err)
	}
	pool, err := db.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	ps, as := prompts.NewStore(pool), auth.NewStore(pool, nil)
	proj, err := ps.CreateProject(ctx, prompts.Project{Name: "replicas", Slug: "replicas", BlindRanking: true})
	if err != nil {
		b.Fatal(err)
	}
	persona, err := ps.CreatePersona(ctx, prompts.Persona{ProjectID: proj.ID, Name: "基准", Kind: prompts.DomainAssistant})
	if err != nil {
		b.Fatal(err)
	}
	v, err := ps.PublishVersion(ctx, persona.ID, prompts.Version{Template: "你是{{.Persona.Name}}。", Model: "bench", Temperature: 0.5,
		TopP: 1, MaxTokens: 1000, Author: "bench", CorpusIDs: []int64{}})
	if err != nil {
		b.Fatal(err)
	}
	cookies := make([]string, c)
	for i := range cookies {
		u, err := as.CreateUser(ctx, auth.NewUser{Login: fmt.Sprintf("replica-%03d", i), DisplayName: "训练师", Password: "correct horse battery"})
		if err != nil {
			b.Fatal(err)
		}
		if err := as.SetRole(ctx, proj.ID, u.ID, auth.RoleTrainer); err != nil {
			b.Fatal(err)
		}
		if cookies[i], _, err = as.CreateSession(ctx, u.ID, "", "", auth.SessionLimits{Idle: time.Hour, Absolute: time.Hour}); err != nil {
			b.Fatal(err)
		}
	}
	plan := make([]map[string]any, cands)
	for i := range plan {
		plan[i] = map[string]any{"prompt_version": v.Version, "model": "bench"}
	}
	generate, _ := json.Marshal(map[string]any{"type": "generate", "persona_id": persona.ID, "message": "开始", "plan": plan})
	models := filepath.Join(b.TempDir(), "models.yaml")
	os.WriteFile(models, []byte("endpoints:\n  - name: bench\n    base_url: "+upstream+"\n    max_concurrent: 100000\n    models:\n      - name: bench\n"), 0o600)

	type setup struct {
		cpuPer1k, midP99, doneP99, notifyPerSec float64
	}
	measure := func(replicas int) setup {
		var pids []int
		var urls, origins []string
		for i := range replicas {
			pid, base, stop := startBenchReplica(b, dsn, models, fmt.Sprintf("bench-%d-of-%d", i+1, replicas))
			defer stop() // the next setup runs without this one's replicas
			pids, urls, origins = append(pids, pid), append(urls, "ws"+strings.TrimPrefix(base, "http")+"/api/v1/ws"), append(origins, base)
		}
		listen, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		defer listen.Close(ctx)
		if _, err := listen.Exec(ctx, "LISTEN mentor_live"); err != nil { // live's notifyChannel
			b.Fatal(err)
		}
		stop, notified := make(chan struct{}), make(chan int, 1)
		go func() {
			wctx, cancel := context.WithCancel(ctx)
			go func() { <-stop; cancel() }()
			n := 0
			for {
				if _, err := listen.WaitForNotification(wctx); err != nil {
					notified <- n
					return
				}
				n++
			}
		}()
		raw, _ := json.Marshal(map[string]any{"urls": urls, "origins": origins, "cookies": cookies, "generate": json.RawMessage(generate),
			"candidates": cands, "tokens": tokens, "skip": skip, "stagger": 8 * time.Millisecond})
		// Fresh replicas first serve warmups rounds that are not measured: a new process's pool
		// connections prepare and plan each statement at its first runs, and two replicas have
		// twice the connections to warm, which a measured cold round counted against the second
		// replica (the relay benchmark warms up for the same reason).
		for range warmups {
			cmd := exec.Command(bin, "clients")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(raw), io.Discard, os.Stderr
			if err := cmd.Run(); err != nil {
				b.Fatalf("the clients process, warming up: %v", err)
			}
		}
		cpu0 := procCPU(pids)
		var out bytes.Buffer
		cmd := exec.Command(bin, "clients")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(raw), &out, os.Stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("the clients process: %v", err)
		}
		wall, cpu := time.Since(start), procCPU(pids)-cpu0
		close(stop)
		n := <-notified
		var res struct {
			Mid, Done []int64
			Tokens    int64
			Errors    []string
		}
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			b.Fatal(err)
		}
		if len(res.Errors) > 0 {
			b.Fatalf("%d clients failed, the first: %s", len(res.Errors), res.Errors[0])
		}
		return setup{cpuPer1k: float64(cpu.Microseconds()) / 1000 / float64(res.Tokens) * 1000,
			midP99: p99ms(res.Mid), doneP99: p99ms(res.Done), notifyPerSec: float64(n) / wall.Seconds()}
	}
	// Rounds alternate one replica and two, so that a noisy moment of the machine falls on
	// both; each figure is the median of the rounds, and -spread is its max minus its min.
	var ones, twos []setup
	for range rounds {
		ones = append(ones, measure(1))
		twos = append(twos, measure(2))
	}
	efficiency := make([]float64, rounds)
	for i := range rounds {
		efficiency[i] = ones[i].cpuPer1k / twos[i].cpuPer1k
	}
	report := func(b *testing.B, v []float64, unit string) {
		slices.Sort(v)
		med := v[len(v)/2]
		if len(v)%2 == 0 {
			med = (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		b.ReportMetric(med, unit)
		b.ReportMetric(v[len(v)-1]-v[0], unit+"-spread")
	}
	figure := func(ss []setup, f func(setup) float64) []float64 {
		out := make([]float64, len(ss))
		for i, s := range ss {
			out[i] = f(s)
		}
		return out
	}
	for _, s := range []struct {
		name string
		ss   []setup
	}{{"replicas=1", ones}, {"replicas=2", twos}} {
		b.Run(fmt.Sprintf("%s/C=%d", s.name, c), func(b *testing.B) {
			report(b, figure(s.ss, func(x setup) float64 { return x.cpuPer1k }), "cpu-ms/1k-tokens")
			report(b, figure(s.ss, func(x setup) float64 { return x.midP99 }), "mid-p99-ms")
			report(b, figure(s.ss, func(x setup) float64 { return x.doneP99 }), "done-p99-ms")
			report(b, figure(s.ss, func(x setup) float64 { return x.notifyPerSec }), "notify/s")
			b.ReportMetric(float64(rounds), "rounds")
			if s.name == "replicas=2" {
				report(b, slices.Clone(efficiency), "scaling-efficiency")
			}
		})
	}
}

func benchSize(b *testing.B, name string, def int) int {
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

func p99ms(ns []int64) float64 {
	if len(ns) == 0 {
		return 0
	}
	s := slices.Clone(ns)
	slices.Sort(s)
	return float64(s[min(len(s)-1, max(0, int(0.99*float64(len(s))+0.999999)-1))]) / 1e6
}

// procCPU is the CPU time the processes used so far, from /proc (in USER_HZ, 100 a second).
func procCPU(pids []int) time.Duration {
	var ticks int64
	for _, pid := range pids {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return time.Duration(ticks) * time.Second / 100
}

// startBenchReplica runs `mentor serve` in a child process on one core, and returns its pid,
// its base URL and a func that stops it (at the latest when the benchmark ends).
func startBenchReplica(b *testing.B, dsn, models, id string) (int, string, func()) {
	args, _ := json.Marshal([]string{"mentor", "serve", "--addr", "127.0.0.1:0"})
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childRunArgs+"="+string(args), "GOMAXPROCS=1", "DATABASE_URL="+dsn, "MENTOR_MODELS_FILE="+models,
		"MENTOR_REPLICA_ID="+id, "MENTOR_BASELINE_RATE=0", "MENTOR_LOG_LEVEL=warn")
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := sync.OnceFunc(func() { cmd.Process.Signal(os.Interrupt); <-exited }) //nolint:errcheck // it may have exited
	b.Cleanup(stop)
	deadline := time.After(60 * time.Second)
	for {
		if m := readyLine.FindStringSubmatch(stdout.String()); m != nil {
			return cmd.Process.Pid, m[1], stop
		}
		select {
		case err := <-exited:
			b.Fatalf("replica %s exited before it was ready: %v\n%s", id, err, stderr.String())
		case <-deadline:
			b.Fatalf("replica %s not ready after 60s:\n%s", id, stderr.String())
		case <-time.After(20 * time.Millisecond): // polling the child's output, not synchronising a test
		}
	}
}
