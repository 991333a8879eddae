package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestErrorsInTheUsersLanguage sends the errors trainers met in English (issue 11, defect 14)
// through the real handlers, in Chinese and in English: each answer keeps its code and
// field, says its message in the request's language, and carries the English format and
// its parameters, which identify the message in any language.
func TestErrorsInTheUsersLanguage(t *testing.T) {
	t.Parallel()
	w := newLiveWorld(t)
	w.user(t, "li", false)
	s := w.socket(t, w.admin)
	s.send(w.generate(map[string]any{"prompt_version": 1, "model": "slow"}, map[string]any{"prompt_version": 1, "model": "baseline-extractive"}))
	turn := s.next()
	require.Equal(t, "turn", turn["type"], turn)
	// The slow one first: the demo project ranks blind, so positions are shuffled.
	ids := []int64{candidateOfModel(t, turn, "slow"), candidateOfModel(t, turn, "baseline-extractive")}
	path := fmt.Sprintf("/api/v1/turns/%d/judgments", id(turn["turn_id"]))
	streaming := fmt.Sprint(ids[0])

	// ask sends a request as c, in lang (an Accept-Language value; "" sends none).
	ask := func(c *client, lang, method, path string, body any) answer {
		res := c.speaking(lang).request(t, method, path, body)
		defer res.Body.Close()
		return decodeError(t, res)
	}
	wrongPassword := map[string]any{"login": "li", "password": "not the password"}
	withContinue := map[string]any{"idempotency_key": key("streaming"), "ranking": [][]int64{{ids[1]}, {ids[0]}},
		"continue_from": map[string]any{"candidate_id": ids[1]}}
	withoutContinue := map[string]any{"idempotency_key": key("no-continue"), "ranking": [][]int64{{ids[1]}, {ids[0]}}}

	tests := []struct {
		name string
		// afterStreaming runs the case once every candidate has finished; the others run
		// while the first candidate still streams (for seconds).
		afterStreaming     bool
		as                 *client
		lang, method, path string
		body               any
		want               answer
	}{
		{"a wrong password, in Chinese", false, w.anonymous(), "zh-CN,zh;q=0.9,en;q=0.8", "POST", "/api/v1/session", wrongPassword,
			answer{401, "zh-CN", "unauthenticated", "", "登录名或密码不正确", "wrong login or password", []string{}}},
		{"a wrong password, in English", false, w.anonymous(), "en-US,en;q=0.9,zh-CN;q=0.8", "POST", "/api/v1/session", wrongPassword,
			answer{401, "en", "unauthenticated", "", "wrong login or password", "wrong login or password", []string{}}},
		{"a wrong password, from a client that names no language: Chinese", false, w.anonymous(), "", "POST", "/api/v1/session", wrongPassword,
			answer{401, "zh-CN", "unauthenticated", "", "登录名或密码不正确", "wrong login or password", []string{}}},
		{"judging a streaming candidate, in Chinese", false, w.admin, "zh-CN", "POST", path, withContinue,
			answer{422, "zh-CN", "unprocessable", "", "候选 " + streaming + " 仍在生成中，请等它完成或取消后再评判",
				"candidate %d is still streaming: wait for it to finish or cancel it", []string{streaming}}},
		{"judging a streaming candidate, in English", false, w.admin, "en", "POST", path, withContinue,
			answer{422, "en", "unprocessable", "", "candidate " + streaming + " is still streaming: wait for it to finish or cancel it",
				"candidate %d is still streaming: wait for it to finish or cancel it", []string{streaming}}},
		{"a method the route does not take, which was answered outside writeError", false, w.anonymous(), "zh-CN", "DELETE", "/api/v1/version", nil,
			answer{405, "zh-CN", "method_not_allowed", "", "/api/v1/version 不支持 DELETE 请求", "%s is not allowed on %s", []string{"DELETE", "/api/v1/version"}}},
		{"a judgment naming no continue_from, in Chinese", true, w.admin, "zh-CN", "POST", path, withoutContinue,
			answer{400, "zh-CN", "invalid", "continue_from", "请在 candidate_id、edit、gold 中选且只选一项",
				"name exactly one of candidate_id, edit or gold", []string{}}},
		{"a judgment naming no continue_from, in English", true, w.admin, "en", "POST", path, withoutContinue,
			answer{400, "en", "invalid", "continue_from", "name exactly one of candidate_id, edit or gold",
				"name exactly one of candidate_id, edit or gold", []string{}}},
	}
	for _, tt := range tests {
		if !tt.afterStreaming {
			assert.Equal(t, tt.want, ask(tt.as, tt.lang, tt.method, tt.path, tt.body), tt.name)
		}
	}
	s.send(map[string]any{"type": "cancel", "turn_id": turn["turn_id"]})
	s.until(allDone(2))
	for _, tt := range tests {
		if tt.afterStreaming {
			assert.Equal(t, tt.want, ask(tt.as, tt.lang, tt.method, tt.path, tt.body), tt.name)
		}
	}
}

// answer is what a client learns from an error response.
type answer struct {
	status               int
	contentLanguage      string
	code, field, message string
	key                  string
	params               []string
}

func decodeError(t *testing.T, res *http.Response) answer {
	t.Helper()
	var body struct {
		Error struct {
			Code    string   `json:"code"`
			Field   string   `json:"field"`
			Message string   `json:"message"`
			Key     string   `json:"key"`
			Params  []string `json:"params"`
		} `json:"error"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	e := body.Error
	return answer{status: res.StatusCode, contentLanguage: res.Header.Get("Content-Language"),
		code: e.Code, field: e.Field, message: e.Message, key: e.Key, params: e.Params}
}
