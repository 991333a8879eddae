// Package base keeps labelling bases (基地): teams of people with leads, which projects admit
// and campaigns are given to, and the bulk import of people into them. Who may do what in a
// project stays with auth's roles; a base says where a person works.
package base

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
)

// Base is a labelling base.
type Base struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	Members int    `json:"members"`
	Leads   int    `json:"leads"`
}

// Store reads and writes bases and their people.
type Store struct {
	pool *pgxpool.Pool
	auth *auth.Store
}

// NewStore returns a Store; accounts made by an import are created through users.
func NewStore(pool *pgxpool.Pool, users *auth.Store) *Store { return &Store{pool: pool, auth: users} }

func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", errs.Field("name", "must not be empty")
	case utf8.RuneCountInString(name) > 100:
		return "", errs.Field("name", "must be at most %d characters", 100)
	}
	return name, nil
}

// Create stores a new base.
func (s *Store) Create(ctx context.Context, name string) (Base, error) {
	name, err := checkName(name)
	if err != nil {
		return Base{}, err
	}
	b := Base{Name: name}
	err = s.pool.QueryRow(ctx, `INSERT INTO bases (name) VALUES ($1) RETURNING id`, name).Scan(&b.ID)
	return b, db.Error(err, "create base %q", name)
}

// List returns every base, by name.
func (s *Store) List(ctx context.Context) ([]Base, error) {
	rows, _ := s.pool.Query(ctx, `SELECT b.id, b.name, count(m.user_id)::int, count(m.user_id) FILTER (WHERE m.is_lead)::int
		FROM bases b LEFT JOIN base_members m ON m.base_id = b.id GROUP BY b.id ORDER BY b.name`)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Base, error) {
		var b Base
		return b, r.Scan(&b.ID, &b.Name, &b.Members, &b.Leads)
	})
	if out == nil {
		out = []Base{}
	}
	return out, db.Error(err, "list bases")
}

// Admit lets a base work in a project, so the project's campaigns can be given to it.
func (s *Store) Admit(ctx context.Context, projectID, baseID int64) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO project_bases (project_id, base_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, projectID, baseID)
	return db.Error(err, "admit base %d", baseID)
}

// ProjectBase is a base as a project's admins see it: whether the project has admitted it.
type ProjectBase struct {
	Base
	Admitted bool `json:"admitted"`
}

// ForProject returns every base, by name, each saying whether the project admits it: what a
// project's admins choose from when they admit a base or give one a campaign.
func (s *Store) ForProject(ctx context.Context, projectID int64) ([]ProjectBase, error) {
	rows, _ := s.pool.Query(ctx, `SELECT b.id, b.name, count(m.user_id)::int, count(m.user_id) FILTER (WHERE m.is_lead)::int,
			EXISTS (SELECT 1 FROM project_bases pb WHERE pb.project_id = $1 AND pb.base_id = b.id)
		FROM bases b LEFT JOIN base_members m ON m.base_id = b.id GROUP BY b.id ORDER BY b.name`, projectID)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ProjectBase, error) {
		var b ProjectBase
		return b, r.Scan(&b.ID, &b.Name, &b.Members, &b.Leads, &b.Admitted)
	})
	if out == nil {
		out = []ProjectBase{}
	}
	return out, db.Error(err, "bases of project %d", projectID)
}

// LeadOf reports whether the user leads the base.
func (s *Store) LeadOf(ctx context.Context, userID, baseID int64) (bool, error) {
	var lead bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM base_members WHERE user_id = $1 AND base_id = $2 AND is_lead)`, userID, baseID).Scan(&lead)
	return lead, db.Error(err, "lead of base %d", baseID)
}

// Led returns the bases the user leads.
func (s *Store) Led(ctx context.Context, userID int64) ([]Base, error) {
	rows, _ := s.pool.Query(ctx, `SELECT b.id, b.name, (SELECT count(*) FROM base_members WHERE base_id = b.id)::int,
			(SELECT count(*) FROM base_members WHERE base_id = b.id AND is_lead)::int
		FROM bases b JOIN base_members m ON m.base_id = b.id WHERE m.user_id = $1 AND m.is_lead ORDER BY b.name`, userID)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Base, error) {
		var b Base
		return b, r.Scan(&b.ID, &b.Name, &b.Members, &b.Leads)
	})
	if out == nil {
		out = []Base{}
	}
	return out, db.Error(err, "bases led by user %d", userID)
}

// PersonRow is one row of a people file: login, name, base, role, and whether the person
// leads the base.
type PersonRow struct {
	Line  int
	Login string
	Name  string
	Base  string
	Role  auth.Role
	Lead  bool
}

// Added is a person an import created or updated. Password is set only for a new account:
// it is shown once, for the admin to hand over.
type Added struct {
	Line     int    `json:"line"`
	Login    string `json:"login"`
	Created  bool   `json:"created"`
	Password string `json:"password,omitempty"`
}

// PeopleReport says what an import did with every row.
type PeopleReport struct {
	Added  []Added              `json:"added"`
	Errors []campaign.LineError `json:"-"`
}

// ParsePeople reads a people CSV (UTF-8 or GB18030) with a header: login, name, base, role,
// and optionally lead (yes, true, 1 or 是). Bad rows are reported with their line and field.
func ParsePeople(data []byte) ([]PersonRow, []campaign.LineError, error) {
	text, err := campaign.Decode(data)
	if err != nil {
		return nil, nil, err
	}
	if bytes.HasPrefix(data, []byte("PK\x03\x04")) {
		return nil, nil, errs.Field("file", "is a ZIP archive (an XLSX workbook?), not CSV: save it as CSV")
	}
	r := csv.NewReader(bytes.NewReader(text))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err == io.EOF {
		return nil, nil, errs.Field("file", "is empty")
	}
	if err != nil {
		return nil, nil, errs.Field("file", "is not valid CSV")
	}
	names := map[string]string{"login": "login", "账号": "login", "name": "name", "姓名": "name", "base": "base", "基地": "base",
		"role": "role", "角色": "role", "lead": "lead", "组长": "lead"}
	index := map[string]int{}
	for i, h := range header {
		if n, ok := names[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))]; ok {
			index[n] = i
		}
	}
	for _, need := range []string{"login", "name", "base", "role"} {
		if _, ok := index[need]; !ok {
			return nil, nil, errs.Field("header", "has no %s column (login, name, base, role)", need)
		}
	}
	var good []PersonRow
	var bad []campaign.LineError
	line := 1
	for {
		rec, err := r.Read()
		line++
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad = append(bad, campaign.LineError{Line: pe.Line, Field: "line", Err: errs.Field("line", "is not valid CSV")})
				continue
			}
			return nil, nil, err
		}
		cell := func(name string) string {
			if i, ok := index[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		if strings.TrimSpace(strings.Join(rec, "")) == "" {
			continue
		}
		p := PersonRow{Line: line, Login: auth.NormalizeLogin(cell("login")), Name: cell("name"), Base: cell("base"), Role: auth.Role(strings.ToLower(cell("role")))}
		switch strings.ToLower(cell("lead")) {
		case "yes", "true", "1", "是", "y":
			p.Lead = true
		}
		known := false
		for _, r := range auth.Roles {
			known = known || r == p.Role
		}
		var e *errs.Error
		switch {
		case !auth.ValidLogin(p.Login):
			e = errs.Field("login", "must be 2 to 128 letters, digits or . _ @ + -, got %q", p.Login)
		case p.Name == "":
			e = errs.Field("name", "must not be empty")
		case p.Base == "":
			e = errs.Field("base", "must not be empty")
		case !known:
			e = errs.Field("role", "must be one of admin, reviewer, expert, trainer or viewer, got %q", string(p.Role))
		}
		if e != nil {
			bad = append(bad, campaign.LineError{Line: line, Field: e.Field, Err: e})
			continue
		}
		good = append(good, p)
	}
	return good, bad, nil
}

// ImportPeople adds each row's person to the project with their role and to their base,
// creating the account (with a generated password) and the base where they are new, and
// admitting the base to the project. Each row goes in on its own: a bad one is reported and
// the others still go in.
func (s *Store) ImportPeople(ctx context.Context, projectID int64, rows []PersonRow) (PeopleReport, error) {
	rep := PeopleReport{Added: []Added{}}
	for _, p := range rows {
		added, err := s.importPerson(ctx, projectID, p)
		if err != nil {
			if k := errs.KindOf(err); k == errs.Internal || k == errs.Unavailable {
				return rep, err
			}
			field := "login"
			var e *errs.Error
			if errors.As(err, &e) && e.Field != "" {
				field = e.Field
			}
			rep.Errors = append(rep.Errors, campaign.LineError{Line: p.Line, Field: field, Err: err})
			continue
		}
		rep.Added = append(rep.Added, added)
	}
	return rep, nil
}

func (s *Store) importPerson(ctx context.Context, projectID int64, p PersonRow) (Added, error) {
	out := Added{Line: p.Line, Login: p.Login}
	u, err := s.auth.UserByLogin(ctx, p.Login)
	if errs.KindOf(err) == errs.NotFound {
		password := auth.RandomPassword()
		if u, err = s.auth.CreateUser(ctx, auth.NewUser{Login: p.Login, DisplayName: p.Name, Password: password}); err != nil {
			return out, err
		}
		out.Created, out.Password = true, password
	} else if err != nil {
		return out, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var baseID int64
		if err := tx.QueryRow(ctx, `WITH b AS (INSERT INTO bases (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id)
			SELECT id FROM b UNION ALL SELECT id FROM bases WHERE name = $1`, p.Base).Scan(&baseID); err != nil {
			return err
		}
		var other *string
		if err := tx.QueryRow(ctx, `SELECT (SELECT b.name FROM base_members m JOIN bases b ON b.id = m.base_id WHERE m.user_id = $1 AND m.base_id <> $2)`,
			u.ID, baseID).Scan(&other); err != nil {
			return err
		}
		if other != nil {
			return errs.Field("base", "%s already works in base %s: a person works in one base", p.Login, *other)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO base_members (base_id, user_id, is_lead) VALUES ($1, $2, $3)
			ON CONFLICT (base_id, user_id) DO UPDATE SET is_lead = excluded.is_lead`, baseID, u.ID, p.Lead); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO project_bases (project_id, base_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, projectID, baseID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, $3)
			ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role`, projectID, u.ID, p.Role)
		return err
	})
	return out, db.Error(err, "add %s", fmt.Sprintf("%q", p.Login))
}
