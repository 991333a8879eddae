package export

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/parquet-go/parquet-go"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
)

// Exporter writes datasets from the database.
type Exporter struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// New returns an Exporter on pool; now is the clock for as-of moments (nil: time.Now).
func New(pool *pgxpool.Pool, now func() time.Time) *Exporter {
	if now == nil {
		now = time.Now
	}
	return &Exporter{pool: pool, now: now}
}

// Stats are what an export counted as it wrote.
type Stats struct {
	Rows       int            `json:"rows"`
	Splits     map[string]int `json:"splits"`
	PerPersona map[string]int `json:"per_persona"`
	// Duplicates counts rows left out because an earlier row had the same prompt (SFT), or
	// the same prompt and replies (preference, KTO).
	Duplicates int           `json:"duplicates_dropped"`
	Labels     *LabelBalance `json:"kto_labels,omitempty"`
	Margin     *MarginStats  `json:"margin,omitempty"`
	// QC is the review state of the judgments behind the rows (issue 14; qc.go). Absent for
	// retrieval triplets, which are made of passage marks.
	QC *QCState `json:"qc,omitempty"`
	// Consensus is consensus mode's votes on each pair (consensus.go); absent when it is off.
	Consensus *Consensus `json:"consensus,omitempty"`
}

// RowsIn is how many rows one split's file holds (allSplits: every row): the stats count
// every row, whichever split was written.
func (s Stats) RowsIn(split string) int {
	if split == allSplits {
		return s.Rows
	}
	return s.Splits[split]
}

// LabelBalance is the KTO class balance. TRL warns when desirable/undesirable falls
// outside [1, 1.33] after its weights.
type LabelBalance struct {
	Desirable   int     `json:"desirable"`
	Undesirable int     `json:"undesirable"`
	Ratio       float64 `json:"desirable_per_undesirable"` // 0 when there are no undesirable rows
}

// MarginStats summarises preference margins.
type MarginStats struct {
	Count int     `json:"count"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

// Progress is called now and then with the number of rows written so far.
type Progress func(rows int)

// progressEvery rows between progress calls.
const progressEvery = 5000

// Prepare checks a spec and resolves its filter against the database without exporting,
// so a caller can refuse bad input before it starts writing. It fills defaults (kind,
// encoding, as-of) and returns the completed spec.
func (e *Exporter) Prepare(ctx context.Context, spec Spec) (Spec, error) {
	if _, err := spec.check(); err != nil {
		return spec, err
	}
	e.defaultAsOf(&spec)
	if err := e.checkAsOf(spec); err != nil {
		return spec, err
	}
	err := e.inSnapshot(ctx, func(tx pgx.Tx) error {
		_, err := resolve(ctx, tx, spec)
		return err
	})
	return spec, err
}

func (e *Exporter) defaultAsOf(spec *Spec) {
	if spec.AsOf.IsZero() {
		// Microseconds: what Postgres keeps, so the moment recorded is the moment used.
		spec.AsOf = e.now().UTC().Truncate(time.Microsecond)
	}
	spec.AsOf = spec.AsOf.UTC()
}

// checkAsOf refuses a moment in the future: judgments made between now and then would join
// a later run, and the files could not be reproduced.
func (e *Exporter) checkAsOf(spec Spec) error {
	if now := e.now(); spec.AsOf.After(now) {
		return errs.Field("as_of", "%s is in the future (it is %s now): a snapshot can only be taken of the past",
			spec.AsOf.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// inSnapshot runs fn in one REPEATABLE READ, read-only transaction: every row an export
// writes comes from the same consistent snapshot of the database.
func (e *Exporter) inSnapshot(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, e.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		// The export's sort of judgments by id spills to disk at the default 4 MB of
		// work_mem from about 20,000 judgments; and JIT compiling the query costs more than
		// it saves on a plan that is index lookups per judgment.
		if _, err := tx.Exec(ctx, `SET LOCAL work_mem = '64MB'; SET LOCAL jit = off; SET LOCAL plan_cache_mode = force_custom_plan`); err != nil {
			return err
		}
		return fn(tx)
	})
}

// Count runs an export without writing it, for the UI's preview of how many rows a filter
// gives. It reads every row, so it costs what an export costs minus the encoding.
func (e *Exporter) Count(ctx context.Context, spec Spec) (Stats, error) {
	return e.run(ctx, &spec, nil, func(string, any) error { return nil })
}

// Stream writes one split of an export (TrainSplit, TestSplit, or "" for every row) to w in
// the spec's encoding. Nothing is written to w before the spec has been checked, so a
// caller may still answer with an error when Stream fails before its first write.
func (e *Exporter) Stream(ctx context.Context, spec Spec, split string, w io.Writer) (Spec, Stats, error) {
	if split != allSplits && split != TrainSplit && split != TestSplit {
		return spec, Stats{}, errs.Field("split", "%q is not a split; use train, test or leave it out for both", split)
	}
	f, err := spec.check()
	if err != nil {
		return spec, Stats{}, err
	}
	kind, _ := f.kind(spec.Kind)
	var out rowWriter
	stats, err := e.run(ctx, &spec, nil, func(s string, row any) error {
		if split != allSplits && s != split {
			return nil
		}
		if out == nil {
			out = newRowWriter(kind, spec.Encoding, w)
		}
		return out.write(row)
	})
	if err != nil {
		return spec, stats, err
	}
	if out == nil {
		out = newRowWriter(kind, spec.Encoding, w) // a valid empty file: a gzip or Parquet file has a header
	}
	return spec, stats, out.close()
}

// run resolves spec (filling its defaults), streams its rows from one snapshot, drops
// duplicates, assigns splits and counts; emit receives each row that stays.
func (e *Exporter) run(ctx context.Context, spec *Spec, progress Progress, emit func(split string, row any) error) (Stats, error) {
	stats := Stats{Splits: map[string]int{}, PerPersona: map[string]int{}}
	f, err := spec.check()
	if err != nil {
		return stats, err
	}
	kind, _ := f.kind(spec.Kind)
	e.defaultAsOf(spec)
	if err := e.checkAsOf(*spec); err != nil {
		return stats, err
	}
	seen := map[uint64]struct{}{}
	var margins MarginStats
	var labels LabelBalance
	err = e.inSnapshot(ctx, func(tx pgx.Tx) error {
		q, err := resolve(ctx, tx, *spec)
		if err != nil {
			return err
		}
		if spec.Filter.Consensus {
			q.consensus = &Consensus{Votes: []PairVote{}}
			stats.Consensus = q.consensus
		}
		out := startPipeline(emit)
		err = kind.rows.each(ctx, tx, q, func(row any, info RowInfo) error {
			if info.Dedupe != 0 {
				if _, dup := seen[info.Dedupe]; dup {
					stats.Duplicates++
					return nil
				}
				seen[info.Dedupe] = struct{}{}
			}
			split := splitOf(spec.Seed, spec.TestFraction, info.Conversation)
			if err := out.send(split, row); err != nil {
				return err
			}
			stats.Rows++
			stats.Splits[split]++
			stats.PerPersona[info.Persona]++
			if info.Label != nil {
				if *info.Label {
					labels.Desirable++
				} else {
					labels.Undesirable++
				}
			}
			if m := info.Margin; m != nil {
				if margins.Count == 0 || *m < margins.Min {
					margins.Min = *m
				}
				margins.Max = math.Max(margins.Max, *m)
				margins.Mean += (*m - margins.Mean) / float64(margins.Count+1)
				margins.Count++
			}
			if progress != nil && stats.Rows%progressEvery == 0 {
				progress(stats.Rows)
			}
			return nil
		})
		// The writer's error is the cause when it stopped the loop (a client gone, a full disk).
		if werr := out.finish(); werr != nil {
			return werr
		}
		if err != nil {
			return err
		}
		// Quality control (issue 14): read in the same snapshot as the rows.
		if kind.source != sourceRelevance {
			stats.QC, err = qcState(ctx, tx, q)
		}
		return err
	})
	if err != nil {
		return stats, db.Error(err, "export %s", spec.Format)
	}
	if kind.Name == "kto" {
		if labels.Undesirable > 0 {
			labels.Ratio = roundMargin(float64(labels.Desirable) / float64(labels.Undesirable))
		}
		stats.Labels = &labels
	}
	if kind.source == sourcePairs {
		margins.Mean = roundMargin(margins.Mean)
		stats.Margin = &margins
	}
	return stats, nil
}

// splitOf puts a whole conversation in train or test, from a hash of the seed and the
// conversation's id: the same seed always gives the same split, and turns of one
// conversation never straddle it.
func splitOf(seed int64, testFraction float64, conversation int64) string {
	if testFraction == 0 {
		return TrainSplit
	}
	h := combine(uint64(seed), uint64(conversation))
	if float64(h>>11)/(1<<53) < testFraction {
		return TestSplit
	}
	return TrainSplit
}

// resolve turns the filter's names into what the SQL needs, refusing names that do not
// exist with the list of those that do.
func resolve(ctx context.Context, tx pgx.Tx, spec Spec) (Query, error) {
	q := Query{AsOf: spec.AsOf, Filter: spec.Filter}
	project := spec.Filter.Project
	var err error
	if id, perr := strconv.ParseInt(project, 10, 64); perr == nil {
		err = tx.QueryRow(ctx, `SELECT id FROM projects WHERE id = $1`, id).Scan(&q.ProjectID)
	} else {
		err = tx.QueryRow(ctx, `SELECT id FROM projects WHERE slug = $1`, project).Scan(&q.ProjectID)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		e := errs.E(errs.NotFound, "no project %q", project)
		e.Field = "project" // not Invalid, as errs.Field would make it: the value is well-formed
		return q, e
	}
	if err != nil {
		return q, err
	}
	checks := []struct {
		field string
		asked []string
		sql   string
	}{
		{"personas", spec.Filter.Personas, `SELECT slug FROM personas WHERE project_id = $1 ORDER BY slug`},
		{"annotators", spec.Filter.Annotators, `SELECT DISTINCT u.login FROM judgments j JOIN users u ON u.id = j.trainer_id
			JOIN turns t ON t.id = j.turn_id JOIN conversations c ON c.id = t.conversation_id WHERE c.project_id = $1 ORDER BY 1`},
		{"models", spec.Filter.Models, `SELECT DISTINCT cd.model FROM candidates cd JOIN turns t ON t.id = cd.turn_id
			JOIN conversations c ON c.id = t.conversation_id WHERE c.project_id = $1 ORDER BY 1`},
		{"prompt_versions", itoa(spec.Filter.PromptVersions), `SELECT DISTINCT v.version::text FROM prompt_versions v
			JOIN personas p ON p.id = v.persona_id WHERE p.project_id = $1 ORDER BY 1`},
	}
	for _, c := range checks {
		if len(c.asked) == 0 {
			continue
		}
		rows, _ := tx.Query(ctx, c.sql, q.ProjectID)
		valid, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return q, err
		}
		for _, a := range c.asked {
			if !slices.Contains(valid, a) {
				list := strings.Join(valid, ", ")
				if list == "" {
					list = "none yet"
				}
				return q, errs.Field(c.field, "%q is not in project %s; valid values: %s", a, project, list)
			}
		}
	}
	return q, nil
}

func itoa(ns []int) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = strconv.Itoa(n)
	}
	return out
}

// newRowWriter encodes rows of kind in encoding onto w.
func newRowWriter(kind Kind, encoding string, w io.Writer) rowWriter {
	switch encoding {
	case XLSX:
		return newXLSXRows(kind, w)
	case Parquet:
		// Small row groups keep the writer's buffers small; zstd keeps files compact.
		return kind.rows.parquetWriter(w, parquet.MaxRowsPerRowGroup(parquetRowGroup), parquet.Compression(&parquet.Zstd),
			parquet.CreatedBy("mentor", strconv.Itoa(SchemaVersion), ""))
	case JSONLGzip:
		// No name or time in the gzip header, so the same rows give the same bytes.
		buf := bufio.NewWriterSize(w, 64<<10)
		gz := gzip.NewWriter(buf)
		return &jsonRows{enc: newEncoder(gz), gz: gz, buf: buf}
	default:
		buf := bufio.NewWriterSize(w, 64<<10)
		return &jsonRows{enc: newEncoder(buf), buf: buf}
	}
}

// parquetRowGroup rows per row group: the writer holds one group in memory.
const parquetRowGroup = 8192

func newEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // write <, > and & as they are; non-ASCII is never escaped
	return enc
}

type jsonRows struct {
	enc *json.Encoder
	gz  *gzip.Writer // nil for plain JSONL
	buf *bufio.Writer
}

func (j *jsonRows) write(row any) error { return j.enc.Encode(row) }

func (j *jsonRows) close() error {
	if j.gz != nil {
		if err := j.gz.Close(); err != nil {
			return err
		}
	}
	return j.buf.Flush()
}

// pipeline runs emit (encoding and writing) on its own goroutine, so that encoding one row
// overlaps reading and converting the next: an export is otherwise a single thread waiting
// in turn on Postgres and on the encoder. The queue is short, so memory stays bounded.
type pipeline struct {
	rows   chan pipelineRow
	done   chan error
	failed atomic.Bool
}

type pipelineRow struct {
	split string
	row   any
}

const pipelineDepth = 256

func startPipeline(emit func(split string, row any) error) *pipeline {
	p := &pipeline{rows: make(chan pipelineRow, pipelineDepth), done: make(chan error, 1)}
	go func() {
		var err error
		for r := range p.rows {
			if err != nil {
				continue // drain, so the sender never blocks on a writer that has given up
			}
			if err = emit(r.split, r.row); err != nil {
				p.failed.Store(true)
			}
		}
		p.done <- err
	}()
	return p
}

// errWriterStopped stops the read loop once the writer has failed; finish returns the cause.
var errWriterStopped = errors.New("the export's writer stopped")

func (p *pipeline) send(split string, row any) error {
	if p.failed.Load() {
		return errWriterStopped
	}
	p.rows <- pipelineRow{split, row}
	return nil
}

// finish waits for every queued row to be written and returns the writer's error.
func (p *pipeline) finish() error {
	close(p.rows)
	return <-p.done
}
