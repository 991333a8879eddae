package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseAndReport(t *testing.T) {
	t.Parallel()
	in := `goos: linux
pkg: github.com/mentor-ai/mentor/server
BenchmarkReadyz-2   	   12040	     98533 ns/op	         0.091 p50-ms	         0.410 p99-ms	    7080 B/op	      80 allocs/op
some log line from a benchmark
PASS
pkg: github.com/mentor-ai/mentor/auth
BenchmarkCheckPassword-2   100   5 ns/op
pkg: github.com/mentor-ai/mentor/server
BenchmarkReadyz-2   	   12000	     90000 ns/op	         0.095 p50-ms	         0.400 p99-ms	    7080 B/op	      80 allocs/op
BenchmarkReadyz-2   	   12100	    100000 ns/op	         0.092 p50-ms	         0.450 p99-ms	    7080 B/op	      80 allocs/op
`
	results, err := parse(strings.NewReader(in))
	require.NoError(t, err)
	require.Len(t, results, 4)
	assert.Equal(t, "BenchmarkReadyz-2", results[0].name)
	assert.Equal(t, metric{"0.410", "p99-ms"}, results[0].metrics[2])
	assert.Equal(t, "github.com/mentor-ai/mentor/auth", results[1].pkg)

	var b strings.Builder
	writeReport(&b, []string{"date: today"}, merge(results))
	// Three runs of one benchmark (go test -count 3) fold into one row of medians, each with
	// its spread; a figure that did not move has none.
	assert.Contains(t, b.String(), "| BenchmarkReadyz-2 | 12040 (median of 3) | 98533 (±10%) ns/op · 0.092 (±4%) p50-ms · 0.41 (±12%) p99-ms · 7080 B/op · 80 allocs/op |")
	assert.Contains(t, b.String(), "## github.com/mentor-ai/mentor/auth\n\n| benchmark", "only packages with a note get one")
	assert.Contains(t, b.String(), "## github.com/mentor-ai/mentor/server\n\nBenchmarkJudgmentSubmit posts")

	results[1].pkg = "github.com/mentor-ai/mentor/export"
	b.Reset()
	writeReport(&b, nil, merge(results))
	assert.Contains(t, b.String(), "## github.com/mentor-ai/mentor/export\n\nBenchmarkExportDPO exports 1,000,000 preference pairs")
}

// TestJSONTimesEachBenchmark reads `go test -json` as make bench writes it: a benchmark's
// name and its figures arrive in two pieces, the package's start and end are events, and a
// package that ran out of time is named as unfinished.
func TestJSONTimesEachBenchmark(t *testing.T) {
	t.Parallel()
	in := `{"Time":"2026-12-01T10:00:00Z","Action":"start","Package":"github.com/mentor-ai/mentor/rlhf"}
{"Time":"2026-12-01T10:00:01Z","Action":"output","Package":"github.com/mentor-ai/mentor/rlhf","Output":"goos: linux\n"}
{"Time":"2026-12-01T10:00:01Z","Action":"output","Package":"github.com/mentor-ai/mentor/rlhf","Output":"BenchmarkSubmit-2   \t"}
{"Time":"2026-12-01T10:00:09Z","Action":"output","Package":"github.com/mentor-ai/mentor/rlhf","Test":"BenchmarkSubmit","Output":"     523\t   4060972 ns/op\t         2.000 round-trips/op\n"}
{"Time":"2026-12-01T10:00:10Z","Action":"pass","Package":"github.com/mentor-ai/mentor/rlhf","Elapsed":10.2}
{"Time":"2026-12-01T10:00:11Z","Action":"start","Package":"github.com/mentor-ai/mentor/server"}
{"Time":"2026-12-01T10:01:11Z","Action":"output","Package":"github.com/mentor-ai/mentor/server","Output":"BenchmarkSearch/index/chunks=1000-2 \t       1\t 0.95 recall@10-ef200\n"}
{"Time":"2026-12-01T10:01:41Z","Action":"output","Package":"github.com/mentor-ai/mentor/server","Output":"BenchmarkSearch/raw/hybrid/chunks=1000-2 \t     100\t 1.5 p99-ms\n"}
{"Time":"2026-12-01T10:30:11Z","Action":"output","Package":"github.com/mentor-ai/mentor/server","Output":"panic: test timed out after 30m0s\n"}
{"Time":"2026-12-01T10:30:12Z","Action":"fail","Package":"github.com/mentor-ai/mentor/server","Elapsed":1801}
`
	var echo strings.Builder
	run, err := parseRun(strings.NewReader(in), &echo)
	require.NoError(t, err)
	require.Len(t, run.results, 3)
	assert.Equal(t, result{pkg: "github.com/mentor-ai/mentor/rlhf", name: "BenchmarkSubmit-2", iterations: "523",
		metrics: []metric{{"4060972", "ns/op"}, {"2.000", "round-trips/op"}}, took: 9 * time.Second}, run.results[0])
	assert.Equal(t, 30*time.Second, run.results[2].took)
	assert.Contains(t, echo.String(), "BenchmarkSubmit-2   \t     523\t", "the terminal sees the lines whole")

	var b strings.Builder
	writeTimes(&b, run)
	report := b.String()
	assert.Contains(t, report, "took 30m12s on the clock, 30m11s of it in the test binaries, over the budget of 25m0s")
	assert.Contains(t, report, "**Not finished:** github.com/mentor-ai/mentor/server (ran out of time)")
	assert.Contains(t, report, "| github.com/mentor-ai/mentor/rlhf | 10s |\n| &nbsp;&nbsp;BenchmarkSubmit | 9s |")
	assert.Contains(t, report, "| &nbsp;&nbsp;BenchmarkSearch | 1m30s |", "a benchmark's sub-benchmarks add up, its setup with the first")
}
