package retrieval

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/mentor-ai/mentor/errs"
)

// pdfTool is the program PDF import runs: poppler's pdftotext, from Debian's poppler-utils.
// Go's PDF readers were tried first (docs/retrieval.md): none put Chinese text in reading
// order, and pdftotext -layout does.
const pdfTool = "pdftotext"

// pdfTimeout bounds one conversion: pdftotext takes well under a second for a hundred-page
// text PDF, so a file that takes a minute is broken or hostile.
const pdfTimeout = time.Minute

// pageBreak separates the pages of a PDF's body, as pdftotext separates them: ChunkText
// counts them to give each chunk its page.
const pageBreak = "\f"

// pdfBody converts a PDF to a document body: the text of each page in reading order, with
// the lines that repeat at the top or bottom of most pages (running headers, footers, page
// numbers) dropped, and the pages separated by a form feed. tool is the pdftotext to run.
func pdfBody(ctx context.Context, tool string, data []byte) (string, error) {
	path, err := exec.LookPath(tool)
	if err != nil {
		return "", errs.E(errs.Unavailable, "PDF import needs pdftotext, which is not installed on the server: install the poppler-utils package (apt-get install poppler-utils, or scripts/setup.sh pdf)")
	}
	if !bytes.HasPrefix(bytes.TrimLeft(data[:min(len(data), 1024)], "\x00\t\n\r "), []byte("%PDF-")) {
		return "", errs.E(errs.Invalid, "not a PDF file (it does not start with %%PDF-)")
	}
	ctx, cancel := context.WithTimeout(ctx, pdfTimeout)
	defer cancel()
	// -layout keeps each line's characters in the order they stand on the page, which is
	// reading order for Chinese; without it pdftotext follows the content stream, which
	// some writers emit out of order. Input and output go through pipes: no temporary file.
	cmd := exec.CommandContext(ctx, path, "-layout", "-enc", "UTF-8", "-eol", "unix", "-", "-")
	cmd.Stdin = bytes.NewReader(data)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		switch {
		case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
			return "", errs.E(errs.Invalid, "pdftotext did not finish reading the PDF within %s", pdfTimeout)
		case strings.Contains(msg, "password"):
			return "", errs.E(errs.Invalid, "the PDF is protected by a password: remove the password and import it again")
		}
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:] // the last complaint is the one that stopped it
		}
		return "", errs.Wrap(errs.Invalid, fmt.Errorf("%s: %w", msg, err), "not a readable PDF file")
	}
	pages := strings.Split(strings.TrimSuffix(stdout.String(), pageBreak), pageBreak)
	if strings.TrimSpace(strings.Join(pages, "")) == "" {
		return "", errs.E(errs.Invalid, "this PDF has no text layer (scanned?): text recognition (OCR) is not supported; import a PDF with text, or the text itself")
	}
	return strings.Join(dropRunningLines(pages), "\n"+pageBreak), nil
}

// runningZone is how many non-blank lines at the top and at the bottom of a page can be a
// running header or footer: a header line and a rule or date, a footer and its page number.
const runningZone = 2

// digits makes "第 3 页" and "第 4 页" the same line, and "- 3 -" and "- 4 -".
var digits = regexp.MustCompile(`[0-9０-９]+|[一二三四五六七八九十百]+(?:页|頁)`)

// dropRunningLines removes from each page the lines in its top or bottom zone that recur,
// up to numbers, in that zone on at least 60% of the pages (a title page often has no
// header, and a short document is judged on all of its pages). A document of one page has
// nothing running.
func dropRunningLines(pages []string) []string {
	split := make([][]string, len(pages))
	for i, p := range pages {
		split[i] = strings.Split(p, "\n")
	}
	out := make([]string, len(pages))
	if len(pages) < 2 {
		for i, lines := range split {
			out[i] = strings.Join(trimLayout(lines), "\n")
		}
		return out
	}
	key := func(line string) string {
		return digits.ReplaceAllString(strings.Join(strings.Fields(line), ""), "#")
	}
	// zone returns the indexes of a page's first and last non-blank lines.
	zone := func(lines []string) []int {
		var nonBlank []int
		for i, l := range lines {
			if strings.TrimSpace(l) != "" {
				nonBlank = append(nonBlank, i)
			}
		}
		if len(nonBlank) <= 2*runningZone {
			return nonBlank
		}
		return append(nonBlank[:runningZone:runningZone], nonBlank[len(nonBlank)-runningZone:]...)
	}
	seen := map[string]int{} // key → number of pages with it in their zone
	for _, lines := range split {
		onPage := map[string]bool{}
		for _, i := range zone(lines) {
			onPage[key(lines[i])] = true
		}
		for k := range onPage {
			seen[k]++
		}
	}
	need := max(2, (len(pages)*6+9)/10)
	for p, lines := range split {
		for _, i := range zone(lines) {
			if seen[key(lines[i])] >= need {
				lines[i] = ""
			}
		}
		out[p] = strings.Join(trimLayout(lines), "\n")
	}
	return out
}

// trimLayout drops the indentation -layout adds to place a line on the page, and the
// trailing blank lines of a page, keeping blank lines between paragraphs.
func trimLayout(lines []string) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, strings.TrimSpace(l))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	for len(out) > 0 && out[0] == "" {
		out = out[1:]
	}
	return out
}
