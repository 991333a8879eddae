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

// VectorIndexCheckRecord is a check as vector_index_checks keeps it: when, and whether the
// index was rebuilt after it.
type VectorIndexCheckRecord struct {
	VectorIndexCheck
	CheckedAt time.Time `json:"checked_at"`
	Rebuilt   bool      `json:"rebuilt"`
}

// VectorIndexQuestion is a question asked of a vector index, with the embedder of the corpus
// it was asked of: the index holds that embedder's vectors, so the question is embedded by it.
type VectorIndexQuestion struct {
	Text     string
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
// chunks.
func (s *Store) RecentQuestions(ctx context.Context, dim, n int) ([]VectorIndexQuestion, error) {
	// The latest grounded candidates only, newest first by their key, so that the check's
	// cost does not grow with the history.
	rows, _ := s.pool.Query(ctx, `SELECT content, embedder FROM (
			SELECT DISTINCT ON (m.content, co.embedder) m.content, co.embedder, t.id
			FROM (SELECT turn_id, passage_ids[1] AS chunk_id FROM candidates WHERE cardinality(passage_ids) > 0
					ORDER BY id DESC LIMIT $3) ca
				JOIN chunks k ON k.id = ca.chunk_id JOIN corpora co ON co.id = k.corpus_id
				JOIN turns t ON t.id = ca.turn_id JOIN messages m ON m.id = t.user_message_id
			WHERE k.dimension = $1
			ORDER BY m.content, co.embedder, t.id DESC) q
		ORDER BY id DESC LIMIT $2`, dim, n, recentCandidates)
	var out []VectorIndexQuestion
	var q VectorIndexQuestion
	_, err := pgx.ForEachRow(rows, []any{&q.Text, &q.Embedder}, func() error {
		out = append(out, q)
		return nil
	})
	return out, db.Error(err, "read the questions asked of the %d-dimension index", dim)
}

// vectorIndexCheckSQL searches the index of dim dimensions for each question's vector ($1) as
// the vector list does (the same predicate, so the same partial index, at the ef_search
// QueueEfSearch sets), searches exactly for its 10 nearest (the + 0 keeps the index out of
// the ordering), and returns, for each question, how many of the index's 10 are no farther
// than the exact 10th.
func vectorIndexCheckSQL(dim int) string {
	return fmt.Sprintf(`SELECT (SELECT count(*)::int FROM (
			SELECT embedding::vector(%[1]d) <=> p.v AS dist FROM chunks
			WHERE dimension = %[1]d AND current AND embedding IS NOT NULL
			ORDER BY embedding::vector(%[1]d) <=> p.v LIMIT 10) n
		WHERE n.dist <= e.tenth + 1e-6)
	FROM unnest($1::vector[]) AS p(v),
		LATERAL (SELECT max(dist) AS tenth FROM (
			SELECT (embedding::vector(%[1]d) <=> p.v) + 0 AS dist FROM chunks
			WHERE dimension = %[1]d AND current AND embedding IS NOT NULL
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
	byEmbedder := map[string][]string{}
	for _, q := range questions {
		byEmbedder[q.Embedder] = append(byEmbedder[q.Embedder], q.Text)
	}
	var vs []pgvector.Vector
	for _, name := range slices.Sorted(maps.Keys(byEmbedder)) {
		e, err := s.embedders.Get(name)
		if err != nil {
			return out, err
		}
		vectors, err := e.Embed(ctx, byEmbedder[name])
		if err != nil {
			return out, fmt.Errorf("embed the check's questions with %s: %w", name, err)
		}
		for _, v := range vectors {
			if slices.ContainsFunc(v, func(x float32) bool { return x != 0 }) { // a zero vector has no direction
				vs = append(vs, pgvector.NewVector(v))
			}
		}
	}
	if len(vs) == 0 {
		return out, nil
	}
	b := &pgx.Batch{}
	QueueEfSearch(b, dim, 10)
	var hits int
	b.Queue(vectorIndexCheckSQL(dim), vs).Query(func(rows pgx.Rows) error {
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
	for {
		check, err := s.MeasureVectorIndex(ctx, dim, questions)
		if err != nil {
			return out, err
		}
		out.Checks = append(out.Checks, check)
		out.Healthy = !policy.Poor(check)
		rebuild := !out.Healthy && out.Rebuilds < policy.Rebuilds
		if _, err := s.pool.Exec(ctx, `INSERT INTO vector_index_checks (dimension, vectors, questions, recall, none_found, rebuilt)
			VALUES ($1, $2, $3, $4, $5, $6)`, dim, check.Vectors, check.Questions, check.Recall, check.NoneFound, rebuild); err != nil {
			return out, db.Error(err, "record the check of the %d-dimension vector index", dim)
		}
		if !rebuild {
			return out, nil
		}
		if err := s.RebuildVectorIndex(ctx, dim); err != nil {
			return out, err
		}
		out.Rebuilds++
	}
}

// RebuildVectorIndex builds the index of dim dimensions again, beside the old one. A rebuild
// that was cut off leaves an invalid copy named _ccnew, which would be kept up to date on
// every write and never searched; it is dropped first.
func (s *Store) RebuildVectorIndex(ctx context.Context, dim int) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return db.Error(err, "connect to rebuild the %d-dimension vector index", dim)
	}
	defer conn.Release()
	name := fmt.Sprintf("chunks_embedding_%d", dim)
	if _, err := conn.Exec(ctx, `DROP INDEX CONCURRENTLY IF EXISTS `+name+`_ccnew`); err != nil {
		return db.Error(err, "drop an unfinished rebuild of %s", name)
	}
	// The graph builds in memory up to maintenance_work_mem and far more slowly beyond it.
	if _, err := conn.Exec(ctx, `SET maintenance_work_mem = '1GB'`); err != nil {
		return db.Error(err, "give the rebuild of %s its memory", name)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `RESET maintenance_work_mem`) //nolint:errcheck // the connection goes back to the pool either way
	_, err = conn.Exec(ctx, `REINDEX INDEX CONCURRENTLY `+name)
	return db.Error(err, "rebuild %s", name)
}
