package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/mentor-ai/mentor/audit"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/export"
)

// exportRequest is an export's parameters. The count's query string and the body of
// POST …/exports use the same names, so what a script counted it can create unchanged; in
// the query string a list may repeat its parameter or separate values with commas.
type exportRequest struct {
	Format          string   `json:"format"`
	Kind            string   `json:"kind"`
	Encoding        string   `json:"encoding"`
	Split           string   `json:"split"` // train, test, or empty for every row
	Persona         []string `json:"persona"`
	PromptVersion   []int    `json:"prompt_version"`
	Model           []string `json:"model"`
	Status          []string `json:"status"`
	Annotator       []string `json:"annotator"`
	ExcludeFlag     []string `json:"exclude_flag"`
	MinMargin       float64  `json:"min_margin"`
	TestFraction    float64  `json:"test_fraction"`
	Seed            int64    `json:"seed"`
	IncludeBaseline bool     `json:"include_baseline"`
	From            string   `json:"from"`  // 2026-05-01 or RFC 3339
	To              string   `json:"to"`    // 2026-05-01 or RFC 3339
	AsOf            string   `json:"as_of"` // RFC 3339; empty: now

	// Quality control (issue 14): export.Filter's QC block; part B adds its own here.
	AcceptedOnly        bool `json:"accepted_only"`         // only judgments accepted by review or with an accepted batch
	ExcludeHeld         bool `json:"exclude_held"`          // leave out a paused trainer's unchecked work
	ExcludeSpeedFlagged bool `json:"exclude_speed_flagged"` // leave out judgments made faster than the speed floor
	// Quality control, part C: agreement and consensus.
	MinAgreement float64 `json:"min_agreement"` // keep judgments of campaign items whose Kendall's W is at least this (0: off)
	Consensus    bool    `json:"consensus"`     // preference pairs: keep those the item's reliability-weighted majority agrees with
}

// queryExportRequest reads an export's parameters from the query string.
func queryExportRequest(c *gin.Context) (exportRequest, error) {
	in := exportRequest{Format: c.Query("format"), Kind: c.Query("kind"), Encoding: c.Query("encoding"), Split: c.Query("split"),
		From: c.Query("from"), To: c.Query("to"), AsOf: c.Query("as_of")}
	list := c.QueryArray
	in.Persona, in.Model, in.Status, in.Annotator, in.ExcludeFlag = list("persona"), list("model"), list("status"), list("annotator"), list("exclude_flag")
	for _, v := range splitList(list("prompt_version")) {
		n, err := strconv.Atoi(v)
		if err != nil {
			return in, errs.Field("prompt_version", "%q is not a version number", v)
		}
		in.PromptVersion = append(in.PromptVersion, n)
	}
	if err := queryFloat(c, "min_margin", &in.MinMargin); err != nil {
		return in, err
	}
	if err := queryFloat(c, "min_agreement", &in.MinAgreement); err != nil {
		return in, err
	}
	if err := queryFloat(c, "test_fraction", &in.TestFraction); err != nil {
		return in, err
	}
	if v := c.Query("seed"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return in, errs.Field("seed", "%q is not a whole number", v)
		}
		in.Seed = n
	}
	// include_baseline, and quality control's filters (issue 14).
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"include_baseline", &in.IncludeBaseline}, {"accepted_only", &in.AcceptedOnly}, {"exclude_held", &in.ExcludeHeld},
		{"exclude_speed_flagged", &in.ExcludeSpeedFlagged}, {"consensus", &in.Consensus}} {
		if v := c.Query(b.name); v != "" {
			parsed, err := strconv.ParseBool(v)
			if err != nil {
				return in, errs.Field(b.name, "want true or false, got %q", v)
			}
			*b.dst = parsed
		}
	}
	return in, nil
}

// spec turns the parameters into an export of project.
func (in exportRequest) spec(project string) (export.Spec, error) {
	spec := export.Spec{Format: in.Format, Kind: in.Kind, Encoding: in.Encoding, Seed: in.Seed, TestFraction: in.TestFraction}
	f := &spec.Filter
	f.Project, f.MinMargin, f.IncludeBaseline = project, in.MinMargin, in.IncludeBaseline
	f.Personas, f.Models, f.Statuses = splitList(in.Persona), splitList(in.Model), splitList(in.Status)
	f.Annotators, f.ExcludeFlags, f.PromptVersions = splitList(in.Annotator), splitList(in.ExcludeFlag), in.PromptVersion
	f.AcceptedOnly, f.ExcludeHeld, f.ExcludeSpeedFlagged = in.AcceptedOnly, in.ExcludeHeld, in.ExcludeSpeedFlagged // quality control (issue 14)
	f.MinAgreement, f.Consensus = in.MinAgreement, in.Consensus
	for _, tp := range []struct {
		name, value string
		dst         **time.Time
	}{{"from", in.From, &f.From}, {"to", in.To, &f.To}} {
		t, err := parseExportTime(tp.name, tp.value)
		if err != nil {
			return spec, err
		}
		*tp.dst = t
	}
	asOf, err := parseExportTime("as_of", in.AsOf)
	if err != nil {
		return spec, err
	}
	if asOf != nil {
		spec.AsOf = *asOf
	}
	return spec, nil
}

// splitList splits comma-separated values and drops blanks.
func splitList(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func parseExportTime(name, v string) (*time.Time, error) {
	if v == "" {
		return nil, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return &t, nil
		}
	}
	return nil, errs.Field(name, "%q is not a time: use 2026-05-01 or 2026-05-01T08:00:00Z", v)
}

var exportContentTypes = map[string]string{export.JSONL: "application/jsonl; charset=utf-8", export.JSONLGzip: "application/gzip",
	export.Parquet: "application/vnd.apache.parquet",
	export.XLSX:    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}

// exportCreated is the answer to POST …/exports.
type exportCreated struct {
	SnapshotID  int64           `json:"snapshot_id"`
	DownloadURL string          `json:"download_url"`
	Manifest    export.Manifest `json:"manifest"`
}

// handleCreateExport runs an export and records it as a dataset snapshot, which
// GET …/exports/:snapshot/download then streams. Taking data out changes state (the
// snapshot, the audit log), so it is a POST: a cross-site page can make a reviewer's
// browser follow a link, but not send a POST with the session's CSRF header.
//
// The export is encoded once here, into a hash rather than a file, so the manifest holds
// the file's size and SHA-256 before anyone downloads it; the download encodes it again
// from the same as-of moment, which gives the same bytes.
func handleCreateExport(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		var in exportRequest
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		project := projectOf(c)
		spec, err := in.spec(project.Slug)
		if err != nil {
			return err
		}
		p := principalOf(c)
		m, err := d.Exports.Record(ctx, spec, in.Split, export.Creator{UserID: &p.user.ID, Name: p.user.Login})
		if err != nil {
			return err
		}
		id := m.SnapshotID
		// Who took which training data out is for the audit log too.
		record(c, d, audit.Event{Action: audit.Export, ProjectID: &project.ID, Target: "format:" + m.Format,
			Details: map[string]any{"kind": m.Kind, "rows": m.Stats.Rows, "encoding": m.Encoding, "split": in.Split, "snapshot": id,
				"as_of": m.AsOf.Format(time.RFC3339Nano)}})
		url := fmt.Sprintf("/api/v1/projects/%s/exports/%d/download", project.Slug, id)
		c.Header("Location", url)
		c.JSON(http.StatusCreated, exportCreated{SnapshotID: id, DownloadURL: url, Manifest: m})
		return nil
	}
}

// handleDownloadExport streams one file of a recorded snapshot: JSONL, gzipped JSONL or
// Parquet, the same bytes as when it was recorded (its manifest has their SHA-256; the
// X-Mentor-SHA256 trailer has the hash of what was sent). It only reads, so a GET: a
// cross-site link to it makes the browser download a file the attacker cannot read.
// Rows go out as they are read; when the client goes away the request's context ends,
// which stops the query and gives its connection back.
func handleDownloadExport(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		project := projectOf(c)
		// A snapshot of another project is as missing as one that does not exist.
		missing := errs.E(errs.NotFound, "no export snapshot %q in project %s", c.Param("snapshot"), project.Slug)
		id, err := idParam(c, "snapshot")
		if err != nil {
			return missing
		}
		m, err := d.Exports.Snapshot(ctx, id)
		if errs.KindOf(err) == errs.NotFound || err == nil && m.Filter.Project != project.Slug && m.Filter.Project != strconv.FormatInt(project.ID, 10) {
			return missing
		}
		if err != nil {
			return err
		}
		if len(m.Files) == 0 {
			return errs.E(errs.NotFound, "snapshot %d has no data files: %s", id, m.Message)
		}
		file := m.Files[0]
		if want := c.Query("split"); want != "" {
			var names []string
			found := false
			for _, f := range m.Files {
				names = append(names, f.Split)
				if f.Split == want {
					file, found = f, true
				}
			}
			if !found {
				return errs.Field("split", "snapshot %d has no %q file; it has %s", id, want, strings.Join(names, ", "))
			}
		}
		split := file.Split
		if split == "all" {
			split = "" // a streamed export's one file holds every row
		}
		spec := m.Spec()
		c.Header("Content-Type", exportContentTypes[spec.Encoding])
		c.Header("Content-Disposition", `attachment; filename="`+file.Name+`"`)
		c.Header("X-Mentor-Snapshot", strconv.FormatInt(id, 10))
		c.Header("X-Mentor-As-Of", spec.AsOf.Format(time.RFC3339Nano))
		c.Header("Trailer", "X-Mentor-Rows, X-Mentor-SHA256")
		h := sha256.New()
		body := &countingResponse{w: c.Writer, hash: h}
		_, stats, err := d.Exports.Stream(ctx, spec, split, body)
		if err != nil {
			if body.n == 0 && !c.Writer.Written() {
				return err
			}
			// Too late for an error status: the body has begun. Cut it short, so the client
			// sees a broken download rather than a complete-looking one.
			if !errors.Is(err, ctx.Err()) {
				d.Logger.ErrorContext(ctx, "export failed mid-stream", "snapshot", id, "err", err)
			}
			panic(http.ErrAbortHandler)
		}
		if !c.Writer.Written() {
			c.Status(http.StatusOK)
		}
		c.Writer.Header().Set("X-Mentor-Rows", strconv.Itoa(stats.RowsIn(split)))
		c.Writer.Header().Set("X-Mentor-SHA256", hex.EncodeToString(h.Sum(nil)))
		return nil
	}
}

// countingResponse sends an export to the client, hashing and counting what it sends.
type countingResponse struct {
	w    gin.ResponseWriter
	hash io.Writer
	n    int64
}

func (r *countingResponse) Write(p []byte) (int, error) {
	n, err := r.w.Write(p)
	r.hash.Write(p[:n])
	r.n += int64(n)
	return n, err
}

// handleExportCount answers how many rows an export would have, for the export page's live
// preview, with the counts the manifest would hold.
func handleExportCount(d Deps) apiFunc {
	return func(c *gin.Context) error {
		in, err := queryExportRequest(c)
		if err != nil {
			return err
		}
		spec, err := in.spec(projectOf(c).Slug)
		if err != nil {
			return err
		}
		stats, err := d.Exports.Count(c.Request.Context(), spec)
		if err != nil {
			return err
		}
		out := exportCount{Stats: stats}
		if stats.Rows == 0 {
			out.Message = "no rows matched the filter"
		}
		c.JSON(http.StatusOK, out)
		return nil
	}
}

// exportCount is how many rows an export would have, or why none.
type exportCount struct {
	export.Stats
	Message string `json:"message,omitempty"`
}

// exportFormats lists the formats, encodings and candidate statuses an export may use.
type exportFormats struct {
	Formats   []exportFormat `json:"formats"`
	Encodings []string       `json:"encodings"`
	Statuses  []string       `json:"statuses"`
}

// exportFormat is one format with its kinds.
type exportFormat struct {
	Name        string       `json:"name"`
	Description string       `json:"description"`
	Kinds       []exportKind `json:"kinds"`
}

// exportKind is one kind of a format with its columns.
type exportKind struct {
	Name    string          `json:"name"`
	Columns []export.Column `json:"columns"`
}

// handleExportFormats lists the formats and their kinds, for the export page.
func handleExportFormats() apiFunc {
	return func(c *gin.Context) error {
		var out []exportFormat
		for _, f := range export.Formats() {
			ff := exportFormat{Name: f.Name, Description: f.Description}
			for _, k := range f.Kinds {
				ff.Kinds = append(ff.Kinds, exportKind{Name: k.Name, Columns: k.Columns})
			}
			out = append(out, ff)
		}
		c.JSON(http.StatusOK, exportFormats{Formats: out, Encodings: export.Encodings, Statuses: export.Statuses})
		return nil
	}
}
