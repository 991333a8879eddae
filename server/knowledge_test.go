package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/simplifiedchinese"
)

type upload struct {
	name string
	data []byte
}

// upload sends files as the browser's import form does: multipart, with the CSRF header.
func (c *client) upload(t *testing.T, path string, files ...upload) (int, map[string]any) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, f := range files {
		w, err := mw.CreateFormFile("files", f.name)
		require.NoError(t, err)
		w.Write(f.data)
	}
	require.NoError(t, mw.Close())
	req, err := http.NewRequest("POST", c.f.srv.URL+path, &body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("X-CSRF-Token", c.csrf)
	res, err := c.http.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	return res.StatusCode, out
}

func TestKnowledgeAPI(t *testing.T) {
	t.Parallel()
	f := setup(t)
	status, proj := call(t, f, "POST", "/api/v1/projects", map[string]any{"name": "海关项目", "slug": "customs"})
	require.Equal(t, http.StatusCreated, status, proj)

	status, body := call(t, f, "POST", "/api/v1/projects/customs/corpora", map[string]any{"slug": "kb", "name": "知识库", "dimension": 768})
	require.Equal(t, http.StatusBadRequest, status)
	_, field, msg := errorOf(body)
	assert.Equal(t, "dimension", field)
	assert.Contains(t, msg, "makes 256 dimensions, not 768")

	status, corpus := call(t, f, "POST", "/api/v1/projects/customs/corpora", map[string]any{"slug": "kb", "name": "知识库"})
	require.Equal(t, http.StatusCreated, status, corpus)
	assert.Equal(t, "offline-ngram-256", corpus["embedder"])
	cid := id(corpus["id"])

	gbk, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte("现金申报\n携带人民币现钞超过20000元，应当向海关书面申报。"))
	require.NoError(t, err)
	path := fmt.Sprintf("/api/v1/corpora/%d/documents", cid)
	status, res := f.admin.upload(t, path,
		upload{"postal.md", []byte("# 邮递物品免征额\n\n个人邮寄进境物品，应征进口税税额在人民币50元（含）以下的，海关予以免征。")},
		upload{"photo.txt", []byte("\x89PNG\x00\x00binary")},
		upload{"cash.txt", gbk},
		upload{"notes.pdf", []byte("%PDF-1.4")},
	)
	require.Equal(t, http.StatusOK, status, res)
	sum := res["summary"].(map[string]any)
	assert.EqualValues(t, 4, sum["files"])
	assert.EqualValues(t, 2, sum["added"])
	assert.EqualValues(t, 2, sum["failed"])
	results := res["results"].([]any)
	require.Len(t, results, 4)
	assert.Equal(t, "photo.txt", results[1].(map[string]any)["where"])
	assert.Contains(t, results[1].(map[string]any)["error"], "binary")
	assert.Contains(t, results[3].(map[string]any)["error"], "无法读取这个 PDF 文件", "a PDF is read now, and this one is broken")

	status, res = f.admin.upload(t, path, upload{"postal.md", []byte("# 邮递物品免征额\n\n个人邮寄进境物品，应征进口税税额在人民币50元（含）以下的，海关予以免征。")})
	require.Equal(t, http.StatusOK, status, res)
	assert.EqualValues(t, 1, res["summary"].(map[string]any)["unchanged"], "re-importing the same file changes nothing")

	search := func(query string, params ...string) (int, map[string]any) {
		q := url.Values{"corpus": {fmt.Sprint(cid)}, "q": {query}}
		for i := 0; i+1 < len(params); i += 2 {
			q.Set(params[i], params[i+1])
		}
		return call(t, f, "GET", "/api/v1/search?"+q.Encode(), nil)
	}
	status, res = search("带多少现钞要申报", "k", "2")
	require.Equal(t, http.StatusOK, status, res)
	passages := res["passages"].([]any)
	require.NotEmpty(t, passages)
	top := passages[0].(map[string]any)
	assert.Equal(t, "cash.txt", top["slug"], "the GB18030 file was decoded and found")
	for _, part := range []string{"score", "vector_rank", "vector_score", "text_rank", "text_score", "heading_path", "chunk_id"} {
		assert.Contains(t, top, part, "the search shows its score parts")
	}

	status, res = search("税", "vector_weight", "0")
	require.Equal(t, http.StatusOK, status, res)
	assert.NotEmpty(t, res["passages"], "a one-character query finds full-text hits")

	for _, bad := range []struct{ param, value, field string }{{"k", "0", "k"}, {"k", "ten", "k"}, {"rrf_k", "-1", "rrf_k"}, {"text_weight", "x", "text_weight"}} {
		status, res = search("税", bad.param, bad.value)
		assert.Equal(t, http.StatusBadRequest, status, bad)
		_, field, _ := errorOf(res)
		assert.Equal(t, bad.field, field, bad)
	}
	for _, bad := range []string{"", "  ", strings.Repeat("税", 1334)} { // 4,002 bytes, over the limit of 4,000
		status, res = search(bad)
		assert.Equal(t, http.StatusBadRequest, status, "%d bytes", len(bad))
		_, field, _ := errorOf(res)
		assert.Equal(t, "q", field, "%d bytes: the error names the parameter the caller sent", len(bad))
	}
	for _, path := range []string{"/api/v1/search?q=x", "/api/v1/search?q=x&corpus=abc"} {
		status, res = call(t, f, "GET", path, nil)
		assert.Equal(t, http.StatusBadRequest, status, path)
		_, field, _ = errorOf(res)
		assert.Equal(t, "corpus", field, path)
	}
	status, _ = search("税", "vector_weight", "NaN")
	assert.Equal(t, http.StatusBadRequest, status, "NaN is refused, not answered with an empty body")

	status, res = f.admin.upload(t, path, upload{"dup.md", []byte("# 一\n\n第一份。")}, upload{"dup.md", []byte("# 二\n\n第二份。")})
	require.Equal(t, http.StatusOK, status, res)
	results = res["results"].([]any)
	require.Len(t, results, 2)
	assert.Equal(t, "added", results[0].(map[string]any)["outcome"])
	assert.Contains(t, results[1].(map[string]any)["error"], "same name")

	status, res = call(t, f, "GET", fmt.Sprintf("/api/v1/corpora/%d", cid), nil)
	require.Equal(t, http.StatusOK, status, res)
	c := res["corpus"].(map[string]any)
	assert.EqualValues(t, 3, c["document_count"], "postal.md, cash.txt and the first dup.md")
	assert.Equal(t, c["chunk_count"], c["embedded_count"], "the offline embedder embeds during import")
	assert.Empty(t, res["stale_gold"])
}

func TestRelevanceMarksCitationsAndStaleGold(t *testing.T) {
	t.Parallel()
	w := newLiveWorld(t)
	turn, cands := judgedTurn(t, w)
	turnPath := fmt.Sprintf("/api/v1/turns/%d", turn)
	status, res := w.admin.call(t, "GET", turnPath, nil)
	require.Equal(t, http.StatusOK, status, res)
	passages := res["passages"].([]any)
	require.GreaterOrEqual(t, len(passages), 2, "the customs persona answers from its corpus")
	first := passages[0].(map[string]any)
	second := passages[1].(map[string]any)
	assert.EqualValues(t, 1, first["n"])
	assert.Nil(t, first["grade"])

	mark := func(chunk any, body any) (int, map[string]any) {
		return w.admin.call(t, "PUT", fmt.Sprintf("%s/passages/%v/mark", turnPath, chunk), body)
	}
	status, res = mark(first["chunk_id"], map[string]any{"grade": 2})
	require.Equal(t, http.StatusOK, status, res)
	status, res = mark(second["chunk_id"], map[string]any{"grade": 0})
	require.Equal(t, http.StatusOK, status, res)
	status, res = mark(first["chunk_id"], map[string]any{"grade": 5})
	assert.Equal(t, http.StatusBadRequest, status)
	_, field, _ := errorOf(res)
	assert.Equal(t, "grade", field)
	status, res = mark(first["chunk_id"], map[string]any{})
	assert.Equal(t, http.StatusBadRequest, status, res)
	status, res = mark(999999, map[string]any{"grade": 1})
	assert.Equal(t, http.StatusBadRequest, status, res)
	_, _, msg := errorOf(res)
	assert.Contains(t, msg, "was not shown with turn")

	status, res = w.admin.call(t, "GET", turnPath, nil)
	require.Equal(t, http.StatusOK, status)
	assert.EqualValues(t, 2, res["passages"].([]any)[0].(map[string]any)["grade"], "marks come back with the turn")

	judge := func(key, gold string) (int, map[string]any) {
		return w.admin.call(t, "POST", turnPath+"/judgments", map[string]any{
			"idempotency_key": key, "ranking": [][]int64{{cands[0]}, {cands[1]}, {cands[2]}, {cands[3]}},
			"gold": map[string]any{"content": gold}, "continue_from": map[string]any{"gold": true}, "time_spent_ms": 1000})
	}
	status, res = judge("cite-too-far", "免征额是50元。[1]【99】")
	require.Equal(t, http.StatusBadRequest, status, res)
	_, field, msg = errorOf(res)
	assert.Equal(t, "gold.content", field)
	assert.Contains(t, msg, "cites [99]")
	status, res = judge("cite-first", "应征税额50元以下免征。【1】")
	require.Equal(t, http.StatusCreated, status, res)

	status, res = w.admin.call(t, "GET", turnPath, nil)
	require.Equal(t, http.StatusOK, status)
	j := res["judgments"].([]any)[0].(map[string]any)
	assert.Equal(t, []any{first["chunk_id"]}, j["citations"])
	assert.Equal(t, false, j["gold_stale"])

	corpusPath := fmt.Sprintf("/api/v1/corpora/%v", first["corpus_id"])
	status, res = w.admin.call(t, "POST", corpusPath+"/evaluate", map[string]any{"configs": []any{
		map[string]any{"name": "hybrid", "k": 5},
		map[string]any{"name": "text only", "k": 5, "fusion": map[string]any{"rrf_k": 60, "text_weight": 1}},
	}})
	require.Equal(t, http.StatusOK, status, res)
	results := res["results"].([]any)
	require.Len(t, results, 2)
	for _, r := range results {
		r := r.(map[string]any)
		assert.EqualValues(t, 1, r["queries"], "the marked turn is one labelled query")
		assert.Greater(t, r["recall"].(float64), 0.0, "the passage marked highly relevant is found again")
	}
	for _, bad := range []struct {
		config map[string]any
		field  string
	}{
		{map[string]any{"k": 0}, "configs[0].k"},
		{map[string]any{"k": 5, "fusion": map[string]any{"rrf_k": -5, "text_weight": 1}}, "configs[0].rrf_k"},
		{map[string]any{"k": 5, "fusion": map[string]any{"rrf_k": 30}}, "configs[0].vector_weight"},
	} {
		status, res = w.admin.call(t, "POST", corpusPath+"/evaluate", map[string]any{"configs": []any{bad.config}})
		assert.Equal(t, http.StatusBadRequest, status, bad.config)
		_, field, _ = errorOf(res)
		assert.Equal(t, bad.field, field, bad.config)
	}

	// A new version of the cited document makes the gold reply stale.
	line, err := json.Marshal(map[string]any{"slug": first["slug"], "title": first["title"], "body": first["text"].(string) + "（已更新 updated）"})
	require.NoError(t, err)
	status, res = w.admin.upload(t, corpusPath+"/documents", upload{"update.jsonl", line})
	require.Equal(t, http.StatusOK, status, res)
	sum := res["summary"].(map[string]any)
	assert.EqualValues(t, 1, sum["updated"])
	assert.EqualValues(t, 1, sum["stale_gold"], "the import says a gold reply went stale")

	// A third version does not count the same gold reply again: it was already stale.
	line, err = json.Marshal(map[string]any{"slug": first["slug"], "title": first["title"], "body": first["text"].(string) + "（再次更新 again）"})
	require.NoError(t, err)
	status, res = w.admin.upload(t, corpusPath+"/documents", upload{"update.jsonl", line})
	require.Equal(t, http.StatusOK, status, res)
	assert.EqualValues(t, 0, res["summary"].(map[string]any)["stale_gold"])

	status, res = w.admin.call(t, "GET", turnPath, nil)
	require.Equal(t, http.StatusOK, status)
	j = res["judgments"].([]any)[0].(map[string]any)
	assert.Equal(t, true, j["gold_stale"])
	p := res["passages"].([]any)[0].(map[string]any)
	assert.Equal(t, false, p["current"], "the turn still shows the text the candidates were given")
	assert.False(t, strings.Contains(p["text"].(string), "已更新"))

	status, res = w.admin.call(t, "GET", corpusPath, nil)
	require.Equal(t, http.StatusOK, status)
	stale := res["stale_gold"].([]any)
	require.Len(t, stale, 1)
	assert.Equal(t, first["slug"], stale[0].(map[string]any)["document_slug"])
}
