package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	openai "github.com/sashabaranov/go-openai"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/internal/latency"
	"github.com/mentor-ai/mentor/prompts"
)

// The relay benchmark: C trainers, each streaming 4 candidates of 400 tokens at 50 tokens a
// second from an OpenAI-compatible upstream. Each token carries the time it was sent, so the
// client measures how long it took to arrive. A bare relay (go-openai straight to gorilla, no
// persistence, no hub, no access checks) runs in the same process as the baseline; Mentor's
// added latency is the difference.
const (
	relayTokens   = 400
	relayInterval = 20 * time.Millisecond // 50 tokens a second
	relayCands    = 4
)

func relayUpstream(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		t := time.NewTicker(relayInterval)
		defer t.Stop()
		for range relayTokens {
			select {
			case <-r.Context().Done():
				return
			case <-t.C:
			}
			fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%d \"}}]}\n\n", time.Now().UnixNano())
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
		w.(http.Flusher).Flush()
	}))
	b.Cleanup(srv.Close)
	return srv
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

// relayClient streams one trainer's turn and records each token's delay.
func relayClient(url string, header http.Header, generate any, rec *latency.Recorder, tokens *int64, mu *sync.Mutex) error {
	conn, _, err := websocket.DefaultDialer.Dial(url, header)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.WriteJSON(generate); err != nil {
		return err
	}
	done, n := 0, int64(0)
	for done < relayCands {
		conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		var ev struct {
			Type    string `json:"type"`
			Content string `json:"content"`
			Message string `json:"message"`
		}
		if err := conn.ReadJSON(&ev); err != nil {
			return err
		}
		now := time.Now().UnixNano()
		switch ev.Type {
		case "delta":
			for _, f := range strings.Fields(ev.Content) {
				if sent, err := strconv.ParseInt(f, 10, 64); err == nil {
					rec.Add(time.Duration(now - sent))
					n++
				}
			}
		case "done":
			done++
		case "error":
			return errors.New(ev.Message)
		}
	}
	mu.Lock()
	*tokens += n
	mu.Unlock()
	return nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru) //nolint:errcheck // cannot fail for RUSAGE_SELF
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runRelay runs one round: C clients at once, each a whole turn.
func runRelay(b *testing.B, c int, dial func(i int) (string, http.Header), generate any) {
	var rec latency.Recorder
	var tokens int64
	var mu sync.Mutex
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapInuse)
			}
		}
	}()
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		var wg sync.WaitGroup
		errs := make(chan error, c)
		for i := range c {
			wg.Go(func() {
				url, header := dial(i)
				if err := relayClient(url, header, generate, &rec, &tokens, &mu); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatalf("client: %v", err)
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	close(stopSampling)
	<-sampled
	if want := int64(b.N * c * relayCands * relayTokens); tokens != want {
		b.Fatalf("received %d tokens, want %d", tokens, want)
	}
	rec.Report(b, "")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(tokens)*1000, "cpu-ms/1k-tokens")
	b.ReportMetric(float64(peak-min(peak, before.HeapInuse))/float64(c)/1024, "heap-KiB/session")
}

func BenchmarkRelay(b *testing.B) {
	upstream := relayUpstream(b)
	bare := bareRelay(b, upstream.URL)

	models := filepath.Join(b.TempDir(), "models.yaml")
	os.WriteFile(models, []byte("endpoints:\n  - name: bench\n    base_url: "+upstream.URL+"\n    max_concurrent: 100000\n    models:\n      - name: bench\n"), 0o600)
	f := newFixture(b, discardLogger(), options{env: map[string]string{}, modelsFile: models})
	ctx := context.Background()
	ps := prompts.NewStore(f.pool)
	proj, _ := ps.CreateProject(ctx, prompts.Project{Name: "relay", Slug: "relay", BlindRanking: true})
	persona, _ := ps.CreatePersona(ctx, prompts.Persona{ProjectID: proj.ID, Name: "基准", Kind: prompts.DomainAssistant})
	if _, err := ps.PublishVersion(ctx, persona.ID, prompts.Version{Template: "你是{{.Persona.Name}}。", Model: "bench", Temperature: 0.5,
		TopP: 1, MaxTokens: 1000, RetrievalK: 0, Author: "bench", CorpusIDs: []int64{}}); err != nil {
		b.Fatal(err)
	}
	// 500 trainers, each with a session: one password hash shared, to spare 500 argon2 runs.
	var hash string
	f.pool.QueryRow(ctx, `SELECT password_hash FROM users WHERE login = 'root'`).Scan(&hash)
	cookies := make([]string, 500)
	for i := range cookies {
		var id int64
		if err := f.pool.QueryRow(ctx, `INSERT INTO users (login, display_name, password_hash) VALUES ($1, $1, $2) RETURNING id`,
			fmt.Sprintf("relay-%03d", i), hash).Scan(&id); err != nil {
			b.Fatal(err)
		}
		if err := f.auth.SetRole(ctx, proj.ID, id, auth.RoleTrainer); err != nil {
			b.Fatal(err)
		}
		secret, _, err := f.auth.CreateSession(ctx, id, "", "", auth.SessionLimits{Idle: time.Hour, Absolute: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		cookies[i] = secret
	}
	plan := make([]map[string]any, relayCands)
	for i := range plan {
		plan[i] = map[string]any{"prompt_version": 1, "model": "bench"}
	}
	generate := map[string]any{"type": "generate", "persona_id": persona.ID, "message": "开始", "plan": plan}
	mentorURL := "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/api/v1/ws"
	bareURL := "ws" + strings.TrimPrefix(bare.URL, "http")

	for _, c := range []int{10, 100, 500} {
		b.Run(fmt.Sprintf("bare/C=%d", c), func(b *testing.B) {
			runRelay(b, c, func(int) (string, http.Header) { return bareURL, nil }, generate)
		})
		b.Run(fmt.Sprintf("mentor/C=%d", c), func(b *testing.B) {
			runRelay(b, c, func(i int) (string, http.Header) {
				return mentorURL, http.Header{"Cookie": {"mentor_session=" + cookies[i]}, "Origin": {f.srv.URL}}
			}, generate)
		})
	}
}
