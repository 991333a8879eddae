package export

import (
	"context"
	"io"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/parquet-go/parquet-go"
)

// Format is one --format: a name and the kinds of rows it can hold. Adding a format is one
// entry in formats(); a format with a new kind of source also needs a Source.
type Format struct {
	Name        string
	Description string // one line, for help text and the dataset card
	Kinds       []Kind // the first is the default
}

// Kind is one shape of rows of a format: sharegpt's sft, preference and kto, say.
type Kind struct {
	Name    string
	Columns []Column // every column a row has, for the dataset card
	rows    shape
	source  string // the Source's name, for the card and for checks that depend on it
}

// Column describes one column of a format's rows for the dataset card.
type Column struct {
	Name    string `json:"name"`
	Meaning string `json:"meaning"`
}

// Source streams one kind of record from the export's snapshot transaction, in a
// deterministic order (by id), calling yield once per record. It must not hold records
// beyond the one it yields.
type Source[R any] struct {
	Name   string
	Stream func(ctx context.Context, tx pgx.Tx, q Query, yield func(R) error) error
}

// RowInfo is what the export needs to know about a row besides its columns.
type RowInfo struct {
	Conversation int64    // rows of one conversation stay in one split
	Persona      string   // for the per-persona counts
	Dedupe       uint64   // rows with equal keys after the first are dropped; see dedupeKey
	Label        *bool    // KTO rows: desirable or not, for the class balance
	Margin       *float64 // preference rows, for the margin statistics
}

// NewKind makes a Kind whose rows of type T are converted from records of src. convert
// calls emit for each row a record yields (none, one or several).
func NewKind[R, T any](name string, columns []Column, src Source[R], convert func(r R, emit func(T, RowInfo) error) error) Kind {
	return Kind{Name: name, Columns: columns, source: src.Name, rows: typedShape[R, T]{src: src, convert: convert}}
}

// shape hides the record and row types from the export loop.
type shape interface {
	each(ctx context.Context, tx pgx.Tx, q Query, emit func(row any, info RowInfo) error) error
	parquetWriter(w io.Writer, opts ...parquet.WriterOption) rowWriter
}

type typedShape[R, T any] struct {
	src     Source[R]
	convert func(R, func(T, RowInfo) error) error
}

func (s typedShape[R, T]) each(ctx context.Context, tx pgx.Tx, q Query, emit func(any, RowInfo) error) error {
	yieldRow := func(row T, info RowInfo) error { return emit(row, info) }
	return s.src.Stream(ctx, tx, q, func(r R) error { return s.convert(r, yieldRow) })
}

func (s typedShape[R, T]) parquetWriter(w io.Writer, opts ...parquet.WriterOption) rowWriter {
	return &parquetRows[T]{w: parquet.NewGenericWriter[T](w, opts...), buf: make([]T, 0, parquetBatch)}
}

// rowWriter writes rows of one encoding.
type rowWriter interface {
	write(row any) error
	close() error
}

// parquetBatch rows are handed to the Parquet writer at a time: few enough to stay small,
// many enough that the per-call cost disappears.
const parquetBatch = 256

type parquetRows[T any] struct {
	w   *parquet.GenericWriter[T]
	buf []T
}

func (p *parquetRows[T]) write(row any) error {
	p.buf = append(p.buf, row.(T))
	if len(p.buf) < parquetBatch {
		return nil
	}
	return p.flush()
}

func (p *parquetRows[T]) flush() error {
	_, err := p.w.Write(p.buf)
	clear(p.buf) // let the strings go
	p.buf = p.buf[:0]
	return err
}

func (p *parquetRows[T]) close() error {
	if err := p.flush(); err != nil {
		return err
	}
	return p.w.Close()
}

func (f Format) kind(name string) (Kind, bool) {
	i := slices.IndexFunc(f.Kinds, func(k Kind) bool { return k.Name == name })
	if i < 0 {
		return Kind{}, false
	}
	return f.Kinds[i], true
}

func (f Format) kindNames() []string {
	out := make([]string, len(f.Kinds))
	for i, k := range f.Kinds {
		out[i] = k.Name
	}
	return out
}

// Formats lists every format, in the order help text shows them.
func Formats() []Format { return formats() }

// FormatNames lists the formats' names.
func FormatNames() []string {
	var out []string
	for _, f := range formats() {
		out = append(out, f.Name)
	}
	return out
}

func formatByName(name string) (Format, bool) {
	fs := formats()
	i := slices.IndexFunc(fs, func(f Format) bool { return f.Name == name })
	if i < 0 {
		return Format{}, false
	}
	return fs[i], true
}

// formats is the registry. Each entry names its kinds; each kind pairs a source of records
// with the conversion to the consumer's row (rows.go).
func formats() []Format {
	return []Format{
		{Name: "trl-sft", Description: "TRL SFTTrainer, conversational messages",
			Kinds: []Kind{NewKind("sft", trlSFTColumns, judgedTurns, toTRLSFT)}},
		{Name: "trl-dpo", Description: "TRL DPOTrainer, conversational with an explicit prompt, plus margin",
			Kinds: []Kind{NewKind("preference", trlDPOColumns, preferencePairs, toTRLDPO)}},
		{Name: "trl-reward", Description: "TRL RewardTrainer, implicit prompt (each side holds the whole conversation), plus margin",
			Kinds: []Kind{NewKind("preference", trlRewardColumns, preferencePairs, toTRLReward)}},
		{Name: "trl-kto", Description: "TRL KTOTrainer, prompt, completion and a boolean label",
			Kinds: []Kind{NewKind("kto", trlKTOColumns, judgedTurns, toTRLKTO)}},
		{Name: "openai-sft", Description: "OpenAI supervised fine-tuning, messages with weight 0 on context turns",
			Kinds: []Kind{NewKind("sft", openAISFTColumns, judgedTurns, toOpenAISFT)}},
		{Name: "openai-dpo", Description: "OpenAI preference fine-tuning: input, preferred_output, non_preferred_output",
			Kinds: []Kind{NewKind("preference", openAIDPOColumns, preferencePairs, toOpenAIDPO)}},
		{Name: "sharegpt", Description: "LLaMA-Factory ShareGPT style",
			Kinds: []Kind{
				NewKind("sft", shareGPTSFTColumns, judgedTurns, toShareGPTSFT),
				NewKind("preference", shareGPTPreferenceColumns, preferencePairs, toShareGPTPreference),
				NewKind("kto", shareGPTKTOColumns, judgedTurns, toShareGPTKTO),
			}},
		{Name: "alpaca", Description: "LLaMA-Factory Alpaca style",
			Kinds: []Kind{
				NewKind("sft", alpacaSFTColumns, judgedTurns, toAlpacaSFT),
				NewKind("preference", alpacaPreferenceColumns, preferencePairs, toAlpacaPreference),
				NewKind("kto", alpacaKTOColumns, judgedTurns, toAlpacaKTO),
			}},
		{Name: "rankings", Description: "every judged turn's full ranking, ratings, flags, edit and gold reply",
			Kinds: []Kind{NewKind("rankings", rankingsColumns, judgedTurns, toRankings)}},
		{Name: "retrieval-triplets", Description: "retriever supervision: query, positive and negative passages, from relevance marks and gold citations",
			Kinds: []Kind{NewKind("triplets", tripletColumns, relevanceLabels, toTriplets)}},
		// Issue 16: statistics of work, for leads; most open it as .xlsx.
		{Name: "trainer-stats", Description: "per-trainer statistics: judgments, edits, gold replies, flags, pairs and time spent",
			Kinds: []Kind{NewKind("stats", trainerStatsColumns, trainerStatistics, toTrainerStats)}},
	}
}
