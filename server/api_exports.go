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

// exportSpec reads an export's spec from the query string. Lists may repeat a parameter or
// separate values with commas.
func exportSpec(c *gin.Context) (export.Spec, string, error) {
	spec := export.Spec{Format: c.Query("format"), Kind: c.Query("kind"), Encoding: c.Query("encoding")}
	spec.Filter.Project = projectOf(c).Slug
	list := func(name string) []string {
		var out []string
		for _, v := range c.QueryArray(name) {
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
		}
		return out
	}
	f := &spec.Filter
	f.Personas, f.Models, f.Statuses, f.Annotators, f.ExcludeFlags = list("persona"), list("model"), list("status"), list("annotator"), list("exclude_flag")
	for _, v := range list("prompt_version") {
		n, err := strconv.Atoi(v)
		if err != nil {
			return spec, "", errs.Field("prompt_version", "%q is not a version number", v)
		}
		f.PromptVersions = append(f.PromptVersions, n)
	}
	if err := queryFloat(c, "min_margin", &f.MinMargin); err != nil {
		return spec, "", err
	}
	if err := queryFloat(c, "test_fraction", &spec.TestFraction); err != nil {
		return spec, "", err
	}
	if v := c.Query("seed"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return spec, "", errs.Field("seed", "%q is not a whole number", v)
		}
		spec.Seed = n
	}
	if v := c.Query("include_baseline"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return spec, "", errs.Field("include_baseline", "want true or false, got %q", v)
		}
		f.IncludeBaseline = b
	}
	for _, tp := range []struct {
		name string
		dst  **time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		t, err := queryTime(c, tp.name)
		if err != nil {
			return spec, "", err
		}
		*tp.dst = t
	}
	asOf, err := queryTime(c, "as_of")
	if err != nil {
		return spec, "", err
	}
	if asOf != nil {
		spec.AsOf = *asOf
	}
	return spec, c.Query("split"), nil
}

func queryTime(c *gin.Context, name string) (*time.Time, error) {
	v := c.Query(name)
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

// handleExport streams an export as the response body: JSONL, gzipped JSONL or Parquet.
// Rows go out as they are read; when the client goes away the request's context ends, which
// stops the query and gives its connection back. A finished download is recorded as a
// dataset snapshot; X-Mentor-As-Of names the moment that reproduces it.
func handleExport(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		spec, split, err := exportSpec(c)
		if err != nil {
			return err
		}
		if spec, err = d.Exports.Prepare(ctx, spec); err != nil {
			return err
		}
		types := map[string]string{export.JSONL: "application/jsonl; charset=utf-8", export.JSONLGzip: "application/gzip",
			export.Parquet: "application/vnd.apache.parquet"}
		name := split
		if name == "" {
			name = "all"
		}
		filename := fmt.Sprintf("%s-%s-%s.%s", spec.Filter.Project, spec.Format, name, spec.Encoding)
		c.Header("Content-Type", types[spec.Encoding])
		c.Header("Content-Disposition", `attachment; filename="`+filename+`"`)
		c.Header("X-Mentor-As-Of", spec.AsOf.Format(time.RFC3339Nano))
		c.Header("Trailer", "X-Mentor-Rows")
		h := sha256.New()
		body := &countingResponse{w: c.Writer, hash: h}
		spec, stats, err := d.Exports.Stream(ctx, spec, split, body)
		if err != nil {
			if body.n == 0 && !c.Writer.Written() {
				return err
			}
			// Too late for an error status: the body has begun. Cut it short, so the client
			// sees a broken download rather than a complete-looking one.
			if !errors.Is(err, ctx.Err()) {
				d.Logger.ErrorContext(ctx, "export failed mid-stream", "format", spec.Format, "err", err)
			}
			panic(http.ErrAbortHandler)
		}
		if !c.Writer.Written() {
			c.Status(http.StatusOK)
		}
		c.Writer.Header().Set("X-Mentor-Rows", strconv.Itoa(stats.Rows))
		p := principalOf(c)
		file := export.File{Name: filename, Split: split, Rows: stats.Rows, Bytes: body.n, SHA256: hex.EncodeToString(h.Sum(nil))}
		snapshot, err := d.Exports.RecordStream(ctx, spec, split, stats, file, export.Creator{UserID: &p.user.ID, Name: p.user.Login})
		if err != nil {
			d.Logger.ErrorContext(ctx, "record the export snapshot", "err", err)
		}
		// Who took which training data out is for the audit log too.
		project := projectOf(c)
		record(c, d, audit.Event{Action: audit.Export, ProjectID: &project.ID, Target: "format:" + spec.Format,
			Details: map[string]any{"kind": spec.Kind, "rows": stats.Rows, "encoding": spec.Encoding, "split": split, "snapshot": snapshot,
				"as_of": spec.AsOf.Format(time.RFC3339Nano)}})
		return nil
	}
}

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
		spec, _, err := exportSpec(c)
		if err != nil {
			return err
		}
		stats, err := d.Exports.Count(c.Request.Context(), spec)
		if err != nil {
			return err
		}
		out := gin.H{"rows": stats.Rows, "splits": stats.Splits, "per_persona": stats.PerPersona, "duplicates_dropped": stats.Duplicates,
			"kto_labels": stats.Labels, "margin": stats.Margin}
		if stats.Rows == 0 {
			out["message"] = "no rows matched the filter"
		}
		c.JSON(http.StatusOK, out)
		return nil
	}
}

// handleExportFormats lists the formats and their kinds, for the export page.
func handleExportFormats() apiFunc {
	return func(c *gin.Context) error {
		type kind struct {
			Name    string          `json:"name"`
			Columns []export.Column `json:"columns"`
		}
		type format struct {
			Name        string `json:"name"`
			Description string `json:"description"`
			Kinds       []kind `json:"kinds"`
		}
		var out []format
		for _, f := range export.Formats() {
			ff := format{Name: f.Name, Description: f.Description}
			for _, k := range f.Kinds {
				ff.Kinds = append(ff.Kinds, kind{Name: k.Name, Columns: k.Columns})
			}
			out = append(out, ff)
		}
		c.JSON(http.StatusOK, gin.H{"formats": out, "encodings": export.Encodings, "statuses": export.Statuses})
		return nil
	}
}
