package campaign_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/rlhf"
)

func gb18030(t *testing.T, s string) []byte {
	b, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(s))
	require.NoError(t, err)
	return b
}

func workbook(t *testing.T, sheetName string, rows [][]any) []byte {
	f := excelize.NewFile()
	require.NoError(t, f.SetSheetName("Sheet1", sheetName))
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		require.NoError(t, f.SetSheetRow(sheetName, cell, &r))
	}
	var buf bytes.Buffer
	require.NoError(t, f.Write(&buf))
	return buf.Bytes()
}

// badLine is a line the parser must reject, and the field it must name.
type badLine struct {
	line  int
	field string
}

func TestParseItems(t *testing.T) {
	t.Parallel()
	csvText := "编号,问题,标签,参考答案\nA1,进口奶粉要交哪些税？,税费|奶粉,关税和增值税\nA2,,税费,\nA3,  个人物品免税额是多少？  ,,\n"
	tests := []struct {
		name      string
		format    string
		data      []byte
		questions []string
		bad       []badLine
		whole     string // the field of an error refusing the whole file
	}{
		{name: "jsonl with bad lines", format: campaign.FormatJSONL, data: []byte(
			`{"external_id": "q1", "question": "可以带多少现金出境？", "tags": ["外汇"]}` + "\n" +
				`{"external_id": 2, "question": "   "}` + "\n" +
				"\n" +
				`not json` + "\n" +
				`{"external_id": "q4"}` + "\n" +
				`{"question": "上一句说的对吗？", "prior": [{"role": "user", "content": "茶叶要申报吗"}, {"role": "assistant", "content": "要"}]}` + "\n" +
				`{"question": "角色错了", "prior": [{"role": "system", "content": "x"}]}` + "\n"),
			questions: []string{"可以带多少现金出境？", "上一句说的对吗？"},
			bad:       []badLine{{2, "question"}, {4, "line"}, {5, "question"}, {7, "prior[0].role"}}},
		{name: "csv in UTF-8 with a BOM and Chinese headers", format: campaign.FormatCSV, data: append([]byte("\xef\xbb\xbf"), csvText...),
			questions: []string{"进口奶粉要交哪些税？", "个人物品免税额是多少？"}, bad: []badLine{{3, "question"}}},
		{name: "csv in GB18030", format: campaign.FormatCSV, data: gb18030(t, csvText),
			questions: []string{"进口奶粉要交哪些税？", "个人物品免税额是多少？"}, bad: []badLine{{3, "question"}}},
		{name: "xlsx with a Chinese sheet name and an empty row", format: campaign.FormatXLSX,
			data:      workbook(t, "题目", [][]any{{"question", "external_id"}, {"行李里的茶叶要申报吗？", "x1"}, {}, {"", "x3"}, {"化妆品限量多少？", "x5"}}),
			questions: []string{"行李里的茶叶要申报吗？", "化妆品限量多少？"}, bad: []badLine{{4, "question"}}},
		{name: "a workbook sent as csv", format: campaign.FormatCSV, data: workbook(t, "S", [][]any{{"question"}, {"q"}}), whole: "file"},
		{name: "a csv sent as xlsx", format: campaign.FormatXLSX, data: []byte(csvText), whole: "file"},
		{name: "csv without a question column", format: campaign.FormatCSV, data: []byte("id,text\n1,hello\n"), whole: "header"},
		{name: "neither UTF-8 nor GB18030", format: campaign.FormatCSV, data: []byte("question\n\xff\xfe\xfd\n"), whole: "file"},
		{name: "text that is not JSON Lines", format: campaign.FormatJSONL, data: []byte("question,id\nq,1\n"), whole: "file"},
		{name: "an unknown format", format: "docx", data: []byte("x"), whole: "format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			good, bad, err := campaign.ParseItems(tt.data, tt.format)
			if tt.whole != "" {
				var e *errs.Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, tt.whole, e.Field, "%v", err)
				return
			}
			require.NoError(t, err)
			var questions []string
			for _, l := range good {
				questions = append(questions, l.Item.Question)
			}
			assert.Equal(t, tt.questions, questions)
			var got []badLine
			for _, b := range bad {
				got = append(got, badLine{b.Line, b.Field})
			}
			assert.Equal(t, tt.bad, got)
		})
	}
}

// TestImportSkipsDuplicates: the same external id or the same normalised question, in the
// file or already in the campaign, is skipped and reported; the rest goes in.
func TestImportSkipsDuplicates(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	c := f.campaign(t, campaign.Input{K: 1})
	rep, err := f.store.AddItems(ctx, c.ID, []campaign.ItemInput{{ExternalID: "a", Question: "进口奶粉要交哪些税？"}})
	require.NoError(t, err)
	require.Equal(t, 1, rep.Added)
	good, bad, err := campaign.ParseItems([]byte(`{"external_id": "a", "question": "另一个问题"}
{"external_id": "b", "question": "进口奶粉要交哪些税？ "}
{"external_id": "c", "question": "ＡＢＣ 可以  免税吗"}
{"external_id": "d", "question": "abc 可以 免税吗"}
{"external_id": "c", "question": "第三个"}
{"external_id": "e", "question": "新的问题"}
`), campaign.FormatJSONL)
	require.NoError(t, err)
	require.Empty(t, bad)
	rep, err = f.store.Import(ctx, c.ID, good)
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Added, "c and e")
	assert.Equal(t, []campaign.Duplicate{
		{Line: 4, ExternalID: "d", Reason: "question"},
		{Line: 5, ExternalID: "c", Reason: "external_id"},
		{Line: 1, ExternalID: "a", Reason: "external_id"},
		{Line: 2, ExternalID: "b", Reason: "question"},
	}, rep.Duplicates)
}

// TestAddTurns: an unjudged turn of the campaign's persona becomes a ready item with its
// conversation so far; a judged one, a streaming one or one that is an item already does not.
func TestAddTurns(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	c := f.campaign(t, campaign.Input{K: 1})
	turn := func(done bool) rlhf.Turn {
		tr, err := f.live.StartTurn(ctx, rlhf.NewTurn{ProjectID: f.project.ID, PersonaID: f.persona.ID, Locale: "zh-CN", UserID: f.admin,
			Lease:   rlhf.Lease{Owner: "test", For: time.Hour},
			Message: fmt.Sprintf("问题 %d", len(f.events.completed)+int(time.Now().UnixNano()%1e6)), Candidates: []rlhf.CandidateSpec{
				{Position: 1, Model: "m", PromptVersionID: f.version.ID, SystemPromptHash: "h"},
				{Position: 2, Model: "m", PromptVersionID: f.version.ID, SystemPromptHash: "h"}}})
		require.NoError(t, err)
		if done {
			for j, cand := range tr.Candidates {
				cand.Status, cand.Content = "complete", fmt.Sprintf("回答 %d", j+1)
				require.NoError(t, f.live.Finish(ctx, cand))
			}
		}
		return tr
	}
	good, streaming, judged := turn(true), turn(false), turn(true)
	_, err := f.live.Submit(ctx, judged.ID, f.admin, rlhf.Submission{IdempotencyKey: "judged-before-1",
		Ranking: [][]int64{{judged.Candidates[0].ID}, {judged.Candidates[1].ID}}, ContinueFrom: rlhf.ContinueFrom{CandidateID: judged.Candidates[0].ID}})
	require.NoError(t, err)
	added, problems, err := f.store.AddTurns(ctx, c.ID, []int64{good.ID, streaming.ID, judged.ID, good.ID, 999999})
	require.NoError(t, err)
	assert.Equal(t, 1, added)
	var why []string
	for _, p := range problems {
		why = append(why, errs.Message(p.Err))
	}
	assert.Equal(t, []string{
		fmt.Sprintf("turn %d is still streaming", streaming.ID),
		fmt.Sprintf("turn %d is judged already", judged.ID),
		fmt.Sprintf("turn %d is an item already", good.ID),
		"no turn 999999",
	}, why)
	p, err := f.store.Progress(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, p.Ready)
}
