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
		{"citations stay", "免征。[1]", "<p>免征。[1]</p>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Contains(t, strings.TrimSpace(r.Markdown(tt.in)), tt.want)
		})
	}
}

// visibleText is what a browser shows for out: its text, with entities decoded.
func visibleText(t *testing.T, out string) string {
	t.Helper()
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(out))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return b.String()
		case html.TextToken:
			b.Write(z.Text())
		}
	}
}

// TestMarkdownShowsRawHTMLAsText: trainers judge what is exported, and the export keeps a
// reply's text as written, so text that looks like HTML is shown, escaped, and never dropped.
func TestMarkdownShowsRawHTMLAsText(t *testing.T) {
	t.Parallel()
	r := render.New()
	tests := []struct {
		name, in string
		want     []string // each must be in the visible text
	}{
		{"a reply explaining a tag", "在页面里用 <script> 标签引入脚本。", []string{"在页面里用 <script> 标签引入脚本。"}},
		{"inline tags", "<b>x</b> 和 <span style=\"color:red\">红</span>", []string{"<b>x</b> 和 <span style=\"color:red\">红</span>"}},
		{"a script", "测试 <script>window.__xss=1</script>", []string{"<script>window.__xss=1</script>"}},
		{"an HTML block keeps its lines", "前文\n\n<div>\n内容\n</div>\n\n后文", []string{"前文", "<div>", "内容", "</div>", "后文"}},
		{"a comment", "注释：<!-- 内部备注 --> 结束", []string{"<!-- 内部备注 -->", "结束"}},
		{"a block comment", "<!--\n多行\n-->", []string{"<!--", "多行", "-->"}},
		{"markdown around it still renders", "**粗体** <i>斜体</i>", []string{"粗体", "<i>斜体</i>"}},
		{"code keeps its tags", "`<br>` 换行", []string{"<br> 换行"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := r.Markdown(tt.in)
			assert.Empty(t, unsafeMarkup(t, out), "unsafe output: %s", out)
			text := visibleText(t, out)
			for _, w := range tt.want {
				assert.Contains(t, text, w, "output: %s", out)
			}
		})
	}
	assert.Contains(t, r.Markdown("**粗体** <i>斜体</i>"), "<strong>粗体</strong>", "markdown is still rendered")
}
