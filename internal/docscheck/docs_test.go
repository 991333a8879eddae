package docscheck

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/acceptance"
	"github.com/mentor-ai/mentor/agreement"
	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/export"
	"github.com/mentor-ai/mentor/honeypot"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/review"
	"github.com/mentor-ai/mentor/rlhf"
	"github.com/mentor-ai/mentor/webhook"
)

// repoRoot is where go test runs this package from, two levels down.
const repoRoot = "../.."

// docFiles are the documents these tests hold to the code: the README and docs/*.md.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	require.NoError(t, err)
	files = append(files, filepath.Join(repoRoot, "README.md"))
	require.Greater(t, len(files), 1)
	return files
}

func readDoc(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func rel(path string) string {
	r, err := filepath.Rel(repoRoot, path)
	if err != nil {
		return path
	}
	return filepath.ToSlash(r)
}

// savedEvery finds statements of how often streaming content is saved ("saved every
// second", "saved at least once a second", "saved … every half second") in prose that may
// wrap across lines.
var savedEvery = regexp.MustCompile(`(?i)\bsaved\b[^.]{0,80}?\b(?:every|once an?|once every)\s+` +
	`(half a second|half second|second|minute|(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|seconds?))\b`)

func statedIntervals(text string) []time.Duration {
	flat := strings.Join(strings.Fields(text), " ")
	var out []time.Duration
	for _, m := range savedEvery.FindAllStringSubmatch(flat, -1) {
		switch phrase := strings.ToLower(m[1]); {
		case phrase == "half a second", phrase == "half second":
			out = append(out, 500*time.Millisecond)
		case phrase == "second":
			out = append(out, time.Second)
		case phrase == "minute":
			out = append(out, time.Minute)
		default:
			n, _ := strconv.ParseFloat(m[2], 64)
			unit := time.Second
			if strings.HasPrefix(strings.ToLower(m[3]), "m") {
				unit = time.Millisecond
			}
			out = append(out, time.Duration(n*float64(unit)))
		}
	}
	return out
}

// constDuration reads a time.Duration constant from a Go source file without compiling its
// package: the server's flush interval is unexported, and these tests must not import the
// server to reach it.
func constDuration(t *testing.T, file, name string) time.Duration {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	require.NoError(t, err)
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, id := range vs.Names {
				if id.Name == name && i < len(vs.Values) {
					d, err := evalDuration(vs.Values[i])
					require.NoError(t, err, "%s in %s", name, file)
					return d
				}
			}
		}
	}
	t.Fatalf("no constant %s in %s", name, file)
	return 0
}

// evalDuration evaluates the constant expressions durations are written with:
// numbers, time's units, * and /, and parentheses.
func evalDuration(e ast.Expr) (time.Duration, error) {
	units := map[string]time.Duration{"Nanosecond": time.Nanosecond, "Microsecond": time.Microsecond,
		"Millisecond": time.Millisecond, "Second": time.Second, "Minute": time.Minute, "Hour": time.Hour}
	switch e := e.(type) {
	case *ast.ParenExpr:
		return evalDuration(e.X)
	case *ast.BasicLit:
		n, err := strconv.ParseInt(e.Value, 0, 64)
		return time.Duration(n), err
	case *ast.SelectorExpr:
		if pkg, ok := e.X.(*ast.Ident); ok && pkg.Name == "time" {
			if u, ok := units[e.Sel.Name]; ok {
				return u, nil
			}
		}
	case *ast.BinaryExpr:
		x, err := evalDuration(e.X)
		if err != nil {
			return 0, err
		}
		y, err := evalDuration(e.Y)
		if err != nil {
			return 0, err
		}
		switch e.Op {
		case token.MUL:
			return x * y, nil
		case token.QUO:
			if y != 0 {
				return x / y, nil
			}
		}
	}
	return 0, fmt.Errorf("cannot evaluate %T as a duration: extend evalDuration", e)
}

// The docs say how often a streaming candidate is saved; it must be what the server does.
func TestStatedSaveIntervalIsTheServers(t *testing.T) {
	t.Parallel()
	flushEvery := constDuration(t, filepath.Join(repoRoot, "live", "turns.go"), "flushEvery")
	found := map[string]int{}
	for _, file := range docFiles(t) {
		for _, d := range statedIntervals(readDoc(t, file)) {
			found[rel(file)]++
			assert.Equal(t, flushEvery, d, "%s states content is saved every %s; live/turns.go's flushEvery is %s", rel(file), d, flushEvery)
		}
	}
	assert.NotZero(t, found["docs/websocket.md"], "docs/websocket.md must say how often streaming content is saved")
}

func TestStatedIntervalsAreRead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text string
		want []time.Duration
	}{
		{"Candidates are saved while they stream (at least every half second) and at the end", []time.Duration{500 * time.Millisecond}},
		{"- **Streaming text** is saved at least once a second.", []time.Duration{time.Second}},
		{"Candidates are saved while they stream, every second (`flushEvery`), and", []time.Duration{time.Second}},
		{"content is saved\nevery 250 ms", []time.Duration{250 * time.Millisecond}},
		{"is saved once every 2 seconds per replica", []time.Duration{2 * time.Second}},
		{"saved. Then, every second, nothing", nil},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, statedIntervals(tt.text), tt.text)
	}
}

// Markdown links, and code spans that name a path relative to the document.
var (
	mdLink       = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	refLink      = regexp.MustCompile(`(?m)^\s*\[[^\]]+\]:\s+(\S+)`)
	relativeSpan = regexp.MustCompile("`(\\.{1,2}/[^`\\s]+)`")
	fencedBlock  = regexp.MustCompile("(?ms)^```.*?^```")
	external     = regexp.MustCompile(`^(?i:[a-z][a-z0-9+.-]*:|//|#)`)
)

// Every relative link in README.md and docs/*.md points at a file inside the repository:
// a reader of the repository alone, or of it on a forge, can follow each one.
func TestRelativeLinksResolveInsideTheRepository(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(repoRoot)
	require.NoError(t, err)
	for _, file := range docFiles(t) {
		text := fencedBlock.ReplaceAllString(readDoc(t, file), "")
		var targets []string
		for _, re := range []*regexp.Regexp{mdLink, refLink, relativeSpan} {
			for _, m := range re.FindAllStringSubmatch(text, -1) {
				targets = append(targets, m[1])
			}
		}
		for _, target := range targets {
			if external.MatchString(target) {
				continue
			}
			p := strings.SplitN(strings.SplitN(target, "#", 2)[0], "?", 2)[0]
			abs, err := filepath.Abs(filepath.Join(filepath.Dir(file), filepath.FromSlash(p)))
			require.NoError(t, err)
			inside, err := filepath.Rel(root, abs)
			if !assert.NoError(t, err) || inside == ".." || strings.HasPrefix(inside, ".."+string(filepath.Separator)) {
				t.Errorf("%s links to %s, which is outside the repository", rel(file), target)
				continue
			}
			if _, err := os.Stat(abs); err != nil {
				t.Errorf("%s links to %s, which does not exist (%s)", rel(file), target, filepath.ToSlash(inside))
			}
		}
	}
}

// section returns the text under the heading whose title is title, up to the next heading
// of the same or a higher level.
func section(t *testing.T, doc, title string) string {
	t.Helper()
	lines := strings.Split(doc, "\n")
	start, level := -1, 0
	for i, line := range lines {
		hashes := len(line) - len(strings.TrimLeft(line, "#"))
		if hashes == 0 || !strings.HasPrefix(line[hashes:], " ") {
			continue
		}
		if start >= 0 && hashes <= level {
			return strings.Join(lines[start:i], "\n")
		}
		if start < 0 && strings.TrimSpace(line[hashes:]) == title {
			start, level = i+1, hashes
		}
	}
	if start < 0 {
		t.Errorf("no section %q", title)
		return ""
	}
	return strings.Join(lines[start:], "\n")
}

// tableRows maps each table row's first code span in its first cell (a field name) to the
// whole row.
func tableRows(text string) map[string]string {
	out := map[string]string{}
	firstSpan := regexp.MustCompile("`([^`]+)`")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if m := firstSpan.FindStringSubmatch(cells[0]); m != nil {
			out[m[1]] = line
		}
	}
	return out
}

// jsonFields lists the JSON names of a struct's fields, with embedded structs' fields inline
// as encoding/json puts them.
func jsonFields(typ reflect.Type) []string {
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

// The bodies the API takes and returns are described field by field, and the fields the
// code requires are marked required. When a field is added, this test says where to
// document it.
func TestDocsDescribeEveryField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc, section string
		types        []reflect.Type
		extra        []string // fields the handler adds around the types
		required     []string
	}{
		{doc: "docs/websocket.md", section: "Judgments (REST)", types: []reflect.Type{reflect.TypeFor[rlhf.Submission]()},
			required: []string{"idempotency_key", "ranking", "continue_from"}},
		{doc: "docs/websocket.md", section: "Reading a turn (REST)",
			types: []reflect.Type{reflect.TypeFor[rlhf.Turn](), reflect.TypeFor[rlhf.Candidate](),
				reflect.TypeFor[rlhf.JudgmentView](), reflect.TypeFor[retrieval.Passage]()},
			// server's turnPassage: a passage's number, its citation per candidate and the caller's mark.
			extra: []string{"n", "as_cited", "grade"}},
		{doc: "docs/prompts.md", section: "Publishing a version", types: []reflect.Type{reflect.TypeFor[prompts.NewVersion]()},
			required: []string{"template", "model"}},

		// Campaigns.
		{doc: "docs/campaigns.md", section: "Setting up a campaign",
			types:    []reflect.Type{reflect.TypeFor[campaign.Input](), reflect.TypeFor[campaign.PlanEntry]()},
			required: []string{"persona_id", "name", "task_kind", "plan", "k", "prompt_version_id"}},
		{doc: "docs/campaigns.md", section: "Items", types: []reflect.Type{reflect.TypeFor[campaign.ItemInput]()}, required: []string{"question"}},
		{doc: "docs/campaigns.md", section: "Generated ahead", types: []reflect.Type{reflect.TypeFor[campaign.Progress]()}},
		{doc: "docs/campaigns.md", section: "Claiming work", types: []reflect.Type{reflect.TypeFor[campaign.Claim]()}},
		{doc: "docs/campaigns.md", section: "My work", types: []reflect.Type{reflect.TypeFor[campaign.Work]()}},
		// Issue 16: webhooks.
		{doc: "docs/webhooks.md", section: "Registering an endpoint", types: []reflect.Type{reflect.TypeFor[webhook.NewWebhook]()},
			required: []string{"url", "events"}},
		{doc: "docs/webhooks.md", section: "An endpoint", types: []reflect.Type{reflect.TypeFor[webhook.Created]()}},
		{doc: "docs/webhooks.md", section: "A delivery in the log",
			types: []reflect.Type{reflect.TypeFor[webhook.Delivery](), reflect.TypeFor[webhook.Attempt]()}},
		{doc: "docs/webhooks.md", section: "A delivery", types: []reflect.Type{reflect.TypeFor[webhook.Envelope]()}},
		// Issue 14, part A: quality control.
		{doc: "docs/quality.md", section: "The review stream", types: []reflect.Type{reflect.TypeFor[review.Item]()},
			extra: []string{"candidates", "passages"}}, // server's reviewItem adds the turn
		{doc: "docs/quality.md", section: "Reviewing a judgment", types: []reflect.Type{reflect.TypeFor[review.Decision](), reflect.TypeFor[review.Decided]()},
			required: []string{"judgment_id", "verdict"}},
		{doc: "docs/quality.md", section: "Reasons", types: []reflect.Type{reflect.TypeFor[review.Reason]()}},
		{doc: "docs/quality.md", section: "Rework", types: []reflect.Type{reflect.TypeFor[review.Rework]()}},
		{doc: "docs/quality.md", section: "Appeals", types: []reflect.Type{reflect.TypeFor[review.Appeal]()}},
		// A judgment's revisions (issue 14).
		{doc: "docs/quality.md", section: "A judgment's revisions", types: []reflect.Type{reflect.TypeFor[review.Revisions](), reflect.TypeFor[review.Revision](),
			reflect.TypeFor[review.RevisionEdit](), reflect.TypeFor[review.RevisionDecision](), reflect.TypeFor[review.RevisionAppeal](), reflect.TypeFor[review.Person]()},
			extra: []string{"candidates"}}, // server's judgmentRevisions adds the turn's candidates
		{doc: "docs/quality.md", section: "Fixed judgments on My work", types: []reflect.Type{reflect.TypeFor[review.FixedJudgment]()}},
		{doc: "docs/quality.md", section: "Closing a batch", types: []reflect.Type{reflect.TypeFor[acceptance.CloseInput]()}, required: []string{"base_id"}},
		{doc: "docs/quality.md", section: "The plan", types: []reflect.Type{reflect.TypeFor[acceptance.Settings]()}},
		{doc: "docs/quality.md", section: "A batch", types: []reflect.Type{reflect.TypeFor[acceptance.Batch]()}},
		{doc: "docs/quality.md", section: "The QC dashboard", types: []reflect.Type{reflect.TypeFor[acceptance.Dashboard]()}},
		// Reduced inspection and discontinuation (issue 14).
		{doc: "docs/quality.md", section: "Switching rules", types: []reflect.Type{reflect.TypeFor[acceptance.NoteInput](), reflect.TypeFor[acceptance.Switching]()}, required: []string{"base_id", "kind"}},
		{doc: "docs/exports.md", section: "Quality control", types: []reflect.Type{reflect.TypeFor[export.QCState]()}},
		{doc: "docs/exports.md", section: "Consensus mode", types: []reflect.Type{reflect.TypeFor[export.Consensus](), reflect.TypeFor[export.PairVote]()}},
		// Quality control, part B (issue 14).
		{doc: "docs/quality.md", section: "Checks", types: []reflect.Type{reflect.TypeFor[campaign.ChecksInput]()}},
		{doc: "docs/quality.md", section: "Gold items", types: []reflect.Type{reflect.TypeFor[campaign.GoldInput](), reflect.TypeFor[honeypot.Answer](),
			reflect.TypeFor[campaign.GoldItem]()}, required: []string{"kind"}},
		{doc: "docs/quality.md", section: "Scoring and pausing", types: []reflect.Type{reflect.TypeFor[campaign.Pause]()}},
		{doc: "docs/quality.md", section: "Agreement", types: []reflect.Type{reflect.TypeFor[agreement.Report](), reflect.TypeFor[agreement.Scope](),
			reflect.TypeFor[agreement.Point]()}},
		{doc: "docs/quality.md", section: "Per-trainer statistics", types: []reflect.Type{reflect.TypeFor[campaign.TrainerStats]()}},
	}
	for _, tt := range tests {
		t.Run(tt.doc+" "+tt.section, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(repoRoot, filepath.FromSlash(tt.doc))
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("%s is missing: it documents %s", tt.doc, tt.section)
			}
			rows := tableRows(section(t, readDoc(t, path), tt.section))
			fields := tt.extra
			for _, typ := range tt.types {
				fields = append(fields, jsonFields(typ)...)
			}
			for _, f := range fields {
				assert.Contains(t, rows, f, "%s, %q: no table row for the field %s", tt.doc, tt.section, f)
			}
			for _, f := range tt.required {
				assert.Regexp(t, `(?i)\|\s*required\s*\|`, rows[f], "%s, %q: the field %s is required by the code", tt.doc, tt.section, f)
			}
		})
	}
}
