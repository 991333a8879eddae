// Package loadgen sends HTTP load from a process of its own, so that a benchmark measures
// Mentor and not its own client (issue 17). A benchmark builds cmd/loadgen once (Build) and
// runs it for each phase (Binary.Run): a closed loop of a fixed concurrency, to find
// capacity, or an open loop at a fixed rate, timed from each request's due time.
package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Request is one request a phase sends. In Path and Body, {{seq}} becomes a number unique
// within the run (Config.SeqStart, SeqStart+1, …), for idempotency keys and the like.
type Request struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Body   json.RawMessage `json:"body,omitempty"`
}

// Config is one phase of load.
type Config struct {
	BaseURL     string            `json:"base_url"`
	Requests    []Request         `json:"requests"` // sent in turn, round and round
	Header      map[string]string `json:"header"`
	Status      int               `json:"status"`      // the answer every request must get
	Concurrency int               `json:"concurrency"` // closed loop: this many in flight, each sent when the last answered
	Rate        float64           `json:"rate"`        // open loop: requests a second, whatever the answers take
	Duration    time.Duration     `json:"duration"`
	SeqStart    int64             `json:"seq_start"`
}

// Result is what a phase measured. Latency in an open loop runs from when a request was due,
// so a request that waited for a free connection counts its wait (no coordinated omission).
type Result struct {
	Sent       int64   `json:"sent"`
	Failed     int64   `json:"failed"`
	FirstError string  `json:"first_error,omitempty"`
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"per_second"` // answered requests a second
	P50Millis  float64 `json:"p50_ms"`
	P90Millis  float64 `json:"p90_ms"`
	P99Millis  float64 `json:"p99_ms"`
	MaxMillis  float64 `json:"max_ms"`
	CPUMillis  float64 `json:"cpu_ms"` // the load generator's own CPU time
	Conns      int64   `json:"conns"`  // TCP connections opened: a pooled client opens few
}

// maxInFlight bounds an open loop's outstanding requests: past it the server is so far
// behind that more would only measure the generator.
const maxInFlight = 2048

// Run sends one phase of load and measures it.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if len(cfg.Requests) == 0 || cfg.Duration <= 0 || (cfg.Concurrency <= 0) == (cfg.Rate <= 0) {
		return Result{}, errors.New("loadgen: name requests, a duration, and either a concurrency or a rate")
	}
	var conns atomic.Int64
	tr := &http.Transport{MaxIdleConns: maxInFlight, MaxIdleConnsPerHost: maxInFlight, IdleConnTimeout: time.Minute}
	var dialer net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conns.Add(1)
		return dialer.DialContext(ctx, network, addr)
	}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()

	send := func(ctx context.Context, n int64) error {
		r := cfg.Requests[int(n%int64(len(cfg.Requests)))]
		s := strconv.FormatInt(cfg.SeqStart+n, 10)
		var body io.Reader
		if len(r.Body) > 0 {
			body = bytes.NewReader(bytes.ReplaceAll(r.Body, []byte("{{seq}}"), []byte(s)))
		}
		req, err := http.NewRequestWithContext(ctx, r.Method, cfg.BaseURL+strings.ReplaceAll(r.Path, "{{seq}}", s), body)
		if err != nil {
			return err
		}
		for k, v := range cfg.Header {
			req.Header.Set(k, v)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if cfg.Status != 0 && res.StatusCode != cfg.Status {
			return fmt.Errorf("%s %s: status %d: %.200s", r.Method, r.Path, res.StatusCode, b)
		}
		return nil
	}
	res := schedule(ctx, cfg, send)
	res.Conns = conns.Load()
	return res, ctx.Err()
}

// schedule runs one phase of calls to fn, numbered from 0, and measures them: the one
// scheduler behind Run (HTTP) and RunFunc (in process). A closed loop keeps cfg.Concurrency
// calls going, each made when the last ended. An open loop makes cfg.Rate calls a second,
// each due at start + i/rate: it sleeps until the next is due and never skips one (a late
// wake-up makes the overdue ones at once, as a real crowd of trainers would, where a ticker
// would drop them), and times each call from when it was due, so a call that waited behind
// others counts its wait (no coordinated omission). A failed call is counted, not timed.
func schedule(ctx context.Context, cfg Config, fn Func) Result {
	var seq, failed atomic.Int64
	var firstErr atomic.Value
	var mu sync.Mutex
	var lat []time.Duration
	call := func(due time.Time) {
		if err := fn(ctx, seq.Add(1)-1); err != nil {
			if failed.Add(1) == 1 {
				firstErr.Store(err.Error())
			}
			return
		}
		d := time.Since(due)
		mu.Lock()
		lat = append(lat, d)
		mu.Unlock()
	}
	cpu0 := cpuTime()
	start := time.Now()
	end := start.Add(cfg.Duration)
	var wg sync.WaitGroup
	if cfg.Concurrency > 0 {
		for range cfg.Concurrency {
			wg.Go(func() {
				for ctx.Err() == nil && time.Now().Before(end) {
					call(time.Now())
				}
			})
		}
	} else {
		interval := time.Duration(float64(time.Second) / cfg.Rate)
		sem := make(chan struct{}, maxInFlight)
		for i := int64(0); ; i++ {
			due := start.Add(time.Duration(i) * interval)
			if !due.Before(end) || ctx.Err() != nil {
				break
			}
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				call(due)
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	res := Result{Sent: seq.Load(), Failed: failed.Load(), Seconds: elapsed.Seconds(),
		CPUMillis: float64(cpuTime()-cpu0) / float64(time.Millisecond)}
	if s, ok := firstErr.Load().(string); ok {
		res.FirstError = s
	}
	res.PerSecond = float64(len(lat)) / elapsed.Seconds()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		rank := int(p/100*float64(len(lat))+0.999999) - 1
		return float64(lat[min(max(rank, 0), len(lat)-1)]) / float64(time.Millisecond)
	}
	res.P50Millis, res.P90Millis, res.P99Millis, res.MaxMillis = pct(50), pct(90), pct(99), pct(100)
	return res
}

// cpuTime is this process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Main is cmd/loadgen: it reads a Config as JSON on standard input and writes the Result as
// JSON on standard output.
func Main(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	var cfg Config
	if err := json.NewDecoder(bufio.NewReader(stdin)).Decode(&cfg); err != nil {
		return fmt.Errorf("loadgen: read the config: %w", err)
	}
	res, err := Run(ctx, cfg)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}
