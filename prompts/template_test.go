package prompts_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/prompts"
)

func TestTemplateRendering(t *testing.T) {
	t.Parallel()
	data := prompts.TemplateData{
		Persona: prompts.TemplatePersona{Name: "海关通关助手", Description: "解答个人通关问题", Kind: "domain_assistant", Locale: "zh-CN"},
		Locale:  "zh-CN", Date: "2026-11-21",
		Conversation: prompts.TemplateConversation{Turns: 2},
		Passages:     []prompts.TemplatePassage{{N: 1, Title: "免征额", Text: "50元以下免征。"}, {N: 2, Title: "限值", Text: "单次5000元。"}},
	}
	tests := []struct {
		name, src, want string
	}{
		{"persona fields", "你是{{.Persona.Name}}：{{.Persona.Description}}。", "你是海关通关助手：解答个人通关问题。"},
		{"passages with citation numbers", "{{range .Passages}}[{{.N}}] {{.Title}}：{{.Text}}\n{{end}}", "[1] 免征额：50元以下免征。\n[2] 限值：单次5000元。"},
		{"locale branch", `{{if eq .Locale "en"}}Hello{{else}}您好{{end}}`, "您好"},
		{"date and turns", "{{.Date}} · 第{{.Conversation.Turns}}轮", "2026-11-21 · 第2轮"},
		{"no passages branch", "{{if .Passages}}有资料{{else}}无资料{{end}}", "有资料"},
		{"defined blocks are not part of the system prompt", `{{define "opening"}}您好！{{end}}{{define "closing"}}再见{{end}}正文`, "正文"},
		{"surrounding space is trimmed", "\n\n  正文  \n", "正文"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tmpl, err := prompts.ParseTemplate(tt.src)
			require.NoError(t, err)
			got, err := tmpl.Render(data)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}

	tmpl, err := prompts.ParseTemplate(`{{define "opening"}}{{if eq .Locale "en"}}Hi, I'm {{.Persona.Name}}.{{else}}您好，我是{{.Persona.Name}}。{{end}}{{end}}x`)
	require.NoError(t, err)
	opening, err := tmpl.Block(prompts.BlockOpening, data)
	require.NoError(t, err)
	assert.Equal(t, "您好，我是海关通关助手。", opening)
	closing, err := tmpl.Block(prompts.BlockClosing, data)
	require.NoError(t, err)
	assert.Empty(t, closing, "an undefined block renders as nothing")
}

func TestTemplateErrorsNameLineAndColumn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src, want string
	}{
		{"empty", "  ", "template: must not be empty"},
		{"unclosed action", "第一行\n第二行 {{.Persona.Name", "template: line 2: unclosed action"},
		{"unknown field", "第一行\n  {{.Persona.Nmae}}", "template: line 2, column 13: can't evaluate field Nmae in type TemplatePersona"},
		{"unknown top-level variable", "{{.User}}", "template: line 1, column 3: can't evaluate field User in type TemplateData"},
		{"unknown field only in the English branch", "{{if eq .Locale \"en\"}}\n{{.Persona.Title}}{{end}}", "line 2, column 11: can't evaluate field Title"},
		{"unknown field only when passages are absent", "{{if .Passages}}ok{{else}}{{.Nothing}}{{end}}", "can't evaluate field Nothing"},
		{"columns count characters, not bytes", "第一行\n请参考：{{.Persona.Nmae}}", "template: line 2, column 15: can't evaluate field Nmae"},
		{"unknown function", "{{upper .Locale}}", `template: line 1: function "upper" not defined`},
		{"unclosed if", "{{if .Passages}}x", "template: line 1: unexpected EOF"},
		{"unknown field in a block", `{{define "opening"}}{{.Greeting}}{{end}}x`, "can't evaluate field Greeting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := prompts.ParseTemplate(tt.src)
			require.Error(t, err)
			assert.Equal(t, errs.Invalid, errs.KindOf(err))
			assert.Contains(t, errs.Message(err), tt.want)
		})
	}
}

func TestNewVersionValidation(t *testing.T) {
	t.Parallel()
	known := func(m string) bool { return m == "baseline-extractive" }
	f32 := func(v float32) *float32 { return &v }
	i := func(v int) *int { return &v }
	valid := prompts.NewVersion{Template: "你是{{.Persona.Name}}", Model: "baseline-extractive", Author: "王老师"}
	tests := []struct {
		name      string
		edit      func(*prompts.NewVersion)
		wantField string
	}{
		{"unknown model", func(v *prompts.NewVersion) { v.Model = "gpt-9" }, "model"},
		{"no model", func(v *prompts.NewVersion) { v.Model = " " }, "model"},
		{"temperature below 0", func(v *prompts.NewVersion) { v.Temperature = f32(-0.1) }, "temperature"},
		{"temperature above 2", func(v *prompts.NewVersion) { v.Temperature = f32(2.01) }, "temperature"},
		{"top_p zero", func(v *prompts.NewVersion) { v.TopP = f32(0) }, "top_p"},
		{"max_tokens zero", func(v *prompts.NewVersion) { v.MaxTokens = i(0) }, "max_tokens"},
		{"max_tokens negative", func(v *prompts.NewVersion) { v.MaxTokens = i(-5) }, "max_tokens"},
		{"retrieval_k too big", func(v *prompts.NewVersion) { v.RetrievalK = i(51) }, "retrieval_k"},
		{"no author", func(v *prompts.NewVersion) { v.Author = "" }, "author"},
		{"bad template", func(v *prompts.NewVersion) { v.Template = "{{.Oops}}" }, "template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			nv := valid
			tt.edit(&nv)
			_, err := nv.Version(known)
			require.Error(t, err)
			var e *errs.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tt.wantField, e.Field, e.Message)
		})
	}
	v, err := valid.Version(known)
	require.NoError(t, err)
	assert.Equal(t, float32(0.7), v.Temperature, "defaults fill what was omitted")
	assert.Equal(t, 1024, v.MaxTokens)
	zero := valid
	zero.Temperature = f32(0)
	v, err = zero.Version(known)
	require.NoError(t, err)
	assert.Equal(t, float32(0), v.Temperature, "an explicit 0 is kept, not replaced by the default")
}

func TestDiffShowsTemplateAndParameterChanges(t *testing.T) {
	t.Parallel()
	a := prompts.Version{Version: 1, Template: "你是助手。\n请简洁。", Model: "m1", Temperature: 0.3, TopP: 1, MaxTokens: 512, RetrievalK: 4}
	b := a
	b.Version, b.Template, b.Temperature = 2, "你是助手。\n请详细、友好。", 0.8
	d := prompts.Diff(a, b)
	assert.Contains(t, d, "--- v1\n+++ v2\n")
	assert.Contains(t, d, "-请简洁。\n+请详细、友好。\n")
	assert.Contains(t, d, "-# temperature: 0.3\n+# temperature: 0.8\n")
	assert.NotContains(t, d, "-# model")
	assert.Empty(t, prompts.Diff(a, a))
}

// TestTemplatesCannotCostMoreThanTheirSize: a few hundred bytes of nested ranges once kept
// the server busy for a minute. These shapes are refused on save and never run.
func TestTemplatesCannotCostMoreThanTheirSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src, want string
	}{
		{"nested range", "{{range .Passages}}\n{{range $.Passages}}x{{end}}{{end}}", "line 2: a {{range}} inside another {{range}} is not allowed"},
		{"range nested in an if in a range", "{{range .Passages}}{{if .N}}{{range $.Passages}}{{end}}{{end}}{{end}}", "inside another {{range}}"},
		{"template call", `{{define "a"}}x{{end}}{{template "a"}}`, "{{template}} and {{block}} are not allowed"},
		{"block", `{{block "a" .}}x{{end}}`, "{{template}} and {{block}} are not allowed"},
		{"recursion through a define", `{{define "opening"}}{{template "opening" .}}{{end}}x`, "not allowed"},
		{"huge printf width", `{{printf "%0999999999d" 1}}`, "printf width or precision 999999999 is over 999"},
		{"huge printf precision", `{{printf "%.99999f" 1.0}}`, "is over 999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := prompts.ParseTemplate(tt.src)
			require.Error(t, err)
			assert.Contains(t, errs.Message(err), tt.want)
		})
	}
	// Output is capped where it can grow: at generation, with up to 50 passages.
	tmpl, err := prompts.CompileTemplate(`{{range .Passages}}` + strings.Repeat("很长的句子。", 300) + `{{end}}`)
	require.NoError(t, err)
	_, err = tmpl.Render(prompts.TemplateData{Passages: make([]prompts.TemplatePassage, 50)})
	require.Error(t, err)
	assert.Contains(t, errs.Message(err), "renders to more than 64 KiB")

	// Ordinary printf still works.
	tmpl, err = prompts.ParseTemplate(`{{printf "%03d" .Conversation.Turns}}`)
	require.NoError(t, err)
	got, err := tmpl.Render(prompts.TemplateData{Conversation: prompts.TemplateConversation{Turns: 7}})
	require.NoError(t, err)
	assert.Equal(t, "007", got)
}
