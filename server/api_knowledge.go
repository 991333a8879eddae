package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/mentor-ai/mentor/audit"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/rlhf"
)

// maxUploadBody bounds one upload request: several files, each at most MaxFileBytes.
const maxUploadBody = 256 << 20

// corpusInput is POST /projects/:project/corpora.
type corpusInput struct {
	Slug         string `json:"slug"`
	Name         string `json:"name"`
	Description  string `json:"description"`
	Embedder     string `json:"embedder"`
	Dimension    int    `json:"dimension"`
	ChunkTokens  int    `json:"chunk_tokens"`
	ChunkOverlap int    `json:"chunk_overlap"`
}

// corpusDetail is one corpus with the embedders it may use and its stale gold marks.
type corpusDetail struct {
	Corpus    retrieval.CorpusStatus `json:"corpus"`
	Embedders []string               `json:"embedders"`
	StaleGold []retrieval.StaleGold  `json:"stale_gold"`
}

// importReport is every uploaded file's outcome, and their sum.
type importReport struct {
	Results []retrieval.ImportResult `json:"results"`
	Summary retrieval.ImportSummary  `json:"summary"`
}

// searchResult is a search with its parsed query and each passage's score parts.
type searchResult struct {
	Query    retrieval.Query     `json:"query"`
	Passages []retrieval.Passage `json:"passages"`
	Note     string              `json:"note"`
}

// evaluateInput is the retrieval configurations to compare.
type evaluateInput struct {
	Configs []retrieval.EvalConfig `json:"configs"`
}

// evaluation is each configuration's scores on the corpus's labelled passages.
type evaluation struct {
	Results []retrieval.EvalResult `json:"results"`
}

// gradeInput is a passage's relevance grade.
type gradeInput struct {
	Grade *int `json:"grade"`
}

func handleCreateCorpus(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in corpusInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		project := projectOf(c)
		corpus, err := d.Retrieval.CreateCorpus(c.Request.Context(), retrieval.Corpus{ProjectID: project.ID, Slug: in.Slug, Name: in.Name,
			Description: in.Description, Embedder: in.Embedder, Dimension: in.Dimension, ChunkTokens: in.ChunkTokens, ChunkOverlap: in.ChunkOverlap})
		if err != nil {
			return err
		}
		record(c, d, audit.Event{Action: audit.CorpusMade, ProjectID: &project.ID, Target: "corpus:" + corpus.Slug,
			Details: map[string]any{"embedder": corpus.Embedder, "dimension": corpus.Dimension}})
		c.JSON(http.StatusCreated, corpus)
		return nil
	}
}

func handleGetCorpus(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		corpus, err := d.Retrieval.CorpusStatus(ctx, corpusOf(c).ID)
		if err != nil {
			return err
		}
		stale, err := d.Retrieval.StaleGold(ctx, corpus.ID)
		return respond(c, http.StatusOK, corpusDetail{Corpus: corpus, Embedders: d.Retrieval.Embedders().Names(), StaleGold: stale}, err)
	}
}

// handleImportDocuments imports the files of a multipart upload (field "files"), one at a
// time as they arrive, and reports every file's outcome. JSONL, CSV and .xlsx field names
// come as query parameters (slug_field, title_field, body_field, lang_field, tags_field), and
// the sheet of a workbook as sheet (default: the first).
func handleImportDocuments(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		corpus := corpusOf(c)
		m := retrieval.Mapping{Slug: c.Query("slug_field"), Title: c.Query("title_field"), Body: c.Query("body_field"),
			Lang: c.Query("lang_field"), Tags: c.Query("tags_field"), Sheet: c.Query("sheet")}
		// A corpus whose endpoint returns vectors of the wrong length is refused before any write.
		if err := d.Retrieval.CheckEmbedder(ctx, corpus); err != nil {
			return err
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxUploadBody)
		mr, err := c.Request.MultipartReader()
		if err != nil {
			return errs.E(errs.Invalid, "send the files as multipart/form-data in a field named \"files\": %v", err)
		}
		results := []retrieval.ImportResult{}
		var sum retrieval.ImportSummary
		seen := map[string]bool{}
		// Files already imported stay imported when a later part fails: the answer lists them,
		// and the failure as a result of its own, rather than an error that hides them.
		stop := func(where, format string, args ...any) {
			r := retrieval.ImportResult{Where: where, Outcome: "failed", Error: fmt.Sprintf(format, args...)}
			sum.Add(r)
			results = append(results, r)
		}
	parts:
		for {
			part, err := mr.NextPart()
			var tooLarge *http.MaxBytesError
			switch {
			case err == io.EOF:
				break parts
			case errors.As(err, &tooLarge):
				stop("upload", "the upload is over %d MiB: the files after this point were not read; send them again, fewer at once", maxUploadBody>>20)
				break parts
			case err != nil && sum.Files == 0:
				return errs.E(errs.Invalid, "read the upload: %v", err)
			case err != nil:
				stop("upload", "the upload broke off (%v): the files after this point were not read", err)
				break parts
			}
			name := part.FileName()
			if part.FormName() != "files" || name == "" {
				part.Close()
				continue
			}
			data, err := io.ReadAll(io.LimitReader(part, retrieval.MaxFileBytes+1))
			part.Close()
			sum.Files++
			switch {
			case errors.As(err, &tooLarge):
				stop(name, "the upload is over %d MiB: this file and the ones after it were not read; send them again, fewer at once", maxUploadBody>>20)
				break parts
			case err != nil:
				stop(name, "the upload broke off while reading this file (%v)", err)
				break parts
			case seen[name]:
				stop(name, "another file in this upload has the same name, which would make it a new version of that one")
				continue
			}
			seen[name] = true
			for _, r := range d.Retrieval.ImportFile(ctx, corpus, name, data, m) {
				// A sheet's or PDF's errors (*errs.Error) are told in the caller's language; the
				// older parsers' plain errors keep their English text.
				if e := (*errs.Error)(nil); errors.As(r.Err, &e) {
					r.Error = errs.Localize(r.Err, requestLang(c.Request))
				}
				sum.Add(r)
				results = append(results, r)
			}
		}
		if sum.Files == 0 {
			return errs.Field("files", "the upload has no files")
		}
		record(c, d, audit.Event{Action: audit.Import, ProjectID: &corpus.ProjectID, Target: "corpus:" + corpus.Slug,
			Details: map[string]any{"files": sum.Files, "added": sum.Added, "updated": sum.Updated, "failed": sum.Failed}})
		c.JSON(http.StatusOK, importReport{Results: results, Summary: sum})
		return nil
	}
}

// handleSearch searches one corpus and shows each passage's score parts:
// GET /search?corpus=ID&q=…&k=10&rrf_k=60&vector_weight=1&text_weight=1&document=ID&tag=T.
func handleSearch(d Deps) apiFunc {
	return func(c *gin.Context) error {
		corpus := corpusOf(c)
		q := retrieval.Query{CorpusIDs: []int64{corpus.ID}, Text: c.Query("q"), K: 10, Fusion: retrieval.DefaultFusion}
		for _, err := range []error{queryInt(c, "k", &q.K), queryInt(c, "rrf_k", &q.Fusion.RRFK),
			queryFloat(c, "vector_weight", &q.Fusion.VectorWeight), queryFloat(c, "text_weight", &q.Fusion.TextWeight)} {
			if err != nil {
				return err
			}
		}
		for _, v := range c.QueryArray("document") {
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return errs.Field("document", "%q is not a document id", v)
			}
			q.DocumentIDs = append(q.DocumentIDs, id)
		}
		q.Tags = c.QueryArray("tag")
		// The corpus the access check read: no second lookup (issue 17).
		res, err := d.Retrieval.SearchCorpus(c.Request.Context(), q, corpus)
		err = errs.AtField(err, func(field string) string {
			if field == "query" { // the question is ?q= here, not a body's "query"
				return "q"
			}
			return field
		})
		if res.Passages == nil {
			res.Passages = []retrieval.Passage{}
		}
		return respond(c, http.StatusOK, searchResult{Query: q, Passages: res.Passages, Note: res.Note}, err)
	}
}

func handleEvaluate(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in evaluateInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		// Each configuration is checked as the search it will run, so that a bad one is
		// refused by name even when there is nothing labelled to run it on.
		for i := range in.Configs {
			cfg := &in.Configs[i]
			if strings.TrimSpace(cfg.Name) == "" {
				cfg.Name = fmt.Sprintf("#%d", i+1)
			}
			if cfg.Fusion != (retrieval.Fusion{}) && cfg.Fusion.RRFK == 0 {
				cfg.Fusion.RRFK = retrieval.DefaultFusion.RRFK
			}
			q := retrieval.Query{CorpusIDs: []int64{corpusOf(c).ID}, Text: "x", K: cfg.K, Fusion: cfg.Fusion}
			if err := q.Validate(); err != nil {
				return errs.AtField(err, func(field string) string { return fmt.Sprintf("configs[%d].%s", i, field) })
			}
			cfg.Fusion = q.Fusion
		}
		results, err := d.Retrieval.Evaluate(c.Request.Context(), corpusOf(c).ID, in.Configs)
		return respond(c, http.StatusOK, evaluation{Results: results}, err)
	}
}

// handleMarkPassage records the caller's relevance grade for a passage shown with a turn.
func handleMarkPassage(d Deps) apiFunc {
	return func(c *gin.Context) error {
		chunkID, err := idParam(c, "chunk")
		if err != nil {
			return err
		}
		var in gradeInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		if in.Grade == nil {
			return errs.Field("grade", "is required: 0 (irrelevant), 1 (relevant) or 2 (highly relevant)")
		}
		m, err := d.Retrieval.SetMark(c.Request.Context(), retrieval.Mark{TurnID: turnOf(c).id, ChunkID: chunkID,
			TrainerID: principalOf(c).user.ID, Grade: *in.Grade})
		return respond(c, http.StatusOK, m, err)
	}
}

// turnPassage is a passage as the trainer's screen numbers it, with the caller's mark.
// Candidates of different prompt versions may have been given different lists, so AsCited
// says, per candidate position, the number that candidate's own citations use for it.
type turnPassage struct {
	N int `json:"n"`
	retrieval.Passage
	AsCited map[int]int `json:"as_cited"` // candidate position → its [n] for this passage
	Grade   *int        `json:"grade"`
}

// turnPassages numbers the passages a turn's candidates were given (see rlhf.PassageOrder).
func turnPassages(c *gin.Context, d Deps, t rlhf.Turn) ([]turnPassage, error) {
	lists := make([][]int64, len(t.Candidates))
	for i, cand := range t.Candidates {
		lists[i] = cand.PassageIDs
	}
	ids := rlhf.PassageOrder(lists...)
	out := []turnPassage{}
	if len(ids) == 0 {
		return out, nil
	}
	ctx := c.Request.Context()
	chunks, err := d.Retrieval.Chunks(ctx, ids)
	if err != nil {
		return nil, err
	}
	marks, err := d.Retrieval.Marks(ctx, t.ID, principalOf(c).user.ID)
	if err != nil {
		return nil, err
	}
	for i, p := range chunks {
		tp := turnPassage{N: i + 1, Passage: p, AsCited: map[int]int{}}
		for _, cand := range t.Candidates {
			if j := slices.Index(cand.PassageIDs, p.ChunkID); j >= 0 {
				tp.AsCited[cand.Position] = j + 1
			}
		}
		if g, ok := marks[p.ChunkID]; ok {
			tp.Grade = &g
		}
		out = append(out, tp)
	}
	return out, nil
}
