package export

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"github.com/mentor-ai/mentor/errs"
)

// XLSX is the Excel encoding (issue 16): one sheet named after the kind, a header row of
// the kind's columns, and a row per record. Nested values (messages, candidates) are
// written as compact JSON text in their cell; JSONL stays the faithful encoding for
// training, .xlsx is for people who read and share spreadsheets.
const XLSX = "xlsx"

// maxCellChars is Excel's limit for one cell. Longer text is cut there and marked, since
// Excel would refuse the file otherwise.
const maxCellChars = 32767

const truncatedMark = "…[truncated: export as jsonl for the whole value]"

type xlsxRows struct {
	out     io.Writer
	f       *excelize.File
	sw      *excelize.StreamWriter
	columns []string
	row     int
	err     error
}

func newXLSXRows(kind Kind, w io.Writer) rowWriter {
	x := &xlsxRows{out: w, f: excelize.NewFile(), row: 1}
	for _, c := range kind.Columns {
		x.columns = append(x.columns, c.Name)
	}
	sheet := kind.Name
	if err := x.f.SetSheetName("Sheet1", sheet); err != nil {
		x.err = err
		return x
	}
	if x.sw, x.err = x.f.NewStreamWriter(sheet); x.err != nil {
		return x
	}
	bold, err := x.f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		x.err = err
		return x
	}
	header := make([]any, len(x.columns))
	for i, c := range x.columns {
		header[i] = excelize.Cell{StyleID: bold, Value: c}
	}
	// The header stays in view while scrolling.
	if x.err = x.sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); x.err != nil {
		return x
	}
	x.err = x.sw.SetRow("A1", header)
	return x
}

func (x *xlsxRows) write(row any) error {
	if x.err != nil {
		return x.err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(row); err != nil {
		return err
	}
	dec := json.NewDecoder(&buf)
	dec.UseNumber()
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil {
		return err
	}
	cells := make([]any, len(x.columns))
	for i, c := range x.columns {
		cells[i] = cellValue(fields[c])
	}
	x.row++
	cell, err := excelize.CoordinatesToCellName(1, x.row)
	if err != nil {
		return err
	}
	if err := x.sw.SetRow(cell, cells); err != nil {
		if errors.Is(err, excelize.ErrMaxRows) {
			return errs.E(errs.Unprocessable, "the export has more rows than an Excel sheet holds (%d): narrow the filter, or export as jsonl", excelize.TotalRows-1)
		}
		return fmt.Errorf("write row %d of the workbook: %w", x.row, err)
	}
	return nil
}

// cellValue turns one JSON value into what a cell holds: text, a number, a boolean, or for
// arrays and objects their JSON text.
func cellValue(raw json.RawMessage) any {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return cut(string(raw))
	}
	switch v := v.(type) {
	case string:
		return cut(v)
	case bool:
		return v
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
		if f, err := v.Float64(); err == nil {
			return f
		}
		return v.String()
	}
	return cut(string(bytes.TrimSpace(raw)))
}

func cut(s string) string {
	if utf8.RuneCountInString(s) <= maxCellChars {
		return s
	}
	r := []rune(s)
	return string(r[:maxCellChars-utf8.RuneCountInString(truncatedMark)]) + truncatedMark
}

func (x *xlsxRows) close() error {
	defer x.f.Close()
	if x.err != nil {
		return fmt.Errorf("start the workbook: %w", x.err)
	}
	if err := x.sw.Flush(); err != nil {
		return fmt.Errorf("finish the workbook: %w", err)
	}
	return x.f.Write(x.out)
}
