package export

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// Retrieval supervision: for each turn a trainer labelled, the question, the passages that
// were relevant and the ones that were not (../shared/FORMATS.md, "Retrieval supervision").

// passageRef identifies a passage beside its text: the chunk of the document version the
// turn was shown, and why it is where it is.
type passageRef struct {
	CorpusID   int64  `json:"corpus_id" parquet:"corpus_id"`
	DocumentID int64  `json:"document_id" parquet:"document_id"`
	Version    int32  `json:"version" parquet:"version"`
	ChunkID    int64  `json:"chunk_id" parquet:"chunk_id"`
	Evidence   string `json:"evidence" parquet:"evidence"` // see tripletColumns
}

type tripletRow struct {
	Query        string       `json:"query" parquet:"query"`
	Positive     []string     `json:"positive" parquet:"positive,list"`
	Negative     []string     `json:"negative" parquet:"negative,list"`
	PositiveRefs []passageRef `json:"positive_refs" parquet:"positive_refs,list"`
	NegativeRefs []passageRef `json:"negative_refs" parquet:"negative_refs,list"`
	ID           string       `json:"id" parquet:"id"`
	Persona      string       `json:"persona" parquet:"persona"`
	Annotator    string       `json:"annotator" parquet:"annotator"`
}

var tripletColumns = append([]Column{
	{"query", "the user's message the passages were retrieved for"},
	{"positive", "passages the trainer marked relevant or highly relevant, or that their gold reply cites ([n]), highly relevant first"},
	{"negative", "passages the trainer marked irrelevant, then the other passages the turn was shown but nobody used (hard negatives)"},
	{"positive_refs", "for each positive, in order: corpus_id, document_id, version, chunk_id, and evidence (mark-2, mark-1, cited)"},
	{"negative_refs", "for each negative, in order: corpus_id, document_id, version, chunk_id, and evidence (mark-0, or unused)"},
	{"id", "r_<turn>_<trainer>: one row per turn and trainer who labelled it"},
}, metaColumns[1:]...)

// labelledTurn is one trainer's labels on one turn's passages.
type labelledTurn struct {
	TurnID, TrainerID, ConversationID int64
	Query, Persona, Annotator         string
	Shown                             []int64 // the passages the turn's candidates were given, in candidate order
	Marked                            []int64 // chunks the trainer marked (latest mark as of the export)
	Grades                            []int32 // their grades, in the same order
	Cited                             []int64 // chunks the trainer's latest gold reply cites
	Passages                          map[int64]passage
}

type passage struct {
	corpus, document int64
	version          int32
	text             string
}

// tripletsSQL selects, as of $2, each (turn, trainer) in project $1 with relevance marks or
// gold citations. Of the filter, personas ($3), dates ($7, $8: when the labels were made) and
// annotators ($9) apply; the others concern candidates and pairs, and are typed only.
const tripletsSQL = `WITH marks AS (
	SELECT DISTINCT ON (m.turn_id, m.trainer_id, m.chunk_id) m.turn_id, m.trainer_id, m.chunk_id, m.grade, m.created_at
	FROM relevance_marks m JOIN turns t ON t.id = m.turn_id JOIN conversations cv ON cv.id = t.conversation_id
	WHERE cv.project_id = $1 AND m.created_at <= $2
	ORDER BY m.turn_id, m.trainer_id, m.chunk_id, m.id DESC
), golds AS (
	SELECT DISTINCT ON (j.turn_id, j.trainer_id) j.id, j.turn_id, j.trainer_id, j.created_at
	FROM judgments j JOIN turns t ON t.id = j.turn_id JOIN conversations cv ON cv.id = t.conversation_id
	WHERE cv.project_id = $1 AND j.created_at <= $2
	ORDER BY j.turn_id, j.trainer_id, j.revision DESC
), cites AS (
	SELECT g.turn_id, g.trainer_id, array_agg(jc.chunk_id ORDER BY jc.n) AS cited, max(g.created_at) AS at
	FROM golds g JOIN judgment_citations jc ON jc.judgment_id = g.id GROUP BY g.turn_id, g.trainer_id
), marked AS (
	SELECT turn_id, trainer_id, array_agg(chunk_id ORDER BY chunk_id) AS chunks, array_agg(grade::int ORDER BY chunk_id) AS grades,
		max(created_at) AS at
	FROM marks GROUP BY turn_id, trainer_id
), labelled AS (
	SELECT coalesce(mk.turn_id, c.turn_id) AS turn_id, coalesce(mk.trainer_id, c.trainer_id) AS trainer_id,
		coalesce(mk.chunks, '{}') AS marked, coalesce(mk.grades, '{}') AS grades, coalesce(c.cited, '{}') AS cited,
		greatest(mk.at, c.at) AS at
	FROM marked mk FULL JOIN cites c ON c.turn_id = mk.turn_id AND c.trainer_id = mk.trainer_id
)
SELECT l.turn_id, l.trainer_id, t.conversation_id, um.content, p.slug, u.login,
	coalesce((SELECT array_agg(pid ORDER BY c.position, o.n) FROM candidates c, unnest(c.passage_ids) WITH ORDINALITY AS o(pid, n)
		WHERE c.turn_id = t.id), '{}') AS shown,
	l.marked, l.grades, l.cited
FROM labelled l
JOIN turns t ON t.id = l.turn_id
JOIN messages um ON um.id = t.user_message_id
JOIN conversations cv ON cv.id = t.conversation_id
JOIN personas p ON p.id = cv.persona_id
JOIN users u ON u.id = l.trainer_id
WHERE ($3::text[] IS NULL OR p.slug = ANY ($3))
	AND ($7::timestamptz IS NULL OR l.at >= $7) AND ($8::timestamptz IS NULL OR l.at < $8)
	AND ($9::text[] IS NULL OR u.login = ANY ($9))
	AND $4::int[] IS NOT DISTINCT FROM $4::int[] AND $5::text[] IS NOT DISTINCT FROM $5::text[]
	AND $6::text[] IS NOT DISTINCT FROM $6::text[] AND $10::bool IS NOT NULL
	AND $11::text[] IS NOT DISTINCT FROM $11::text[] AND $12::float8 >= 0
	AND $13::bool IS NOT NULL AND $14::bool IS NOT NULL AND $15::bool IS NOT NULL -- QC filters: judgments only (spec.check)
	AND $16::float8 >= 0 AND $17::bool IS NOT NULL
ORDER BY l.turn_id, l.trainer_id`

const sourceRelevance = "relevance marks"

var relevanceLabels = Source[labelledTurn]{Name: sourceRelevance, Stream: streamTriplets}

// tripletBatch labelled turns are read at a time, and their passages' texts fetched together.
const tripletBatch = 200

// streamTriplets reads the labelled turns through a cursor, a batch at a time, so that
// between batches the transaction's connection is free to fetch the batch's passage texts:
// memory holds one batch whatever the number of labelled turns.
func streamTriplets(ctx context.Context, tx pgx.Tx, q Query, yield func(labelledTurn) error) error {
	if _, err := tx.Exec(ctx, `DECLARE triplets NO SCROLL CURSOR FOR `+tripletsSQL, q.args()...); err != nil {
		return err
	}
	for {
		rows, err := tx.Query(ctx, fmt.Sprintf(`FETCH %d FROM triplets`, tripletBatch))
		if err != nil {
			return err
		}
		var batch []labelledTurn
		for rows.Next() {
			var l labelledTurn
			if err := rows.Scan(&l.TurnID, &l.TrainerID, &l.ConversationID, &l.Query, &l.Persona, &l.Annotator,
				&l.Shown, &l.Marked, &l.Grades, &l.Cited); err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, l)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(batch) == 0 {
			_, err := tx.Exec(ctx, `CLOSE triplets`)
			return err
		}
		var ids []int64
		for _, l := range batch {
			ids = append(append(append(ids, l.Shown...), l.Marked...), l.Cited...)
		}
		texts, err := passageTexts(ctx, tx, ids)
		if err != nil {
			return err
		}
		for _, l := range batch {
			l.Passages = texts
			if err := yield(l); err != nil {
				return err
			}
		}
	}
}

func passageTexts(ctx context.Context, tx pgx.Tx, ids []int64) (map[int64]passage, error) {
	rows, _ := tx.Query(ctx, `SELECT id, corpus_id, document_id, version, text FROM chunks WHERE id = ANY($1)`, ids)
	out := map[int64]passage{}
	var id int64
	var p passage
	_, err := pgx.ForEachRow(rows, []any{&id, &p.corpus, &p.document, &p.version, &p.text}, func() error {
		out[id] = p
		return nil
	})
	return out, err
}

// toTriplets turns one trainer's labels on a turn into a row. A turn with no positive or no
// negative passage cannot teach a retriever to tell them apart, and gives no row.
func toTriplets(l labelledTurn, emit func(tripletRow, RowInfo) error) error {
	grade := map[int64]int32{}
	for i, c := range l.Marked {
		grade[c] = l.Grades[i]
	}
	row := tripletRow{Query: l.Query, Positive: []string{}, Negative: []string{}, PositiveRefs: []passageRef{}, NegativeRefs: []passageRef{},
		ID: "r_" + strconv.FormatInt(l.TurnID, 10) + "_" + strconv.FormatInt(l.TrainerID, 10), Persona: l.Persona, Annotator: l.Annotator}
	used := map[int64]bool{}
	add := func(positive bool, id int64, evidence string) {
		p, ok := l.Passages[id]
		if !ok || used[id] {
			return
		}
		used[id] = true
		ref := passageRef{CorpusID: p.corpus, DocumentID: p.document, Version: p.version, ChunkID: id, Evidence: evidence}
		if positive {
			row.Positive, row.PositiveRefs = append(row.Positive, p.text), append(row.PositiveRefs, ref)
		} else {
			row.Negative, row.NegativeRefs = append(row.Negative, p.text), append(row.NegativeRefs, ref)
		}
	}
	// Highly relevant first, then relevant, then cited; marks in the order the turn showed
	// them, so the row does not depend on chunk ids.
	order := showOrder(l)
	for _, g := range []int32{2, 1} {
		for _, id := range order {
			if v, ok := grade[id]; ok && v == g {
				add(true, id, "mark-"+strconv.Itoa(int(g)))
			}
		}
	}
	for _, id := range l.Cited {
		if v, ok := grade[id]; !ok || v > 0 { // a passage marked irrelevant stays a negative even if cited
			add(true, id, "cited")
		}
	}
	for _, id := range order {
		if v, ok := grade[id]; ok && v == 0 {
			add(false, id, "mark-0")
		}
	}
	for _, id := range order {
		if _, marked := grade[id]; !marked {
			add(false, id, "unused")
		}
	}
	if len(row.Positive) == 0 || len(row.Negative) == 0 {
		return nil
	}
	return emit(row, RowInfo{Conversation: l.ConversationID, Persona: l.Persona, Dedupe: combine(textHash(l.Query), textHash(l.Annotator),
		combine(idsOf(row.PositiveRefs)...), combine(idsOf(row.NegativeRefs)...))})
}

// showOrder is the turn's passages as the trainer's screen numbers them (each once, in
// candidate order), then any marked or cited chunk the turn did not show.
func showOrder(l labelledTurn) []int64 {
	var out []int64
	for _, ids := range [][]int64{l.Shown, l.Marked, l.Cited} {
		for _, id := range ids {
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out
}

func idsOf(refs []passageRef) []uint64 {
	out := make([]uint64, len(refs))
	for i, r := range refs {
		out[i] = uint64(r.ChunkID)
	}
	return out
}
