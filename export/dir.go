package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/webhook"
)

// Creator is who asked for an export.
type Creator struct {
	UserID *int64 // nil for the CLI
	Name   string // a login, or cli:<os user>
}

// File is one data file of an export.
type File struct {
	Name   string `json:"name"`
	Split  string `json:"split"`
	Rows   int    `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Manifest describes an export. The data files and the dataset card are the same for the
// same spec (as_of included); the manifest also says when and by whom it was made, so it
// differs from run to run.
type Manifest struct {
	SchemaVersion int       `json:"schema_version"`
	Format        string    `json:"format"`
	Kind          string    `json:"kind"`
	Encoding      string    `json:"encoding"`
	Filter        Filter    `json:"filter"`
	Seed          int64     `json:"seed"`
	TestFraction  float64   `json:"test_fraction"`
	AsOf          time.Time `json:"as_of"`
	Stats
	Files      []File    `json:"files"`
	Message    string    `json:"message,omitempty"` // why there are no files, when there are none
	SnapshotID int64     `json:"snapshot_id"`
	CreatedAt  time.Time `json:"created_at"`
	CreatedBy  string    `json:"created_by"`
}

// Spec returns the spec that reproduces this export's files.
func (m Manifest) Spec() Spec {
	return Spec{Format: m.Format, Kind: m.Kind, Encoding: m.Encoding, Filter: m.Filter, Seed: m.Seed, TestFraction: m.TestFraction, AsOf: m.AsOf}
}

// CheckWritable fails unless dir exists or can be created, and a file can be written in it.
// Exports call it before any other work.
func CheckWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return errs.Field("out", "cannot create %s: %v", dir, unwrapPath(err))
	}
	f, err := os.CreateTemp(dir, ".mentor-write-check-*")
	if err != nil {
		return errs.Field("out", "cannot write in %s: %v", dir, unwrapPath(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// WriteDir exports spec into dir: one data file per split (train, and test when the spec
// has a test fraction), manifest.json and a README.md dataset card. It records the export as
// a dataset snapshot. An export with no rows writes the manifest and the card, which say so,
// and no data files.
func (e *Exporter) WriteDir(ctx context.Context, spec Spec, dir string, by Creator, progress Progress) (Manifest, error) {
	f, err := spec.check()
	if err != nil {
		return Manifest{}, err
	}
	if err := CheckWritable(dir); err != nil {
		return Manifest{}, err
	}
	kind, _ := f.kind(spec.Kind)
	splits := []string{TrainSplit}
	if spec.TestFraction > 0 {
		splits = append(splits, TestSplit)
	}
	type output struct {
		file   *os.File
		hash   hash.Hash
		count  *countingWriter
		rows   rowWriter
		nrows  int
		name   string
		closed bool
	}
	outs := map[string]*output{}
	cleanup := func() {
		for _, o := range outs {
			if !o.closed {
				o.file.Close()
			}
			os.Remove(o.file.Name())
		}
	}
	for _, s := range splits {
		name := FileName(s, spec.Encoding)
		file, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			cleanup()
			return Manifest{}, errs.Field("out", "cannot write %s: %v", name, unwrapPath(err))
		}
		h := sha256.New()
		cw := &countingWriter{w: io.MultiWriter(file, h)}
		outs[s] = &output{file: file, hash: h, count: cw, rows: newRowWriter(kind, spec.Encoding, cw), name: name}
	}
	stats, err := e.run(ctx, &spec, progress, func(split string, row any) error {
		o := outs[split]
		o.nrows++
		return o.rows.write(row)
	})
	if err != nil {
		cleanup()
		return Manifest{}, err
	}
	m := Manifest{SchemaVersion: SchemaVersion, Format: spec.Format, Kind: spec.Kind, Encoding: spec.Encoding, Filter: spec.Filter,
		Seed: spec.Seed, TestFraction: spec.TestFraction, AsOf: spec.AsOf, Stats: stats, Files: []File{},
		CreatedAt: e.now().UTC(), CreatedBy: by.Name}
	for _, s := range splits {
		o := outs[s]
		if err := o.rows.close(); err != nil {
			cleanup()
			return Manifest{}, fmt.Errorf("write %s: %w", o.name, err)
		}
		o.closed = true
		if err := o.file.Close(); err != nil {
			cleanup()
			return Manifest{}, fmt.Errorf("write %s: %w", o.name, err)
		}
		m.Files = append(m.Files, File{Name: o.name, Split: s, Rows: o.nrows, Bytes: o.count.n, SHA256: hex.EncodeToString(o.hash.Sum(nil))})
	}
	if stats.Rows == 0 {
		cleanup()
		m.Files = []File{}
		m.Message = EmptyMessage(spec)
	}
	card := Card(m)
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte(card), 0o644); err != nil {
		return m, fmt.Errorf("write the dataset card: %w", err)
	}
	if m.SnapshotID, err = e.record(ctx, m, by); err != nil {
		return m, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), append(b, '\n'), 0o644); err != nil {
		return m, fmt.Errorf("write the manifest: %w", err)
	}
	return m, nil
}

// EmptyMessage explains an export with no rows.
func EmptyMessage(spec Spec) string {
	what := "no judgment"
	if spec.Format == "retrieval-triplets" {
		what = "no turn with relevance marks or cited passages (mark passages on the trainer's screen)"
	}
	return fmt.Sprintf("no rows: %s in project %s made by %s matched the filter for %s", what, spec.Filter.Project,
		spec.AsOf.Format(time.RFC3339), spec.Format)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// record stores the export as a dataset snapshot and returns its id.
func (e *Exporter) record(ctx context.Context, m Manifest, by Creator) (int64, error) {
	hashes := map[string]string{}
	for _, f := range m.Files {
		hashes[f.Name] = f.SHA256
	}
	filter, _ := json.Marshal(m.Filter)
	files, _ := json.Marshal(hashes)
	manifest, _ := json.Marshal(m)
	var id int64
	// The snapshot and its export.ready webhooks commit together.
	err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		var projectID int64
		err := tx.QueryRow(ctx, `INSERT INTO dataset_snapshots (project_id, format, kind, encoding, filter, seed, test_fraction, as_of,
				row_count, file_sha256, manifest, created_by, creator)
			SELECT p.id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 FROM projects p
			WHERE p.slug = $1 OR p.id::text = $1 RETURNING id, project_id`,
			m.Filter.Project, m.Format, m.Kind, m.Encoding, filter, m.Seed, m.TestFraction, m.AsOf, m.Rows, files, manifest, by.UserID, by.Name).Scan(&id, &projectID)
		if err != nil {
			return err
		}
		_, err = webhook.Emit(ctx, tx, projectID, webhook.ExportReady, map[string]any{
			"snapshot_id": id, "format": m.Format, "kind": m.Kind, "encoding": m.Encoding, "rows": m.Rows,
			"files": m.Files, "as_of": m.AsOf, "created_by": by.Name,
			"download_url": fmt.Sprintf("/api/v1/projects/%s/exports/%d/download", m.Filter.Project, id),
		})
		return err
	})
	return id, db.Error(err, "record the dataset snapshot")
}

// Record runs an export of one split (allSplits: every row) into a hash, and stores it as a
// snapshot: its one file's name, rows, size and SHA-256, and the spec with its as-of moment,
// so that a download of the snapshot later streams the same bytes. Nothing is written to
// disk; the API's download streams it again.
func (e *Exporter) Record(ctx context.Context, spec Spec, split string, by Creator) (Manifest, error) {
	spec, err := e.Prepare(ctx, spec)
	if err != nil {
		return Manifest{}, err
	}
	h := sha256.New()
	sink := &countingWriter{w: h}
	spec, stats, err := e.Stream(ctx, spec, split, sink)
	if err != nil {
		return Manifest{}, err
	}
	name := split
	if name == allSplits {
		name = "all"
	}
	file := File{Name: fmt.Sprintf("%s-%s-%s.%s", spec.Filter.Project, spec.Format, name, spec.Encoding), Split: name,
		Rows: stats.RowsIn(split), Bytes: sink.n, SHA256: hex.EncodeToString(h.Sum(nil))}
	m := Manifest{SchemaVersion: SchemaVersion, Format: spec.Format, Kind: spec.Kind, Encoding: spec.Encoding, Filter: spec.Filter,
		Seed: spec.Seed, TestFraction: spec.TestFraction, AsOf: spec.AsOf, Stats: stats, Files: []File{file},
		CreatedAt: e.now().UTC(), CreatedBy: by.Name}
	if m.SnapshotID, err = e.record(ctx, m, by); err != nil {
		return Manifest{}, err
	}
	if stats.Rows == 0 {
		m.Message = EmptyMessage(spec)
	}
	return m, nil
}

// Snapshot returns the manifest recorded for a snapshot of a project, to export it again.
func (e *Exporter) Snapshot(ctx context.Context, id int64) (Manifest, error) {
	var raw []byte
	err := e.pool.QueryRow(ctx, `SELECT manifest FROM dataset_snapshots WHERE id = $1`, id).Scan(&raw)
	if err != nil {
		return Manifest{}, db.Error(err, "dataset snapshot %d", id)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, fmt.Errorf("dataset snapshot %d: %w", id, err)
	}
	m.SnapshotID = id
	return m, nil
}

// Card writes the README.md dataset card for an export. It holds nothing that changes from
// run to run (no creation time), so it is reproducible like the data files.
func Card(m Manifest) string {
	f, _ := formatByName(m.Format)
	kind, _ := f.kind(m.Kind)
	var b strings.Builder
	loader := "json"
	if m.Encoding == Parquet {
		loader = "parquet"
	}
	fmt.Fprintf(&b, "---\nlicense: other # set the license the project's data is released under before sharing it\n")
	fmt.Fprintf(&b, "language:\n- zh\n- en\npretty_name: %s (%s)\n", m.Filter.Project, m.Format)
	if len(m.Files) > 0 {
		fmt.Fprintf(&b, "configs:\n- config_name: default\n  data_files:\n")
		for _, file := range m.Files {
			fmt.Fprintf(&b, "  - split: %s\n    path: %s\n", file.Split, file.Name)
		}
	}
	fmt.Fprintf(&b, "---\n\n# %s: %s (%s)\n\n", m.Filter.Project, m.Format, m.Kind)
	fmt.Fprintf(&b, "%s.\n\n", f.Description)
	b.WriteString("## What this is\n\n")
	fmt.Fprintf(&b, "Training data exported from Mentor, a workbench where trainers compare candidate replies of AI assistants, rank and rate them, correct them and write gold replies. "+
		"This export holds the judgments of project `%s` as of %s (judgments made later are not included), filtered as below.\n\n",
		m.Filter.Project, m.AsOf.Format(time.RFC3339Nano))
	if m.Rows == 0 {
		fmt.Fprintf(&b, "**It has no rows:** %s.\n\n", EmptyMessage(m.Spec()))
	}
	fmt.Fprintf(&b, "- rows: %d", m.Rows)
	for _, file := range m.Files {
		fmt.Fprintf(&b, "; %s: %d", file.Split, file.Rows)
	}
	fmt.Fprintf(&b, "\n- duplicates dropped: %d\n", m.Duplicates)
	for _, p := range sortedKeys(m.PerPersona) {
		fmt.Fprintf(&b, "- persona `%s`: %d rows\n", p, m.PerPersona[p])
	}
	if l := m.Labels; l != nil {
		fmt.Fprintf(&b, "- KTO labels: %d desirable, %d undesirable (ratio %v; TRL warns outside 1 to 1.33 after its weights)\n", l.Desirable, l.Undesirable, l.Ratio)
	}
	if mg := m.Margin; mg != nil && mg.Count > 0 {
		fmt.Fprintf(&b, "- margin: min %v, mean %v, max %v\n", mg.Min, mg.Mean, mg.Max)
	}
	b.WriteString(qcCard(m.QC)) // quality control (issue 14)
	b.WriteString(consensusCard(m.Consensus))
	filter, _ := json.MarshalIndent(m.Filter, "", "  ")
	fmt.Fprintf(&b, "\nFilter:\n\n```json\n%s\n```\n\n", filter)
	b.WriteString("## How it was collected\n\n")
	b.WriteString("For each user turn, Mentor generated several candidate replies (from different models, prompt versions and temperatures). " +
		"A trainer ranked them best first (ties allowed), rated them on the persona's rubric, flagged problems " +
		"(hallucination, unsafe, off_persona, refusal), and could correct one candidate or write a gold reply. " +
		"Only the latest revision of each trainer's judgment of a turn is used. ")
	if !m.Filter.IncludeBaseline {
		b.WriteString("Candidates of the offline baseline (an extractive responder, not a language model) are left out. ")
	}
	b.WriteString("\n\n")
	b.WriteString(rulesText)
	b.WriteString("\n## Columns\n\n| column | meaning |\n|---|---|\n")
	for _, c := range kind.Columns {
		fmt.Fprintf(&b, "| `%s` | %s |\n", c.Name, c.Meaning)
	}
	b.WriteString("\n## How to load it\n\n```python\nfrom datasets import load_dataset\n\n")
	if len(m.Files) == 0 {
		fmt.Fprintf(&b, "# this export has no data files\n")
	} else {
		var parts []string
		for _, file := range m.Files {
			parts = append(parts, fmt.Sprintf("%q: %q", file.Split, file.Name))
		}
		if m.Encoding == XLSX {
			// datasets has no Excel loader: pandas reads the sheet, and datasets takes the frame.
			fmt.Fprintf(&b, "import pandas as pd\nfrom datasets import Dataset\n\nds = {split: Dataset.from_pandas(pd.read_excel(path)) for split, path in {%s}.items()}\n", strings.Join(parts, ", "))
		} else {
			fmt.Fprintf(&b, "ds = load_dataset(%q, data_files={%s})\n", loader, strings.Join(parts, ", "))
		}
	}
	b.WriteString("```\n\nThe same files come out again with `mentor export --snapshot <id>` (manifest.json holds the id and each file's SHA-256).\n")
	return b.String()
}

// rulesText states the rules every card repeats; docs/exports.md explains them.
const rulesText = `## Rules

- **SFT reply:** the gold reply if the trainer wrote one, else the correction, else the first unflagged candidate of the best-ranked group. A turn with none of these gives no SFT row.
- **Context:** the conversation from its first message to the judged user turn, along the branch the trainer followed. The rendered system prompt is not included: candidates store only its SHA-256, and it was rendered with the passages retrieved for that turn.
- **Preference pairs:** every ranked pair (ties give none), the correction over the original, and the gold reply over every candidate.
- **Margin:** 0.5 per rank group apart plus the rubric difference (0..1) for ranking pairs; 1.0 for a correction; 1.0 + 0.5 per rank group of the rejected candidate for gold pairs.
- **KTO labels:** true for candidates of the best-ranked group, the correction and the gold reply; false for candidates of the worst-ranked group and for any flagged candidate. With a single (all tied) group, only flags, corrections and gold replies label the turn.
- **Duplicates:** SFT rows with the same prompt as an earlier row, and preference or KTO rows with the same prompt and replies, are dropped; the first by id stays.
- **Retrieval triplets:** one row per turn and trainer who marked its passages or cited them in a gold reply. Positives: passages marked highly relevant or relevant (the trainer's latest mark), then passages the latest gold reply cites as [n]. Negatives: passages marked irrelevant, then the turn's other passages nobody used (hard negatives). A row needs at least one of each. Filters on models, prompt versions, statuses, flags and margins do not apply to it.
- **Split:** whole conversations go to train or test by a hash of the seed and the conversation id.
`
