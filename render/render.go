// Package render turns model output, which is untrusted, into HTML that is safe to show: the
// markdown is rendered with raw HTML switched off (goldmark), and the result is filtered
// through an allow-list (bluemonday) that keeps text formatting and plain links only.
//
// While a reply streams, the UI shows it as text; it is rendered here once, when complete.
package render

import (
	"bytes"
	"regexp"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
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
	return &Renderer{
		md:     goldmark.New(goldmark.WithExtensions(extension.GFM)), // raw HTML stays escaped (goldmark's default)
		policy: p,
	}
}

// Markdown returns safe HTML for untrusted markdown.
func (r *Renderer) Markdown(src string) string {
	var b bytes.Buffer
	if err := r.md.Convert([]byte(src), &b); err != nil {
		// goldmark only fails when writing fails, which a bytes.Buffer does not; show the text.
		return r.policy.Sanitize("<p>" + bluemonday.StrictPolicy().Sanitize(src) + "</p>")
	}
	return r.policy.Sanitize(b.String())
}
