// Package pdftest makes PDFs for tests: pages of Chinese text set in a real CJK font, the way
// a customs notice or bank terms arrive, so that PDF import is tested against what
// pdftotext really extracts rather than a hand-written text layer.
package pdftest

import (
	"bytes"
	"os"
	"testing"

	"github.com/go-pdf/fpdf"
)

// FontPath is Debian's Droid Sans Fallback (package fonts-droid-fallback), a TrueType font
// with the CJK ideographs. Noto CJK, which the browser tests use, comes as .ttc collections,
// which fpdf cannot embed. scripts/setup.sh pdf installs both the font and pdftotext.
const FontPath = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"

// Page is one page: a running header and footer (either may be ""), and the body lines, set
// one per line as given; "" leaves a blank line, which ends a paragraph.
type Page struct {
	Header, Footer string
	Lines          []string
}

// Make returns a PDF of pages. Lines are placed one by one rather than wrapped by fpdf,
// whose MultiCell drops the character at each wrap of UTF-8 text.
func Make(t testing.TB, pages []Page) []byte {
	t.Helper()
	font, err := os.ReadFile(FontPath)
	if err != nil {
		t.Fatalf("the CJK font for test PDFs is missing (%v): run scripts/setup.sh pdf, or apt-get install fonts-droid-fallback", err)
	}
	p := fpdf.New("P", "mm", "A4", "")
	p.SetAutoPageBreak(false, 0)
	p.AddUTF8FontFromBytes("droid", "", font)
	p.SetFont("droid", "", 12)
	for _, pg := range pages {
		p.AddPage()
		if pg.Header != "" {
			p.SetXY(20, 10)
			p.CellFormat(170, 8, pg.Header, "", 0, "C", false, 0, "")
		}
		y := 30.0
		for _, line := range pg.Lines {
			if line != "" {
				p.SetXY(20, y)
				p.CellFormat(170, 7, line, "", 0, "L", false, 0, "")
			}
			y += 8
		}
		if pg.Footer != "" {
			p.SetXY(20, 280)
			p.CellFormat(170, 8, pg.Footer, "", 0, "C", false, 0, "")
		}
	}
	var buf bytes.Buffer
	if err := p.Output(&buf); err != nil {
		t.Fatalf("make a test PDF: %v", err)
	}
	return buf.Bytes()
}

// Scanned returns a PDF whose pages hold only drawings, as a scan holds only images: no
// text layer.
func Scanned(t testing.TB, pages int) []byte {
	t.Helper()
	p := fpdf.New("P", "mm", "A4", "")
	for range pages {
		p.AddPage()
		p.SetFillColor(40, 40, 40)
		for i := range 20 {
			p.Rect(20, 30+float64(i)*10, 150, 4, "F") // where lines of text would be
		}
	}
	var buf bytes.Buffer
	if err := p.Output(&buf); err != nil {
		t.Fatalf("make a test PDF: %v", err)
	}
	return buf.Bytes()
}
