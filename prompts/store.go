package prompts

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
)

// Store reads and writes projects, personas, rubrics and prompt versions.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a Store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const projectColumns = `id, slug, name, description, blind_ranking, created_at, updated_at`

// CreateProject stores a new project.
func (s *Store) CreateProject(ctx context.Context, p Project) (Project, error) {
	if err := p.Validate(); err != nil {
		return Project{}, err
	}
	rows, _ := s.pool.Query(ctx, `INSERT INTO projects (slug, name, description, blind_ranking)
		VALUES ($1, $2, $3, $4) RETURNING `+projectColumns, p.Slug, p.Name, p.Description, p.BlindRanking)
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Project])
	return out, db.Error(err, "create project %q", p.Slug)
}

// UpdateProject changes a project's name, description and blind-ranking setting.
func (s *Store) UpdateProject(ctx context.Context, p Project) (Project, error) {
	if err := p.Validate(); err != nil {
		return Project{}, err
	}
	rows, _ := s.pool.Query(ctx, `UPDATE projects SET name = $2, description = $3, blind_ranking = $4, updated_at = now()
		WHERE id = $1 RETURNING `+projectColumns, p.ID, p.Name, p.Description, p.BlindRanking)
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Project])
	return out, db.Error(err, "project %d", p.ID)
}

// Projects lists every project, oldest first.
func (s *Store) Projects(ctx context.Context) ([]Project, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+projectColumns+` FROM projects ORDER BY id`)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Project])
	return out, db.Error(err, "list projects")
}

// Project returns the project with id.
func (s *Store) Project(ctx context.Context, id int64) (Project, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = $1`, id)
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Project])
	return out, db.Error(err, "project %d", id)
}

// QueueProject queues Project's lookup on b, for a caller that asks other stores in the
// same round trip (the access check).
func (s *Store) QueueProject(b *pgx.Batch, id int64) *db.Pending[Project] {
	return db.Queue(b, pgx.RowToStructByName[Project], errs.P("project %d", id), `SELECT `+projectColumns+` FROM projects WHERE id = $1`, id)
}

// QueueProjectBySlug queues ProjectBySlug's lookup on b.
func (s *Store) QueueProjectBySlug(b *pgx.Batch, slug string) *db.Pending[Project] {
	return db.Queue(b, pgx.RowToStructByName[Project], errs.P("project %q", slug), `SELECT `+projectColumns+` FROM projects WHERE slug = $1`, slug)
}

// ProjectBySlug returns the project called slug.
func (s *Store) ProjectBySlug(ctx context.Context, slug string) (Project, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+projectColumns+` FROM projects WHERE slug = $1`, slug)
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Project])
	return out, db.Error(err, "project %q", slug)
}

const personaColumns = `id, project_id, slug, kind, name, name_en, description, description_en, locale,
	avatar_color, avatar_initials, created_at, updated_at`

// CreatePersona stores a new persona with the default rubric for its kind.
func (s *Store) CreatePersona(ctx context.Context, p Persona) (Persona, error) {
	if err := p.Validate(); err != nil {
		return Persona{}, err
	}
	var out Persona
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `INSERT INTO personas (project_id, slug, kind, name, name_en, description,
			description_en, locale, avatar_color, avatar_initials)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING `+personaColumns,
			p.ProjectID, p.Slug, p.Kind, p.Name, p.NameEN, p.Description, p.DescriptionEN, p.Locale,
			p.AvatarColor, p.AvatarInitials)
		var err error
		if out, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Persona]); err != nil {
			return err
		}
		return insertRubric(ctx, tx, out.ID, DefaultRubric(out.Kind))
	})
	return out, db.Error(err, "create persona %q in project %d", p.Slug, p.ProjectID)
}

// UpdatePersona changes a persona's fields; its project and slug stay.
func (s *Store) UpdatePersona(ctx context.Context, p Persona) (Persona, error) {
	if err := p.Validate(); err != nil {
		return Persona{}, err
	}
	rows, _ := s.pool.Query(ctx, `UPDATE personas SET kind = $2, name = $3, name_en = $4, description = $5,
		description_en = $6, locale = $7, avatar_color = $8, avatar_initials = $9, updated_at = now()
		WHERE id = $1 RETURNING `+personaColumns,
		p.ID, p.Kind, p.Name, p.NameEN, p.Description, p.DescriptionEN, p.Locale, p.AvatarColor, p.AvatarInitials)
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Persona])
	return out, db.Error(err, "persona %d", p.ID)
}

// Personas lists a project's personas.
func (s *Store) Personas(ctx context.Context, projectID int64) ([]Persona, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+personaColumns+` FROM personas WHERE project_id = $1 ORDER BY id`, projectID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Persona])
	return out, db.Error(err, "list personas of project %d", projectID)
}

// Persona returns the persona with id.
func (s *Store) Persona(ctx context.Context, id int64) (Persona, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+personaColumns+` FROM personas WHERE id = $1`, id)
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Persona])
	return out, db.Error(err, "persona %d", id)
}

// QueuePersona queues Persona's lookup on b, for a caller that asks other stores in the
// same round trip (the access check).
func (s *Store) QueuePersona(b *pgx.Batch, id int64) *db.Pending[Persona] {
	return db.Queue(b, pgx.RowToStructByName[Persona], errs.P("persona %d", id), `SELECT `+personaColumns+` FROM personas WHERE id = $1`, id)
}

// Lookups for a live session's command, queued with the others it needs so that all of them
// take one round trip (issue 12).

// QueueProjectOfPersona queues the lookup of a persona's project on b.
func (s *Store) QueueProjectOfPersona(b *pgx.Batch, personaID int64) *db.Pending[Project] {
	return db.Queue(b, pgx.RowToStructByName[Project], errs.P("project of persona %d", personaID),
		`SELECT `+projectColumns+` FROM projects WHERE id = (SELECT project_id FROM personas WHERE id = $1)`, personaID)
}

// QueueVersions queues Versions' lookup on b: once the batch is sent, *out holds the persona's
// versions, newest first.
func (s *Store) QueueVersions(b *pgx.Batch, personaID int64, out *[]Version) {
	b.Queue(`SELECT `+versionColumns+` FROM prompt_versions v WHERE v.persona_id = $1 ORDER BY v.version DESC`, personaID).
		Query(func(rows pgx.Rows) error {
			vs, err := pgx.CollectRows(rows, pgx.RowToStructByName[Version])
			*out = vs
			return db.Error(err, "versions of persona %d", personaID)
		})
}

// Rubric returns a persona's dimensions in display order.
func (s *Store) Rubric(ctx context.Context, personaID int64) ([]Dimension, error) {
	rows, _ := s.pool.Query(ctx, `SELECT key, axis, label, label_en, guide, guide_en, scale_min, scale_max
		FROM rubric_dimensions WHERE persona_id = $1 ORDER BY position`, personaID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Dimension])
	return out, db.Error(err, "rubric of persona %d", personaID)
}

// ReplaceRubric swaps a persona's whole rubric for dims.
func (s *Store) ReplaceRubric(ctx context.Context, personaID int64, dims []Dimension) error {
	if err := ValidateRubric(dims); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT true FROM personas WHERE id = $1 FOR UPDATE`, personaID).Scan(&exists); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM rubric_dimensions WHERE persona_id = $1`, personaID); err != nil {
			return err
		}
		return insertRubric(ctx, tx, personaID, dims)
	})
	return db.Error(err, "rubric of persona %d", personaID)
}

func insertRubric(ctx context.Context, tx pgx.Tx, personaID int64, dims []Dimension) error {
	rows := make([][]any, len(dims))
	for i, d := range dims {
		rows[i] = []any{personaID, d.Key, d.Axis, d.Label, d.LabelEN, d.Guide, d.GuideEN, d.ScaleMin, d.ScaleMax, i}
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"rubric_dimensions"},
		[]string{"persona_id", "key", "axis", "label", "label_en", "guide", "guide_en", "scale_min", "scale_max", "position"},
		pgx.CopyFromRows(rows))
	return err
}

const versionColumns = `v.id, v.persona_id, v.version, v.template, v.model, v.temperature, v.top_p, v.max_tokens,
	v.retrieval_k, v.rrf_k, v.vector_weight, v.text_weight, v.change_note, v.author, v.created_at,
	coalesce((SELECT array_agg(corpus_id ORDER BY corpus_id) FROM prompt_version_corpora c WHERE c.prompt_version_id = v.id), '{}') AS corpus_ids`

// PublishVersion stores v as the persona's next version number. The corpora must belong to
// the persona's project.
func (s *Store) PublishVersion(ctx context.Context, personaID int64, v Version) (Version, error) {
	var out Version
	if v.RRFK == 0 {
		v.RRFK = 60
	}
	if v.VectorWeight == 0 && v.TextWeight == 0 {
		v.VectorWeight, v.TextWeight = 1, 1
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Locking the persona serialises publishers, so version numbers never collide.
		var projectID int64
		if err := tx.QueryRow(ctx, `SELECT project_id FROM personas WHERE id = $1 FOR UPDATE`, personaID).Scan(&projectID); err != nil {
			return err
		}
		if len(v.CorpusIDs) > 0 {
			var found int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM corpora WHERE project_id = $1 AND id = ANY($2)`,
				projectID, v.CorpusIDs).Scan(&found); err != nil {
				return err
			}
			if found != len(v.CorpusIDs) {
				return errs.Field("corpus_ids", "every corpus must exist in the persona's project (found %d of %d)", found, len(v.CorpusIDs))
			}
		}
		var id int64
		err := tx.QueryRow(ctx, `INSERT INTO prompt_versions (persona_id, version, template, model, temperature, top_p,
			max_tokens, retrieval_k, rrf_k, vector_weight, text_weight, change_note, author)
			SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 FROM prompt_versions WHERE persona_id = $1
			RETURNING id`, personaID, v.Template, v.Model, v.Temperature, v.TopP, v.MaxTokens, v.RetrievalK,
			v.RRFK, v.VectorWeight, v.TextWeight, v.ChangeNote, v.Author).Scan(&id)
		if err != nil {
			return err
		}
		for _, c := range v.CorpusIDs {
			if _, err := tx.Exec(ctx, `INSERT INTO prompt_version_corpora (prompt_version_id, corpus_id) VALUES ($1, $2)`, id, c); err != nil {
				return err
			}
		}
		rows, _ := tx.Query(ctx, `SELECT `+versionColumns+` FROM prompt_versions v WHERE v.id = $1`, id)
		out, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Version])
		return err
	})
	return out, db.Error(err, "publish a version of persona %d", personaID)
}

// Versions lists a persona's versions, newest first.
func (s *Store) Versions(ctx context.Context, personaID int64) ([]Version, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+versionColumns+` FROM prompt_versions v WHERE v.persona_id = $1 ORDER BY v.version DESC`, personaID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Version])
	return out, db.Error(err, "versions of persona %d", personaID)
}

// Version returns one version by its id.
func (s *Store) Version(ctx context.Context, id int64) (Version, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+versionColumns+` FROM prompt_versions v WHERE v.id = $1`, id)
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Version])
	return out, db.Error(err, "prompt version %d", id)
}

// VersionByNumber returns a persona's version n.
func (s *Store) VersionByNumber(ctx context.Context, personaID int64, n int) (Version, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+versionColumns+` FROM prompt_versions v WHERE v.persona_id = $1 AND v.version = $2`, personaID, n)
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Version])
	return out, db.Error(err, "version %d of persona %d", n, personaID)
}
