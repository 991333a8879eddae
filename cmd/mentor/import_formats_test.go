package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/mentor-ai/mentor/internal/browsertest"
	"github.com/mentor-ai/mentor/internal/pdftest"
	"github.com/mentor-ai/mentor/sheet"
)

// upload sends files to a corpus as the corpus page's import form does.
func (p *person) upload(path string, query url.Values, files map[string][]byte) (int, []byte) {
	p.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for name, data := range files {
		fw, err := mw.CreateFormFile("files", name)
		require.NoError(p.t, err)
		fw.Write(data)
	}
	require.NoError(p.t, mw.Close())
	req, err := http.NewRequest("POST", p.m.base+path+"?"+query.Encode(), &body)
	require.NoError(p.t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept-Language", p.lang)
	req.Header.Set("Origin", p.m.base)
	req.Header.Set("X-CSRF-Token", p.csrf)
	res, err := p.http.Do(req)
	require.NoError(p.t, err)
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	require.NoError(p.t, err)
	return res.StatusCode, out
}

// excelAndPDF imports a Chinese workbook (a merged category, an
// empty row, a Chinese sheet name) and a generated Chinese PDF into the demo corpus, finds
// the PDF's passage with its page, and exports trainer statistics as .xlsx.
func excelAndPDF(t *testing.T, m mentor) {
	admin := m.signIn(t, "admin")
	var corpora struct {
		Corpora []struct {
			ID int64 `json:"id"`
		} `json:"corpora"`
	}
	admin.get("/api/v1/projects/demo/corpora", &corpora)
	require.NotEmpty(t, corpora.Corpora)
	corpus := corpora.Corpora[0].ID

	wb := excelize.NewFile()
	require.NoError(t, wb.SetSheetName("Sheet1", "常见问题"))
	for i, row := range [][]any{{"问题", "答案", "类别"}, {"进境免税额是多少？", "旅客携带自用物品，总值5000元以内免税。", "行李"},
		{"超过了怎么办？", "超出部分按规定征税，请走红色通道申报。", nil}, nil, {"宠物能带吗？", "每人限带一只，须有检疫证书。", "动植物"}} {
		if row != nil {
			require.NoError(t, wb.SetSheetRow("常见问题", fmt.Sprintf("A%d", i+1), &row))
		}
	}
	require.NoError(t, wb.MergeCell("常见问题", "C2", "C3"))
	var xlsx bytes.Buffer
	require.NoError(t, wb.Write(&xlsx))
	pdf := pdftest.Make(t, []pdftest.Page{
		{Header: "银行理财产品说明书", Footer: "第 1 页", Lines: []string{"第一章 产品概述。", "本产品为非保本浮动收益型。"}},
		{Header: "银行理财产品说明书", Footer: "第 2 页", Lines: []string{"第二章 赎回规则。", "投资者可在每个开放日申请赎回，资金两个工作日内到账。"}},
	})

	status, body := admin.upload(fmt.Sprintf("/api/v1/corpora/%d/documents", corpus),
		url.Values{"title_field": {"问题"}, "body_field": {"答案"}, "tags_field": {"类别"}},
		map[string][]byte{"海关问答.xlsx": xlsx.Bytes(), "理财说明书.pdf": pdf, "改名的.xlsx": []byte("问题,答案\n一,二\n")})
	require.Equal(t, http.StatusOK, status, "%s", body)
	var imported struct {
		Results []struct {
			Where   string `json:"where"`
			Outcome string `json:"outcome"`
			Error   string `json:"error"`
		} `json:"results"`
	}
	require.NoError(t, json.Unmarshal(body, &imported))
	outcomes := map[string]string{}
	for _, r := range imported.Results {
		outcomes[r.Where] = r.Outcome + " " + r.Error
	}
	assert.Equal(t, map[string]string{
		"海关问答.xlsx:2": "added ", "海关问答.xlsx:3": "added ", "海关问答.xlsx:5": "added ", "理财说明书.pdf": "added ",
		"改名的.xlsx": "failed 这是文本文件（可能是改了扩展名的 CSV），不是 Excel 工作簿：请按 .csv 导入，或在 Excel 中另存为 .xlsx",
	}, outcomes, "the sheet's rows by their row numbers, the empty row skipped; the error in the caller's language")

	var found struct {
		Passages []struct {
			Slug string `json:"slug"`
			Text string `json:"text"`
			Page int    `json:"page"`
		} `json:"passages"`
	}
	admin.get(fmt.Sprintf("/api/v1/search?corpus=%d&q=%s", corpus, url.QueryEscape("开放日申请赎回")), &found)
	require.NotEmpty(t, found.Passages)
	assert.Equal(t, "理财说明书.pdf", found.Passages[0].Slug)
	assert.Equal(t, 2, found.Passages[0].Page, "cited as 第 2 页")
	assert.Contains(t, found.Passages[0].Text, "投资者可在每个开放日申请赎回")
	assert.NotContains(t, found.Passages[0].Text, "银行理财产品说明书", "the running header is gone")

	// The corpus page's search shows where the passage is, in Chinese.
	ctx := browsertest.New(t, time.Minute)
	require.NoError(t, chromedp.Do(ctx,
		m.browserSignIn("admin"),
		chromedp.Navigate(fmt.Sprintf("%s/#/corpora/%d", m.base, corpus)),
		browsertest.Visible("#search-query"),
		chromedp.SetValue(chromedp.CSS("#search-query"), "开放日申请赎回"),
		chromedp.Click(chromedp.CSS("#search-form button[type=submit]")),
		browsertest.Visible("#search-table tbody tr .page"),
	))
	assert.Equal(t, "第 2 页", browsertest.Text(t, ctx, "#search-table tbody tr:first-child .page"))

	// Statistics as a workbook: created, then downloaded as the export page does.
	status, body = admin.call("POST", "/api/v1/projects/demo/exports", map[string]any{"format": "trainer-stats", "encoding": "xlsx"})
	require.Equal(t, http.StatusCreated, status, "%s", body)
	var created struct {
		DownloadURL string `json:"download_url"`
	}
	require.NoError(t, json.Unmarshal(body, &created))
	status, body = admin.call("GET", created.DownloadURL, nil)
	require.Equal(t, http.StatusOK, status, "%s", body)
	table, err := sheet.Read(bytes.NewReader(body), "stats")
	require.NoError(t, err)
	assert.Equal(t, []string{"annotator", "name", "judgments", "conversations", "personas", "edits", "gold_replies", "flagged",
		"preference_pairs", "revisions", "time_spent_hours", "seconds_per_judgment", "first_judged_at", "last_judged_at"}, table.Header)
}
