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
pkg: github.com/mentor-ai/mentor/rlhf
BenchmarkSubmit/c=10-2   100   5 ns/op
`
	results, err := parse(strings.NewReader(in))
	require.NoError(t, err)
	require.Len(t, results, 2)
	assert.Equal(t, "BenchmarkReadyz-2", results[0].name)
	assert.Equal(t, metric{"0.410", "p99-ms"}, results[0].metrics[2])
	assert.Equal(t, "github.com/mentor-ai/mentor/rlhf", results[1].pkg)

	var b strings.Builder
	writeReport(&b, []string{"date: today"}, results)
	assert.Contains(t, b.String(), "| BenchmarkReadyz-2 | 12040 | 98533 ns/op · 0.091 p50-ms · 0.410 p99-ms · 7080 B/op · 80 allocs/op |")
	assert.Contains(t, b.String(), "## github.com/mentor-ai/mentor/rlhf")
	assert.Contains(t, b.String(), "## github.com/mentor-ai/mentor/rlhf\n\n| benchmark", "only packages with a note get one")
	assert.Contains(t, b.String(), "## github.com/mentor-ai/mentor/server\n\nBenchmarkSearch loads")

	results[1].pkg = "github.com/mentor-ai/mentor/export"
	b.Reset()
	writeReport(&b, nil, results)
	assert.Contains(t, b.String(), "## github.com/mentor-ai/mentor/export\n\nBenchmarkExportDPO exports 1,000,000 preference pairs")
}
