package server

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mentor-ai/mentor/errs"
)

// TestRequestLang checks how a request's language is chosen: ?lang= first, then the
// Accept-Language weights, then Chinese.
func TestRequestLang(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, query, header, want string
	}{
		{"no preference: Chinese, as most users are", "", "", errs.Chinese},
		{"a Chinese browser", "", "zh-CN,zh;q=0.9,en;q=0.8", errs.Chinese},
		{"an English browser", "", "en-US,en;q=0.9", errs.English},
		{"English first, Chinese second", "", "en-GB,zh-CN;q=0.8", errs.English},
		{"weights outrank order", "", "zh-TW;q=0.5,en;q=0.9", errs.English},
		{"a tie goes to the earlier", "", "en;q=0.8,zh;q=0.8", errs.English},
		{"traditional Chinese still reads our Chinese", "", "zh-TW", errs.Chinese},
		{"languages we do not speak are skipped", "", "fr-FR,de;q=0.9,en;q=0.5", errs.English},
		{"only languages we do not speak", "", "fr-FR,de;q=0.9", errs.Chinese},
		{"q=0 means not English", "", "en;q=0", errs.Chinese},
		{"a malformed weight drops that language", "", "en;q=abc,zh;q=0.1", errs.Chinese},
		{"case does not matter", "", "EN-us", errs.English},
		{"?lang= wins over the header (the interface's own choice)", "lang=en", "zh-CN", errs.English},
		{"?lang=zh-CN", "lang=zh-CN", "en", errs.Chinese},
		{"an unknown ?lang= falls back to the header", "lang=fr", "en", errs.English},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/api/v1/ws?"+tt.query, nil)
			if tt.header != "" {
				r.Header.Set("Accept-Language", tt.header)
			}
			assert.Equal(t, tt.want, requestLang(r))
		})
	}
}

func TestQueryLang(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]string{"zh-CN": errs.Chinese, "zh": errs.Chinese, "zh-Hans-CN": errs.Chinese, "en": errs.English, "en-US": errs.English} {
		got, ok := queryLang(v)
		assert.True(t, ok, v)
		assert.Equal(t, want, got, v)
	}
	for _, v := range []string{"", "fr", "e", "english"} {
		_, ok := queryLang(v)
		assert.False(t, ok, v)
	}
}
