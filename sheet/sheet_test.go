package sheet_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/sheet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"
)

// workbook builds an .xlsx in memory: sheets in order, each a grid of rows (nil is an empty
// row), with the merged ranges given for each sheet.
func workbook(t *testing.T, sheets []string, grids map[string][][]any, merges map[string][][2]string, opts ...excelize.Options) []byte {
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
			if row == nil {
				continue
			}
			cell, err := excelize.CoordinatesToCellName(1, r+1)
			require.NoError(t, err)
			require.NoError(t, f.SetSheetRow(name, cell, &row))
		}
		for _, m := range merges[name] {
			require.NoError(t, f.MergeCell(name, m[0], m[1]))
		}
	}
	var buf bytes.Buffer
	require.NoError(t, f.Write(&buf, opts...))
	return buf.Bytes()
}

func TestRead(t *testing.T) {
	t.Parallel()
	questions := [][]any{
		{"类别", "问题", "标准答案"},
		{"报关", "进口申报期限是多久？", "自运输工具申报进境之日起十四日内"},
		{nil, "滞报金怎么算？", "按日计征万分之五"},
		nil, // an empty row between records
		{"", "", ""},
		{"税率", "增值税税率？", "13%"},
	}
	tests := []struct {
		name      string
		sheets    []string
		grids     map[string][][]any
		merges    map[string][][2]string
		sheetName string
		want      sheet.Table
	}{
		{
			name:   "first sheet with a Chinese name, merged category, empty rows skipped",
			sheets: []string{"问题集", "说明"},
			grids:  map[string][][]any{"问题集": questions, "说明": {{"备注"}, {"无"}}},
			merges: map[string][][2]string{"问题集": {{"A2", "A3"}}},
			want: sheet.Table{Sheet: "问题集", Header: []string{"类别", "问题", "标准答案"}, Rows: []sheet.Row{
				{Line: 2, Cells: []string{"报关", "进口申报期限是多久？", "自运输工具申报进境之日起十四日内"}},
				{Line: 3, Cells: []string{"报关", "滞报金怎么算？", "按日计征万分之五"}},
				{Line: 6, Cells: []string{"税率", "增值税税率？", "13%"}},
			}},
		},
		{
			name:      "a sheet by name; short rows padded; a header below empty rows",
			sheets:    []string{"Sheet1", "第二季度"},
			grids:     map[string][][]any{"第二季度": {nil, nil, {" 姓名 ", "件数"}, {"王芳"}, {"李雷", 12}}},
			sheetName: "第二季度",
			want: sheet.Table{Sheet: "第二季度", Header: []string{"姓名", "件数"}, Rows: []sheet.Row{
				{Line: 4, Cells: []string{"王芳", ""}},
				{Line: 5, Cells: []string{"李雷", "12"}},
			}},
		},
		{
			name:   "a merged range across columns and rows fills every cell",
			sheets: []string{"表"},
			grids:  map[string][][]any{"表": {{"a", "b", "c"}, {"合并", nil, "x"}, {nil, nil, "y"}}},
			merges: map[string][][2]string{"表": {{"A2", "B3"}}},
			want: sheet.Table{Sheet: "表", Header: []string{"a", "b", "c"}, Rows: []sheet.Row{
				{Line: 2, Cells: []string{"合并", "合并", "x"}},
				{Line: 3, Cells: []string{"合并", "合并", "y"}},
			}},
		},
		{
			name:   "a merged header",
			sheets: []string{"表"},
			grids:  map[string][][]any{"表": {{"标题", nil}, {"1", "2"}}},
			merges: map[string][][2]string{"表": {{"A1", "B1"}}},
			want: sheet.Table{Sheet: "表", Header: []string{"标题", "标题"}, Rows: []sheet.Row{
				{Line: 2, Cells: []string{"1", "2"}},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := workbook(t, tt.sheets, tt.grids, tt.merges)
			got, err := sheet.Read(bytes.NewReader(data), tt.sheetName)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestReadRefuses(t *testing.T) {
	t.Parallel()
	ok := func(t *testing.T) []byte {
		return workbook(t, []string{"问题集"}, map[string][][]any{"问题集": {{"a"}, {"b"}}}, nil)
	}
	tests := []struct {
		name      string
		data      func(t *testing.T) []byte
		sheetName string
		kind      errs.Kind
		en, zh    string // parts of the message in each language
	}{
		{
			name: "a CSV renamed to .xlsx",
			data: func(*testing.T) []byte { return []byte("问题,答案\n进口申报期限,十四日\n") },
			kind: errs.Invalid, en: "a CSV renamed to .xlsx?", zh: "CSV",
		},
		{
			name: "an encrypted workbook",
			data: func(t *testing.T) []byte {
				return workbook(t, []string{"表"}, map[string][][]any{"表": {{"a"}}}, nil, excelize.Options{Password: "秘密"})
			},
			kind: errs.Invalid, en: "encrypted", zh: "密码",
		},
		{
			name: "a legacy .xls",
			data: func(*testing.T) []byte {
				return append([]byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}, make([]byte, 504)...)
			},
			kind: errs.Invalid, en: ".xls", zh: ".xls",
		},
		{
			name: "a broken zip",
			data: func(*testing.T) []byte { return []byte("PK\x03\x04 truncated\x00") },
			kind: errs.Invalid, en: "not a readable Excel workbook", zh: "Excel",
		},
		{
			name: "an empty file",
			data: func(*testing.T) []byte { return nil },
			kind: errs.Invalid, en: "empty", zh: "空",
		},
		{
			name:      "no such sheet",
			data:      ok,
			sheetName: "答案",
			kind:      errs.Invalid, en: `no sheet "答案" (its sheets: 问题集)`, zh: "问题集",
		},
		{
			name: "an empty sheet",
			data: func(t *testing.T) []byte { return workbook(t, []string{"空表"}, nil, nil) },
			kind: errs.Invalid, en: `sheet "空表" is empty`, zh: "空表",
		},
		{
			name: "over the size limit",
			data: func(*testing.T) []byte { return append([]byte("PK\x03\x04"), make([]byte, sheet.MaxBytes)...) },
			kind: errs.TooLarge, en: "over 32 MiB", zh: "32",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := sheet.Read(bytes.NewReader(tt.data(t)), tt.sheetName)
			require.Error(t, err)
			assert.Equal(t, tt.kind, errs.KindOf(err))
			assert.Contains(t, errs.Localize(err, errs.English), tt.en)
			zh := errs.Localize(err, errs.Chinese)
			assert.Contains(t, zh, tt.zh)
			assert.NotEqual(t, errs.Localize(err, errs.English), zh, "the message has no zh-CN translation")
			assert.False(t, strings.Contains(zh, "internal"), zh)
		})
	}
}
