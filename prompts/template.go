package prompts

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode/utf8"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/locale"
)

// TemplateData is everything a prompt template may refer to. Referring to anything else is
// an error when the version is saved, with the line and column.
type TemplateData struct {
	Persona      TemplatePersona
	Locale       string // the conversation's locale: zh-CN or en
	Date         string // YYYY-MM-DD
	Conversation TemplateConversation
	Passages     []TemplatePassage
}

// TemplatePersona is the persona as a template sees it.
type TemplatePersona struct {
	Name, Description, Kind, Locale string
}

// TemplateConversation describes the conversation so far.
type TemplateConversation struct {
	Turns int // user turns before this one
}

// TemplatePassage is one retrieved passage, numbered for citation as [N].
type TemplatePassage struct {
	N                   int
	Title, Text, Source string
}

// Named blocks a template may define. The offline baseline frames its answer with them, so a
// prompt version sets the baseline's voice as well as the model's instructions.
const (
	BlockOpening = "opening"
	BlockClosing = "closing"
)

// Limits on templates. Templates are written by project admins but run on every generation,
// so none may cost more than its own size times the passages: no nested ranges, no calls
// between templates (hence no recursion), no huge printf widths, and bounded output.
const (
	maxTemplateLen = 20000    // what an author can paste; real system prompts are far shorter
	maxOutputLen   = 64 << 10 // a rendered system prompt or block
	maxFormatWidth = 999      // printf width or precision
)

// Template is a parsed, validated prompt template.
type Template struct {
	t *template.Template
}

var templateErrPos = regexp.MustCompile(`^template: [^:]*:(\d+)(?::(\d+))?: (?:executing "[^"]*" at <[^>]*>: )?(.*)$`)

// CompileTemplate parses src and checks its structure, without running it. Generation uses
// it: the template was fully checked when its version was published.
func CompileTemplate(src string) (*Template, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errs.Field("template", "must not be empty")
	}
	if len(src) > maxTemplateLen {
		return nil, errs.Field("template", "must be at most %d bytes, got %d", maxTemplateLen, len(src))
	}
	t, err := template.New("template").Option("missingkey=error").Funcs(template.FuncMap{"printf": boundedPrintf}).Parse(src)
	if err != nil {
		return nil, withCharColumn(templateError(err), src)
	}
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
		if err := checkNodes(tt.Tree.Root, 0, src); err != nil {
			return nil, err
		}
	}
	return &Template{t: t}, nil
}

// ParseTemplate compiles src and runs it against sample data for every branch that depends
// on the locale, the presence of passages and the conversation's length, so a misspelled
// field fails on save rather than in front of a trainer.
func ParseTemplate(src string) (*Template, error) {
	tmpl, err := CompileTemplate(src)
	if err != nil {
		return nil, err
	}
	for _, data := range sampleData() {
		for _, name := range []string{"", BlockOpening, BlockClosing} {
			if _, err := tmpl.render(name, data); err != nil {
				return nil, withCharColumn(err, src)
			}
		}
	}
	return tmpl, nil
}

// Render returns the system prompt for data.
func (t *Template) Render(data TemplateData) (string, error) {
	return t.render("", data)
}

// Block renders a named block, or returns "" when the template does not define it.
func (t *Template) Block(name string, data TemplateData) (string, error) {
	return t.render(name, data)
}

func (t *Template) render(name string, data TemplateData) (string, error) {
	tt := t.t
	if name != "" {
		if tt = t.t.Lookup(name); tt == nil {
			return "", nil
		}
	}
	w := &cappedWriter{limit: maxOutputLen}
	if err := tt.Execute(w, data); err != nil {
		if errors.Is(err, errOutputTooLong) {
			return "", errs.Field("template", "renders to more than %d KiB", maxOutputLen>>10)
		}
		return "", templateError(err)
	}
	return strings.TrimSpace(w.b.String()), nil
}

var errOutputTooLong = errors.New("template output too long")

// cappedWriter stops a render that grows past its limit.
type cappedWriter struct {
	b     bytes.Buffer
	limit int
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.limit {
		return 0, errOutputTooLong
	}
	return w.b.Write(p)
}

// checkNodes refuses {{template}} calls (and so {{block}} and recursion) and a {{range}}
// inside another, whose cost would multiply.
func checkNodes(n parse.Node, ranges int, src string) error {
	lineOf := func(n parse.Node) int {
		return 1 + strings.Count(src[:min(int(n.Position()), len(src))], "\n")
	}
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkNodes(c, ranges, src); err != nil {
				return err
			}
		}
	case *parse.TemplateNode:
		return errs.Field("template", "line %d: {{template}} and {{block}} are not allowed: define \"opening\" and \"closing\" with {{define}} instead", lineOf(n))
	case *parse.RangeNode:
		if ranges > 0 {
			return errs.Field("template", "line %d: a {{range}} inside another {{range}} is not allowed", lineOf(n))
		}
		if err := checkNodes(n.List, ranges+1, src); err != nil {
			return err
		}
		return checkNodes(n.ElseList, ranges, src)
	case *parse.IfNode:
		if err := checkNodes(n.List, ranges, src); err != nil {
			return err
		}
		return checkNodes(n.ElseList, ranges, src)
	case *parse.WithNode:
		if err := checkNodes(n.List, ranges, src); err != nil {
			return err
		}
		return checkNodes(n.ElseList, ranges, src)
	}
	return nil
}

var formatNumber = regexp.MustCompile(`%[-+# 0]*(\d*)(?:\.(\d*))?[a-zA-Z%]`)

// boundedPrintf is text/template's printf, refusing widths and precisions that would make a
// few bytes of template allocate gigabytes.
func boundedPrintf(format string, args ...any) (string, error) {
	for _, m := range formatNumber.FindAllStringSubmatch(format, -1) {
		for _, num := range m[1:] {
			if n, err := strconv.Atoi(num); err == nil && n > maxFormatWidth {
				return "", fmt.Errorf("printf width or precision %d is over %d", n, maxFormatWidth)
			}
		}
	}
	return fmt.Sprintf(format, args...), nil
}

// positionError is a template error at a line and, when known, a column: text/template
// counts the column in bytes from 0, so withCharColumn turns it into characters from 1, as
// an editor shows them (a Chinese character is three bytes).
type positionError struct {
	line, byteCol int // byteCol < 0: unknown
	detail        string
}

func (e *positionError) Error() string { return e.detail }

func withCharColumn(err error, src string) error {
	var pe *positionError
	if !errors.As(err, &pe) {
		return err
	}
	if pe.byteCol < 0 {
		return errs.Field("template", "line %d: %s", pe.line, pe.detail)
	}
	lines := strings.Split(src, "\n")
	col := pe.byteCol + 1
	if pe.line >= 1 && pe.line <= len(lines) && pe.byteCol <= len(lines[pe.line-1]) {
		col = utf8.RuneCountInString(lines[pe.line-1][:pe.byteCol]) + 1
	}
	return errs.Field("template", "line %d, column %d: %s", pe.line, col, pe.detail)
}

// templateError extracts the line, column and message from text/template's error.
func templateError(err error) error {
	var execErr template.ExecError
	msg := err.Error()
	if errors.As(err, &execErr) {
		msg = execErr.Err.Error()
	}
	m := templateErrPos.FindStringSubmatch(msg)
	if m == nil {
		return errs.Field("template", "%s", strings.TrimPrefix(msg, "template: "))
	}
	pe := &positionError{byteCol: -1, detail: strings.ReplaceAll(m[3], "prompts.", "")}
	pe.line, _ = strconv.Atoi(m[1])
	if m[2] != "" {
		pe.byteCol, _ = strconv.Atoi(m[2])
	}
	return pe
}

// sampleData covers the branches a template is likely to take.
func sampleData() []TemplateData {
	passages := []TemplatePassage{
		{N: 1, Title: "示例文档", Text: "这是一段示例知识。", Source: "sample"},
		{N: 2, Title: "Sample", Text: "A sample passage.", Source: "sample"},
	}
	var out []TemplateData
	for _, loc := range locale.Supported {
		for _, ps := range [][]TemplatePassage{passages, nil} {
			for _, turns := range []int{0, 3} {
				out = append(out, TemplateData{
					Persona:      TemplatePersona{Name: "示例", Description: "示例人设", Kind: string(DomainAssistant), Locale: "zh-CN"},
					Locale:       loc,
					Date:         "2026-01-01",
					Conversation: TemplateConversation{Turns: turns},
					Passages:     ps,
				})
			}
		}
	}
	return out
}

// SampleData returns example inputs for a render preview.
func SampleData(p Persona, loc string) TemplateData {
	d := sampleData()[0]
	d.Persona = TemplatePersona{Name: p.Name, Description: p.Description, Kind: string(p.Kind), Locale: p.Locale}
	if locale.Valid(loc) {
		d.Locale = loc
	}
	return d
}

// String describes the template's fields for help text.
func TemplateFields() []string {
	return []string{
		"{{.Persona.Name}}", "{{.Persona.Description}}", "{{.Persona.Kind}}", "{{.Persona.Locale}}",
		"{{.Locale}}", "{{.Date}}", "{{.Conversation.Turns}}",
		"{{range .Passages}}{{.N}} {{.Title}} {{.Text}} {{.Source}}{{end}}",
		fmt.Sprintf(`{{define %q}}…{{end}}`, BlockOpening), fmt.Sprintf(`{{define %q}}…{{end}}`, BlockClosing),
	}
}
