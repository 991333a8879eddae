package render_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/net/html"

	"github.com/mentor-ai/mentor/render"
)

var marker = regexp.MustCompile(`测试\d+`)

var allowedAttrs = map[string]bool{"href": true, "rel": true, "target": true, "class": true, "align": true}

// unsafeMarkup parses out as a browser would and reports the first element or attribute
// outside the allow-list, or a link with a scheme other than http, https or mailto. Text,
// even text that looks like a tag, is fine: it is shown, not run.
func unsafeMarkup(t *testing.T, out string) string {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(out))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ""
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			switch tok.Data {
			case "p", "br", "hr", "strong", "em", "b", "i", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
				"h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "a":
			default:
				return "element <" + tok.Data + ">"
			}
			for _, a := range tok.Attr {
				if !allowedAttrs[a.Key] {
					return "attribute " + a.Key
				}
				if a.Key == "href" {
					u, err := url.Parse(a.Val)
					if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "mailto" && u.Scheme != "") {
						return "link " + a.Val
					}
				}
			}
		}
	}
}

func TestMarkdownKeepsFormattingAndDropsEveryAttack(t *testing.T) {
	t.Parallel()
	r := render.New()
	for _, payload := range render.XSSCorpus {
		t.Run(marker.FindString(payload), func(t *testing.T) {
			t.Parallel()
			out := r.Markdown(payload)
			assert.Empty(t, unsafeMarkup(t, out), "unsafe output: %s", out)
			assert.Contains(t, out, marker.FindString(payload), "the text stays readable")
		})
	}
	assert.GreaterOrEqual(t, len(render.XSSCorpus), 40)

	tests := []struct{ name, in, want string }{
		{"emphasis and code", "**粗体** 和 `code`", "<p><strong>粗体</strong> 和 <code>code</code></p>"},
		{"a safe link opens apart", "[海关](https://www.customs.gov.cn)", `<a href="https://www.customs.gov.cn" rel="nofollow noreferrer noopener" target="_blank">海关</a>`},
		{"a list", "- 一\n- 二", "<ul>\n<li>一</li>\n<li>二</li>\n</ul>"},
		{"a table", "| a | b |\n|---|---|\n| 1 | 2 |", "<td>1</td>"},
		{"raw HTML is shown as text", "<b>x</b>", "<p>x</p>"},
		{"citations stay", "免征。[1]", "<p>免征。[1]</p>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Contains(t, strings.TrimSpace(r.Markdown(tt.in)), tt.want)
		})
	}
}
