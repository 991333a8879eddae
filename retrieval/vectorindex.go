package retrieval

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
)

// An HNSW graph can be poor by chance: at 100k generated chunks about one build in four left
// some questions finding none of their 10 nearest chunks, at any ef_search, while the rest
// found all of theirs (the insert order of a parallel build and the levels drawn at random
// make each graph another; docs/retrieval.md, "Recall of the vector index"). Rebuilding draws
// another graph. So the check below measures the index's recall@10 on the questions trainers
// asked of it lately, against exact search, and the repair rebuilds the index while that is
// below the 0.95.
//
// Questions made up from the index's own chunks were tried first and do not tell graphs
// apart: a chunk's own vector found itself in a build whose questions had recall 0.83, and
// questions cut from chunks' text had recall 0.89 to 0.96 on builds whose real questions had
// 0.98 to 0.998. Recall is a property of the graph and the questions together; only the
// questions asked say what trainers get.

// VectorIndexCheck is what one check of a dimension's vector index found.
type VectorIndexCheck struct {
	Dimension int `json:"dimension"`
	Vectors   int `json:"vectors"` // current chunks with a vector in the index, when checked
	Questions int `json:"questions"`
	// Recall is recall@10 of the index against exact search over the questions: the share of
	// each question's exact 10 nearest (by distance, so ties count) the index returned, averaged.
	Recall float64 `json:"recall"`
	// NoneFound is how many questions got none of their exact 10 nearest from the index.
	NoneFound int `json:"none_found"`
}

// VectorIndexCheckRecord is a check as vector_index_checks keeps it, for the corpus page: when,
// whether the index was rebuilt after it or it followed a rebuild, and how
// DefaultVectorIndexPolicy judges it.
type VectorIndexCheckRecord struct {
	VectorIndexCheck
	CheckedAt    time.Time `json:"checked_at"`
	Rebuilt      bool      `json:"rebuilt"`
	AfterRebuild bool      `json:"after_rebuild"`
	Judged       bool      `json:"judged"` // enough questions to judge the index by
	Poor         bool      `json:"poor"`   // judged, and below the policy's recall
}

// judge fills in how the default policy judges r, when there is one.
func (r *VectorIndexCheckRecord) judge() {
	if r != nil {
		r.Judged = DefaultVectorIndexPolicy.Judges(r.VectorIndexCheck)
		r.Poor = DefaultVectorIndexPolicy.Poor(r.VectorIndexCheck)
	}
}

// VectorIndexQuestion is a question asked of a vector index, with the corpus it was asked of
// and that corpus's embedder: the question is embedded by it, and searched for among that
// corpus's chunks, as the vector list searches (one index serves every corpus of a dimension).
type VectorIndexQuestion struct {
	Text     string
	CorpusID int64
	Embedder string
}

// VectorIndexCheckQuestions is how many of the latest questions a check measures: 200, as
// the benchmark's recall is measured over. A poor build at 100k lost 10 to 33 of its 200.
const VectorIndexCheckQuestions = 200

// recentCandidates is how far back RecentQuestions looks: the latest 50,000 grounded
// candidates, several thousand turns of most indexes' questions.
const recentCandidates = 50_000

// RecentQuestions returns up to n of the latest distinct questions trainers' turns asked of the
// index of dim dimensions: the user messages of turns whose candidates were grounded in its
// chunks, each with the corpus of the first passage (a turn grounded in corpora of two
// dimensions counts for the first's).
func (s *Store) RecentQuestions(ctx context.Context, dim, n int) ([]VectorIndexQuestion, error) {
	// The latest grounded candidates only, newest first by their key, so that the check's
	// cost does not grow with the history.
	rows, _ := s.pool.Query(ctx, `SELECT content, corpus_id, embedder FROM (
			SELECT DISTINCT ON (m.content, co.id) m.content, co.id AS corpus_id, co.embedder, t.id
			FROM (SELECT turn_id, passage_ids[1] AS chunk_id FROM candidates WHERE cardinality(passage_ids) > 0
					ORDER BY id DESC LIMIT $3) ca
				JOIN chunks k ON k.id = ca.chunk_id JOIN corpora co ON co.id = k.corpus_id
				JOIN turns t ON t.id = ca.turn_id JOIN messages m ON m.id = t.user_message_id
			WHERE k.dimension = $1
			ORDER BY m.content, co.id, t.id DESC) q
		ORDER BY id DESC LIMIT $2`, dim, n, recentCandidates)
	var out []VectorIndexQuestion
	var q VectorIndexQuestion
	_, err := pgx.ForEachRow(rows, []any{&q.Text, &q.CorpusID, &q.Embedder}, func() error {
		out = append(out, q)
		return nil
	})
	return out, db.Error(err, "read the questions asked of the %d-dimension index", dim)
}

// VectorIndexCheckSQL searches the index of dim dimensions for each question's vector ($1)
// among its corpus's chunks ($2) as the vector list does (the same predicate, so the same
// partial index, with the pool's iterative scans, at the ef_search QueueEfSearch sets),
// searches exactly for its 10 nearest (the + 0 keeps the index out of the ordering), and
// returns, for each question, how many of the index's 10 are no farther than the exact 10th.
func VectorIndexCheckSQL(dim int) string {
	return fmt.Sprintf(`SELECT (SELECT count(*)::int FROM (
			SELECT embedding::vector(%[1]d) <=> p.v AS dist FROM chunks
			WHERE dimension = %[1]d AND current AND embedding IS NOT NULL AND corpus_id = p.corpus
			ORDER BY embedding::vector(%[1]d) <=> p.v LIMIT 10) n
		WHERE n.dist <= e.tenth + 1e-6)
	FROM unnest($1::vector[], $2::bigint[]) AS p(v, corpus),
		LATERAL (SELECT max(dist) AS tenth FROM (
			SELECT (embedding::vector(%[1]d) <=> p.v) + 0 AS dist FROM chunks
			WHERE dimension = %[1]d AND current AND embedding IS NOT NULL AND corpus_id = p.corpus
			ORDER BY 1 LIMIT 10) x) e`, dim)
}

// CheckVectorIndex measures the recall@10 of the vector index of dim dimensions on the
// latest n questions asked of it (RecentQuestions).
func (s *Store) CheckVectorIndex(ctx context.Context, dim, n int) (VectorIndexCheck, error) {
	questions, err := s.RecentQuestions(ctx, dim, n)
	if err != nil {
		return VectorIndexCheck{Dimension: dim}, err
	}
	return s.MeasureVectorIndex(ctx, dim, questions)
}

// MeasureVectorIndex measures the recall@10 of the vector index of dim dimensions on
// questions: each embedded by its embedder, searched for through the index at the ef_search a
// search of it runs at (QueueEfSearch), and exactly.
func (s *Store) MeasureVectorIndex(ctx context.Context, dim int, questions []VectorIndexQuestion) (VectorIndexCheck, error) {
	out := VectorIndexCheck{Dimension: dim}
	err := s.pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*)::int FROM chunks
		WHERE dimension = %d AND current AND embedding IS NOT NULL`, dim)).Scan(&out.Vectors)
	if err != nil {
		return out, db.Error(err, "count the vectors of the %d-dimension index", dim)
	}
	if out.Vectors < 10 {
		return out, nil // fewer than a search returns: nothing to miss
	}
	byEmbedder := map[string][]VectorIndexQuestion{}
	for _, q := range questions {
		byEmbedder[q.Embedder] = append(byEmbedder[q.Embedder], q)
	}
	var vs []pgvector.Vector
	var corpora []int64
	for _, name := range slices.Sorted(maps.Keys(byEmbedder)) {
		e, err := s.embedders.Get(name)
		if err != nil {
			return out, err
		}
		qs := byEmbedder[name]
		texts := make([]string, len(qs))
		for i, q := range qs {
			texts[i] = q.Text
		}
		vectors, err := e.Embed(ctx, texts)
		if err != nil {
			return out, fmt.Errorf("embed the check's questions with %s: %w", name, err)
		}
		for i, v := range vectors {
			if slices.ContainsFunc(v, func(x float32) bool { return x != 0 }) { // a zero vector has no direction
				vs = append(vs, pgvector.NewVector(v))
				corpora = append(corpora, qs[i].CorpusID)
			}
		}
	}
	if len(vs) == 0 {
		return out, nil
	}
	b := &pgx.Batch{}
	QueueEfSearch(b, dim, 10)
	var hits int
	b.Queue(VectorIndexCheckSQL(dim), vs, corpora).Query(func(rows pgx.Rows) error {
		var h int
		_, err := pgx.ForEachRow(rows, []any{&h}, func() error {
			out.Questions++
			hits += h
			if h == 0 {
				out.NoneFound++
			}
			return nil
		})
		return err
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return out, db.Error(err, "check the %d-dimension vector index", dim)
	}
	out.Recall = float64(hits) / float64(10*out.Questions)
	return out, nil
}

// VectorIndexPolicy is when a repair rebuilds an index.
type VectorIndexPolicy struct {
	Questions int // the latest questions a check measures
	// MinQuestions is the fewest a check must have to judge the index: over fewer, recall
	// swings too much from question to question to say anything of the graph.
	MinQuestions int
	MinRecall    float64 // the lowest recall@10 an index may have before it is rebuilt
	Rebuilds     int     // the most rebuilds one repair makes
}

// DefaultVectorIndexPolicy is what the periodic job and `mentor vector-index repair` use: a
// rebuild when recall@10 on the latest 200 questions (at least 50) is below 0.95, the issue's
// target. Each rebuild draws another graph, so three in a row that stay poor mean something
// other than chance, and the checks kept say so.
var DefaultVectorIndexPolicy = VectorIndexPolicy{Questions: VectorIndexCheckQuestions, MinQuestions: 50, MinRecall: 0.95, Rebuilds: 3}

// Judges says whether check had enough questions to judge the index by.
func (p VectorIndexPolicy) Judges(check VectorIndexCheck) bool {
	return check.Questions >= p.MinQuestions
}

// Poor says whether check found the index poor enough to rebuild.
func (p VectorIndexPolicy) Poor(check VectorIndexCheck) bool {
	return p.Judges(check) && check.Recall < p.MinRecall
}

// VectorIndexRepair is what one repair of a dimension's index did: every check, in order, how
// many times it rebuilt the index between them, and whether the last check found it poor
// (Healthy is also true when there were too few questions to judge it).
type VectorIndexRepair struct {
	Checks   []VectorIndexCheck `json:"checks"`
	Rebuilds int                `json:"rebuilds"`
	Healthy  bool               `json:"healthy"`
}

// VectorIndexDimensions lists the dimensions that have a vector index: those of the corpora
// whose index exists.
func (s *Store) VectorIndexDimensions(ctx context.Context) ([]int, error) {
	rows, _ := s.pool.Query(ctx, `SELECT DISTINCT dimension FROM corpora
		WHERE to_regclass('chunks_embedding_' || dimension) IS NOT NULL ORDER BY dimension`)
	dims, err := pgx.CollectRows(rows, pgx.RowTo[int])
	return dims, db.Error(err, "list the vector indexes")
}

// RepairVectorIndex checks the vector index of dim dimensions and, while the policy finds it
// poor and fewer than its rebuilds were made, rebuilds it and checks again.
// It keeps every check in vector_index_checks. The rebuild is REINDEX CONCURRENTLY: searches
// and writes go on meanwhile, against the old graph until the new one replaces it, at the
// cost of a second index's disk until then.
func (s *Store) RepairVectorIndex(ctx context.Context, dim int, policy VectorIndexPolicy) (VectorIndexRepair, error) {
	questions, err := s.RecentQuestions(ctx, dim, policy.Questions)
	if err != nil {
		return VectorIndexRepair{}, err
	}
	return s.RepairVectorIndexOn(ctx, dim, policy, questions)
}

// RepairVectorIndexOn is RepairVectorIndex on given questions, checking each graph with the
// same ones: the benchmark's, which stand for its trainers'.
func (s *Store) RepairVectorIndexOn(ctx context.Context, dim int, policy VectorIndexPolicy, questions []VectorIndexQuestion) (VectorIndexRepair, error) {
	var out VectorIndexRepair
	// One repair of an index at a time, whoever runs it (each replica's job, the CLI): two
	// would judge the same graph and both rebuild it. The lock is the session's, so it is
	// held on a connection kept for the repair.
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return out, db.Error(err, "connect to repair the %d-dimension vector index", dim)
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext('mentor.vector_index_repair'), $1)`, dim).Scan(&locked); err != nil {
		return out, db.Error(err, "lock the %d-dimension vector index for its repair", dim)
	}
	if !locked {
		return out, errs.E(errs.Conflict, "the %d-dimension vector index is being repaired already", dim)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext('mentor.vector_index_repair'), $1)`, dim) //nolint:errcheck // the session's end releases it too
	for {
		check, err := s.MeasureVectorIndex(ctx, dim, questions)
		if err != nil {
			return out, err
		}
		out.Checks = append(out.Checks, check)
		out.Healthy = !policy.Poor(check)
		var id int64
		if err := s.pool.QueryRow(ctx, `INSERT INTO vector_index_checks (dimension, vectors, questions, recall, none_found, rebuilt)
			VALUES ($1, $2, $3, $4, $5, false) RETURNING id`, dim, check.Vectors, check.Questions, check.Recall, check.NoneFound).Scan(&id); err != nil {
			return out, db.Error(err, "record the check of the %d-dimension vector index", dim)
		}
		if out.Healthy || out.Rebuilds == policy.Rebuilds {
			return out, nil
		}
		if err := s.RebuildVectorIndex(ctx, dim); err != nil {
			return out, err
		}
		out.Rebuilds++
		// Only a rebuild that finished says so.
		if _, err := s.pool.Exec(ctx, `UPDATE vector_index_checks SET rebuilt = true WHERE id = $1`, id); err != nil {
			return out, db.Error(err, "record the check of the %d-dimension vector index", dim)
		}
	}
}

// RebuildVectorIndex builds the index of dim dimensions again, beside the old one, with the
// server's maintenance_work_mem as the index's first build had (a larger one can exceed a
// container's shared memory in a parallel build). A rebuild cut off leaves an invalid copy
// named _ccnew (before the swap) or _ccold (after it), which would be kept up to date on every
// write and never searched; both are dropped first.
func (s *Store) RebuildVectorIndex(ctx context.Context, dim int) error {
	name := fmt.Sprintf("chunks_embedding_%d", dim)
	for _, leftover := range []string{name + "_ccnew", name + "_ccold"} {
		if _, err := s.pool.Exec(ctx, `DROP INDEX CONCURRENTLY IF EXISTS `+leftover); err != nil {
			return db.Error(err, "drop an unfinished rebuild of %s", name)
		}
	}
	_, err := s.pool.Exec(ctx, `REINDEX INDEX CONCURRENTLY `+name)
	return db.Error(err, "rebuild %s", name)
}
