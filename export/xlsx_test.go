package export_test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/export"
	"github.com/mentor-ai/mentor/sheet"
)

// TestXLSXMatchesJSONL writes every format as .xlsx, reads the workbook back with package
// sheet (as an importer would) and compares each cell with the JSONL export's value: text as
// it is, numbers and booleans as Excel shows them, nested values as their JSON.
func TestXLSXMatchesJSONL(t *testing.T) {
	t.Parallel()
	w := fixture(t)
	cases := append([]formatCase{}, formatCases...)
	cases = append(cases, formatCase{format: "trainer-stats"})
	for _, tc := range cases {
		t.Run(tc.format+" "+tc.kind, func(t *testing.T) {
			jsonl, _ := w.export(t, export.Spec{Format: tc.format, Kind: tc.kind})
			data, _ := w.export(t, export.Spec{Format: tc.format, Kind: tc.kind, Encoding: export.XLSX})
			table, err := sheet.Read(bytes.NewReader(data), "")
			require.NoError(t, err)
			want := rowsOf(t, jsonl)
			require.NotEmpty(t, want, "the fixture has rows for every format")
			require.Len(t, table.Rows, len(want))
			for i, row := range want {
				for key := range row {
					require.GreaterOrEqual(t, table.Column(key), 0, "column %s of the JSONL rows is missing from the sheet %v", key, table.Header)
				}
				for j, col := range table.Header {
					got := table.Rows[i].Get(j)
					switch v := row[col].(type) {
					case nil:
						assert.Empty(t, got, "row %d %s", i+1, col)
					case string:
						assert.Equal(t, v, got, "row %d %s", i+1, col)
					case bool:
						assert.Equal(t, map[bool]string{true: "TRUE", false: "FALSE"}[v], got, "row %d %s", i+1, col)
					case float64:
						f, err := strconv.ParseFloat(got, 64)
						require.NoError(t, err, "row %d %s: %q", i+1, col, got)
						assert.InDelta(t, v, f, 1e-9, "row %d %s", i+1, col)
					default:
						var back any
						require.NoError(t, json.Unmarshal([]byte(got), &back), "row %d %s: %q", i+1, col, got)
						assert.Equal(t, v, back, "row %d %s", i+1, col)
					}
				}
			}
		})
	}
}

func TestTrainerStats(t *testing.T) {
	t.Parallel()
	w := fixture(t)
	type stats struct {
		Annotator       string  `json:"annotator"`
		Judgments       int     `json:"judgments"`
		Conversations   int     `json:"conversations"`
		Personas        int     `json:"personas"`
		Edits           int     `json:"edits"`
		GoldReplies     int     `json:"gold_replies"`
		Flagged         int     `json:"flagged"`
		PreferencePairs int     `json:"preference_pairs"`
		Revisions       int     `json:"revisions"`
		SecondsPer      float64 `json:"seconds_per_judgment"`
	}
	read := func(t *testing.T, f export.Filter) []stats {
		data, _ := w.export(t, export.Spec{Format: "trainer-stats", Filter: f})
		var out []stats
		for _, r := range rowsOf(t, data) {
			b, _ := json.Marshal(r)
			var s stats
			require.NoError(t, json.Unmarshal(b, &s))
			out = append(out, s)
		}
		return out
	}
	got := read(t, export.Filter{})
	require.Len(t, got, 2)
	// wang judged t1, t2, t3 (twice: only the revision is a judgment), t7 and t8; li judged t3
	// to t6. The fixture's judgments each took a second.
	wang, li := got[1], got[0]
	assert.Equal(t, stats{Annotator: "wang", Judgments: 5, Conversations: 4, Personas: 2, Edits: 1, GoldReplies: 2, Flagged: 2,
		PreferencePairs: wang.PreferencePairs, Revisions: 6, SecondsPer: 1}, wang)
	assert.Equal(t, stats{Annotator: "li", Judgments: 4, Conversations: 4, Personas: 2, Edits: 0, GoldReplies: 1, Flagged: 1,
		PreferencePairs: li.PreferencePairs, Revisions: 4, SecondsPer: 1}, li)
	assert.Positive(t, wang.PreferencePairs)
	assert.Positive(t, li.PreferencePairs)

	only := read(t, export.Filter{Annotators: []string{"li"}, Personas: []string{"customs-helper"}})
	require.Len(t, only, 1)
	assert.Equal(t, "li", only[0].Annotator)
	assert.Equal(t, 2, only[0].Judgments, "t5 and t6")
}
