// Command relayload is the relay benchmark's harness (server/bench_relay_test.go), run in
// processes of its own so that its CPU is not the server's: in one process on 2 cores the
// harness took 43% of the CPU and the figures swung by 100× between runs.
//
//	relayload upstream -tokens N -interval D
//
// serves an OpenAI-compatible chat completion stream of N tokens, one every D, each token
// the time it was sent (Unix nanoseconds), and prints its address on stdout.
//
//	relayload clients < config.json > result.json
//
// runs one websocket client per cookie in the config, started Stagger apart, each sending
// Generate and reading until every candidate is done, and writes what they measured.
// Both machines' clocks are one: the processes run on the same host.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "relayload:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: relayload upstream|clients [flags]")
	}
	switch args[0] {
	case "upstream":
		fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
		tokens := fs.Int("tokens", 200, "tokens per stream")
		interval := fs.Duration("interval", 20*time.Millisecond, "time between tokens")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return upstream(*tokens, *interval, stdin, stdout)
	case "clients":
		var cfg Config
		if err := json.NewDecoder(stdin).Decode(&cfg); err != nil {
			return fmt.Errorf("clients: read the config from stdin: %w", err)
		}
		res := clients(cfg)
		return json.NewEncoder(stdout).Encode(res)
	}
	return fmt.Errorf("unknown mode %q: want upstream or clients", args[0])
}

// upstream serves until stdin closes (the benchmark ends or dies).
func upstream(tokens int, interval time.Duration, stdin io.Reader, stdout io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) //nolint:errcheck // the request does not matter
		w.Header().Set("Content-Type", "text/event-stream")
		t := time.NewTicker(interval)
		defer t.Stop()
		for range tokens {
			select {
			case <-r.Context().Done():
				return
			case <-t.C:
			}
			fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%d \"}}]}\n\n", time.Now().UnixNano())
			w.(http.Flusher).Flush()
		}
		// The end follows the last token at once: `done` latency is measured from the last token's time.
		fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
		w.(http.Flusher).Flush()
	})}
	go srv.Serve(ln) //nolint:errcheck // ends when the process does
	fmt.Fprintf(stdout, "http://%s/v1\n", ln.Addr())
	io.Copy(io.Discard, stdin) //nolint:errcheck // any end of stdin means stop
	return srv.Close()
}

// Config is what the benchmark asks of the clients.
type Config struct {
	URL    string `json:"url"`
	Origin string `json:"origin"` // sent as Origin when set
	// Replicas, when set, are several servers' URLs and Origins, parallel lists: client i
	// talks to the (i mod n)th. URL and Origin are then unused.
	URLs       []string        `json:"urls"`
	Origins    []string        `json:"origins"`
	Cookies    []string        `json:"cookies"` // one client each; "" sends no cookie
	Generate   json.RawMessage `json:"generate"`
	Candidates int             `json:"candidates"`
	Tokens     int             `json:"tokens"`  // per candidate
	Skip       int             `json:"skip"`    // tokens left out of Mid at each end of a stream
	Stagger    time.Duration   `json:"stagger"` // between two clients' starts
}

// Result is what the clients measured, in nanoseconds.
type Result struct {
	Mid    []int64  `json:"mid"`    // each token's delay, tokens Skip..Tokens-Skip of every stream
	TTFT   []int64  `json:"ttft"`   // per candidate: generate sent to its first token received
	Done   []int64  `json:"done"`   // per candidate: its last token sent upstream to its done received
	Tokens int64    `json:"tokens"` // tokens received in all
	Errors []string `json:"errors"`
}

func clients(cfg Config) Result {
	var mu sync.Mutex
	var res Result
	var wg sync.WaitGroup
	for i, cookie := range cfg.Cookies {
		start := time.Now().Add(time.Duration(i) * cfg.Stagger)
		wg.Go(func() {
			time.Sleep(time.Until(start)) // the load's shape, not synchronisation
			url, origin := cfg.URL, cfg.Origin
			if n := len(cfg.URLs); n > 0 {
				url, origin = cfg.URLs[i%n], cfg.Origins[i%n]
			}
			r, err := client(url, origin, cfg, cookie)
			mu.Lock()
			defer mu.Unlock()
			res.Mid, res.TTFT, res.Done = append(res.Mid, r.Mid...), append(res.TTFT, r.TTFT...), append(res.Done, r.Done...)
			res.Tokens += r.Tokens
			if err != nil {
				res.Errors = append(res.Errors, err.Error())
			}
		})
	}
	wg.Wait()
	return res
}

// client streams one turn.
func client(url, origin string, cfg Config, cookie string) (Result, error) {
	var res Result
	header := http.Header{}
	if cookie != "" {
		header.Set("Cookie", "mentor_session="+cookie)
	}
	if origin != "" {
		header.Set("Origin", origin)
	}
	conn, _, err := websocket.DefaultDialer.Dial(url, header)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	sent := time.Now()
	if err := conn.WriteMessage(websocket.TextMessage, cfg.Generate); err != nil {
		return res, err
	}
	type stream struct {
		n    int
		last int64 // the last token's send time
	}
	streams := map[string]*stream{}
	done := 0
	for done < cfg.Candidates {
		conn.SetReadDeadline(time.Now().Add(60 * time.Second)) //nolint:errcheck // a late read fails below
		var ev struct {
			Type        string          `json:"type"`
			CandidateID json.RawMessage `json:"candidate_id"`
			Content     string          `json:"content"`
			Message     string          `json:"message"`
		}
		if err := conn.ReadJSON(&ev); err != nil {
			return res, err
		}
		now := time.Now().UnixNano()
		s := streams[string(ev.CandidateID)]
		if s == nil {
			s = &stream{}
			streams[string(ev.CandidateID)] = s
		}
		switch ev.Type {
		case "delta":
			for _, f := range strings.Fields(ev.Content) {
				at, err := strconv.ParseInt(f, 10, 64)
				if err != nil {
					continue
				}
				if s.n == 0 {
					res.TTFT = append(res.TTFT, now-sent.UnixNano())
				}
				if s.n >= cfg.Skip && s.n < cfg.Tokens-cfg.Skip {
					res.Mid = append(res.Mid, now-at)
				}
				s.n++
				s.last = at
				res.Tokens++
			}
		case "done":
			done++
			if s.last != 0 {
				res.Done = append(res.Done, now-s.last)
			}
		case "error":
			return res, errors.New(ev.Message)
		}
	}
	return res, nil
}
