package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/retrieval"
)

func errorOf(body map[string]any) (code, field, message string) {
	e, _ := body["error"].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	message, _ = e["message"].(string)
	return
}

type personaFixture struct {
	fixture
	projectID, personaID, corpusID int64
}

// withPersona makes a project, a customs persona and a small Chinese corpus.
func withPersona(t *testing.T, env ...string) personaFixture {
	t.Helper()
	o := options{env: map[string]string{}}
	for i := 0; i+1 < len(env); i += 2 {
		o.env[env[i]] = env[i+1]
	}
	f := newFixture(t, discardLogger(), o)
	status, proj := call(t, f, "POST", "/api/v1/projects", map[string]any{"name": "海关项目", "slug": "customs"})
	require.Equal(t, http.StatusCreated, status, proj)
	status, p := call(t, f, "POST", "/api/v1/projects/customs/personas", map[string]any{
		"name": "海关通关助手", "name_en": "Customs helper", "kind": "domain_assistant"})
	require.Equal(t, http.StatusCreated, status, p)
	pf := personaFixture{fixture: f, projectID: int64(proj["id"].(float64)), personaID: int64(p["id"].(float64))}
	rs := retrieval.NewStore(f.pool, nil, nil)
	c, err := rs.CreateCorpus(context.Background(), retrieval.Corpus{ProjectID: pf.projectID, Slug: "kb", Name: "知识库"})
	require.NoError(t, err)
	pf.corpusID = c.ID
	for _, d := range fixture_docs {
		_, err := rs.Ingest(context.Background(), c, d)
		require.NoError(t, err)
	}
	return pf
}

var fixture_docs = []retrieval.DocumentInput{
	{Slug: "postal", Lang: "zh-CN", Title: "个人邮递物品免征额", Body: "个人邮寄进境物品，应征进口税税额在人民币50元（含）以下的，海关予以免征。超出部分需要依法纳税。"},
	{Slug: "cash", Lang: "zh-CN", Title: "现钞申报", Body: "出入境携带人民币现钞超过20000元的，应当向海关书面申报。"},
	{Slug: "cash-en", Lang: "en", Title: "Declaring cash", Body: "Travellers carrying more than 20,000 yuan in cash must declare it to customs."},
}

const goodTemplate = `{{define "opening"}}{{if eq .Locale "en"}}Hello, customs helper here.{{else}}您好，我是海关通关助手。{{end}}{{end}}` +
	`{{define "closing"}}{{if eq .Locale "en"}}For reference only.{{else}}以上仅供参考。{{end}}{{end}}` +
	"你是{{.Persona.Name}}。\n{{range .Passages}}[{{.N}}] {{.Title}}：{{.Text}}\n{{end}}"

func (pf personaFixture) versionBody(extra map[string]any) map[string]any {
	b := map[string]any{"template": goodTemplate, "model": "baseline-extractive", "author": "王老师",
		"corpus_ids": []int64{pf.corpusID}, "change_note": "第一版"}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func TestPersonaAndVersionAPI(t *testing.T) {
	t.Parallel()
	pf := withPersona(t)
	base := fmt.Sprintf("/api/v1/personas/%d", pf.personaID)

	status, v1 := call(t, pf.fixture, "POST", base+"/versions", pf.versionBody(nil))
	require.Equal(t, http.StatusCreated, status, v1)
	assert.EqualValues(t, 1, v1["version"])
	status, v2 := call(t, pf.fixture, "POST", base+"/versions", pf.versionBody(map[string]any{"temperature": 1.2, "model": "baseline-extractive-brief"}))
	require.Equal(t, http.StatusCreated, status, v2)
	assert.EqualValues(t, 2, v2["version"])

	status, got := call(t, pf.fixture, "GET", base, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, got["versions"], 2)
	assert.Len(t, got["rubric"], 6)

	status, diff := call(t, pf.fixture, "GET", base+"/diff?from=1&to=2", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, diff["diff"], "-# temperature: 0.7\n")
	assert.Contains(t, diff["diff"], "+# temperature: 1.2\n")
	assert.Contains(t, diff["diff"], "+# model: baseline-extractive-brief\n")

	status, preview := call(t, pf.fixture, "POST", base+"/preview", map[string]any{"template": goodTemplate, "locale": "en"})
	require.Equal(t, http.StatusOK, status, preview)
	assert.Equal(t, "Hello, customs helper here.", preview["opening"])
	assert.Contains(t, preview["system_prompt"], "你是海关通关助手。")

	status, upd := call(t, pf.fixture, "PUT", base, map[string]any{"name": "海关小助手", "kind": "domain_assistant", "locale": "zh-CN"})
	require.Equal(t, http.StatusOK, status, upd)
	assert.Equal(t, "海关小助手", upd["name"])

	status, list := call(t, pf.fixture, "GET", "/api/v1/projects/customs/personas", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, list["personas"], 1)

	// There is no way to change a published version through the API.
	status, _ = call(t, pf.fixture, "PUT", base+"/versions/1", pf.versionBody(nil))
	assert.Equal(t, http.StatusMethodNotAllowed, status)
}

func TestAPIBadInputSaysWhichField(t *testing.T) {
	t.Parallel()
	pf := withPersona(t)
	base := fmt.Sprintf("/api/v1/personas/%d", pf.personaID)
	tests := []struct {
		name       string
		method     string
		path       string
		body       any
		wantStatus int
		wantField  string
		wantMsg    string
	}{
		{"empty persona name", "POST", "/api/v1/projects/customs/personas", map[string]any{"name": " ", "kind": "digital_human"}, 400, "name", "must not be empty"},
		{"unknown persona kind", "POST", "/api/v1/projects/customs/personas", map[string]any{"name": "x", "kind": "robot"}, 400, "kind", `got "robot"`},
		{"persona in a missing project", "POST", "/api/v1/projects/nope/personas", map[string]any{"name": "x", "kind": "digital_human"}, 404, "", `no project "nope"`},
		{"unknown field", "POST", "/api/v1/projects", map[string]any{"name": "x", "colour": "red"}, 400, "colour", "unknown field"},
		{"wrong type", "POST", base + "/versions", map[string]any{"template": "x", "model": "baseline-extractive", "author": "a", "temperature": "hot"}, 400, "temperature", "must be a number"},
		{"unknown model", "POST", base + "/versions", pf.versionBody(map[string]any{"model": "gpt-9"}), 400, "model", `unknown model "gpt-9"`},
		{"temperature too high", "POST", base + "/versions", pf.versionBody(map[string]any{"temperature": 2.5}), 400, "temperature", "between 0 and 2"},
		{"temperature negative", "POST", base + "/versions", pf.versionBody(map[string]any{"temperature": -1}), 400, "temperature", "between 0 and 2"},
		{"max_tokens zero", "POST", base + "/versions", pf.versionBody(map[string]any{"max_tokens": 0}), 400, "max_tokens", "between 1 and"},
		{"template that does not parse", "POST", base + "/versions", pf.versionBody(map[string]any{"template": "第一行\n{{if .Passages}}"}), 400, "template", "line 2: unexpected EOF"},
		{"template with an unknown variable", "POST", base + "/versions", pf.versionBody(map[string]any{"template": "你好\n  {{.Persona.Age}}"}), 400, "template", "line 2, column 13: can't evaluate field Age"},
		{"corpus of another project", "POST", base + "/versions", pf.versionBody(map[string]any{"corpus_ids": []int64{999999}}), 400, "corpus_ids", "must exist"},
		{"preview with a broken template", "POST", base + "/preview", map[string]any{"template": "{{.Nope}}"}, 400, "template", "can't evaluate field Nope"},
		{"diff with a bad version number", "GET", base + "/diff?from=1&to=x", nil, 400, "to", `got "x"`},
		{"missing persona", "GET", "/api/v1/personas/999999", nil, 404, "", `no persona "999999"`},
		{"non-numeric persona", "GET", "/api/v1/personas/abc", nil, 404, "", ""},
		{"try a version that does not exist", "POST", base + "/versions/1/try", map[string]any{"message": "你好"}, 404, "", "version 1 of persona"},
		{"bad rubric", "PUT", base + "/rubric", map[string]any{"dimensions": []any{map[string]any{"key": "x", "axis": "iq", "label": "x", "label_en": "x", "scale_min": 5, "scale_max": 1}}}, 400, "dimensions[0].scale_max", "greater than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := call(t, pf.fixture, tt.method, tt.path, tt.body)
			assert.Equal(t, tt.wantStatus, status, body)
			_, field, msg := errorOf(body)
			assert.Equal(t, tt.wantField, field, msg)
			assert.Contains(t, msg, tt.wantMsg)
		})
	}
	// None of the refused requests published anything.
	_, got := call(t, pf.fixture, "GET", base, nil)
	assert.Empty(t, got["versions"])
}

func TestAPIRefusesMalformedAndCrossSiteWrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t, discardLogger(), options{})
	send := func(body, contentType, origin string) (int, string) {
		req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/projects", strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		req.Header.Set("X-CSRF-Token", f.admin.csrf)
		req.Header.Set("Accept-Language", "en")
		res, err := f.admin.http.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	tests := []struct {
		name, body, contentType, origin string
		wantStatus                      int
		want                            string
	}{
		{"malformed JSON", `{"name": "x",}`, "application/json", "", 400, "malformed JSON at byte"},
		{"truncated JSON", `{"name": "x"`, "application/json", "", 400, "ends too early"},
		{"two objects", `{"name":"a"}{"name":"b"}`, "application/json", "", 400, "exactly one JSON object"},
		{"an array", `[1]`, "application/json", "", 400, "must be a JSON object"},
		{"empty body", ``, "application/json", "", 400, "body is empty"},
		{"form post", `name=x`, "application/x-www-form-urlencoded", "", 415, "Content-Type must be application/json"},
		{"text/plain from another site", `{"name":"x"}`, "text/plain", "https://evil.example", 403, "cross-origin request from https://evil.example refused"},
		{"JSON from another site", `{"name":"x"}`, "application/json", "https://evil.example", 403, "cross-origin"},
		{"oversized", `{"name":"` + strings.Repeat("x", 2<<20) + `"}`, "application/json", "", 413, "over 1048576 bytes"},
		{"same origin is fine", `{"name":"ok"}`, "application/json", f.srv.URL, 201, `"name":"ok"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := send(tt.body, tt.contentType, tt.origin)
			assert.Equal(t, tt.wantStatus, status, body)
			assert.Contains(t, body, tt.want)
		})
	}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	name string
	data map[string]any
}

func readSSE(t *testing.T, r io.Reader) []sseEvent {
	t.Helper()
	var out []sseEvent
	sc := bufio.NewScanner(r)
	var name string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			var data map[string]any
			require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &data))
			out = append(out, sseEvent{name: name, data: data})
		}
	}
	require.NoError(t, sc.Err())
	return out
}

func try(t *testing.T, f fixture, path string, body any) []sseEvent {
	t.Helper()
	res := f.admin.request(t, "POST", path, body)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, res.Header.Get("Content-Type"), "text/event-stream")
	return readSSE(t, res.Body)
}

func content(events []sseEvent) string {
	var b strings.Builder
	for _, e := range events {
		if e.name == "delta" {
			s, _ := e.data["content"].(string)
			b.WriteString(s)
		}
	}
	return b.String()
}

func TestTryStreamsABaselineAnswer(t *testing.T) {
	t.Parallel()
	pf := withPersona(t)
	base := fmt.Sprintf("/api/v1/personas/%d", pf.personaID)
	status, _ := call(t, pf.fixture, "POST", base+"/versions", pf.versionBody(nil))
	require.Equal(t, http.StatusCreated, status)

	tests := []struct {
		name, message, locale string
		want                  []string
	}{
		{"Chinese", "个人邮寄进境物品的免税额是多少？", "zh-CN", []string{"您好，我是海关通关助手。", "50元（含）以下的，海关予以免征。[1]", "以上仅供参考。"}},
		{"English", "How much cash must I declare?", "en", []string{"Hello, customs helper here.", "20,000 yuan in cash must declare it", "For reference only."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := try(t, pf.fixture, base+"/versions/1/try", map[string]any{"message": tt.message, "locale": tt.locale, "seed": 1})
			require.GreaterOrEqual(t, len(events), 3)
			assert.Equal(t, "meta", events[0].name)
			assert.Equal(t, true, events[0].data["baseline"])
			assert.Len(t, events[0].data["system_prompt_hash"], 64)
			assert.NotEmpty(t, events[0].data["passages"])
			last := events[len(events)-1]
			assert.Equal(t, "done", last.name)
			assert.Equal(t, "complete", last.data["status"])
			assert.Equal(t, "stop", last.data["finish_reason"])
			got := content(events)
			for _, w := range tt.want {
				assert.Contains(t, got, w)
			}
		})
	}
}

func TestTryThroughAnOpenAICompatibleEndpoint(t *testing.T) {
	t.Parallel()
	var gotBody map[string]any
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&gotBody)
		w.Header().Set("Content-Type", "text/event-stream")
		for _, part := range []string{"根据", "规定[1]", "。"} {
			fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%q}}]}\n\n", part)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(upstream.Close)
	pf := withPersona(t, "OPENAI_BASE_URL", upstream.URL+"/v1", "MENTOR_OPENAI_MODELS", "qwen-plus")
	base := fmt.Sprintf("/api/v1/personas/%d", pf.personaID)
	status, body := call(t, pf.fixture, "POST", base+"/versions", pf.versionBody(map[string]any{"model": "qwen-plus"}))
	require.Equal(t, http.StatusCreated, status, body)

	events := try(t, pf.fixture, base+"/versions/1/try", map[string]any{"message": "邮寄物品免税额？"})
	assert.Equal(t, "根据规定[1]。", content(events))
	assert.Equal(t, false, events[0].data["baseline"])
	assert.Equal(t, "complete", events[len(events)-1].data["status"])
	// The model received the rendered system prompt with the retrieved passage.
	msgs := gotBody["messages"].([]any)
	system := msgs[0].(map[string]any)["content"].(string)
	assert.Contains(t, system, "[1] 个人邮递物品免征额")
	assert.Equal(t, "邮寄物品免税额？", msgs[1].(map[string]any)["content"])

	status, models := call(t, pf.fixture, "GET", "/api/v1/models", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, models["models"], 3)
}
