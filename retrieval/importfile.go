package retrieval

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/sheet"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/text/encoding/simplifiedchinese"
	xunicode "golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// MaxFileBytes bounds one imported file. A JSONL or CSV file holds many documents, so it
// may be larger than one document.
const MaxFileBytes = 32 << 20

// Mapping names the fields of JSONL objects and CSV columns that hold a document's parts.
type Mapping struct {
	Slug  string `json:"slug_field"`
	Title string `json:"title_field"`
	Body  string `json:"body_field"`
	Lang  string `json:"lang_field"`
	Tags  string `json:"tags_field"` // a JSON array, or in CSV a list separated by | or ,
	// Sheet names the sheet of an .xlsx workbook to read; "" reads the first. Sheets take
	// the same field mapping as CSV, their header row naming the columns.
	Sheet string `json:"sheet"`
}

func (m Mapping) withDefaults() Mapping {
	def := func(s, d string) string {
		if s == "" {
			return d
		}
		return s
	}
	return Mapping{Slug: def(m.Slug, "slug"), Title: def(m.Title, "title"), Body: def(m.Body, "body"),
		Lang: def(m.Lang, "lang"), Tags: def(m.Tags, "tags"), Sheet: m.Sheet}
}

// SupportedExtensions are the file types ParseFile reads.
var SupportedExtensions = []string{".txt", ".md", ".markdown", ".html", ".htm", ".jsonl", ".csv", ".docx", ".xlsx", ".pdf"}

// ParsedDocument is a document read from a file, or why one part of the file could not be.
type ParsedDocument struct {
	Where string // the file, with a line or row for JSONL and CSV
	Input DocumentInput
	Err   error
}

// ParseFile reads the documents in one file. name is the file's path relative to what was
// imported; it becomes the slug of single-document files. An error that concerns the whole
// file comes back as one ParsedDocument with Err set; JSONL, CSV and sheets report each bad
// line or row. A PDF is converted by pdftotext, which ctx bounds.
func ParseFile(ctx context.Context, name string, data []byte, m Mapping) []ParsedDocument {
	ext := strings.ToLower(path.Ext(name))
	fail := func(format string, args ...any) []ParsedDocument {
		return []ParsedDocument{{Where: name, Err: fmt.Errorf(format, args...)}}
	}
	if len(data) > MaxFileBytes {
		return fail("the file is %.1f MiB; the limit is %d MiB", float64(len(data))/(1<<20), MaxFileBytes>>20)
	}
	if ext == ".docx" {
		text, err := docxText(data)
		if err != nil {
			return fail("%v", err)
		}
		return single(name, text, "")
	}
	// Issue 16: spreadsheets and PDF.
	switch ext {
	case ".xlsx":
		t, err := sheet.Read(bytes.NewReader(data), m.Sheet)
		if err != nil {
			return []ParsedDocument{{Where: name, Err: err}}
		}
		return parseSheet(name, t, m.withDefaults())
	case ".pdf":
		body, err := pdfBody(ctx, pdfTool, data)
		if err != nil {
			return []ParsedDocument{{Where: name, Err: err}}
		}
		return single(name, body, "")
	}
	if !supported(ext) {
		return fail("unsupported file type %q: import one of %s", ext, strings.Join(SupportedExtensions, ", "))
	}
	text, err := DecodeText(data)
	if err != nil {
		return fail("%v", err)
	}
	switch ext {
	case ".html", ".htm":
		body, title := htmlText(text)
		return single(name, body, title)
	case ".jsonl":
		return parseJSONL(name, text, m.withDefaults())
	case ".csv":
		return parseCSV(name, text, m.withDefaults())
	}
	return single(name, text, "")
}

func supported(ext string) bool {
	for _, e := range SupportedExtensions {
		if e == ext {
			return true
		}
	}
	return false
}

// single is a file that holds one document. Its title is the given one, else the first
// markdown heading, else a short first line, else the file name.
func single(name, body, title string) []ParsedDocument {
	if strings.TrimSpace(body) == "" {
		return []ParsedDocument{{Where: name, Err: errors.New("the document is empty")}}
	}
	if title == "" {
		for _, line := range strings.Split(body, "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			if m := headingLine.FindStringSubmatch(line); m != nil {
				title = m[2]
			} else if utf8.RuneCountInString(line) <= 60 {
				title = line
			}
			break
		}
	}
	if title == "" {
		title = strings.TrimSuffix(path.Base(name), path.Ext(name))
	}
	return []ParsedDocument{{Where: name, Input: DocumentInput{Slug: name, Title: title, Body: body, Source: name}}}
}

// DecodeText returns data as UTF-8 text. It refuses binary data, reads UTF-16 with a byte
// order mark, and tries GB18030 (which covers GBK and GB2312, common in Chinese files) when
// the bytes are not valid UTF-8.
func DecodeText(data []byte) (string, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		data = data[3:]
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		out, _, err := transform.Bytes(xunicode.BOMOverride(xunicode.UTF8.NewDecoder()), data)
		if err != nil {
			return "", fmt.Errorf("not readable as UTF-16: %v", err)
		}
		data = out
	}
	if bytes.IndexByte(data[:min(len(data), 8000)], 0) >= 0 {
		return "", errors.New("a binary file, not text")
	}
	if utf8.Valid(data) {
		return string(data), nil
	}
	out, _, err := transform.Bytes(simplifiedchinese.GB18030.NewDecoder(), data)
	if err == nil && utf8.Valid(out) && !bytes.ContainsRune(out, utf8.RuneError) && mostlyText(string(out)) {
		return string(out), nil
	}
	offset := 0
	for offset < len(data) {
		r, size := utf8.DecodeRune(data[offset:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		offset += size
	}
	return "", fmt.Errorf("not UTF-8 (invalid byte 0x%02X at offset %d) and not GB18030 either: save it as UTF-8", data[offset], offset)
}

// mostlyText tells decoded text from bytes that merely decode: text is mostly letters,
// digits, punctuation and spaces, not control characters.
func mostlyText(s string) bool {
	var control, total int
	for _, r := range s {
		total++
		if unicode.IsControl(r) && !unicode.IsSpace(r) {
			control++
		}
	}
	return total > 0 && control*100 < total
}

// htmlText extracts an HTML page's text as markdown-like lines, so that chunking sees its
// headings, paragraphs and list items; scripts, styles and other non-content are dropped.
func htmlText(src string) (body, title string) {
	doc, err := html.Parse(strings.NewReader(src))
	if err != nil {
		return "", "" // html.Parse accepts anything; an error means a broken reader
	}
	var b strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.DataAtom {
			case atom.Script, atom.Style, atom.Noscript, atom.Template, atom.Svg, atom.Iframe, atom.Nav, atom.Footer:
				return
			case atom.Title:
				if n.FirstChild != nil && title == "" {
					title = strings.TrimSpace(n.FirstChild.Data)
				}
				return
			case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
				level := int(n.Data[1] - '0')
				b.WriteString("\n\n" + strings.Repeat("#", level) + " ")
				defer b.WriteString("\n\n")
			case atom.Li:
				b.WriteString("\n- ")
			case atom.P, atom.Div, atom.Section, atom.Article, atom.Table, atom.Ul, atom.Ol, atom.Blockquote, atom.Pre:
				b.WriteString("\n\n")
				defer b.WriteString("\n\n")
			case atom.Br, atom.Tr:
				b.WriteString("\n")
			case atom.Td, atom.Th:
				b.WriteString(" ")
			}
		}
		if n.Type == html.TextNode {
			b.WriteString(strings.Join(strings.Fields(n.Data), " "))
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	// Collapse the blank lines the walk left.
	var lines []string
	blank := true
	for _, line := range strings.Split(b.String(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			if !blank {
				lines = append(lines, "")
			}
			blank = true
			continue
		}
		lines = append(lines, line)
		blank = false
	}
	return strings.TrimSpace(strings.Join(lines, "\n")), title
}

// docxText reads a Word document's paragraphs, with its Heading styles as markdown
// headings. Tables and text boxes come through as paragraphs.
func docxText(data []byte) (string, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", errors.New("not a readable .docx file (it is not a zip archive)")
	}
	var f, styles *zip.File
	for _, zf := range zr.File {
		switch zf.Name {
		case "word/document.xml":
			f = zf
		case "word/styles.xml":
			styles = zf
		}
	}
	if f == nil {
		return "", errors.New("not a readable .docx file (no word/document.xml)")
	}
	headingLevel := docxHeadingStyles(styles)
	rc, err := f.Open()
	if err != nil {
		return "", fmt.Errorf("read .docx: %w", err)
	}
	defer rc.Close()
	dec := xml.NewDecoder(io.LimitReader(rc, 8*MaxFileBytes))
	var b, para strings.Builder
	heading := 0
	inText := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("read .docx: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "p":
				para.Reset()
				heading = 0
			case "pStyle":
				for _, a := range t.Attr {
					if a.Name.Local == "val" {
						heading = headingLevel(a.Value)
					}
				}
			case "t":
				inText = true
			case "tab":
				para.WriteString(" ")
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "t":
				inText = false
			case "p":
				if text := strings.TrimSpace(para.String()); text != "" {
					if heading > 0 && heading <= 6 {
						b.WriteString(strings.Repeat("#", heading) + " ")
					}
					b.WriteString(text + "\n\n")
				}
			}
		case xml.CharData:
			if inText {
				para.Write(t)
			}
		}
	}
	return b.String(), nil
}

// docxHeadingStyles returns the heading level of a paragraph style id. English Word names
// heading styles Heading1…; Chinese Word gives them ids such as "1" or "2", and only
// styles.xml says they are "heading 1", "heading 2".
func docxHeadingStyles(styles *zip.File) func(id string) int {
	level := func(name string) int {
		name = strings.ReplaceAll(strings.ToLower(name), " ", "")
		n := 0
		if rest, ok := strings.CutPrefix(name, "heading"); ok {
			fmt.Sscanf(rest, "%d", &n)
		}
		return n
	}
	byID := map[string]int{}
	if styles != nil {
		if rc, err := styles.Open(); err == nil {
			defer rc.Close()
			dec := xml.NewDecoder(io.LimitReader(rc, MaxFileBytes))
			id := ""
			for {
				tok, err := dec.Token()
				if err != nil {
					break
				}
				if se, ok := tok.(xml.StartElement); ok {
					for _, a := range se.Attr {
						switch {
						case se.Name.Local == "style" && a.Name.Local == "styleId":
							id = a.Value
						case se.Name.Local == "name" && a.Name.Local == "val" && id != "":
							if n := level(a.Value); n > 0 {
								byID[id] = n
							}
						}
					}
				}
			}
		}
	}
	return func(id string) int {
		if n, ok := byID[id]; ok {
			return n
		}
		return level(id)
	}
}

func parseJSONL(name, text string, m Mapping) []ParsedDocument {
	var out []ParsedDocument
	for i, line := range strings.Split(text, "\n") {
		where := fmt.Sprintf("%s:%d", name, i+1)
		if strings.TrimSpace(line) == "" {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			out = append(out, ParsedDocument{Where: where, Err: fmt.Errorf("not a JSON object: %v", err)})
			continue
		}
		get := func(field string) (string, error) {
			v, ok := obj[field]
			if !ok || v == nil {
				return "", nil
			}
			s, ok := v.(string)
			if !ok {
				return "", fmt.Errorf("field %q must be a string, not %T", field, v)
			}
			return s, nil
		}
		var tags []string
		if v, ok := obj[m.Tags]; ok && v != nil {
			list, ok := v.([]any)
			if !ok {
				out = append(out, ParsedDocument{Where: where, Err: fmt.Errorf("field %q must be an array of strings", m.Tags)})
				continue
			}
			for _, t := range list {
				if s, ok := t.(string); ok {
					tags = append(tags, s)
				}
			}
		}
		out = append(out, record(where, fmt.Sprintf("%s#%d", name, i+1), m, get, tags))
	}
	if len(out) == 0 {
		return []ParsedDocument{{Where: name, Err: errors.New("the file has no JSON lines")}}
	}
	return out
}

func parseCSV(name, text string, m Mapping) []ParsedDocument {
	r := csv.NewReader(strings.NewReader(text))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return []ParsedDocument{{Where: name, Err: fmt.Errorf("no header row: %v", err)}}
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	if _, ok := col[m.Body]; !ok {
		return []ParsedDocument{{Where: name, Err: fmt.Errorf("no %q column for the body (columns: %s); name another with the body field mapping",
			m.Body, strings.Join(header, ", "))}}
	}
	var out []ParsedDocument
	for row := 2; ; row++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		where := fmt.Sprintf("%s:%d", name, row)
		if err != nil {
			out = append(out, ParsedDocument{Where: where, Err: err})
			if errors.Is(err, csv.ErrQuote) || errors.Is(err, csv.ErrBareQuote) {
				break // the rest of the file cannot be trusted to line up
			}
			continue
		}
		get := func(field string) (string, error) {
			if i, ok := col[field]; ok && i < len(rec) {
				return rec[i], nil
			}
			return "", nil
		}
		var tags []string
		if s, _ := get(m.Tags); s != "" {
			for _, t := range strings.FieldsFunc(s, func(r rune) bool { return r == '|' || r == ',' }) {
				tags = append(tags, strings.TrimSpace(t))
			}
		}
		out = append(out, record(where, fmt.Sprintf("%s#%d", name, row), m, get, tags))
	}
	if len(out) == 0 {
		return []ParsedDocument{{Where: name, Err: errors.New("the file has a header but no rows")}}
	}
	return out
}

// parseSheet reads a sheet's rows as CSV rows: the header names the columns the mapping
// refers to, and each row is reported by its number in the sheet.
func parseSheet(name string, t sheet.Table, m Mapping) []ParsedDocument {
	if t.Column(m.Body) < 0 {
		return []ParsedDocument{{Where: name, Err: errs.E(errs.Invalid, "sheet %q has no %q column for the body (columns: %s); name another with the body field mapping",
			t.Sheet, m.Body, strings.Join(t.Header, ", "))}}
	}
	var out []ParsedDocument
	for _, row := range t.Rows {
		where := fmt.Sprintf("%s:%d", name, row.Line)
		get := func(field string) (string, error) { return row.Get(t.Column(field)), nil }
		var tags []string
		if s, _ := get(m.Tags); s != "" {
			for _, tag := range strings.FieldsFunc(s, func(r rune) bool { return r == '|' || r == ',' || r == '，' }) {
				tags = append(tags, strings.TrimSpace(tag))
			}
		}
		out = append(out, record(where, fmt.Sprintf("%s#%d", name, row.Line), m, get, tags))
	}
	if len(out) == 0 {
		return []ParsedDocument{{Where: name, Err: errs.E(errs.Invalid, "sheet %q has a header but no rows", t.Sheet)}}
	}
	return out
}

// record builds one document from a JSONL object or CSV row.
func record(where, defaultSlug string, m Mapping, get func(string) (string, error), tags []string) ParsedDocument {
	var fields [4]string
	for i, f := range []string{m.Slug, m.Title, m.Body, m.Lang} {
		v, err := get(f)
		if err != nil {
			return ParsedDocument{Where: where, Err: err}
		}
		fields[i] = strings.TrimSpace(v)
	}
	slug, title, body, lang := fields[0], fields[1], fields[2], fields[3]
	if body == "" {
		return ParsedDocument{Where: where, Err: fmt.Errorf("field %q (the body) is missing or empty", m.Body)}
	}
	if slug == "" {
		slug = defaultSlug
	}
	if title == "" {
		title = slug
	}
	return ParsedDocument{Where: where, Input: DocumentInput{Slug: slug, Title: title, Body: body, Lang: lang, Tags: tags, Source: where}}
}

// ImportResult is what happened to one document of an import.
type ImportResult struct {
	Where     string `json:"where"` // file, and line or row
	Slug      string `json:"slug,omitempty"`
	Outcome   string `json:"outcome"` // added, updated, unchanged or failed
	Version   int    `json:"version,omitempty"`
	Chunks    int    `json:"chunks"`
	StaleGold int    `json:"stale_gold,omitempty"`
	Error     string `json:"error,omitempty"`
	// Err is the failure itself, for a caller that shows it in the user's language (the
	// server does); Error is its English text.
	Err error `json:"-"`
}

// failure is a parse error's English text: an *errs.Error's user-safe message, or the
// plain text of the parsers that predate errs.
func failure(err error) string {
	var e *errs.Error
	if errors.As(err, &e) {
		return errs.Message(err)
	}
	return err.Error()
}

// ImportSummary counts an import's outcomes.
type ImportSummary struct {
	Files     int `json:"files"`
	Added     int `json:"added"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Failed    int `json:"failed"`
	Chunks    int `json:"chunks"`
	StaleGold int `json:"stale_gold"`
}

// Add counts r.
func (s *ImportSummary) Add(r ImportResult) {
	switch r.Outcome {
	case string(Added):
		s.Added++
	case string(Updated):
		s.Updated++
	case string(Unchanged):
		s.Unchanged++
	default:
		s.Failed++
	}
	s.Chunks += r.Chunks
	s.StaleGold += r.StaleGold
}

// importBatch is how many documents of one file share a transaction.
const importBatch = 200

// ImportFile parses one file and ingests its documents, in batches that share a
// transaction, the next batch prepared while one is written (IngestBatches). A bad file or
// line is one failed result; the others go on.
func (s *Store) ImportFile(ctx context.Context, corpus Corpus, name string, data []byte, m Mapping) []ImportResult {
	parsed := ParseFile(ctx, name, data, m)
	out := make([]ImportResult, len(parsed))
	var ins []DocumentInput
	var at []int
	for i, p := range parsed {
		if p.Err != nil {
			out[i] = ImportResult{Where: p.Where, Outcome: "failed", Error: failure(p.Err), Err: p.Err}
			continue
		}
		ins, at = append(ins, p.Input), append(at, i)
	}
	for j, r := range s.IngestBatches(ctx, corpus, ins, importBatch) {
		i := at[j]
		if r.Err != nil {
			out[i] = ImportResult{Where: parsed[i].Where, Slug: r.Slug, Outcome: "failed", Error: errs.Message(r.Err), Err: r.Err}
			continue
		}
		out[i] = ImportResult{Where: parsed[i].Where, Slug: r.Slug, Outcome: string(r.Outcome), Version: r.Version,
			Chunks: r.Chunks, StaleGold: r.StaleGold}
	}
	return out
}
