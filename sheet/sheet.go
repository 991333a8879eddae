// Package sheet reads one sheet of an Excel workbook (.xlsx) as a table: a header row and
// the records under it, each with the row number a person sees in Excel, so that an
// importer can say "第 12 行" about a bad record. It is shared by the importers that take
// spreadsheets (knowledge documents, campaign items) and applies no field mapping itself.
package sheet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mentor-ai/mentor/errs"
	"github.com/xuri/excelize/v2"
)

// MaxBytes bounds a workbook Read accepts, compressed. Unpacked, a workbook may be many
// times larger, so the unzipped size is bounded too (maxUnzipped).
const MaxBytes = 32 << 20

// maxUnzipped bounds the unpacked workbook: excelize keeps it in memory, and a zip bomb
// would otherwise take the server down. 256 MiB is eight times MaxBytes, more than the
// 4–6× a text-heavy sheet compresses by.
const maxUnzipped = 256 << 20

// Table is the content of one sheet.
type Table struct {
	Sheet  string   // the sheet's name, as the workbook spells it
	Header []string // the first non-empty row, each cell trimmed
	Rows   []Row    // the non-empty rows under the header, in order
}

// Row is one record of a sheet.
type Row struct {
	// Line is the row's number in the sheet, counted from 1 as Excel shows it; the header is
	// usually line 1. Empty rows are skipped, so Lines may have gaps.
	Line int
	// Cells has one value per column, as Excel displays it (a formatted number or date),
	// padded with "" to at least the header's width. A cell inside a merged range holds the
	// range's value.
	Cells []string
}

// Get returns the cell of r in column i, or "" when the row is shorter.
func (r Row) Get(i int) string {
	if i < 0 || i >= len(r.Cells) {
		return ""
	}
	return r.Cells[i]
}

// Column returns the index of the header cell named name (trimmed, exact match), or -1.
func (t Table) Column(name string) int {
	name = strings.TrimSpace(name)
	for i, h := range t.Header {
		if h == name {
			return i
		}
	}
	return -1
}

// oleHeader starts every OLE compound file: a legacy .xls workbook, and also an .xlsx
// workbook saved with a password, which Excel wraps in one.
var oleHeader = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}

// encryptionInfo is the stream name, in UTF-16LE as OLE directories spell it, that only an
// encrypted OOXML package has.
var encryptionInfo = utf16le("EncryptionInfo")

// Read reads the sheet named sheetName, or the first sheet when sheetName is "". Its errors
// are *errs.Error of kind Invalid and say what the file really is where it is not a
// workbook: a CSV renamed to .xlsx, an old .xls, or a workbook protected by a password.
func Read(r io.Reader, sheetName string) (Table, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBytes+1))
	if err != nil {
		return Table{}, fmt.Errorf("read workbook: %w", err)
	}
	if len(data) > MaxBytes {
		return Table{}, errs.E(errs.TooLarge, "the workbook is over %d MiB", MaxBytes>>20)
	}
	if err := sniff(data); err != nil {
		return Table{}, err
	}
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{UnzipSizeLimit: maxUnzipped})
	if err != nil {
		return Table{}, errs.Wrap(errs.Invalid, err, "not a readable Excel workbook (.xlsx)")
	}
	defer f.Close()

	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return Table{}, errs.E(errs.Invalid, "the workbook has no sheets")
	}
	name := sheets[0]
	if sheetName != "" {
		name = ""
		for _, s := range sheets {
			if s == sheetName {
				name = s
			}
		}
		if name == "" {
			return Table{}, errs.E(errs.Invalid, "the workbook has no sheet %q (its sheets: %s)", sheetName, strings.Join(sheets, ", "))
		}
	}
	grid, err := f.GetRows(name)
	if err != nil {
		return Table{}, errs.Wrap(errs.Invalid, err, "sheet %q cannot be read", name)
	}
	if err := fillMerged(f, name, &grid); err != nil {
		return Table{}, err
	}

	t := Table{Sheet: name}
	for i, cells := range grid {
		if blank(cells) {
			continue
		}
		if t.Header == nil {
			t.Header = make([]string, len(cells))
			for j, c := range cells {
				t.Header[j] = strings.TrimSpace(c)
			}
			continue
		}
		for len(cells) < len(t.Header) {
			cells = append(cells, "")
		}
		t.Rows = append(t.Rows, Row{Line: i + 1, Cells: cells})
	}
	if t.Header == nil {
		return Table{}, errs.E(errs.Invalid, "sheet %q is empty", name)
	}
	return t, nil
}

// sniff names what data is when it is not an .xlsx package (a zip archive).
func sniff(data []byte) error {
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return nil
	case bytes.HasPrefix(data, oleHeader) && bytes.Contains(data, encryptionInfo):
		return errs.E(errs.Invalid, "the workbook is encrypted (protected by a password): remove the password in Excel and import it again")
	case bytes.HasPrefix(data, oleHeader):
		return errs.E(errs.Invalid, "this is an old Excel 97–2003 workbook (.xls): save it as .xlsx and import it again")
	case len(data) == 0:
		return errs.E(errs.Invalid, "the file is empty")
	case bytes.IndexByte(data[:min(len(data), 4096)], 0) < 0:
		// No NUL byte: text in some encoding (UTF-8, GBK), most often a CSV saved with an
		// .xlsx name.
		return errs.E(errs.Invalid, "this is a text file (a CSV renamed to .xlsx?), not an Excel workbook: import it as .csv, or save it as .xlsx in Excel")
	}
	return errs.E(errs.Invalid, "not an Excel workbook (.xlsx)")
}

// fillMerged writes each merged range's value into every cell of the range, as a person
// reading the sheet takes it: a category merged over five rows applies to all five.
func fillMerged(f *excelize.File, sheet string, grid *[][]string) error {
	merged, err := f.GetMergeCells(sheet)
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "sheet %q cannot be read", sheet)
	}
	for _, m := range merged {
		c1, r1, err1 := excelize.CellNameToCoordinates(m.GetStartAxis())
		c2, r2, err2 := excelize.CellNameToCoordinates(m.GetEndAxis())
		if err := errors.Join(err1, err2); err != nil {
			return errs.Wrap(errs.Invalid, err, "sheet %q cannot be read", sheet)
		}
		v := m.GetCellValue()
		for r := r1; r <= r2; r++ {
			for len(*grid) < r {
				*grid = append(*grid, nil)
			}
			row := (*grid)[r-1]
			for len(row) < c2 {
				row = append(row, "")
			}
			for c := c1; c <= c2; c++ {
				row[c-1] = v
			}
			(*grid)[r-1] = row
		}
	}
	return nil
}

func blank(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

func utf16le(s string) []byte {
	b := make([]byte, 0, 2*len(s))
	for _, r := range s {
		b = append(b, byte(r), byte(r>>8))
	}
	return b
}
