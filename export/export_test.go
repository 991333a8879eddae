package export_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/export"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var judgedAt = regexp.MustCompile(`"((?:first_|last_)?judged_at)":"[^"]+"`)

// TestGoldenFiles pins every format's output for the fixture. Run
// `go test ./export -run Golden -update` after an intended change, and read the diff.
func TestGoldenFiles(t *testing.T) {
	t.Parallel()
	w := fixture(t)
	for _, tc := range formatCases {
		name := tc.format
		if tc.kind != "" {
			name += "-" + tc.kind
		}
		t.Run(name, func(t *testing.T) {
			data, _ := w.export(t, export.Spec{Format: tc.format, Kind: tc.kind})
			// The one value that changes from run to run.
			data = judgedAt.ReplaceAll(data, []byte(`"$1":"<time>"`))
			path := filepath.Join("testdata", name+".golden")
			if *update {
				require.NoError(t, os.MkdirAll("testdata", 0o755))
				require.NoError(t, os.WriteFile(path, data, 0o644))
				return
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./export -run Golden -update to create it")
			assert.Equal(t, string(want), string(data))
		})
	}
}

// TestRules checks the derivation rules on the fixture's known judgments.
func TestRules(t *testing.T) {
	t.Parallel()
	w := fixture(t)
	sft := rowsOf(t, first(w.export(t, export.Spec{Format: "trl-sft"})))
	bySource := map[string][]string{}
	for _, r := range sft {
		msgs := r["messages"].([]any)
		bySource[r["source"].(string)] = append(bySource[r["source"].(string)], msgs[len(msgs)-1].(map[string]any)["content"].(string))
	}
	assert.Equal(t, map[string][]string{
		"gold":    {"个人邮寄进境物品，应征税额在50元（含）以下的免征。", "Import tax of RMB 50 or less on a parcel is waived.", "应征税额50元（含）以下免征。[1]"},
		"ranking": {"超过50元的，应全额缴纳进口税。\n1. 申报\n2. 缴税", "Oh no, I'm sorry. That's really disappointing — want to tell me what happened?", "旅客携带酒类不超过1500毫升免税。", "超过2万元人民币现钞需要申报。"},
	}, bySource, "gold first; li's judgment of the same turn and the repeated question are duplicates; a tie picks the first unflagged; without the baseline, the next group is the best")

	kto := rowsOf(t, first(w.export(t, export.Spec{Format: "trl-kto"})))
	labels := map[string]bool{}
	for _, r := range kto {
		labels[r["completion"].([]any)[0].(map[string]any)["content"].(string)] = r["label"].(bool)
	}
	assert.Equal(t, true, labels["应征进口税税额在人民币50元（含）以下的，海关予以免征。[1]"], "top-ranked")
	assert.Equal(t, false, labels["所有邮寄物品都免税。"], "bottom-ranked and flagged")
	assert.Equal(t, false, labels["随便带。"], "flagged in an all-tied ranking")
	assert.NotContains(t, labels, "旅客携带酒类不超过1500毫升免税。", "a tie says nothing good or bad")
	assert.NotContains(t, labels, "税额50元以下免征，超过则全额征税。", "middle-ranked")
	assert.Equal(t, true, labels["应征进口税税额在人民币50元（含）以下的，海关予以免征；超过的全额征收。"], "the correction")

	dpo := rowsOf(t, first(w.export(t, export.Spec{Format: "trl-dpo", Filter: export.Filter{MinMargin: 1.5}})))
	require.NotEmpty(t, dpo)
	for _, r := range dpo {
		assert.GreaterOrEqual(t, r["margin"].(float64), 1.5)
	}
	flagged := rowsOf(t, first(w.export(t, export.Spec{Format: "trl-dpo", Filter: export.Filter{ExcludeFlags: []string{"unsafe"}}})))
	for _, r := range flagged {
		assert.NotEqual(t, "可以分开寄，每包都免税 \"技巧\" \\ 路径 C:\\temp", r["chosen"].([]any)[0].(map[string]any)["content"])
	}
}

func first[A, B any](a A, _ B) A { return a }

// TestFilters checks each filter against the fixture, and that bad values are refused with
// the valid ones listed.
func TestFilters(t *testing.T) {
	t.Parallel()
	w := fixture(t)
	cases := []struct {
		name   string
		filter export.Filter
		check  func(t *testing.T, rows []map[string]any)
	}{
		{"persona", export.Filter{Personas: []string{"companion"}}, func(t *testing.T, rows []map[string]any) {
			for _, r := range rows {
				assert.Equal(t, "companion", r["persona"])
			}
		}},
		{"annotator", export.Filter{Annotators: []string{"li"}}, func(t *testing.T, rows []map[string]any) {
			for _, r := range rows {
				assert.Equal(t, "li", r["annotator"])
			}
		}},
		{"model", export.Filter{Models: []string{"gpt-4o"}}, func(t *testing.T, rows []map[string]any) {
			for _, r := range rows {
				for _, c := range r["candidates"].([]any) {
					assert.Equal(t, "gpt-4o", c.(map[string]any)["model"])
				}
			}
		}},
		{"prompt version", export.Filter{PromptVersions: []int{2}}, func(t *testing.T, rows []map[string]any) {
			for _, r := range rows {
				for _, c := range r["candidates"].([]any) {
					assert.EqualValues(t, 2, c.(map[string]any)["prompt_version"])
				}
			}
		}},
		{"status", export.Filter{Statuses: []string{"interrupted"}}, func(t *testing.T, rows []map[string]any) {
			require.Len(t, rows, 1)
			assert.Equal(t, "酒精度12度以上的酒，限量1500毫升。", rows[0]["candidates"].([]any)[0].(map[string]any)["content"])
		}},
		{"dates", export.Filter{To: at("2000-01-01T00:00:00Z")}, func(t *testing.T, rows []map[string]any) {
			assert.Empty(t, rows)
		}},
	}
	all := rowsOf(t, first(w.export(t, export.Spec{Format: "rankings"})))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rows := rowsOf(t, first(w.export(t, export.Spec{Format: "rankings", Filter: tc.filter})))
			assert.Less(t, len(rows), len(all), "the filter leaves some rows out")
			tc.check(t, rows)
		})
	}

	bad := []struct {
		spec        export.Spec
		field, want string
	}{
		{export.Spec{Format: "trl-ppo"}, "format", "trl-sft, trl-dpo, trl-reward, trl-kto, openai-sft, openai-dpo, sharegpt, alpaca, rankings"},
		{export.Spec{Format: "sharegpt", Kind: "dpo"}, "kind", "sft, preference, kto"},
		{export.Spec{Format: "trl-sft", Encoding: "csv"}, "encoding", "jsonl, jsonl.gz, parquet"},
		{export.Spec{Format: "trl-sft", Filter: export.Filter{Personas: []string{"nobody"}}}, "personas", "companion, customs-helper"},
		{export.Spec{Format: "trl-sft", Filter: export.Filter{Annotators: []string{"zhao"}}}, "annotators", "li, wang"},
		{export.Spec{Format: "trl-sft", Filter: export.Filter{Models: []string{"gpt-5"}}}, "models", "deepseek-chat, gpt-4o"},
		{export.Spec{Format: "trl-sft", Filter: export.Filter{PromptVersions: []int{9}}}, "prompt_versions", "1, 2"},
		{export.Spec{Format: "trl-sft", Filter: export.Filter{Statuses: []string{"done"}}}, "status", "complete, cancelled, failed, interrupted"},
		{export.Spec{Format: "trl-sft", Filter: export.Filter{ExcludeFlags: []string{"rude"}}}, "exclude_flags", "hallucination, unsafe, off_persona, refusal"},
		{export.Spec{Format: "trl-sft", Filter: export.Filter{MinMargin: 1}}, "min_margin", "preference pairs only"},
		{export.Spec{Format: "trl-dpo", TestFraction: 1}, "test_fraction", "below 1"},
		{export.Spec{Format: "trl-dpo", Filter: export.Filter{From: at("2030-01-01T00:00:00Z"), To: at("2029-01-01T00:00:00Z")}}, "to", "after from"},
		{export.Spec{Format: "trl-dpo", AsOf: time.Now().Add(time.Hour)}, "as_of", "in the future"},
	}
	for _, b := range bad {
		t.Run("bad "+b.field, func(t *testing.T) {
			if b.spec.Filter.Project == "" {
				b.spec.Filter.Project = "exports"
			}
			var buf bytes.Buffer
			_, _, err := export.New(w.pool, nil).Stream(context.Background(), b.spec, "", &buf)
			require.Error(t, err)
			var e *errs.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, b.field, e.Field)
			assert.Contains(t, e.Message, b.want)
			assert.Zero(t, buf.Len(), "nothing is written before the spec is checked")
		})
	}
	_, _, err := export.New(w.pool, nil).Stream(context.Background(), export.Spec{Format: "trl-sft", Filter: export.Filter{Project: "nope"}}, "", &bytes.Buffer{})
	assert.Equal(t, errs.NotFound, errs.KindOf(err))
}

// TestParquetMatchesJSONL writes every format as Parquet, reads it back with parquet-go and
// compares each row with the JSONL export's.
func TestParquetMatchesJSONL(t *testing.T) {
	t.Parallel()
	w := fixture(t)
	for _, tc := range formatCases {
		t.Run(tc.format+" "+tc.kind, func(t *testing.T) {
			jsonl, _ := w.export(t, export.Spec{Format: tc.format, Kind: tc.kind})
			pq, _ := w.export(t, export.Spec{Format: tc.format, Kind: tc.kind, Encoding: export.Parquet})
			file, err := parquet.OpenFile(bytes.NewReader(pq), int64(len(pq)))
			require.NoError(t, err)
			want := rowsOf(t, jsonl)
			require.EqualValues(t, len(want), file.NumRows())
			reader := parquet.NewReader(file)
			for i := range want {
				got := map[string]any{}
				require.NoError(t, reader.Read(&got))
				assert.Equal(t, normalize(want[i]), normalize(jsonRoundTrip(t, got)), "row %d", i+1)
			}
		})
	}
}

// normalize makes an absent optional value, a null and an empty list compare equal: Parquet
// stores all three as nothing.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if n := normalize(e); n != nil {
				out[k] = n
			}
		}
		return out
	case []any:
		if len(x) == 0 {
			return nil
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

func jsonRoundTrip(t *testing.T, v any) map[string]any {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

// TestSplitIsDeterministicAndGroupedByConversation splits the same export twice with one
// seed and once with another: the same seed gives the same split, and no conversation is on
// both sides.
func TestSplitIsDeterministicAndGroupedByConversation(t *testing.T) {
	t.Parallel()
	w := fixture(t)
	// More conversations, so both splits get some.
	for i := range 30 {
		tn := w.turn("companion", "li", 0, nil, fmt.Sprintf("Question %d: how do I stay calm?", i),
			cand{content: fmt.Sprintf("Breathe slowly (%d).", i), model: "gpt-4o", version: 1}, cand{content: "Calm down.", model: "gpt-4o-mini", version: 1})
		r := w.judge("companion", "li", tn, judgment{ranking: [][]int{{1}, {2}}})
		tn2 := w.turn("companion", "li", tn.ConversationID, &r.ContinuationMessageID, "And at night?",
			cand{content: fmt.Sprintf("Read a little (%d).", i), model: "gpt-4o", version: 1}, cand{content: "Sleep.", model: "gpt-4o-mini", version: 1})
		w.judge("companion", "li", tn2, judgment{ranking: [][]int{{1}, {2}}})
	}
	split := func(seed int64) map[string]map[float64]bool {
		out := map[string]map[float64]bool{}
		for _, s := range []string{export.TrainSplit, export.TestSplit} {
			var buf bytes.Buffer
			_, _, err := export.New(w.pool, nil).Stream(context.Background(),
				export.Spec{Format: "rankings", Seed: seed, TestFraction: 0.3, Filter: export.Filter{Project: "exports"}}, s, &buf)
			require.NoError(t, err)
			out[s] = map[float64]bool{}
			for _, r := range rowsOf(t, buf.Bytes()) {
				out[s][r["conversation_id"].(float64)] = true
			}
		}
		return out
	}
	a, b, c := split(7), split(7), split(8)
	assert.Equal(t, a, b, "the same seed gives the same split")
	assert.NotEqual(t, a, c, "another seed gives another split")
	assert.NotEmpty(t, a[export.TestSplit])
	assert.Greater(t, len(a[export.TrainSplit]), len(a[export.TestSplit]))
	for conv := range a[export.TestSplit] {
		assert.False(t, a[export.TrainSplit][conv], "conversation %v is in both splits", conv)
	}
}

// TestWriteDirAndAsOfGiveIdenticalFiles exports to a directory, adds judgments, and
// exports again from the recorded snapshot: the data files and the card are byte-identical,
// while a fresh export sees the new rows.
func TestWriteDirAndAsOfGiveIdenticalFiles(t *testing.T) {
	t.Parallel()
	w := fixture(t)
	ex := export.New(w.pool, nil)
	ctx := context.Background()
	for _, enc := range export.Encodings {
		t.Run(enc, func(t *testing.T) {
			dir1, dir2, dir3 := t.TempDir(), t.TempDir(), t.TempDir()
			spec := export.Spec{Format: "trl-dpo", Encoding: enc, Seed: 1, TestFraction: 0.5, Filter: export.Filter{Project: "exports"}}
			m1, err := ex.WriteDir(ctx, spec, dir1, export.Creator{Name: "cli:test"}, nil)
			require.NoError(t, err)
			require.Len(t, m1.Files, 2)
			assert.Positive(t, m1.SnapshotID)

			// New judgments after the snapshot.
			tn := w.turn("companion", "wang", 0, nil, "Is it OK to cry at work? "+enc,
				cand{content: "Yes, it's human.", model: "gpt-4o", version: 1}, cand{content: "No.", model: "gpt-4o-mini", version: 1})
			w.judge("companion", "wang", tn, judgment{ranking: [][]int{{1}, {2}}})

			again, err := ex.Snapshot(ctx, m1.SnapshotID)
			require.NoError(t, err)
			m2, err := ex.WriteDir(ctx, again.Spec(), dir2, export.Creator{Name: "cli:test"}, nil)
			require.NoError(t, err)
			assert.Equal(t, m1.Files, m2.Files, "same names, rows and SHA-256")
			for _, name := range []string{m1.Files[0].Name, m1.Files[1].Name, "README.md"} {
				a, err := os.ReadFile(filepath.Join(dir1, name))
				require.NoError(t, err)
				b, err := os.ReadFile(filepath.Join(dir2, name))
				require.NoError(t, err)
				assert.True(t, bytes.Equal(a, b), "%s differs", name)
			}
			m3, err := ex.WriteDir(ctx, spec, dir3, export.Creator{Name: "cli:test"}, nil)
			require.NoError(t, err)
			assert.Equal(t, m1.Rows+1, m3.Rows, "a new export includes the new judgment")

			var raw map[string]any
			b, err := os.ReadFile(filepath.Join(dir1, "manifest.json"))
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(b, &raw))
			for _, k := range []string{"format", "schema_version", "filter", "rows", "per_persona", "margin", "files", "created_at", "created_by", "as_of"} {
				assert.Contains(t, raw, k)
			}
			card, err := os.ReadFile(filepath.Join(dir1, "README.md"))
			require.NoError(t, err)
			assert.Contains(t, string(card), "license:")
			if enc == export.XLSX {
				assert.Contains(t, string(card), `pd.read_excel(`, "datasets has no Excel loader")
			} else {
				assert.Contains(t, string(card), `load_dataset(`)
			}
			var stored int64
			require.NoError(t, w.pool.QueryRow(ctx, `SELECT row_count FROM dataset_snapshots WHERE id = $1`, m1.SnapshotID).Scan(&stored))
			assert.EqualValues(t, m1.Rows, stored)
		})
	}
}

// TestEmptyAndUnwritable: an export with no rows says so in the manifest and the card; an
// --out that cannot be written fails before any work.
func TestEmptyAndUnwritable(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ex := export.New(w.pool, nil)
	dir := t.TempDir()
	m, err := ex.WriteDir(context.Background(), export.Spec{Format: "trl-kto", Filter: export.Filter{Project: "exports"}}, dir, export.Creator{Name: "t"}, nil)
	require.NoError(t, err)
	assert.Zero(t, m.Rows)
	assert.Empty(t, m.Files)
	assert.Contains(t, m.Message, "no rows")
	card, err := os.ReadFile(filepath.Join(dir, "README.md"))
	require.NoError(t, err)
	assert.Contains(t, string(card), "It has no rows")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{"README.md", "manifest.json"}, names)

	blocker := filepath.Join(t.TempDir(), "a-file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o644))
	start := time.Now()
	_, err = ex.WriteDir(context.Background(), export.Spec{Format: "trl-sft", Filter: export.Filter{Project: "no-such-project"}},
		filepath.Join(blocker, "out"), export.Creator{Name: "t"}, nil)
	var e *errs.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "out", e.Field, "the directory is checked before the project: %v", err)
	assert.True(t, strings.Contains(e.Message, "not a directory"), e.Message)
	assert.Less(t, time.Since(start), 5*time.Second)
}
