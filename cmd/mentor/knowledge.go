package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/jobs"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/retrieval"
)

// embeddingsConfig is the optional OpenAI-compatible embeddings endpoint; corpora use the
// offline embedder otherwise.
type embeddingsConfig struct {
	url, model, keyEnv string
	dimension, rpm     int
}

func (c *embeddingsConfig) register(f *flagSet) {
	f.StringVar(&c.url, "embeddings-url", "", "base URL of an OpenAI-compatible embeddings endpoint (…/v1); corpora can then choose its model")
	f.env("embeddings-url", "MENTOR_EMBEDDINGS_URL")
	f.StringVar(&c.model, "embeddings-model", "", "the embeddings endpoint's model, as corpora name it")
	f.env("embeddings-model", "MENTOR_EMBEDDINGS_MODEL")
	f.IntVar(&c.dimension, "embeddings-dimension", 0, "dimensions the embeddings model returns (fixed per corpus)")
	f.env("embeddings-dimension", "MENTOR_EMBEDDINGS_DIMENSION")
	f.StringVar(&c.keyEnv, "embeddings-key-env", "MENTOR_EMBEDDINGS_API_KEY", "the environment variable holding the embeddings endpoint's API key")
	f.IntVar(&c.rpm, "embeddings-rpm", 0, "requests per minute to the embeddings endpoint (0: no limit)")
	f.env("embeddings-rpm", "MENTOR_EMBEDDINGS_RPM")
}

// embedders returns the offline embedder plus the configured endpoint's.
func (c embeddingsConfig) embedders(f *flagSet, getenv func(string) string) (*retrieval.Embedders, error) {
	if c.url == "" && c.model == "" {
		return retrieval.NewEmbedders(), nil
	}
	if c.url == "" || c.model == "" || c.dimension == 0 {
		return nil, fmt.Errorf("%s, %s and %s go together: set all three or none",
			f.source("embeddings-url"), f.source("embeddings-model"), f.source("embeddings-dimension"))
	}
	e, err := retrieval.NewOpenAIEmbedder(retrieval.OpenAIEmbedderConfig{BaseURL: c.url, APIKey: getenv(c.keyEnv), Model: c.model,
		Dimension: c.dimension, RequestsPerMinute: c.rpm})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.source("embeddings-url"), err)
	}
	return retrieval.NewEmbedders(e), nil
}

// knowledgeFlags are what import and search share: the database, the project and corpus,
// and the embedders.
type knowledgeFlags struct {
	databaseURL, project, corpus string
	embeddings                   embeddingsConfig
}

func (k *knowledgeFlags) register(f *flagSet) {
	f.StringVar(&k.databaseURL, "database-url", "", "PostgreSQL URL")
	f.env("database-url", "DATABASE_URL")
	f.StringVar(&k.project, "project", "", "the project's slug")
	f.StringVar(&k.corpus, "corpus", "", "the corpus's slug")
	k.embeddings.register(f)
}

// open connects, migrates, and finds the project and corpus; with create, a missing corpus
// is created with embedder.
func (k *knowledgeFlags) open(ctx context.Context, f *flagSet, getenv func(string) string, create bool, embedder string, stderr io.Writer) (*pgxpool.Pool, *retrieval.Store, retrieval.Corpus, error) {
	var corpus retrieval.Corpus
	if k.project == "" || k.corpus == "" {
		return nil, nil, corpus, fmt.Errorf("name the project and the corpus: --project SLUG --corpus SLUG")
	}
	if err := checkDatabaseURL(f, k.databaseURL); err != nil {
		return nil, nil, corpus, err
	}
	embedders, err := k.embeddings.embedders(f, getenv)
	if err != nil {
		return nil, nil, corpus, err
	}
	pool, err := openMigrated(ctx, f, k.databaseURL)
	if err != nil {
		return nil, nil, corpus, err
	}
	fail := func(err error) (*pgxpool.Pool, *retrieval.Store, retrieval.Corpus, error) {
		pool.Close()
		return nil, nil, corpus, err
	}
	// Imports only queue embedding jobs; a running `mentor serve` works them off.
	queue, err := jobs.NewInserter(pool)
	if err != nil {
		return fail(err)
	}
	store := retrieval.NewStore(pool, embedders, queue)
	project, err := prompts.NewStore(pool).ProjectBySlug(ctx, k.project)
	if err != nil {
		return fail(fmt.Errorf("--project: %s", errs.Message(err)))
	}
	corpus, err = store.CorpusBySlug(ctx, project.ID, k.corpus)
	if errs.KindOf(err) == errs.NotFound && create {
		corpus, err = store.CreateCorpus(ctx, retrieval.Corpus{ProjectID: project.ID, Slug: k.corpus, Name: k.corpus, Embedder: embedder})
		if err == nil {
			fmt.Fprintf(stderr, "created corpus %s in project %s (embedder %s, %d dimensions)\n", corpus.Slug, project.Slug, corpus.Embedder, corpus.Dimension)
		}
	}
	if err != nil {
		return fail(fmt.Errorf("--corpus: %s", errs.Message(err)))
	}
	return pool, store, corpus, nil
}

// runImport imports files and folders into a corpus:
//
//	mentor import documents --project demo --corpus customs-kb docs/ faq.jsonl
func runImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var k knowledgeFlags
	var embedder string
	var m retrieval.Mapping
	f := newFlagSet("mentor import documents", "PATH…",
		"Imports .txt, .md, .html, .docx, .jsonl, .csv, .xlsx and .pdf files, and folders of them, into a corpus. "+
			"Unchanged documents are skipped; changed ones become new versions.", stderr)
	k.register(f)
	f.StringVar(&embedder, "embedder", retrieval.OfflineEmbedderName, "for a new corpus: its embedder (fixed for the corpus's life)")
	f.StringVar(&m.Slug, "slug-field", "", "JSONL/CSV: the field holding each document's slug (default slug; else file#line)")
	f.StringVar(&m.Title, "title-field", "", "JSONL/CSV: the field holding the title (default title)")
	f.StringVar(&m.Body, "body-field", "", "JSONL/CSV: the field holding the text (default body)")
	f.StringVar(&m.Lang, "lang-field", "", "JSONL/CSV: the field holding zh-CN or en (default lang; else guessed)")
	f.StringVar(&m.Tags, "tags-field", "", "JSONL/CSV: the field holding tags (default tags)")
	f.StringVar(&m.Sheet, "sheet", "", ".xlsx: the sheet to read (default: the first); its header row names the fields, as in CSV")
	if len(args) == 0 || args[0] != "documents" {
		f.parse(args, getenv) //nolint:errcheck // only to print the usage
		f.Usage()
		return fmt.Errorf("%w: say what to import: mentor import documents …", errUsage)
	}
	if err := f.parse(args[1:], getenv); err != nil {
		return err
	}
	if f.NArg() == 0 {
		return fmt.Errorf("name at least one file or folder to import")
	}
	files, skipped, err := collectFiles(f.Args())
	if err != nil {
		return err
	}
	// A slug is a file's name (or its path below an imported folder): two files with one
	// slug would silently become two versions of one document.
	bySlug := map[string]string{}
	for _, file := range files {
		if other, dup := bySlug[file.name]; dup {
			return fmt.Errorf("%s and %s would both be document %q: import their folder instead, so that their paths tell them apart", other, file.path, file.name)
		}
		bySlug[file.name] = file.path
	}
	pool, store, corpus, err := k.open(ctx, f, getenv, true, embedder, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := store.CheckEmbedder(ctx, corpus); err != nil {
		return errors.New(errs.Message(err))
	}

	var sum retrieval.ImportSummary
	bar := newProgress(stderr, len(files))
	for _, sf := range skipped {
		fmt.Fprintf(stdout, "skipped   %s: unsupported file type\n", sf)
	}
	for i, file := range files {
		bar.show(i, file.name)
		data, err := os.ReadFile(file.path)
		var results []retrieval.ImportResult
		if err != nil {
			results = []retrieval.ImportResult{{Where: file.name, Outcome: "failed", Error: err.Error()}}
		} else {
			results = store.ImportFile(ctx, corpus, file.name, data, m)
		}
		sum.Files++
		for _, r := range results {
			sum.Add(r)
			bar.clear()
			switch {
			case r.Error != "":
				fmt.Fprintf(stdout, "failed    %s: %s\n", r.Where, r.Error)
			case r.StaleGold > 0:
				fmt.Fprintf(stdout, "%-9s %s (v%d, %d chunks; %d gold replies cite the old version and are now stale)\n", r.Outcome, r.Where, r.Version, r.Chunks, r.StaleGold)
			default:
				fmt.Fprintf(stdout, "%-9s %s (v%d, %d chunks)\n", r.Outcome, r.Where, r.Version, r.Chunks)
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	bar.clear()
	fmt.Fprintf(stdout, "\n%d files, %d skipped: %d documents added, %d updated, %d unchanged, %d failed; %d chunks written",
		sum.Files, len(skipped), sum.Added, sum.Updated, sum.Unchanged, sum.Failed, sum.Chunks)
	if sum.StaleGold > 0 {
		fmt.Fprintf(stdout, "; %d gold replies are now stale", sum.StaleGold)
	}
	fmt.Fprintln(stdout)
	if e, _ := store.Embedders().Get(corpus.Embedder); e != nil && !e.Local() && sum.Chunks > 0 {
		fmt.Fprintln(stdout, "Embedding runs in the background: `mentor serve` works off the queued jobs, and the corpus page shows progress.")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("import interrupted after %d files: %w", sum.Files, err)
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d of %d documents failed (see above)", sum.Failed, sum.Added+sum.Updated+sum.Unchanged+sum.Failed)
	}
	return nil
}

type importFile struct{ path, name string }

// collectFiles expands folders into their supported files; the name of a file found in a
// folder is its path below that folder, which becomes its slug. Hidden files are left out,
// and files of other types found in folders are reported as skipped.
func collectFiles(paths []string) (files []importFile, skipped []string, err error) {
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot read %s: %w", p, err)
		}
		if !info.IsDir() {
			files = append(files, importFile{path: p, name: filepath.Base(p)})
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if strings.HasPrefix(d.Name(), ".") && path != p {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(p, path)
			rel = filepath.ToSlash(rel)
			if !slices.Contains(retrieval.SupportedExtensions, strings.ToLower(filepath.Ext(path))) {
				skipped = append(skipped, rel)
				return nil
			}
			files = append(files, importFile{path: path, name: rel})
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("cannot read %s: %w", p, err)
		}
	}
	return files, skipped, nil
}

// progress draws a bar on a terminal; elsewhere (a pipe, a log) it stays quiet and the
// per-file lines tell the story.
type progress struct {
	w     io.Writer
	total int
	tty   bool
}

func newProgress(w io.Writer, total int) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progress{w: w, total: total, tty: tty}
}

func (p *progress) show(done int, current string) {
	if !p.tty || p.total == 0 {
		return
	}
	const width = 30
	filled := done * width / p.total
	fmt.Fprintf(p.w, "\r\033[K[%s%s] %d/%d %s", strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, p.total, current)
}

func (p *progress) clear() {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// runSearch searches a corpus from the command line:
//
//	mentor search --project demo --corpus customs-kb 邮寄物品免税额
func runSearch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var k knowledgeFlags
	q := retrieval.Query{Fusion: retrieval.DefaultFusion}
	var asJSON bool
	f := newFlagSet("mentor search", "QUERY", "Searches a corpus with hybrid vector and full-text search, and shows each passage's score parts.", stderr)
	k.register(f)
	f.IntVar(&q.K, "k", 10, "how many passages")
	f.IntVar(&q.Fusion.RRFK, "rrf-k", 60, "reciprocal rank fusion's k")
	f.Float64Var(&q.Fusion.VectorWeight, "vector-weight", 1, "weight of the vector list (0 leaves it out)")
	f.Float64Var(&q.Fusion.TextWeight, "text-weight", 1, "weight of the full-text list (0 leaves it out)")
	f.BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	if err := f.parse(args, getenv); err != nil {
		return err
	}
	q.Text = strings.Join(f.Args(), " ")
	pool, store, corpus, err := k.open(ctx, f, getenv, false, "", stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	q.CorpusIDs = []int64{corpus.ID}
	passages, err := store.Search(ctx, q)
	if err != nil {
		return errors.New(errs.Message(err))
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(passages)
	}
	if len(passages) == 0 {
		fmt.Fprintln(stdout, "no passages found")
		return nil
	}
	rank := func(r *int, s *float64) string {
		if r == nil {
			return "–"
		}
		return fmt.Sprintf("#%d (%.3f)", *r, *s)
	}
	for i, p := range passages {
		text := []rune(strings.Join(strings.Fields(p.Text), " "))
		if len(text) > 80 {
			text = append(text[:80], '…')
		}
		fmt.Fprintf(stdout, "%2d. %.4f  vector %-14s text %-14s %s v%d #%d %s\n    %s\n", i+1, p.Score,
			rank(p.VectorRank, p.VectorScore), rank(p.TextRank, p.TextScore), p.Slug, p.Version, p.Position,
			strings.Join(p.HeadingPath, " › "), string(text))
	}
	return nil
}
