package campaign

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/unicode/norm"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/rlhf"
	"github.com/mentor-ai/mentor/sheet"
)

// ItemInput is one prompt to import.
type ItemInput struct {
	ExternalID string         `json:"external_id"`
	Question   string         `json:"question"`
	Prior      []PriorMessage `json:"prior"` // the conversation before the question
	Tags       []string       `json:"tags"`
	Reference  string         `json:"reference"` // a reference answer, for reviewers
}

// PriorMessage is one earlier message of an item's conversation.
type PriorMessage struct {
	Role    string `json:"role"` // user or assistant
	Content string `json:"content"`
}

// Line is an item as read from line Line of a file (1-based; a CSV's header is line 1).
type Line struct {
	Line int
	Item ItemInput
}

// LineError is a line that was not imported, and why.
type LineError struct {
	Line  int   `json:"line"`
	Err   error `json:"-"` // an errs.Field error naming the field; the server renders it in the reader's language
	Field string
}

// Duplicate is a line skipped because the campaign has its item already.
type Duplicate struct {
	Line       int    `json:"line"`
	ExternalID string `json:"external_id"`
	Reason     string `json:"reason"` // external_id or question
}

// ImportReport says what an import did with every line.
type ImportReport struct {
	Added      int         `json:"added"`
	Duplicates []Duplicate `json:"duplicates"`
	Errors     []LineError `json:"-"`
}

// Formats an item file may be in.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
	FormatXLSX  = "xlsx"
)

const (
	maxQuestionRunes = 20000
	maxItemsPerFile  = 200000
)

// Normalize is a question as duplicates are found: NFKC (full-width letters and digits are
// the same as half-width ones), case-folded, with runs of white space made one space.
func Normalize(q string) string {
	q = strings.ToLower(norm.NFKC.String(q))
	return strings.Join(strings.FieldsFunc(q, unicode.IsSpace), " ")
}

// Decode returns the file as UTF-8: UTF-8 (with or without a byte-order mark) as it is,
// anything else read as GB18030, which is a superset of GBK and GB2312. A file that is
// neither is refused by name.
func Decode(data []byte) ([]byte, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if utf8.Valid(data) {
		return data, nil
	}
	out, err := simplifiedchinese.GB18030.NewDecoder().Bytes(data)
	if err != nil || bytes.ContainsRune(out, utf8.RuneError) {
		return nil, errs.Field("file", "is neither UTF-8 nor GB18030 text")
	}
	return out, nil
}

// sniff refuses a file whose bytes say it is something else than its format claims.
func sniff(data []byte, format string) error {
	switch {
	case format == FormatXLSX:
		return nil // sheet.Read names what a file that is not a workbook is
	case format != FormatXLSX && bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return errs.Field("file", "is a ZIP archive (an XLSX workbook?), not %s: choose the format xlsx", format)
	case format != FormatXLSX && bytes.HasPrefix(data, []byte("\xd0\xcf\x11\xe0")):
		return errs.Field("file", "is an old Excel (.xls) or encrypted workbook, not %s: save it as .xlsx or CSV", format)
	case bytes.IndexByte(data[:min(len(data), 8192)], 0) >= 0 && !bytes.HasPrefix(data, []byte("PK")):
		return errs.Field("file", "is binary, not %s text", format)
	}
	return nil
}

// ParseItems reads an item file. Bad lines are reported with their line and field, and the
// good lines come back; an error means the file as a whole cannot be read.
func ParseItems(data []byte, format string) ([]Line, []LineError, error) {
	if err := sniff(data, format); err != nil {
		return nil, nil, err
	}
	switch format {
	case FormatJSONL:
		text, err := Decode(data)
		if err != nil {
			return nil, nil, err
		}
		return parseJSONL(text)
	case FormatCSV:
		text, err := Decode(data)
		if err != nil {
			return nil, nil, err
		}
		r := csv.NewReader(bytes.NewReader(text))
		r.FieldsPerRecord = -1
		r.LazyQuotes = true
		var records [][]string
		for {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				var pe *csv.ParseError
				if errors.As(err, &pe) {
					return nil, nil, errs.Field(fmt.Sprintf("line %d", pe.Line), "is not valid CSV: %s", pe.Err.Error())
				}
				return nil, nil, err
			}
			records = append(records, rec)
		}
		if len(records) == 0 {
			return nil, nil, errs.Field("file", "is empty")
		}
		rows := make([]sheet.Row, 0, len(records)-1)
		for i, rec := range records[1:] {
			rows = append(rows, sheet.Row{Line: i + 2, Cells: rec})
		}
		return fromTable(records[0], rows)
	case FormatXLSX:
		t, err := sheet.Read(bytes.NewReader(data), "")
		if err != nil {
			if e := (*errs.Error)(nil); errors.As(err, &e) && e.Field == "" && e.Kind == errs.Invalid {
				return nil, nil, errs.Field("file", "%s", err)
			}
			return nil, nil, err
		}
		return fromTable(t.Header, t.Rows)
	}
	return nil, nil, errs.Field("format", "must be jsonl, csv or xlsx, got %q", format)
}

func parseJSONL(text []byte) ([]Line, []LineError, error) {
	var good []Line
	var bad []LineError
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	n, parsed := 0, 0
	for sc.Scan() {
		n++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		var in struct {
			ExternalID json.RawMessage `json:"external_id"`
			Question   *string         `json:"question"`
			Prior      json.RawMessage `json:"prior"`
			Tags       json.RawMessage `json:"tags"`
			Reference  string          `json:"reference"`
		}
		if err := json.Unmarshal(raw, &in); err != nil {
			bad = append(bad, LineError{Line: n, Field: "line", Err: errs.Field("line", "is not a JSON object")})
			continue
		}
		parsed++
		item := ItemInput{Reference: in.Reference}
		if in.Question != nil {
			item.Question = *in.Question
		}
		if len(in.ExternalID) > 0 && string(in.ExternalID) != "null" {
			var s string
			var num json.Number
			if json.Unmarshal(in.ExternalID, &s) == nil {
				item.ExternalID = s
			} else if json.Unmarshal(in.ExternalID, &num) == nil {
				item.ExternalID = num.String()
			} else {
				bad = append(bad, LineError{Line: n, Field: "external_id", Err: errs.Field("external_id", "must be a string or a number")})
				continue
			}
		}
		if len(in.Tags) > 0 && string(in.Tags) != "null" {
			if json.Unmarshal(in.Tags, &item.Tags) != nil {
				bad = append(bad, LineError{Line: n, Field: "tags", Err: errs.Field("tags", "must be a list of strings")})
				continue
			}
		}
		if len(in.Prior) > 0 && string(in.Prior) != "null" {
			if json.Unmarshal(in.Prior, &item.Prior) != nil {
				bad = append(bad, LineError{Line: n, Field: "prior", Err: errs.Field("prior", "must be a list of messages, [{\"role\": \"user\", \"content\": \"…\"}]")})
				continue
			}
		}
		if in.Question == nil {
			bad = append(bad, LineError{Line: n, Field: "question", Err: errs.Field("question", "is missing")})
			continue
		}
		if e := item.check(); e != nil {
			bad = append(bad, LineError{Line: n, Field: e.Field, Err: e})
			continue
		}
		good = append(good, Line{Line: n, Item: item})
	}
	if err := sc.Err(); err != nil {
		return nil, nil, errs.Field("file", "line %d is too long or unreadable", n+1)
	}
	if parsed == 0 && n > 0 {
		return nil, nil, errs.Field("file", "is not JSON Lines: no line is a JSON object")
	}
	return good, bad, nil
}

// columns are the header names an item file may use, English or Chinese.
var columns = map[string]string{
	"question": "question", "prompt": "question", "问题": "question", "提问": "question",
	"external_id": "external_id", "id": "external_id", "编号": "external_id",
	"prior": "prior", "conversation": "prior", "对话": "prior", "上文": "prior",
	"tags": "tags", "标签": "tags",
	"reference": "reference", "reference_answer": "reference", "参考答案": "reference",
}

// fromTable reads items from a header and the rows under it (a CSV, or a sheet of a
// workbook), each row with its line number.
func fromTable(header []string, rows []sheet.Row) ([]Line, []LineError, error) {
	index := map[string]int{}
	for i, h := range header {
		name, ok := columns[strings.ToLower(strings.TrimSpace(h))]
		if !ok {
			continue
		}
		if _, dup := index[name]; dup {
			return nil, nil, errs.Field("header", "has two %s columns", name)
		}
		index[name] = i
	}
	if _, ok := index["question"]; !ok {
		return nil, nil, errs.Field("header", "has no question column (question, prompt or 问题)")
	}
	if len(rows) > maxItemsPerFile {
		return nil, nil, errs.E(errs.TooLarge, "a file may hold at most %d items, this one has %d", maxItemsPerFile, len(rows))
	}
	cell := func(rec []string, name string) string {
		if i, ok := index[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var good []Line
	var bad []LineError
	for _, row := range rows {
		n, rec := row.Line, row.Cells
		if strings.TrimSpace(strings.Join(rec, "")) == "" {
			continue // empty rows are layout, not items
		}
		item := ItemInput{ExternalID: cell(rec, "external_id"), Question: cell(rec, "question"), Reference: cell(rec, "reference")}
		if p := cell(rec, "prior"); p != "" {
			if json.Unmarshal([]byte(p), &item.Prior) != nil {
				bad = append(bad, LineError{Line: n, Field: "prior", Err: errs.Field("prior", "must be a list of messages, [{\"role\": \"user\", \"content\": \"…\"}]")})
				continue
			}
		}
		if t := cell(rec, "tags"); t != "" {
			for _, tag := range strings.FieldsFunc(t, func(r rune) bool { return r == ',' || r == '，' || r == '|' || r == '、' }) {
				if tag = strings.TrimSpace(tag); tag != "" {
					item.Tags = append(item.Tags, tag)
				}
			}
		}
		if e := item.check(); e != nil {
			bad = append(bad, LineError{Line: n, Field: e.Field, Err: e})
			continue
		}
		good = append(good, Line{Line: n, Item: item})
	}
	return good, bad, nil
}

// check validates one item; the error names the field.
func (in ItemInput) check() *errs.Error {
	switch {
	case strings.TrimFunc(in.Question, unicode.IsSpace) == "":
		return errs.Field("question", "must not be empty")
	case utf8.RuneCountInString(in.Question) > maxQuestionRunes:
		return errs.Field("question", "must be at most %d characters", maxQuestionRunes)
	case utf8.RuneCountInString(in.ExternalID) > 200:
		return errs.Field("external_id", "must be at most %d characters", 200)
	case strings.ContainsRune(in.Question+in.ExternalID+in.Reference, 0):
		return errs.Field("question", "must not contain a NUL character")
	}
	for i, m := range in.Prior {
		if m.Role != "user" && m.Role != "assistant" {
			return errs.Field(fmt.Sprintf("prior[%d].role", i), "must be user or assistant, got %q", m.Role)
		}
		if strings.TrimSpace(m.Content) == "" {
			return errs.Field(fmt.Sprintf("prior[%d].content", i), "must not be empty")
		}
	}
	if n := len(in.Prior); n > 0 && in.Prior[n-1].Role != "assistant" {
		return errs.Field(fmt.Sprintf("prior[%d].role", n-1), "the conversation before the question must end with an assistant message")
	}
	for i, t := range in.Tags {
		if strings.TrimSpace(t) == "" || utf8.RuneCountInString(t) > 100 {
			return errs.Field(fmt.Sprintf("tags[%d]", i), "must be 1 to 100 characters")
		}
	}
	return nil
}

// AddItems stores items in the campaign. Duplicates (the same external id, or the same
// normalised question, in the file or in the campaign) are skipped and reported. Items
// added to a campaign past its draft are generated at once (enqueue) unless it generates
// live. Lines carry their line numbers; AddItems numbers plain items from 1.
func (s *Store) AddItems(ctx context.Context, campaignID int64, items []ItemInput) (ImportReport, error) {
	lines := make([]Line, len(items))
	for i, it := range items {
		lines[i] = Line{Line: i + 1, Item: it}
	}
	return s.Import(ctx, campaignID, lines)
}

// Import is AddItems for lines read from a file.
func (s *Store) Import(ctx context.Context, campaignID int64, lines []Line) (ImportReport, error) {
	rep := ImportReport{Duplicates: []Duplicate{}}
	for _, l := range lines {
		if e := l.Item.check(); e != nil {
			rep.Errors = append(rep.Errors, LineError{Line: l.Line, Field: e.Field, Err: e})
		}
	}
	if len(rep.Errors) > 0 {
		return rep, nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var state State
		var live bool
		// One import at a time per campaign, so the duplicate checks below see every item.
		if err := tx.QueryRow(ctx, `SELECT state, live FROM campaigns WHERE id = $1 FOR UPDATE`, campaignID).Scan(&state, &live); err != nil {
			return db.Error(err, "campaign %d", campaignID)
		}
		if state == Closed {
			return errs.E(errs.Unprocessable, "campaign %d is closed: it takes no new items", campaignID)
		}
		seenID, seenQ := map[string]bool{}, map[string]bool{}
		var keep []Line
		var norms []string
		for _, l := range lines {
			q := Normalize(l.Item.Question)
			switch {
			case l.Item.ExternalID != "" && seenID[l.Item.ExternalID]:
				rep.Duplicates = append(rep.Duplicates, Duplicate{Line: l.Line, ExternalID: l.Item.ExternalID, Reason: "external_id"})
			case seenQ[q]:
				rep.Duplicates = append(rep.Duplicates, Duplicate{Line: l.Line, ExternalID: l.Item.ExternalID, Reason: "question"})
			default:
				seenID[l.Item.ExternalID], seenQ[q] = l.Item.ExternalID != "", true
				keep, norms = append(keep, l), append(norms, q)
			}
		}
		ids := make([]string, len(keep))
		for i, l := range keep {
			ids[i] = l.Item.ExternalID
		}
		rows, _ := tx.Query(ctx, `SELECT coalesce(external_id, ''), normalized FROM campaign_items
			WHERE campaign_id = $1 AND (external_id = ANY($2) OR normalized = ANY($3))`, campaignID, ids, norms)
		storedID, storedQ := map[string]bool{}, map[string]bool{}
		for rows.Next() {
			var id, q string
			if err := rows.Scan(&id, &q); err != nil {
				return err
			}
			storedID[id], storedQ[q] = id != "", true
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var externalIDs []*string
		var questions, normalized, priors, references, tags []string
		for i, l := range keep {
			switch {
			case l.Item.ExternalID != "" && storedID[l.Item.ExternalID]:
				rep.Duplicates = append(rep.Duplicates, Duplicate{Line: l.Line, ExternalID: l.Item.ExternalID, Reason: "external_id"})
				continue
			case storedQ[norms[i]]:
				rep.Duplicates = append(rep.Duplicates, Duplicate{Line: l.Line, ExternalID: l.Item.ExternalID, Reason: "question"})
				continue
			}
			var ext *string
			if l.Item.ExternalID != "" {
				ext = &l.Item.ExternalID
			}
			prior := l.Item.Prior
			if prior == nil {
				prior = []PriorMessage{}
			}
			p, _ := json.Marshal(prior)
			t := l.Item.Tags
			if t == nil {
				t = []string{}
			}
			tj, _ := json.Marshal(t)
			externalIDs = append(externalIDs, ext)
			questions, normalized = append(questions, strings.TrimSpace(l.Item.Question)), append(normalized, norms[i])
			priors, references, tags = append(priors, string(p)), append(references, l.Item.Reference), append(tags, string(tj))
		}
		if len(questions) == 0 {
			return nil
		}
		generation := "pending"
		switch {
		case state != Draft && live:
			generation = "ready" // its first claim starts its turn (live.go)
		case state != Draft:
			generation = "generating"
		}
		rows, _ = tx.Query(ctx, `INSERT INTO campaign_items (campaign_id, external_id, question, normalized, prior, reference, tags, generation, live)
			SELECT $1, e, q, n, p::jsonb, r, ARRAY(SELECT jsonb_array_elements_text(t::jsonb)), $8, $9
			FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS u (e, q, n, p, r, t)
			RETURNING id`, campaignID, externalIDs, questions, normalized, priors, references, tags, generation, generation == "ready")
		added, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		rep.Added = len(added)
		if generation == "generating" {
			return s.enqueue(ctx, tx, added)
		}
		return nil
	})
	if err != nil {
		return ImportReport{}, db.Error(err, "import items into campaign %d", campaignID)
	}
	return rep, nil
}

// TurnProblem is a turn that could not become an item, and why.
type TurnProblem struct {
	TurnID int64 `json:"turn_id"`
	Err    error `json:"-"`
}

// AddTurns makes items of existing turns of the campaign's persona that nobody has judged:
// their candidates are the item's, so the item is ready at once. A turn that is judged,
// still streaming, of another persona or an item already is reported, and the others go in.
func (s *Store) AddTurns(ctx context.Context, campaignID int64, turnIDs []int64) (added int, problems []TurnProblem, err error) {
	if len(turnIDs) == 0 || len(turnIDs) > 1000 {
		return 0, nil, errs.Field("turn_ids", "name 1 to 1000 turns, got %d", len(turnIDs))
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var persona int64
		var state State
		if err := tx.QueryRow(ctx, `SELECT persona_id, state FROM campaigns WHERE id = $1 FOR UPDATE`, campaignID).Scan(&persona, &state); err != nil {
			return db.Error(err, "campaign %d", campaignID)
		}
		if state == Closed {
			return errs.E(errs.Unprocessable, "campaign %d is closed: it takes no new items", campaignID)
		}
		for _, id := range turnIDs {
			var turnPersona int64
			var question string
			var judged, streaming, taken, usable bool
			err := tx.QueryRow(ctx, `SELECT c.persona_id, m.content,
					EXISTS (SELECT 1 FROM judgments WHERE turn_id = t.id),
					EXISTS (SELECT 1 FROM candidates WHERE turn_id = t.id AND status = 'streaming'),
					EXISTS (SELECT 1 FROM campaign_items WHERE turn_id = t.id),
					EXISTS (SELECT 1 FROM candidates cd JOIN messages cm ON cm.id = cd.message_id WHERE cd.turn_id = t.id AND `+rlhf.UsableSQL("cd.status", "cm.content")+`)
				FROM turns t JOIN conversations c ON c.id = t.conversation_id JOIN messages m ON m.id = t.user_message_id WHERE t.id = $1`, id).
				Scan(&turnPersona, &question, &judged, &streaming, &taken, &usable)
			var problem error
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				problem = errs.E(errs.NotFound, "no turn %d", id)
			case err != nil:
				return err
			case turnPersona != persona:
				problem = errs.E(errs.Invalid, "turn %d is with another persona than the campaign's", id)
			case judged:
				problem = errs.E(errs.Invalid, "turn %d is judged already", id)
			case streaming:
				problem = errs.E(errs.Invalid, "turn %d is still streaming", id)
			case !usable:
				problem = errs.E(errs.Invalid, "turn %d has no candidate worth judging", id)
			case taken:
				problem = errs.E(errs.Conflict, "turn %d is an item already", id)
			}
			if problem != nil {
				problems = append(problems, TurnProblem{TurnID: id, Err: problem})
				continue
			}
			// The prior conversation is the path to the question, as the trainer saw it.
			tag, err := tx.Exec(ctx, `WITH RECURSIVE path AS (
					SELECT m.id, m.parent_id, m.role, m.content, 0 AS depth FROM messages m JOIN turns t ON t.user_message_id = m.id WHERE t.id = $2
					UNION ALL SELECT m.id, m.parent_id, m.role, m.content, p.depth + 1 FROM messages m JOIN path p ON m.id = p.parent_id)
				INSERT INTO campaign_items (campaign_id, question, normalized, prior, turn_id, generation)
				SELECT $1, $3, $4, coalesce((SELECT jsonb_agg(jsonb_build_object('role', role, 'content', content) ORDER BY depth DESC)
					FROM path WHERE depth > 0 AND role IN ('user', 'assistant')), '[]'), $2, 'ready'
				ON CONFLICT DO NOTHING`, campaignID, id, question, Normalize(question))
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				problems = append(problems, TurnProblem{TurnID: id, Err: errs.E(errs.Conflict, "turn %d asks a question the campaign has already", id)})
				continue
			}
			added++
		}
		return nil
	})
	if err != nil {
		return 0, nil, db.Error(err, "add turns to campaign %d", campaignID)
	}
	return added, problems, nil
}
