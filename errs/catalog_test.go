package errs

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// constructors are the functions whose format argument is a message's key, by package and
// name, with the position of that argument. A new constructor belongs here, or its messages
// escape the catalog.
var constructors = map[string]map[string]int{
	"errs": {"E": 1, "Field": 1, "Wrap": 2, "P": 0},
	"db":   {"Error": 1}, // its format describes what failed, as a Phrase of the message
}

// use is one call that makes a message.
type use struct {
	format string
	at     string // file:line, relative to the module
}

// TestCatalogCoversEveryMessage reads every non-test Go file of the module and checks that
// each message format has a zh-CN translation, and that the catalog holds nothing the code no
// longer says. A renamed format is a new key, so it fails here until it is translated.
func TestCatalogCoversEveryMessage(t *testing.T) {
	t.Parallel()
	uses, problems := scanModule(t)
	for _, p := range problems {
		t.Error(p)
	}
	require.NotEmpty(t, uses, "the scan found no messages: it is looking in the wrong place")

	used := map[string]bool{internalError: true}
	for _, u := range uses {
		used[u.format] = true
		if _, ok := zhCN[u.format]; !ok {
			t.Errorf("%s: %q has no zh-CN translation in errs/catalog_zh.go", u.at, u.format)
		}
	}

	for k := range zhCN {
		if !used[k] {
			t.Errorf("errs/catalog_zh.go: %q is a format no code uses any more: remove it, or fix the format it was for", k)
		}
	}
}

// scanModule returns every message format the module's code passes to a constructor, and a
// problem for each message the catalog could never translate.
func scanModule(t *testing.T) (uses []use, problems []string) {
	t.Helper()
	root, module := moduleRoot(t)
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		u, p := scanFile(fset, root, f, module, filepath.ToSlash(rel))
		uses, problems = append(uses, u...), append(problems, p...)
		return nil
	})
	require.NoError(t, err)
	return uses, problems
}

func scanFile(fset *token.FileSet, root string, f *ast.File, module, dir string) (uses []use, problems []string) {
	at := func(n ast.Node) string {
		pos := fset.Position(n.Pos())
		rel, _ := filepath.Rel(root, pos.Filename)
		return fmt.Sprintf("%s:%d", filepath.ToSlash(rel), pos.Line)
	}
	// local maps a name used in this file to the constructor package it stands for.
	local := map[string]string{}
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		pkg, ok := strings.CutPrefix(path, module+"/")
		if _, known := constructors[pkg]; !ok || !known {
			continue
		}
		name := pkg[strings.LastIndex(pkg, "/")+1:]
		if imp.Name != nil {
			name = imp.Name.Name
		}
		local[name] = pkg
	}
	// constructor reports which constructor a call's function is, if any.
	constructor := func(fun ast.Expr) (pkg, name string) {
		switch fn := fun.(type) {
		case *ast.SelectorExpr:
			if x, ok := fn.X.(*ast.Ident); ok && local[x.Name] != "" {
				return local[x.Name], fn.Sel.Name
			}
		case *ast.Ident:
			if _, ok := constructors[dir]; ok {
				return dir, fn.Name // a call inside the constructor's own package
			}
		}
		return "", ""
	}
	var inConstructor bool // inside a constructor, which passes its own format on
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncDecl:
			_, inConstructor = constructors[dir][n.Name.Name]
			inConstructor = inConstructor && n.Recv == nil
		case *ast.CallExpr:
			pkg, name := constructor(n.Fun)
			i, ok := constructors[pkg][name]
			if !ok || len(n.Args) <= i {
				return true
			}
			lit, ok := n.Args[i].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				if inConstructor {
					return true
				}
				problems = append(problems, fmt.Sprintf("%s: the format of %s.%s must be a string literal, so the catalog can be checked", at(n), pkg, name))
				return true
			}
			format, _ := strconv.Unquote(lit.Value)
			uses = append(uses, use{format: format, at: at(n)})
			for _, arg := range n.Args[i+1:] {
				if call, ok := arg.(*ast.CallExpr); ok {
					if p, nm := constructor(call.Fun); p == "errs" && nm == "Message" {
						problems = append(problems, fmt.Sprintf("%s: pass the error itself, not errs.Message(err), so that its message is translated too", at(arg)))
					}
				}
			}
		case *ast.CompositeLit:
			if !isErrorType(n.Type, local) {
				return true
			}
			for _, el := range n.Elts {
				if kv, ok := el.(*ast.KeyValueExpr); ok {
					if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Message" {
						problems = append(problems, fmt.Sprintf("%s: an errs.Error with a Message but no Format can only be shown in English: build it with errs.E or errs.Wrap", at(n)))
					}
				}
			}
		}
		return true
	})
	return uses, problems
}

// isErrorType reports whether typ is errs.Error, as spelt outside package errs (whose own
// constructors set the Format).
func isErrorType(typ ast.Expr, local map[string]string) bool {
	ty, ok := typ.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	x, ok := ty.X.(*ast.Ident)
	return ok && local[x.Name] == "errs" && ty.Sel.Name == "Error"
}

// moduleRoot finds go.mod above this package, and the module's path.
func moduleRoot(t *testing.T) (root, module string) {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			m := regexp.MustCompile(`(?m)^module\s+(\S+)`).FindSubmatch(b)
			require.NotNil(t, m, "go.mod names no module")
			return dir, string(m[1])
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "no go.mod above the test")
		dir = parent
	}
}

// TestCatalogFormatsMatchTheirKeys checks that every translation takes the same arguments
// with the same verbs as its English key, so that rendering it never prints %!d(MISSING),
// and that it is in Chinese rather than copied English.
func TestCatalogFormatsMatchTheirKeys(t *testing.T) {
	t.Parallel()
	for key, zh := range zhCN {
		want, err := directives(key)
		require.NoError(t, err, "key %q", key)
		got, err := directives(zh)
		if !assert.NoError(t, err, "translation of %q", key) {
			continue
		}
		assert.Equal(t, want, got, "the translation of %q must use each argument with the key's verb: %q", key, zh)
		args := sampleArgs(want)
		out := fmt.Sprintf(zh, args...)
		assert.NotContains(t, out, "%!", "the translation of %q renders badly: %s", key, out)
		if hasWords(key) {
			assert.True(t, hasHan(zh), "the translation of %q has no Chinese in it: %q", key, zh)
		}
	}
}

// TestLocalize checks the rendering rules the catalog relies on: the field prefix, nested
// messages, phrases, parameters, and the fallbacks.
func TestLocalize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		wantEN     string
		wantZH     string
		wantKey    string
		wantParams []string
	}{
		{"a field", Field("continue_from", "name exactly one of candidate_id, edit or gold"),
			"continue_from: name exactly one of candidate_id, edit or gold", "continue_from：请在 candidate_id、edit、gold 中选且只选一项",
			"name exactly one of candidate_id, edit or gold", []string{}},
		{"arguments", E(Unprocessable, "candidate %d is still streaming: wait for it to finish or cancel it", 49),
			"candidate 49 is still streaming: wait for it to finish or cancel it", "候选 49 仍在生成中，请等它完成或取消后再评判",
			"candidate %d is still streaming: wait for it to finish or cancel it", []string{"49"}},
		{"indexed arguments", E(NotFound, "%s: not found", P("version %d of persona %d", 3, 7)),
			"version 3 of persona 7: not found", "人设 7 的版本 3：未找到",
			"%s: not found", []string{"version 3 of persona 7"}},
		{"a nested error is translated, without its cause",
			Wrap(Invalid, os.ErrClosed, "configuration %d (%s): %s", 2, "hybrid", fmt.Errorf("wrapped: %w", Wrap(Invalid, os.ErrNotExist, "%s", Field("gold.content", "must not be empty")))),
			"configuration 2 (hybrid): gold.content: must not be empty", "第 2 组配置（hybrid）：gold.content：不能为空",
			"configuration %d (%s): %s", []string{"2", "hybrid", "gold.content: must not be empty"}},
		{"an internal error hides its text", fmt.Errorf("query: %w", os.ErrPermission), "internal error", "服务器内部错误", internalError, []string{}},
		{"an Internal kind hides its message too", E(Internal, "unknown message type %s", "x"), "internal error", "服务器内部错误", internalError, []string{}},
		{"an Error built by hand stays English", &Error{Kind: Conflict, Message: "raw"}, "raw", "raw", "raw", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.wantEN, Message(tt.err))
			assert.Equal(t, tt.wantEN, Localize(tt.err, English))
			assert.Equal(t, tt.wantEN, Localize(tt.err, "fr"), "an unknown language gets English")
			assert.Equal(t, tt.wantZH, Localize(tt.err, Chinese))
			d := Describe(tt.err, Chinese)
			assert.Equal(t, tt.wantKey, d.Key)
			assert.Equal(t, tt.wantParams, d.Params)
			assert.Equal(t, KindOf(tt.err), d.Kind)
			if d.Field != "" {
				assert.Equal(t, tt.wantZH, d.Field+"："+d.Message, "the detail's message is the message without its field")
			}
		})
	}
	assert.Equal(t, "version 3 of persona 7", P("version %d of persona %d", 3, 7).String())
	assert.NotContains(t, Wrap(Unavailable, os.ErrDeadlineExceeded, "the stream broke off or the endpoint could not be reached").Message, "deadline",
		"the cause stays out of the message")
}

var directive = regexp.MustCompile(`%(?:\[(\d+)\])?([-+# 0]*)(\d*|\*)(?:\.(\d*|\*))?(?:\[(\d+)\])?([a-zA-Z%])`)

// directives maps each argument (from 1) to the directive that prints it, without its index.
func directives(format string) (map[int]string, error) {
	out := map[int]string{}
	next := 1
	for _, m := range directive.FindAllStringSubmatch(format, -1) {
		if m[6] == "%" {
			continue
		}
		if m[3] == "*" || m[4] == "*" {
			return nil, fmt.Errorf("%q: * widths are not supported in messages", format)
		}
		idx := m[1] + m[5]
		if idx != "" {
			next, _ = strconv.Atoi(idx)
		}
		d := m[2] + m[3]
		if m[4] != "" || strings.Contains(m[0], ".") {
			d += "." + m[4]
		}
		d += m[6]
		if prev, ok := out[next]; ok && prev != d {
			return nil, fmt.Errorf("%q: argument %d printed as both %%%s and %%%s", format, next, prev, d)
		}
		out[next] = d
		next++
	}
	if strings.Count(strings.ReplaceAll(format, "%%", ""), "%") != len(directive.FindAllString(strings.ReplaceAll(format, "%%", ""), -1)) {
		return nil, fmt.Errorf("%q has a %% that is not a verb", format)
	}
	return out, nil
}

func sampleArgs(ds map[int]string) []any {
	args := make([]any, len(ds))
	for i := range args {
		switch d := ds[i+1]; d[len(d)-1] {
		case 'd':
			args[i] = 7
		case 'g', 'f', 'e':
			args[i] = 0.5
		default:
			args[i] = "x"
		}
	}
	return args
}

// hasWords reports whether a format has any English words to translate, beyond its verbs
// and the JSON paths it names (ratings[%s]).
func hasWords(format string) bool {
	s := directive.ReplaceAllString(format, "")
	s = regexp.MustCompile(`[A-Za-z_.]+\[[^\]]*\]`).ReplaceAllString(s, "")
	return regexp.MustCompile(`[A-Za-z]{2,}`).MatchString(s)
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}
