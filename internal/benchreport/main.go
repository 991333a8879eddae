// Command benchreport turns `go test -bench` output into docs/benchmarks.md, with the
// machine, the date and the software versions the figures were measured on, and the time
// each package and each benchmark took.
//
// It reads plain `go test -bench` output or, better, `go test -json` (what `make bench`
// gives it): with -json it also knows when each line was printed, so the report says how
// long every benchmark took, setup included, and which package failed or ran out of time.
// With -echo it prints the benchmarks' own output as it arrives, for the terminal, and with
// -save it keeps the input, so that a report can be written again from it (-in).
//
// # Adding a benchmark
//
// `make bench` runs every Benchmark function in the module (go test -bench . ./..., one
// package at a time), so a new benchmark needs no change here or in the Makefile:
//
//   - Report each figure with b.ReportMetric, in a unit that says what it is (p99-ms,
//     rows/s, go-cpu-ms/op); every metric becomes part of the row. For an HTTP endpoint use
//     loadgen.Profile, which finds capacity, CPU per operation and latency at 50% and 70%
//     of it, each the median of three with its spread, with the load from its own process.
//   - Take sizes from a MENTOR_BENCH_* variable whose default is the size the target
//     names, and keep load phases to loadgen.PhaseDuration (MENTOR_BENCH_PHASE), so that a
//     smoke run (MENTOR_BENCH_PHASE=200ms and small sizes) exercises it in seconds.
//   - Give the package a note in notes below when the metric names alone do not say what is
//     measured and what the target is.
//   - Keep within the budget: the whole of `make bench` must finish in 25 minutes on the
//     2-core machine (issue 17). The report's time table shows what each benchmark costs.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "-", "go test -bench output, plain or -json (- for standard input)")
	out := fs.String("out", "docs/benchmarks.md", "the report to write")
	echo := fs.Bool("echo", false, "print the benchmarks' output to standard output as it is read")
	save := fs.String("save", "", "also write the input to this file, to report from again with -in")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	r := stdin
	if *in != "-" {
		f, err := os.Open(*in)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	if *save != "" {
		f, err := os.Create(*save)
		if err != nil {
			return err
		}
		defer f.Close()
		r = io.TeeReader(r, f)
	}
	var echoTo io.Writer
	if *echo {
		echoTo = stdout
	}
	run, err := parseRun(r, echoTo)
	if err != nil {
		return err
	}
	if len(run.results) == 0 {
		return fmt.Errorf("no benchmark results in %s: did the benchmarks fail?", *in)
	}
	var b strings.Builder
	writeReport(&b, machine(ctx, getenv), merge(run.results))
	writeTimes(&b, run)
	if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d benchmarks)\n", *out, len(run.results))
	return nil
}

// result is one benchmark line: its package, name, iteration count and metrics in order,
// and (from -json input) how long it took since the line before it in its package.
type result struct {
	pkg, name  string
	iterations string
	metrics    []metric
	took       time.Duration
}

type metric struct{ value, unit string }

// pkgRun is how one package's benchmarks ended.
type pkgRun struct {
	pkg     string
	action  string // pass, fail or skip
	elapsed time.Duration
	timeout bool // it ran out of time (go test -timeout)
}

// benchRun is everything read from one `go test -bench` run.
type benchRun struct {
	results  []result
	packages []pkgRun // only from -json input
	// first and end bound the run on the clock (from -json input): compiling the test
	// binaries between packages counts here, and not in the packages' own times.
	first, end time.Time
}

// event is a line of `go test -json` (cmd/test2json).
type event struct {
	Time    time.Time
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// parse reads plain or -json output and returns its benchmark lines.
func parse(r io.Reader) ([]result, error) {
	run, err := parseRun(r, nil)
	return run.results, err
}

func parseRun(r io.Reader, echo io.Writer) (benchRun, error) {
	var out benchRun
	pkg := ""
	partial := map[string]string{} // -json: a package's line so far (a benchmark prints its name before it runs)
	last := map[string]time.Time{} // -json: when a package started, or printed its last result
	timedOut := map[string]bool{}  // -json: packages whose test binary panicked on its timeout
	line := func(text, p string, at time.Time) {
		if echo != nil && !strings.HasPrefix(text, "=== RUN") {
			fmt.Fprintln(echo, text)
		}
		if v, ok := strings.CutPrefix(text, "pkg: "); ok {
			pkg = strings.TrimSpace(v)
			return
		}
		if strings.HasPrefix(text, "panic: test timed out") {
			timedOut[p] = true
		}
		if !strings.HasPrefix(text, "Benchmark") {
			return
		}
		fields := strings.Fields(text)
		// BenchmarkName-N  iterations  value unit  value unit …
		if len(fields) < 4 || len(fields)%2 != 0 {
			return // a benchmark's own log line, not a result
		}
		if p == "" {
			p = pkg
		}
		res := result{pkg: p, name: fields[0], iterations: fields[1]}
		for i := 2; i+1 < len(fields); i += 2 {
			res.metrics = append(res.metrics, metric{value: fields[i], unit: fields[i+1]})
		}
		if t, ok := last[p]; ok && !at.IsZero() {
			res.took = at.Sub(t)
			last[p] = at
		}
		out.results = append(out.results, res)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		text := sc.Text()
		if !strings.HasPrefix(text, "{") {
			line(text, "", time.Time{})
			continue
		}
		var e event
		if err := json.Unmarshal([]byte(text), &e); err != nil {
			line(text, "", time.Time{})
			continue
		}
		if out.first.IsZero() {
			out.first = e.Time
		}
		out.end = e.Time
		switch {
		case e.Action == "start" && e.Test == "":
			last[e.Package] = e.Time
		case e.Action == "output":
			buf := partial[e.Package] + e.Output
			for {
				i := strings.IndexByte(buf, '\n')
				if i < 0 {
					break
				}
				line(buf[:i], e.Package, e.Time)
				buf = buf[i+1:]
			}
			partial[e.Package] = buf
		case e.Test == "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip"):
			if rest := partial[e.Package]; rest != "" {
				line(rest, e.Package, e.Time)
				delete(partial, e.Package)
			}
			out.packages = append(out.packages, pkgRun{pkg: e.Package, action: e.Action,
				elapsed: time.Duration(e.Elapsed * float64(time.Second)), timeout: timedOut[e.Package]})
		}
	}
	return out, sc.Err()
}

// budget is how long all of `make bench` may take on the 2-core machine (issue 17).
const budget = 25 * time.Minute

// writeTimes adds how long each package and each benchmark took, from -json input: the
// figure that says whether `make bench` keeps to its budget, and what to shorten if not.
func writeTimes(w io.Writer, run benchRun) {
	if len(run.packages) == 0 {
		return
	}
	var total time.Duration
	var failed []string
	for _, p := range run.packages {
		total += p.elapsed
		if p.action == "fail" {
			why := "failed"
			if p.timeout {
				why = "ran out of time"
			}
			failed = append(failed, fmt.Sprintf("%s (%s)", p.pkg, why))
		}
	}
	fmt.Fprintf(w, "\n## Time\n\n")
	verdict := "within"
	if total > budget {
		verdict = "over"
	}
	wall := run.end.Sub(run.first)
	if wall > budget {
		verdict = "over"
	}
	fmt.Fprintf(w, "The benchmarks took %s on the clock, %s of it in the test binaries, %s the budget of %s. ", round(wall), round(total), verdict, budget)
	fmt.Fprintln(w, "A benchmark's time runs from the result before it in its package (its setup included).")
	if len(failed) > 0 {
		fmt.Fprintf(w, "\n**Not finished:** %s; their figures are missing above.\n", strings.Join(failed, ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| package or benchmark | time |")
	fmt.Fprintln(w, "|---|---:|")
	for _, p := range run.packages {
		var benches []string
		took := map[string]time.Duration{}
		for _, r := range run.results {
			if r.pkg != p.pkg {
				continue
			}
			top, _, _ := strings.Cut(r.name, "/")
			if i := strings.LastIndexByte(top, '-'); i > 0 && !strings.Contains(r.name, "/") {
				top = top[:i] // BenchmarkX-2: the -GOMAXPROCS suffix
			}
			if _, ok := took[top]; !ok {
				benches = append(benches, top)
			}
			took[top] += r.took
		}
		if len(benches) == 0 && p.action != "fail" {
			continue // a package without benchmarks
		}
		status := ""
		if p.action == "fail" {
			status = " (failed)"
			if p.timeout {
				status = " (out of time)"
			}
		}
		fmt.Fprintf(w, "| %s%s | %s |\n", p.pkg, status, round(p.elapsed))
		for _, name := range benches {
			fmt.Fprintf(w, "| &nbsp;&nbsp;%s | %s |\n", name, round(took[name]))
		}
	}
}

func round(d time.Duration) time.Duration { return d.Round(time.Second) }

// merge folds the runs of one benchmark (go test -count N) into one result: each metric's
// median, with the spread (max − min) as a percentage of it when the runs differ.
func merge(results []result) []result {
	var out []result
	index := map[string]int{}
	runs := map[string][]result{}
	for _, r := range results {
		key := r.pkg + "\x00" + r.name
		if _, ok := index[key]; !ok {
			index[key] = len(out)
			out = append(out, r)
		}
		runs[key] = append(runs[key], r)
	}
	for i, r := range out {
		rs := runs[r.pkg+"\x00"+r.name]
		if len(rs) < 2 {
			continue
		}
		merged := result{pkg: r.pkg, name: r.name, iterations: fmt.Sprintf("%s (median of %d)", r.iterations, len(rs))}
		for j, m := range r.metrics {
			var vs []float64
			for _, run := range rs {
				if j < len(run.metrics) && run.metrics[j].unit == m.unit {
					if v, err := strconv.ParseFloat(run.metrics[j].value, 64); err == nil {
						vs = append(vs, v)
					}
				}
			}
			if len(vs) != len(rs) {
				merged.metrics = append(merged.metrics, m) // runs that disagree on their metrics: keep the first
				continue
			}
			slices.Sort(vs)
			med := vs[len(vs)/2]
			if len(vs)%2 == 0 {
				med = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
			}
			value := strconv.FormatFloat(med, 'g', 4, 64)
			if math.Abs(med) >= 1000 {
				value = strconv.FormatFloat(med, 'f', 0, 64)
			}
			if med != 0 && vs[len(vs)-1] != vs[0] {
				value += fmt.Sprintf(" (±%.0f%%)", 100*(vs[len(vs)-1]-vs[0])/math.Abs(med))
			}
			merged.metrics = append(merged.metrics, metric{value: value, unit: m.unit})
		}
		out[i] = merged
	}
	return out
}

// header says how to read the figures; issue 17 asked that it say which ones repeat.
const header = `Written by ` + "`make bench`" + `; do not edit by hand. The prose comes from internal/benchreport.

How the figures are made (issue 17):

- Load comes from a process of its own (internal/loadgen, built and run by the benchmark), so
  the server's figures are the server's. Fake upstreams stay in the benchmark process only
  where noted.
- **CPU per operation** is reported apart for Go (go-cpu-ms/op: the benchmark process's
  rusage, which is the server when loadgen sends the load) and PostgreSQL (pg-cpu-ms/op: the
  CPU time of the backends connected to the benchmark's own database, from /proc; the WAL
  writer and checkpointer, shared by all databases, are not counted). server-allocs/op and
  server-B/op are the server's allocations per operation; the framework's allocs/op and B/op
  divide a whole benchmark, setup included, by its one iteration where a benchmark runs once.
- **Capacity** (capacity/s) is the best throughput of a concurrency sweep of closed loops
  (best-C is where it was reached). **Latency** (p50-ms@50%, p99-ms@70%, …) comes from an
  open loop at 50% and 70% of that capacity, timed from each request's due time, with a
  pooled Transport; the loop never drops a request that fell due while the machine was busy.
  Each open loop runs long enough for 1,500 requests (loadgen.LatencySamples), so a p99 rests
  on its 15 slowest rather than on the four of a 2-second run at 170/s.
- Figures measured three times are the median, and ` + "`unit±%`" + ` beside one is its spread (max − min)
  as a percentage of the median. Run ` + "`BENCHCOUNT=3 make bench`" + ` to take every benchmark's median of
  three: the runs of one benchmark are folded into one row, each figure with its spread.
- round-trips/op counts the waits on PostgreSQL of one warm operation on the wire.
- Packages run one at a time (go test -p 1), and the time table at the end says how long
  each benchmark took, its setup included, against the budget of 25 minutes for all of
  ` + "`make bench`" + ` on this 2-core machine. The million-chunk search (` + "`SEARCH_CHUNKS=1000000`" + `)
  is a long run of its own, outside that budget.

**Stable on a shared machine** (they repeat within a few percent whatever else runs):
round-trips/op, allocations per operation, recall@10 (within the variance of the HNSW build,
which the three builds show), chunks/doc; CPU per operation repeats within about 10–30% on a
busy machine (contention costs CPU too), much better on a quiet one. **Not stable**: anything
timed by the clock, that is latency percentiles, capacity, rows/s and chunks/s, ns/op, build
seconds; they measure the machine's load as much as Mentor, and only the quiet machine's figures
may be compared with targets.`

func writeReport(w io.Writer, env []string, results []result) {
	fmt.Fprintln(w, "# Benchmarks")
	fmt.Fprintln(w)
	fmt.Fprintln(w, header)
	fmt.Fprintln(w)
	for _, e := range env {
		fmt.Fprintf(w, "- %s\n", e)
	}
	pkg := "\x00"
	for _, r := range results {
		if r.pkg != pkg {
			pkg = r.pkg
			fmt.Fprintf(w, "\n## %s\n\n", pkg)
			if note, ok := notes[pkg]; ok {
				fmt.Fprintf(w, "%s\n\n", note)
			}
			fmt.Fprintln(w, "| benchmark | iterations | figures |")
			fmt.Fprintln(w, "|---|---:|---|")
		}
		var figs []string
		for _, m := range r.metrics {
			figs = append(figs, m.value+" "+m.unit)
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", r.name, r.iterations, strings.Join(figs, " · "))
	}
}

// notes say what a package's figures measure and what they are held to, where the metric
// names alone would not tell a reader.
var notes = map[string]string{
	// Campaigns (issue 13).
	"github.com/mentor-ai/mentor/campaign": "BenchmarkNext claims items from a campaign of MENTOR_BENCH_CAMPAIGN_ITEMS ready items (2,000 by default) by " +
		"MENTOR_BENCH_CAMPAIGN_TRAINERS trainers (50), in process through the server's pool: a closed loop of every trainer at once " +
		"finds capacity/s (closed-p99-ms is its queue, not the claim), then open loops at 50% and 70% of capacity time each claim " +
		"from when it was due (claim-p50/p99-ms@50%/@70%); each claim is followed by an untimed skip; go-cpu-ms/claim and " +
		"pg-cpu-ms/claim are the CPU of a claim and its skip. BenchmarkPregeneration generates MENTOR_BENCH_CAMPAIGN_GEN_ITEMS " +
		"items (200) at N = 4 against a fast httptest upstream (items/s, with go-cpu-ms/item and pg-cpu-ms/item: 2 cores can " +
		"generate at most 2,000 / (go + pg) items a second). Targets (issue 13): claim p99 ≤ 20 ms with 1,000,000 items and " +
		"500 trainers; ≥ 200 items/s.",
	// The work screen in Chromium (issue 13).
	"github.com/mentor-ai/mentor/cmd/mentor": "BenchmarkSubmitToNextItem is a trainer on My work in headless Chromium against mentor serve: " +
		"from the submit keystroke to the first frame with the next item on screen and the keyboard on candidate A, submit " +
		"included, with the screen's two-deep prefetch, stamped by the page's own clock; MENTOR_BENCH_WORK_ITEMS items a round " +
		"(5), read for MENTOR_BENCH_WORK_READ_MS (500) each. Target (issue 13): p95 ≤ 300 ms. " +
		"BenchmarkRelayReplicas is the relay's load (125 sessions of 4 candidates: 500 concurrent streams) against one " +
		"`mentor serve` process and against two on one database, each given one core, after one unmeasured round on each " +
		"setup's fresh replicas: cpu-ms/1k-tokens is the replicas' CPU together, scaling-efficiency one replica's CPU per token " +
		"over two's, notify/s the LISTEN/NOTIFY events between replicas (issue 12). Its latencies are at saturation of the two " +
		"cores and are not comparable with BenchmarkRelay's.",
	"github.com/mentor-ai/mentor/export": "BenchmarkExportDPO exports 1,000,000 preference pairs as trl-dpo JSONL (rows/s, and peak-RSS-MB: " +
		"the process's VmHWM during the export) and reads the same pairs' text with a raw `COPY (SELECT …) TO STDOUT` in the same run " +
		"(copy-rows/s, %-of-copy). Targets (issue 7): ≥ 200,000 rows/s, peak RSS ≤ 150 MB, ≥ 50% of the COPY rate.",
	"github.com/mentor-ai/mentor/retrieval": "BenchmarkIngest imports generated bilingual documents of 8 sections (internal/corpusgen) with the offline " +
		"embedder: chunking, embedding, the Chinese-aware tsvector, COPY and the term counts. per-document commits each document " +
		"(a folder of files); batch=200 imports the 400 as a JSONL or CSV file does, in transactions of 200, two of them written at once " +
		"on two connections, each 25 documents at a time (the first 5) with one COPY while its next ones are prepared at most 50 ahead. hnsw keeps the vector index up to date; no-hnsw is a first bulk load with the index " +
		"built afterwards (its build time is under BenchmarkSearch). go-cpu-µs/chunk and pg-cpu-µs/chunk are the CPU a chunk " +
		"costs this process and PostgreSQL, by which chunks/s can be judged on another machine: 2 cores at full use can ingest " +
		"at most 2,000,000 / (go + pg µs) chunks a second. Each figure is the median of three rounds of 400 documents, with its " +
		"spread. Target (issues 6 and 17): ≥ 5,000 chunks/s with the index built afterwards.",
	"github.com/mentor-ai/mentor/rlhf": "BenchmarkSubmit is rlhf.Submit alone, one at a time on one warm connection: a ranking of four, a " +
		"gold reply and its ten pairs. Its CPU figures are the judgment's own cost without HTTP; round-trips/op is 2 (issue 17), " +
		"the lookups' batch (which the server sends with its access check) and the write. " +
		"BenchmarkLiveWrites is what a live turn writes, one phase at a time on one warm connection (issue 12): start is a turn's " +
		"start (a new conversation, the trainer's message, the turn, four streaming candidates and their messages); " +
		"start-concurrent-8 is the same from eight trainers at once on one persona, whose foreign keys lock the same project, " +
		"persona and prompt version rows; save-32 is one once-a-second save of 32 streams, each 50 new characters; " +
		"start+final-4 is a start and the final save of its four candidates (the final save is its figure less start's). " +
		"BenchmarkRelay's pg-cpu-ms/1k-tokens is these phases under load, with the sign-in checks: at 200 tokens a candidate, " +
		"1,000 tokens are 1.25 starts, 20 stream-seconds of saves and 5 final saves.",
	"github.com/mentor-ai/mentor/server": "BenchmarkJudgmentSubmit posts judgments from 1,000 trainers, each signed in (session, access check, the submission's lookups, the " +
		"write, ten pairs), each trainer one submit at a time while fewer than 1,000 are in flight, with the load from loadgen's " +
		"process, after a warm-up and ANALYZE and a CHECKPOINT (every load profile starts with one, so that no timed checkpoint " +
		"of the benchmarks before it falls in its phases): capacity by a sweep of C = 1…32, CPU per " +
		"submit of the server and of PostgreSQL at capacity (go-cpu-ms/op, pg-cpu-ms/op) and at 50% and 70% of it " +
		"(go-cpu-ms/op@70%, …), latency at 50% and 70% of capacity; round-trips/op is one warm submit through " +
		"the whole server (issue 17: from 12 to 3, then 2 on 2026-12-02: the access check's one batch (session or token with " +
		"the caller's memberships, the turn, its rubric and its candidates) and the write). " +
		"Targets (issue 17): CPU per submit (go + pg) ≤ 2 ms, p99 ≤ 20 ms at 70% of capacity. " +
		"pg-extend-wait-%@50% and @70% are the share of PostgreSQL's active backends, sampled every 10 ms during the open loops " +
		"(loadgen.WaitSampler, whose log line lists every wait event), found queueing for the lock that grows a table or index " +
		"by a page (Lock:extend). On 2026-12-02 that wait made the submit's p99 at 70%: bursts of 30–40 ms in which five to " +
		"eight backends queued to extend preference_pairs, while PostgreSQL 15 wrote the new pages one at a time on this " +
		"machine's disk; a control run with the table grown beforehand (rows inserted and deleted, then VACUUM) had no such " +
		"waits and a p99@70% of 12 ms (±20%) against 53 ms (±190%). PostgreSQL 16 grows a relation by many pages in one call. " +
		"pg-commit-wait-% is the share waiting for WAL to be flushed (IO:WALSync, IO:WALWrite, and LWLock:WALWrite, the lock of " +
		"the backend flushing for the others): in one run on the faster 2-core machine of the evening of 2026-12-02 (capacity 2,027/s) it was " +
		"20% at 50% and 80% at 70%, where the open loop fell behind (up to 1,271 requests in flight) and p99 reached 96 ms: at 70% " +
		"of a capacity measured at CPU saturation, the server, its backends and loadgen keep more than three quarters of both cores busy (1.0 ms of CPU a submit at 1,419/s). " +
		"That the flush is what makes the tail was not borne out by runs made by hand on 2026-12-03 (BenchmarkJudgmentSubmit alone, " +
		"the same code; not what make bench runs): 5 runs on the disk gave a p99@70% of 17.5, 23.3, 30.9, 63.9 and 69.1 ms " +
		"(commit waits 52–71%), and 3 against a cluster on tmpfs, whose flush costs next to nothing (commit waits 2–11%), 34.8, " +
		"56.0 and 68.6 ms, the waits moving to CPU and LWLock:BufferContent; neither a pool of 8 connections instead of 32 (26.7, " +
		"32.1, 42.7 ms) nor commit_delay = 200 µs (24.4, 26.6, 39.1 ms) was shown to help. So few runs with so wide a spread show " +
		"only that the tail stays without the flush: at 70% of a capacity measured at saturation, on two cores that also run loadgen " +
		"and every backend, it is queueing (and, we infer without having measured it, lock holders waiting for a core), and the " +
		"target of 20 ms is met in some runs and missed by 3.5 times in others. " +
		"BenchmarkSearch loads a generated bilingual corpus (100k chunks; SEARCH_CHUNKS=1000000 make bench for " +
		"1M), builds its HNSW index three times as the product builds it (m 16, ef_construction 200: retrieval.VectorIndexBuild, " +
		"migration 00029; pgvector's default of 64 until 2026-12-02) (a parallel build inserts in another order each time, and " +
		"recall depends on the graph it makes), repairs each build as the server's periodic job does, with its 200 questions as the trainers' latest " +
		"(retrieval.RepairVectorIndexOn: measure recall@10 on them against exact search and rebuild the index while below 0.95, up to 3 times; " +
		"index-check-recall-min is the product check's worst first recall, the same measure as recall@10-ef100-as-built-min by another route, " +
		"index-rebuilds the rebuilds over the three builds, index-check-s one check's time) " +
		"and measures recall@10 of the HNSW search against exact search over 200 questions after each, " +
		"at ef_search 40 (pgvector's default), 100 (what every pooled connection and a search of up to 100k vectors use; " +
		"200 until 2026-12-02), 200 and 400 (a search of a larger index): each the median of the " +
		"three repaired builds, -min the worst, recall@10-ef100-as-built-min the worst build before its repair; questions-none-found-ef100-max is the most questions of the 200 that one build left with none " +
		"of their 10 nearest (a poor build loses whole questions, docs/retrieval.md) (a returned chunk counts when it is no farther than the exact 10th: generated text ties " +
		"often; duplicate-vectors-% is the share of chunks whose vector another chunk has too). raw is SearchGroup alone " +
		"(its vector and full-text statements at once, each returning ids and scores, the fusion, and the read of the fused " +
		"top k's passages), the query vector computed beforehand, and each list " +
		"alone; api is GET /api/v1/search through the whole server (the access check's round trip, which " +
		"also reads the corpus, then the search's three: 4, where it was 5 until 2026-12-02), one request at a time, each question " +
		"searched raw (raw-p50-ms, raw-p99-ms) and through the server back to back, which goes first alternating by question and by pass " +
		"(since 2026-12-03; before, all of raw ran first and the ratio moved with the machine between the two): p50-x-raw and " +
		"p99-x-raw are api's percentiles over that loop's own raw ones (not the raw/hybrid row's), api-minus-raw-p50-ms the median " +
		"of the pairs' differences, and request-p50-ms and request-p99-ms the same request with an empty question, which the server " +
		"refuses after its access check with an error reply: the HTTP request, the session and the access check, without the " +
		"question's embedding, the search or the passages' JSON; an iteration is two passes over the 200 questions, so the api " +
		"row's B/op and allocs/op are those passes' three requests a question; api-load is the same from loadgen's process (capacity, CPU per search, latency at 50% and 70%); " +
		"generic-plans-% is the share of the search statements' runs (both lists and the passages' read) that used the " +
		"connection's cached plan instead of being planned for the call (issue 17: 48 when the vector list was planned on " +
		"every call). docs/retrieval.md explains the recall figures across builds and ef_search, and what each list reads. " +
		"Targets (issues 6 and 17): recall@10 ≥ 0.95, API p99 ≤ 20 ms at 50% load at 100k, API/raw ≤ 1.1. The relay, readyz, " +
		"authorized-read and try benchmarks are issue 5's (docs/architecture.md).",
}

// machine describes where the figures came from.
func machine(ctx context.Context, getenv func(string) string) []string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %.0f GiB memory", float64(kb)/(1<<20))
	}
	env := []string{
		"date: " + time.Now().UTC().Format("2006-01-02 15:04 MST"),
		fmt.Sprintf("machine: %s, %d cores%s, %s/%s", cpu, runtime.NumCPU(), mem, runtime.GOOS, runtime.GOARCH),
		"go: " + runtime.Version(),
	}
	if out := command(ctx, "git", "rev-parse", "--short", "HEAD"); out != "" {
		env = append(env, "commit: "+out)
	}
	if dsn := getenv("DATABASE_URL"); dsn != "" {
		if v := command(ctx, "psql", dsn, "-XAtc",
			"select current_setting('server_version') || ', pgvector ' || coalesce((select extversion from pg_extension where extname = 'vector'), "+
				"(select default_version from pg_available_extensions where name = 'vector'), 'absent')"); v != "" {
			env = append(env, "postgresql: "+v)
		}
	}
	return env
}

func command(ctx context.Context, name string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
