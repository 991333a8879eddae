package main

import (
	"strings"
	"testing"

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
