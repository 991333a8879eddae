package export_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/export"
)

// BenchmarkExportDPO exports a million preference pairs as trl-dpo JSONL and, in the same
// run, copies the same rows with a raw COPY (SELECT …) TO STDOUT: the physical baseline of
// reading them at all. Each figure is the median of three passes. Targets (issue 7): ≥ 200,000 rows/s, peak RSS ≤ 150 MB, ≥ 50% of
// the COPY rate.
func BenchmarkExportDPO(b *testing.B) {
	w := newWorld(b)
	const pairs = 1_000_000
	bulkPairs(b, w, pairs)
	ctx := context.Background()
	ex := export.New(w.pool, nil)
	spec := export.Spec{Format: "trl-dpo", Filter: export.Filter{Project: "exports"}, AsOf: time.Now()}

	// The machine may be shared, so each iteration makes three passes of each, interleaved,
	// and reports the median.
	const passes = 3
	var exportSecs, copySecs []float64
	var peakRSS int64
	b.ResetTimer()
	for b.Loop() {
		for range passes {
			resetPeakRSS(b)
			start := time.Now()
			_, stats, err := ex.Stream(ctx, spec, "", &countWriter{})
			exportSecs = append(exportSecs, time.Since(start).Seconds())
			require.NoError(b, err)
			require.Equal(b, pairs, stats.Rows)
			peakRSS = max(peakRSS, vmHWM(b))

			conn, err := w.pool.Acquire(ctx)
			require.NoError(b, err)
			start = time.Now()
			tag, err := conn.Conn().PgConn().CopyTo(ctx, &countWriter{}, fmt.Sprintf(rawCopy, w.project.ID))
			copySecs = append(copySecs, time.Since(start).Seconds())
			conn.Release()
			require.NoError(b, err)
			require.EqualValues(b, pairs, tag.RowsAffected())
		}
	}
	exportRate, copyRate := pairs/median(exportSecs), pairs/median(copySecs)
	b.ReportMetric(exportRate, "rows/s")
	b.ReportMetric(copyRate, "copy-rows/s")
	b.ReportMetric(100*exportRate/copyRate, "%-of-copy")
	b.ReportMetric(float64(peakRSS)/(1<<20), "peak-RSS-MB")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// rawCopy reads the same rows' data in the plainest way: each pair's user turn, chosen and
// rejected text and margin, in pair order, with no filter, no context walk and no JSON.
const rawCopy = `COPY (SELECT pp.id, pp.margin, um.content, cm.content, rm.content
	FROM preference_pairs pp
	JOIN judgments j ON j.id = pp.judgment_id
	JOIN turns t ON t.id = j.turn_id
	JOIN conversations c ON c.id = t.conversation_id
	JOIN messages um ON um.id = t.user_message_id
	JOIN messages cm ON cm.id = pp.chosen_message_id
	JOIN messages rm ON rm.id = pp.rejected_message_id
	WHERE c.project_id = %d ORDER BY pp.id) TO STDOUT`

// resetPeakRSS resets the kernel's high-water mark of resident memory (VmHWM), so the peak
// read afterwards is the export's and not the setup's.
func resetPeakRSS(b *testing.B) {
	require.NoError(b, os.WriteFile("/proc/self/clear_refs", []byte("5"), 0o200))
}

// vmHWM is the process's peak resident set size since the last reset, in bytes.
func vmHWM(b *testing.B) int64 {
	status, err := os.ReadFile("/proc/self/status")
	require.NoError(b, err)
	for line := range bytes.Lines(status) {
		if v, ok := strings.CutPrefix(string(line), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(b, err)
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}
