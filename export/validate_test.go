package export_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/export"
)

// The consumers' rules from FORMATS.md, applied to every row. Each validator returns what is
// wrong with one row (nothing for a good row); fileState carries what must agree across rows.

type fileState struct {
	conversational *bool // TRL: the first row decides; every other row must agree
}

type validator func(row map[string]any, st *fileState) []string

// TRL's key sets: the known keys of a row must be exactly one of these.
var trlKnown = []string{"messages", "prompt", "completion", "chosen", "rejected", "label"}
var trlSets = [][]string{{"messages"}, {"prompt"}, {"completion", "prompt"}, {"chosen", "prompt", "rejected"}, {"chosen", "rejected"},
	{"completion", "label", "prompt"}}

func validateTRL(row map[string]any, st *fileState) []string {
	var probs []string
	var keys []string
	for _, k := range trlKnown {
		if _, ok := row[k]; ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if !slices.ContainsFunc(trlSets, func(s []string) bool { return slices.Equal(s, keys) }) {
		probs = append(probs, fmt.Sprintf("TRL key set %v is not one TRL accepts", keys))
	}
	// Conversational or standard: decided by the first element, the same across the row and file.
	for _, k := range keys {
		if k == "label" {
			continue
		}
		conv := isMessages(row[k])
		_, isString := row[k].(string)
		if !conv && !isString {
			probs = append(probs, fmt.Sprintf("%s is neither a list of messages nor a string", k))
			continue
		}
		if st.conversational == nil {
			st.conversational = &conv
		} else if *st.conversational != conv {
			probs = append(probs, fmt.Sprintf("%s mixes conversational and standard values", k))
		}
	}
	if l, ok := row["label"]; ok {
		if _, isBool := l.(bool); !isBool {
			probs = append(probs, fmt.Sprintf("label %v is not a JSON boolean", l))
		}
	}
	if m, ok := row["margin"]; ok {
		if _, isNum := m.(float64); !isNum {
			probs = append(probs, fmt.Sprintf("margin %v is not a number", m))
		}
	}
	roles := func(k string) []string {
		var out []string
		for _, m := range asList(row[k]) {
			out = append(out, m.(map[string]any)["role"].(string))
		}
		return out
	}
	if isMessages(row["prompt"]) {
		r := roles("prompt")
		if len(r) == 0 || (r[len(r)-1] != "user" && r[len(r)-1] != "tool") {
			probs = append(probs, fmt.Sprintf("prompt must end with a user turn, got %v", r))
		}
		for _, k := range []string{"chosen", "rejected", "completion"} {
			if _, ok := row[k]; ok && !slices.Equal(roles(k), []string{"assistant"}) {
				probs = append(probs, fmt.Sprintf("%s must be one assistant message, got %v", k, roles(k)))
			}
		}
	}
	if _, hasPrompt := row["prompt"]; !hasPrompt && isMessages(row["chosen"]) {
		// Implicit prompt: both sides are the same conversation up to their last message.
		c, r := asList(row["chosen"]), asList(row["rejected"])
		if len(c) < 2 || len(c) != len(r) || fmt.Sprint(c[:len(c)-1]) != fmt.Sprint(r[:len(r)-1]) {
			probs = append(probs, "implicit-prompt chosen and rejected must share everything but the last message")
		}
		if rc, rr := roles("chosen"), roles("rejected"); rc[len(rc)-1] != "assistant" || rr[len(rr)-1] != "assistant" {
			probs = append(probs, "implicit-prompt chosen and rejected must end with an assistant message")
		}
	}
	if isMessages(row["messages"]) {
		r := roles("messages")
		if r[len(r)-1] != "assistant" {
			probs = append(probs, fmt.Sprintf("messages must end with the assistant's reply, got %v", r))
		}
	}
	return probs
}

// validateOpenAISFT counts the OpenAI cookbook's format errors for one example.
func validateOpenAISFT(row map[string]any, _ *fileState) []string {
	var probs []string
	msgs, ok := row["messages"].([]any)
	if !ok || len(msgs) == 0 {
		return []string{"missing_messages_list"}
	}
	assistants := 0
	for _, raw := range msgs {
		m, ok := raw.(map[string]any)
		if !ok {
			probs = append(probs, "message_not_object")
			continue
		}
		if _, ok := m["role"]; !ok {
			probs = append(probs, "message_missing_key role")
		}
		if _, ok := m["content"]; !ok {
			probs = append(probs, "message_missing_key content")
		}
		for k := range m {
			if !slices.Contains([]string{"role", "content", "name", "function_call", "weight"}, k) {
				probs = append(probs, "message_unrecognized_key "+k)
			}
		}
		role, _ := m["role"].(string)
		if !slices.Contains([]string{"system", "user", "assistant", "function"}, role) {
			probs = append(probs, "unrecognized_role "+role)
		}
		if _, ok := m["content"].(string); !ok {
			probs = append(probs, "missing_content")
		}
		if w, ok := m["weight"]; ok {
			if role != "assistant" || (w != 0.0 && w != 1.0) {
				probs = append(probs, fmt.Sprintf("weight %v on a %s message", w, role))
			}
		}
		if role == "assistant" {
			assistants++
		}
	}
	if assistants == 0 {
		probs = append(probs, "example_missing_assistant_message")
	}
	if last := msgs[len(msgs)-1].(map[string]any); last["role"] != "assistant" || last["weight"] != 1.0 {
		probs = append(probs, "the judged reply must be last, with weight 1")
	}
	if keys := slices.Sorted(maps.Keys(row)); !slices.Equal(keys, []string{"messages"}) {
		probs = append(probs, fmt.Sprintf("keys %v: OpenAI SFT rows hold messages only", keys))
	}
	return probs
}

func validateOpenAIDPO(row map[string]any, _ *fileState) []string {
	var probs []string
	if keys := slices.Sorted(maps.Keys(row)); !slices.Equal(keys, []string{"input", "non_preferred_output", "preferred_output"}) {
		probs = append(probs, fmt.Sprintf("keys %v are not input, preferred_output, non_preferred_output", keys))
	}
	in, _ := row["input"].(map[string]any)
	if sub := validateOpenAISFT(map[string]any{"messages": append(asList(in["messages"]), map[string]any{"role": "assistant", "content": "", "weight": 1.0})}, nil); len(sub) > 0 {
		probs = append(probs, sub...)
	}
	msgs := asList(in["messages"])
	if len(msgs) == 0 || msgs[len(msgs)-1].(map[string]any)["role"] != "user" {
		probs = append(probs, "input.messages must end with the user's turn")
	}
	for _, k := range []string{"preferred_output", "non_preferred_output"} {
		out := asList(row[k])
		if len(out) != 1 {
			probs = append(probs, k+" must be exactly one message")
			continue
		}
		m := out[0].(map[string]any)
		if _, ok := m["content"].(string); !ok || m["role"] != "assistant" || len(m) != 2 {
			probs = append(probs, fmt.Sprintf("%s must be one {role: assistant, content} message, got %v", k, m))
		}
	}
	return probs
}

// shareGPTTurns checks LLaMA-Factory's alternation: human or observation at even positions,
// gpt or function_call at odd ones, and the parity the kind needs.
func shareGPTTurns(row map[string]any, wantEven bool) []string {
	var probs []string
	conv := asList(row["conversations"])
	if len(conv) == 0 {
		return []string{"conversations is empty"}
	}
	for i, raw := range conv {
		m, ok := raw.(map[string]any)
		if !ok || len(m) != 2 {
			probs = append(probs, fmt.Sprintf("conversations[%d] must be {from, value}", i))
			continue
		}
		from, _ := m["from"].(string)
		if _, ok := m["value"].(string); !ok {
			probs = append(probs, fmt.Sprintf("conversations[%d].value must be a string", i))
		}
		if i%2 == 0 && from != "human" && from != "observation" || i%2 == 1 && from != "gpt" && from != "function_call" {
			probs = append(probs, fmt.Sprintf("conversations[%d] is from %q, out of turn", i, from))
		}
	}
	if (len(conv)%2 == 0) != wantEven {
		probs = append(probs, fmt.Sprintf("%d turns: wrong parity", len(conv)))
	}
	if s, ok := row["system"]; ok {
		if _, isString := s.(string); !isString {
			probs = append(probs, "system must be a string")
		}
	}
	return probs
}

func validateShareGPT(kind string) validator {
	return func(row map[string]any, _ *fileState) []string {
		switch kind {
		case "sft":
			return shareGPTTurns(row, true)
		case "kto":
			probs := shareGPTTurns(row, true)
			if _, ok := row["kto_tag"].(bool); !ok {
				probs = append(probs, fmt.Sprintf("kto_tag %v is not a JSON boolean", row["kto_tag"]))
			}
			return probs
		}
		probs := shareGPTTurns(row, false)
		for _, k := range []string{"chosen", "rejected"} {
			m, ok := row[k].(map[string]any)
			if !ok || m["from"] != "gpt" || len(m) != 2 {
				probs = append(probs, fmt.Sprintf("%s must be one {from: gpt, value} object, got %v", k, row[k]))
			} else if _, ok := m["value"].(string); !ok {
				probs = append(probs, k+".value must be a string")
			}
		}
		return probs
	}
}

func validateAlpaca(kind string) validator {
	return func(row map[string]any, _ *fileState) []string {
		var probs []string
		str := func(k string) {
			if s, ok := row[k].(string); !ok || (k != "input" && strings.TrimSpace(s) == "") {
				probs = append(probs, fmt.Sprintf("%s must be a non-empty string, got %v", k, row[k]))
			}
		}
		str("instruction")
		str("input")
		switch kind {
		case "sft":
			str("output")
		case "kto":
			str("output")
			if _, ok := row["kto_tag"].(bool); !ok {
				probs = append(probs, fmt.Sprintf("kto_tag %v is not a JSON boolean", row["kto_tag"]))
			}
		default:
			str("chosen")
			str("rejected")
		}
		h, ok := row["history"].([]any)
		if !ok {
			probs = append(probs, "history must be a list")
		}
		for i, pair := range h {
			p, ok := pair.([]any)
			if !ok || len(p) != 2 {
				probs = append(probs, fmt.Sprintf("history[%d] must be [query, response]", i))
				continue
			}
			for _, s := range p {
				if _, ok := s.(string); !ok {
					probs = append(probs, fmt.Sprintf("history[%d] must hold strings", i))
				}
			}
		}
		return probs
	}
}

func validateRankings(row map[string]any, _ *fileState) []string {
	var probs []string
	cands := asList(row["candidates"])
	if len(cands) == 0 {
		probs = append(probs, "a ranking row needs candidates")
	}
	prev := 0.0
	for i, raw := range cands {
		c := raw.(map[string]any)
		rank, _ := c["rank"].(float64)
		if rank < 1 || rank < prev {
			probs = append(probs, fmt.Sprintf("candidates[%d].rank %v is not in order", i, c["rank"]))
		}
		prev = rank
		if _, ok := c["baseline"].(bool); !ok {
			probs = append(probs, "baseline must be a boolean")
		}
		if _, ok := c["flags"].([]any); !ok {
			probs = append(probs, "flags must be a list")
		}
		if _, ok := c["ratings"].([]any); !ok {
			probs = append(probs, "ratings must be a list")
		}
	}
	if !isMessages(row["prompt"]) {
		probs = append(probs, "prompt must be a list of messages")
	}
	return probs
}

func isMessages(v any) bool {
	l, ok := v.([]any)
	if !ok || len(l) == 0 {
		return false
	}
	for _, e := range l {
		m, ok := e.(map[string]any)
		if !ok {
			return false
		}
		_, r := m["role"].(string)
		_, c := m["content"].(string)
		if !r || !c {
			return false
		}
	}
	return true
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// rowsOf decodes JSONL, failing on anything that is not one object per line.
func rowsOf(t testing.TB, data []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for i := 1; sc.Scan(); i++ {
		var row map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &row), "line %d is not a JSON object: %s", i, sc.Text())
		out = append(out, row)
	}
	require.NoError(t, sc.Err())
	return out
}

type formatCase struct {
	format, kind string
	check        validator
}

var formatCases = []formatCase{
	{"trl-sft", "", validateTRL},
	{"trl-dpo", "", validateTRL},
	{"trl-reward", "", validateTRL},
	{"trl-kto", "", validateTRL},
	{"openai-sft", "", validateOpenAISFT},
	{"openai-dpo", "", validateOpenAIDPO},
	{"sharegpt", "sft", validateShareGPT("sft")},
	{"sharegpt", "preference", validateShareGPT("preference")},
	{"sharegpt", "kto", validateShareGPT("kto")},
	{"alpaca", "sft", validateAlpaca("sft")},
	{"alpaca", "preference", validateAlpaca("preference")},
	{"alpaca", "kto", validateAlpaca("kto")},
	{"rankings", "", validateRankings},
	{"retrieval-triplets", "", validateTriplets},
	{"trainer-stats", "", validateTrainerStats},
}

// validateTrainerStats holds a statistics row to its columns: a login, counts that are whole
// numbers and add up, and RFC 3339 times in order.
func validateTrainerStats(row map[string]any, _ *fileState) []string {
	var probs []string
	if s, _ := row["annotator"].(string); s == "" {
		probs = append(probs, "annotator must be a login")
	}
	counts := map[string]float64{}
	for _, k := range []string{"judgments", "conversations", "personas", "edits", "gold_replies", "flagged", "preference_pairs", "revisions"} {
		n, ok := row[k].(float64)
		if !ok || n < 0 || n != float64(int64(n)) {
			probs = append(probs, fmt.Sprintf("%s must be a whole number, got %v", k, row[k]))
		}
		counts[k] = n
	}
	for _, k := range []string{"conversations", "edits", "gold_replies", "flagged"} {
		if counts[k] > counts["judgments"] {
			probs = append(probs, fmt.Sprintf("%s (%v) cannot exceed judgments (%v)", k, counts[k], counts["judgments"]))
		}
	}
	if counts["revisions"] < counts["judgments"] {
		probs = append(probs, "every judgment is at least one revision")
	}
	first, err1 := time.Parse(time.RFC3339, fmt.Sprint(row["first_judged_at"]))
	last, err2 := time.Parse(time.RFC3339, fmt.Sprint(row["last_judged_at"]))
	if err1 != nil || err2 != nil || last.Before(first) {
		probs = append(probs, "first_judged_at and last_judged_at must be RFC 3339 times in order")
	}
	return probs
}

// validateTriplets holds a row to FORMATS.md's retrieval supervision: a query, lists of
// passage texts, and beside them the corpus and document ids; no passage on both sides.
func validateTriplets(row map[string]any, _ *fileState) []string {
	var probs []string
	want := []string{"annotator", "id", "negative", "negative_refs", "persona", "positive", "positive_refs", "query"}
	if got := slices.Sorted(maps.Keys(row)); !slices.Equal(got, want) {
		probs = append(probs, fmt.Sprintf("keys %v, want %v", got, want))
	}
	if q, ok := row["query"].(string); !ok || strings.TrimSpace(q) == "" {
		probs = append(probs, "query must be a non-empty string")
	}
	seen := map[float64]string{}
	for _, side := range []string{"positive", "negative"} {
		texts, refs := asList(row[side]), asList(row[side+"_refs"])
		if len(texts) == 0 {
			probs = append(probs, side+" must hold at least one passage")
		}
		if len(texts) != len(refs) {
			probs = append(probs, fmt.Sprintf("%s has %d passages but %d refs", side, len(texts), len(refs)))
		}
		for i, t := range texts {
			if s, ok := t.(string); !ok || s == "" {
				probs = append(probs, fmt.Sprintf("%s[%d] must be a non-empty string", side, i))
			}
		}
		for i, raw := range refs {
			ref, _ := raw.(map[string]any)
			for _, k := range []string{"corpus_id", "document_id", "chunk_id", "version"} {
				if v, ok := ref[k].(float64); !ok || v <= 0 || v != math.Trunc(v) {
					probs = append(probs, fmt.Sprintf("%s_refs[%d].%s must be a positive integer", side, i, k))
				}
			}
			if other, dup := seen[ref["chunk_id"].(float64)]; dup {
				probs = append(probs, fmt.Sprintf("chunk %v is in %s and %s", ref["chunk_id"], other, side))
			}
			seen[ref["chunk_id"].(float64)] = side
		}
	}
	return probs
}

// TestEveryRowPassesItsConsumersRules exports the realistic fixture in every format and
// kind, with and without the baseline, and holds every row to its consumer's rules.
func TestEveryRowPassesItsConsumersRules(t *testing.T) {
	t.Parallel()
	w := fixture(t)
	covered := map[string]bool{}
	for _, tc := range formatCases {
		covered[tc.format+"/"+tc.kind] = true
		for _, baseline := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s %s baseline=%t", tc.format, tc.kind, baseline), func(t *testing.T) {
				data, stats := w.export(t, export.Spec{Format: tc.format, Kind: tc.kind, Filter: export.Filter{IncludeBaseline: baseline}})
				require.True(t, bytes.HasSuffix(data, []byte("\n")), "lines end with \\n")
				assert.NotContains(t, string(data), `\u`, "non-ASCII and <, >, & are written as they are")
				rows := rowsOf(t, data)
				require.NotEmpty(t, rows)
				assert.Equal(t, stats.Rows, len(rows))
				st := &fileState{}
				for i, row := range rows {
					assert.Empty(t, tc.check(row, st), "row %d: %v", i+1, row)
				}
				text := string(data)
				if tc.format != "retrieval-triplets" && tc.format != "trainer-stats" { // passages or counts, not replies
					assert.Equal(t, baseline, strings.Contains(text, "【摘录】") || strings.Contains(text, "[extract]"),
						"baseline candidates appear only when asked for")
				}
				assert.NotContains(t, text, "Driving tests are hard. Try again.\",\"rejected\":[{\"role\":\"assistant\",\"content\":\"Oh no",
					"wang's first revision was replaced by the second")
			})
		}
	}
	for _, f := range export.Formats() {
		for _, k := range f.Kinds {
			name := f.Name + "/" + k.Name
			if len(f.Kinds) == 1 {
				name = f.Name + "/"
			}
			assert.True(t, covered[name], "format %s has no validator case", name)
		}
	}
}
