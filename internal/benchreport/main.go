// Command benchreport turns `go test -bench` output into docs/benchmarks.md, with the
// machine, the date and the software versions the figures were measured on.
//
// Benchmarks report their own figures (p50-ms, rows/s, …) with b.ReportMetric; every metric
// a benchmark reports becomes a column, so a new benchmark needs no change here.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
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
	in := fs.String("in", "-", "go test -bench output (- for standard input)")
	out := fs.String("out", "docs/benchmarks.md", "the report to write")
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
	results, err := parse(r)
	if err != nil {
		return err
	}
	if len(results) == 0 {
		return fmt.Errorf("no benchmark results in %s: did the benchmarks fail?", *in)
	}
	var b strings.Builder
	writeReport(&b, machine(ctx, getenv), results)
	if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d benchmarks)\n", *out, len(results))
	return nil
}

// result is one benchmark line: its package, name, iteration count and metrics in order.
type result struct {
	pkg, name  string
	iterations string
	metrics    []metric
}

type metric struct{ value, unit string }

func parse(r io.Reader) ([]result, error) {
	var results []result
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		fields := strings.Fields(line)
		// BenchmarkName-N  iterations  value unit  value unit …
		if len(fields) < 4 || len(fields)%2 != 0 {
			continue // a benchmark's own log line, not a result
		}
		res := result{pkg: pkg, name: fields[0], iterations: fields[1]}
		for i := 2; i+1 < len(fields); i += 2 {
			res.metrics = append(res.metrics, metric{value: fields[i], unit: fields[i+1]})
		}
		results = append(results, res)
	}
	return results, sc.Err()
}

func writeReport(w io.Writer, env []string, results []result) {
	fmt.Fprintln(w, "# Benchmarks")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Written by `make bench`; do not edit by hand. Each figure is from one run on the machine below;")
	fmt.Fprintln(w, "latency percentiles are measured per operation inside the benchmark.")
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
		"MENTOR_BENCH_CAMPAIGN_TRAINERS concurrent trainers (50), each round every trainer claiming at once (claim-p50/p99-ms). " +
		"BenchmarkPregeneration generates MENTOR_BENCH_CAMPAIGN_GEN_ITEMS items (200) at N = 4 against a fast httptest upstream " +
		"(items/s). Targets (issue 13): next p99 ≤ 20 ms with 1,000,000 items and 500 trainers; ≥ 200 items/s.",
	"github.com/mentor-ai/mentor/export": "BenchmarkExportDPO exports 1,000,000 preference pairs as trl-dpo JSONL (rows/s, and peak-RSS-MB: " +
		"the process's VmHWM during the export) and reads the same pairs' text with a raw `COPY (SELECT …) TO STDOUT` in the same run " +
		"(copy-rows/s, %-of-copy). Targets (issue 7): ≥ 200,000 rows/s, peak RSS ≤ 150 MB, ≥ 50% of the COPY rate.",
	"github.com/mentor-ai/mentor/retrieval": "BenchmarkIngest imports generated bilingual documents of 8 sections (internal/corpusgen) with the offline " +
		"embedder: chunking, embedding, the Chinese-aware tsvector, COPY and the term counts. per-document commits each document " +
		"(a folder of files); batch=200 shares a transaction among 200 (a JSONL or CSV file). hnsw keeps the vector index up to date; " +
		"no-hnsw is a first bulk load with the index built afterwards (its build time is under BenchmarkSearch). Target (issue 6): " +
		"≥ 5,000 chunks/s.",
	"github.com/mentor-ai/mentor/server": "BenchmarkSearch loads a generated bilingual corpus (100k chunks; SEARCH_CHUNKS=1000000 make bench for " +
		"1M), builds its HNSW index (hnsw-build-s) and measures recall@10 of the HNSW search against exact search over 200 " +
		"questions (a returned chunk counts when it is no farther than the exact 10th: generated text ties often), at the ef_search " +
		"every connection uses (200) and at 100 and 400. raw is the hybrid statement alone, sent with " +
		"pgx with the query vector computed beforehand (and each list alone); api is GET /api/v1/search through the whole server, " +
		"with p50-x-raw and p99-x-raw its ratio to raw hybrid. Targets (issue 6): recall@10 ≥ 0.95, API p99 ≤ 20 ms at 100k, " +
		"API/raw ≤ 1.3. The relay, judgment, readyz, authorized-read and try benchmarks are issue 5's (docs/architecture.md).",
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
