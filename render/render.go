// Package render turns model output, which is untrusted, into HTML that is safe to show: the
// markdown is rendered with raw HTML shown as text (goldmark, with the node renderers below),
// and the result is filtered through an allow-list (bluemonday) that keeps text formatting
// and plain links only.
//
// Trainers judge what is exported, and the export keeps a reply's text as the model wrote
// it: a reply that explains <script> must show "<script>", not lose it. So raw HTML is never
// dropped (goldmark's default replaces it with a comment) and never run: it is escaped.
//
// While a reply streams, the UI shows it as text; it is rendered here once, when complete.
package render

import (
	"bytes"
	"html"
	"regexp"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/util"
)

// Renderer is safe for concurrent use.
type Renderer struct {
	md     goldmark.Markdown
	policy *bluemonday.Policy
}

// New returns a Renderer.
func New() *Renderer {
	p := bluemonday.NewPolicy()
	p.AllowElements("p", "br", "hr", "strong", "em", "b", "i", "del", "s", "code", "pre", "blockquote",
		"ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "a")
	p.AllowAttrs("href").OnElements("a")
	p.AllowURLSchemes("http", "https", "mailto")
	p.RequireParseableURLs(true)
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	p.AllowAttrs("class").Matching(regexp.MustCompile(`^language-[\w+-]+$`)).OnElements("code")
	p.AllowAttrs("align").Matching(regexp.MustCompile(`^(left|right|center)$`)).OnElements("th", "td")
	// No images: an external one would break the page's CSP and could track the trainer.
	md := goldmark.New(
		goldmark.WithExtensions(extension.GFM),
		// Priority 100 runs before goldmark's own HTML renderer (1000), which would drop raw HTML.
		goldmark.WithRendererOptions(renderer.WithNodeRenderers(util.Prioritized(rawHTMLAsText{}, 100))),
	)
	return &Renderer{md: md, policy: p}
}

// Markdown returns safe HTML for untrusted markdown.
func (r *Renderer) Markdown(src string) string {
	var b bytes.Buffer
	if err := r.md.Convert([]byte(src), &b); err != nil {
		// goldmark only fails when writing fails, which a bytes.Buffer does not; show the text.
		return "<p>" + html.EscapeString(src) + "</p>"
	}
	return r.policy.Sanitize(b.String())
}

// rawHTMLAsText renders raw HTML, inline or as a block, as the text it is.
type rawHTMLAsText struct{}

// RegisterFuncs implements renderer.NodeRenderer.
func (rawHTMLAsText) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(ast.KindRawHTML, renderInline)
	reg.Register(ast.KindHTMLBlock, renderBlock)
}

func renderInline(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		segs := node.(*ast.RawHTML).Segments
		for i := range segs.Len() {
			seg := segs.At(i)
			_, _ = w.WriteString(html.EscapeString(string(seg.Value(source))))
		}
	}
	return ast.WalkSkipChildren, nil
}

// renderBlock shows an HTML block as a paragraph of its text, keeping its line breaks.
func renderBlock(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.HTMLBlock)
	var text strings.Builder
	lines := n.Lines()
	for i := range lines.Len() {
		seg := lines.At(i)
		text.Write(seg.Value(source))
	}
	if n.HasClosure() {
		text.Write(n.ClosureLine.Value(source))
	}
	body := strings.Split(strings.TrimRight(text.String(), "\n"), "\n")
	for i, line := range body {
		body[i] = html.EscapeString(line)
	}
	_, _ = w.WriteString("<p>" + strings.Join(body, "<br>\n") + "</p>\n")
	return ast.WalkSkipChildren, nil
}
