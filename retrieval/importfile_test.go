package retrieval_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/retrieval"
)

func gb18030(t *testing.T, s string) []byte {
	t.Helper()
	out, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(s))
	require.NoError(t, err)
	return out
}

func docx(t *testing.T, paragraphs string, styles ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("word/document.xml")
	require.NoError(t, err)
	w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>` +
		paragraphs + `</w:body></w:document>`))
	if len(styles) > 0 {
		w, err := zw.Create("word/styles.xml")
		require.NoError(t, err)
		w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><w:styles xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">` +
			strings.Join(styles, "") + `</w:styles>`))
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// workbook builds an .xlsx: its sheets in order, each a grid of rows (nil: an empty row),
// with at most one merged range per sheet.
func workbook(t *testing.T, sheets []string, grids map[string][][]any, merged map[string][2]string) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i, name := range sheets {
		if i == 0 {
			require.NoError(t, f.SetSheetName("Sheet1", name))
		} else {
			_, err := f.NewSheet(name)
			require.NoError(t, err)
		}
		for r, row := range grids[name] {
			if row != nil {
				require.NoError(t, f.SetSheetRow(name, fmt.Sprintf("A%d", r+1), &row))
			}
		}
		if m, ok := merged[name]; ok {
			require.NoError(t, f.MergeCell(name, m[0], m[1]))
		}
	}
	var buf bytes.Buffer
	require.NoError(t, f.Write(&buf))
	return buf.Bytes()
}

func TestParseFile(t *testing.T) {
	t.Parallel()
	type doc struct{ slug, title, body string }
	tests := []struct {
		name    string
		file    string
		data    []byte
		mapping retrieval.Mapping
		want    []doc
		errs    []string // per failed part, a piece of its message
	}{
		{name: "markdown takes its title from the first heading", file: "kb/postal.md",
			data: []byte("# 邮递物品\n\n免征额50元。"), want: []doc{{"kb/postal.md", "邮递物品", "# 邮递物品\n\n免征额50元。"}}},
		{name: "text with a UTF-8 byte order mark", file: "cash.txt",
			data: append([]byte{0xEF, 0xBB, 0xBF}, []byte("现金申报\n超过2万元需申报。")...), want: []doc{{"cash.txt", "现金申报", "现金申报\n超过2万元需申报。"}}},
		{name: "GB18030 Chinese text is detected", file: "gbk.txt",
			data: gb18030(t, "烟酒限量\n酒精饮料限1500毫升。"), want: []doc{{"gbk.txt", "烟酒限量", "烟酒限量\n酒精饮料限1500毫升。"}}},
		{name: "HTML drops scripts and styles and keeps structure", file: "page.html",
			data: []byte(`<html><head><title>宠物入境</title><style>p{color:red}</style></head><body><script>alert(1)</script>` +
				`<h2>犬猫</h2><p>每人限带一只。</p><ul><li>检疫证书</li><li>疫苗证书</li></ul></body></html>`),
			want: []doc{{"page.html", "宠物入境", "## 犬猫\n\n每人限带一只。\n\n- 检疫证书\n- 疫苗证书"}}},
		{name: "docx headings become markdown headings", file: "rules.docx",
			data: docx(t, `<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>跨境电商</w:t></w:r></w:p><w:p><w:r><w:t>单次限值5000元。</w:t></w:r></w:p>`),
			want: []doc{{"rules.docx", "跨境电商", "# 跨境电商\n\n单次限值5000元。\n\n"}}},
		{name: "docx from Chinese Word: heading styles named in styles.xml", file: "规定.docx",
			data: docx(t, `<w:p><w:pPr><w:pStyle w:val="2"/></w:pPr><w:r><w:t>现金申报</w:t></w:r></w:p><w:p><w:pPr><w:pStyle w:val="a3"/></w:pPr><w:r><w:t>超过2万元需申报。</w:t></w:r></w:p>`,
				`<w:style w:type="paragraph" w:styleId="2"><w:name w:val="heading 2"/></w:style>`,
				`<w:style w:type="paragraph" w:styleId="a3"><w:name w:val="Normal"/></w:style>`),
			want: []doc{{"规定.docx", "现金申报", "## 现金申报\n\n超过2万元需申报。\n\n"}}},
		{name: "JSONL with a field mapping, one bad line amid good ones", file: "faq.jsonl",
			data: []byte(`{"id":"q1","question":"免税额？","answer":"50元以下免征。"}` + "\n" +
				`{"id":"q2","question":"现金？"` + "\n" +
				`{"id":"q3","question":"香烟？","answer":""}` + "\n" +
				`{"id":"q4","question":"酒？","answer":"限1500毫升。","tags":["alcohol"]}` + "\n"),
			mapping: retrieval.Mapping{Slug: "id", Title: "question", Body: "answer"},
			want:    []doc{{"q1", "免税额？", "50元以下免征。"}, {"q4", "酒？", "限1500毫升。"}},
			errs:    []string{"faq.jsonl:2: not a JSON object", `faq.jsonl:3: field "answer" (the body) is missing or empty`}},
		{name: "CSV with a header", file: "faq.csv",
			data: []byte("title,body,tags\n免税额,50元以下免征。,postal|tax\n现金,\"超过2万元，需申报。\",cash\n"),
			want: []doc{{"faq.csv#2", "免税额", "50元以下免征。"}, {"faq.csv#3", "现金", "超过2万元，需申报。"}}},
		{name: "CSV without the body column", file: "bad.csv", data: []byte("q,a\nx,y\n"), errs: []string{`no "body" column for the body (columns: q, a)`}},
		{name: "binary", file: "image.txt", data: []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), errs: []string{"a binary file, not text"}},
		{name: "neither UTF-8 nor GB18030", file: "latin1.txt", data: []byte("caf\xe9 \xff\xfe\xfd"), errs: []string{"not UTF-8 (invalid byte 0xE9 at offset 3)"}},
		{name: "empty", file: "empty.md", data: []byte(" \n\n "), errs: []string{"the document is empty"}},
		{name: "too large", file: "huge.txt", data: bytes.Repeat([]byte("a"), retrieval.MaxFileBytes+1), errs: []string{"the limit is 32 MiB"}},
		{name: "a PDF that is not one", file: "rules.pdf", data: []byte("%PDF-1.7"), errs: []string{`not a readable PDF file`}},
		{name: "Excel: the first sheet, a field mapping, a merged category, empty rows", file: "问答.xlsx",
			data: workbook(t, []string{"常见问题", "备注"}, map[string][][]any{"常见问题": {
				{"编号", "问题", "答案", "类别"},
				{"q1", "免税额？", "50元以下免征。", "邮递"},
				{"q2", "怎么申报？", "通过单一窗口申报。", nil},
				nil,
				{"q3", "现金？", "", "现金"},
				{"q4", "限额？", "2万元。", "现金"},
			}, "备注": {{"x"}, {"y"}}}, map[string][2]string{"常见问题": {"D2", "D3"}}),
			mapping: retrieval.Mapping{Slug: "编号", Title: "问题", Body: "答案", Tags: "类别"},
			want:    []doc{{"q1", "免税额？", "50元以下免征。"}, {"q2", "怎么申报？", "通过单一窗口申报。"}, {"q4", "限额？", "2万元。"}},
			errs:    []string{`问答.xlsx:5: field "答案" (the body) is missing or empty`}},
		{name: "Excel: a sheet by its Chinese name", file: "kb.xlsx",
			data:    workbook(t, []string{"Sheet1", "第二季度"}, map[string][][]any{"第二季度": {{"title", "body"}, {"税率", "13%"}}}, nil),
			mapping: retrieval.Mapping{Sheet: "第二季度"}, want: []doc{{"kb.xlsx#2", "税率", "13%"}}},
		{name: "Excel without the body column", file: "kb.xlsx",
			data: workbook(t, []string{"表"}, map[string][][]any{"表": {{"问题", "答复"}, {"a", "b"}}}, nil),
			errs: []string{`sheet "表" has no "body" column for the body (columns: 问题, 答复)`}},
		{name: "a CSV renamed to .xlsx", file: "faq.xlsx", data: []byte("title,body\n免税额,50元\n"),
			errs: []string{"this is a text file (a CSV renamed to .xlsx?)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []doc
			var failures []string
			for _, p := range retrieval.ParseFile(context.Background(), tt.file, tt.data, tt.mapping) {
				if p.Err != nil {
					failures = append(failures, p.Where+": "+p.Err.Error())
					continue
				}
				got = append(got, doc{p.Input.Slug, p.Input.Title, p.Input.Body})
			}
			assert.Equal(t, tt.want, got)
			require.Len(t, failures, len(tt.errs), "failures: %q", failures)
			for i, e := range tt.errs {
				assert.Contains(t, failures[i], e)
			}
		})
	}
}

func TestImportFilesIsIdempotentAndReportsEachFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := retrieval.NewStore(pool, nil, nil)
	c := newCorpus(t, pool, s, retrieval.Corpus{Slug: "kb"})
	files := []struct {
		name string
		data []byte
	}{
		{"postal.md", []byte("# 邮递物品\n\n个人邮寄进境物品，税额50元以下免征。")},
		{"broken.txt", []byte("\x00\x01\x02binary")},
		{"cash.txt", gb18030(t, "现金申报\n携带人民币现钞超过20000元需要申报。")},
		{"faq.jsonl", []byte(`{"slug":"a","title":"A","body":"烟草限400支。"}` + "\n" + `not json` + "\n")},
	}
	run := func() retrieval.ImportSummary {
		var sum retrieval.ImportSummary
		for _, f := range files {
			sum.Files++
			for _, r := range s.ImportFile(ctx, c, f.name, f.data, retrieval.Mapping{}) {
				sum.Add(r)
			}
		}
		return sum
	}
	first := run()
	assert.Equal(t, retrieval.ImportSummary{Files: 4, Added: 3, Failed: 2, Chunks: first.Chunks}, first)
	assert.Positive(t, first.Chunks)

	second := run()
	assert.Equal(t, retrieval.ImportSummary{Files: 4, Unchanged: 3, Failed: 2}, second, "a re-import of the same files changes nothing")

	files[0].data = []byte("# 邮递物品\n\n个人邮寄进境物品，税额100元以下免征。")
	third := run()
	assert.Equal(t, 1, third.Updated)
	assert.Equal(t, 2, third.Unchanged)

	hits, err := s.Search(ctx, retrieval.Query{CorpusIDs: []int64{c.ID}, Text: "现钞申报", K: 1})
	require.NoError(t, err)
	require.Len(t, hits, 1)
	assert.True(t, strings.Contains(hits[0].Text, "20000元"), "the GB18030 file was decoded: %q", hits[0].Text)
}

func TestImportBatchFailsOnlyTheBadDocument(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := retrieval.NewStore(pool, nil, nil)
	c := newCorpus(t, pool, s, retrieval.Corpus{Slug: "kb"})
	// PostgreSQL text cannot hold a NUL character; JSON can. That document fails with a
	// message that says so, and the rest of its batch is stored.
	data := []byte(`{"slug":"a","title":"甲","body":"第一条。"}` + "\n" +
		`{"slug":"b","title":"乙","body":"坏\u0000字符"}` + "\n" +
		`{"slug":"c","title":"丙","body":"第三条。"}` + "\n")
	results := s.ImportFile(ctx, c, "rows.jsonl", data, retrieval.Mapping{})
	require.Len(t, results, 3)
	assert.Equal(t, "added", results[0].Outcome)
	assert.Equal(t, "failed", results[1].Outcome)
	assert.Equal(t, "rows.jsonl:2", results[1].Where)
	assert.Contains(t, results[1].Error, "body: contains a NUL character")
	assert.Equal(t, "added", results[2].Outcome)
	var docs int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM documents`).Scan(&docs))
	assert.Equal(t, 2, docs)
}
