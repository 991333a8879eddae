package auth

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
)

// Role is what a member may do in one project.
type Role string

// The roles, from most to least trusted.
const (
	RoleAdmin    Role = "admin"    // runs the project: personas, prompts, members, exports, audit
	RoleReviewer Role = "reviewer" // checks trainers' work and exports data
	RoleExpert   Role = "expert"   // writes gold answers and keeps the knowledge base
	RoleTrainer  Role = "trainer"  // generates, ranks, rates and corrects
	RoleViewer   Role = "viewer"   // reads
)

// Roles lists every role, most trusted first.
var Roles = []Role{RoleAdmin, RoleReviewer, RoleExpert, RoleTrainer, RoleViewer}

// Permission is one thing a route needs.
type Permission string

// The permissions. docs/permissions.md is the same table in prose, and a test keeps them equal.
const (
	SignedIn       Permission = "signed_in"       // any signed-in user or token; no project involved
	Account        Permission = "account"         // browser sessions only: one's own account (password, tokens, signing out) and UI helpers
	InstanceAdmin  Permission = "instance_admin"  // create projects, manage users, read the whole audit log
	ProjectRead    Permission = "project.read"    // see the project, its personas, versions, corpora and models
	Generate       Permission = "generate"        // stream replies from prompt versions
	Judge          Permission = "judge"           // rank, rate, correct and write gold replies
	PromptWrite    Permission = "prompt.write"    // create and edit personas and rubrics, publish versions
	ProjectManage  Permission = "project.manage"  // edit project settings and members, read the project's audit log
	Export         Permission = "export"          // export datasets
	KnowledgeWrite Permission = "knowledge.write" // create corpora and import documents into them
)

// Permissions lists every permission in table order.
var Permissions = []Permission{SignedIn, Account, InstanceAdmin, ProjectRead, Generate, Judge, PromptWrite, KnowledgeWrite, ProjectManage, Export}

// grants is the policy: what each role may do in its project.
var grants = map[Role][]Permission{
	RoleAdmin:    {ProjectRead, Generate, Judge, PromptWrite, KnowledgeWrite, ProjectManage, Export},
	RoleReviewer: {ProjectRead, Generate, Judge, Export},
	RoleExpert:   {ProjectRead, Generate, Judge, KnowledgeWrite}, // experts keep the knowledge base current
	RoleTrainer:  {ProjectRead, Generate, Judge},
	RoleViewer:   {ProjectRead},
}

// scopeGrants is what each API token scope allows, on top of the owner's role. Instance
// administration and account management are never possible with a token.
var scopeGrants = map[Scope][]Permission{
	ScopeRead:   {SignedIn, ProjectRead},
	ScopeExport: {SignedIn, ProjectRead, Export},
	ScopeWrite:  {SignedIn, ProjectRead, Generate, Judge, PromptWrite, KnowledgeWrite, ProjectManage},
}

// RoleAllows reports whether role grants p.
func RoleAllows(role Role, p Permission) bool {
	return slices.Contains(grants[role], p)
}

// ScopesAllow reports whether any of the scopes permits p.
func ScopesAllow(scopes []Scope, p Permission) bool {
	for _, s := range scopes {
		if slices.Contains(scopeGrants[s], p) {
			return true
		}
	}
	return false
}

// Decision is the outcome of an access check, with the HTTP-facing error when denied.
type Decision struct {
	Allowed bool
	Err     error
}

// Errors the policy answers with. A project the user is not a member of is reported as not
// found, so that project ids cannot be probed.
var (
	ErrForbidden      = errs.E(errs.Forbidden, "your role does not allow this")
	ErrTokenScope     = errs.E(errs.Forbidden, "this API token's scopes do not allow this")
	ErrNoSuchProject  = errs.E(errs.NotFound, "no such project")
	ErrAdminOnly      = errs.E(errs.Forbidden, "only instance administrators may do this")
	ErrTokenAdminOnly = errs.E(errs.Forbidden, "this needs a signed-in session, not an API token")
)

// Decide applies the policy. role is the user's role in the project (empty if not a member,
// or if the permission involves no project); scopes is nil for a browser session.
func Decide(u User, role Role, scopes []Scope, p Permission) error {
	if scopes != nil && !ScopesAllow(scopes, p) {
		if p == InstanceAdmin || p == Account {
			return ErrTokenAdminOnly
		}
		return ErrTokenScope
	}
	switch p {
	case SignedIn, Account:
		return nil
	case InstanceAdmin:
		if u.IsAdmin {
			return nil
		}
		return ErrAdminOnly
	}
	if u.IsAdmin {
		return nil // instance admins act as admins of every project
	}
	if role == "" {
		return ErrNoSuchProject
	}
	if RoleAllows(role, p) {
		return nil
	}
	return ErrForbidden
}

// Member is a user's role in a project.
type Member struct {
	ProjectID   int64     `json:"project_id" db:"project_id"`
	UserID      int64     `json:"user_id" db:"user_id"`
	Login       string    `json:"login" db:"login"`
	DisplayName string    `json:"display_name" db:"display_name"`
	Role        Role      `json:"role" db:"role"`
	CreatedAt   time.Time `json:"created_at" db:"created_at"`
}

// SetRole makes a user a member of a project with role, or changes their role.
func (s *Store) SetRole(ctx context.Context, projectID, userID int64, role Role) error {
	if !slices.Contains(Roles, role) {
		return errs.Field("role", "must be one of admin, reviewer, expert, trainer, viewer, got %q", role)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, $3)
		ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role`, projectID, userID, role)
	return db.Error(err, "set role of user %d in project %d", userID, projectID)
}

// RemoveMember takes a user out of a project.
func (s *Store) RemoveMember(ctx context.Context, projectID, userID int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM project_members WHERE project_id = $1 AND user_id = $2`, projectID, userID)
	if err == nil && tag.RowsAffected() == 0 {
		err = pgx.ErrNoRows
	}
	return db.Error(err, "member %d of project %d", userID, projectID)
}

// Members lists a project's members.
func (s *Store) Members(ctx context.Context, projectID int64) ([]Member, error) {
	rows, _ := s.pool.Query(ctx, `SELECT m.project_id, m.user_id, u.login, u.display_name, m.role, m.created_at
		FROM project_members m JOIN users u ON u.id = m.user_id WHERE m.project_id = $1 ORDER BY u.login`, projectID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Member])
	return out, db.Error(err, "members of project %d", projectID)
}

// Role returns the user's role in a project, or "" when they are not a member.
func (s *Store) Role(ctx context.Context, userID, projectID int64) (Role, error) {
	var r Role
	err := s.pool.QueryRow(ctx, `SELECT role FROM project_members WHERE user_id = $1 AND project_id = $2`, userID, projectID).Scan(&r)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return r, db.Error(err, "role of user %d", userID)
}

// QueueMemberships queues the lookup of a user's role in every project on b, for a caller
// that asks other stores in the same round trip (a live session's command, issue 12: the role
// is read again for each one, since a member may be removed while the socket is open).
func (s *Store) QueueMemberships(b *pgx.Batch, userID int64) *db.Pending[Memberships] {
	return db.Queue(b, func(row pgx.CollectableRow) (Memberships, error) {
		var projects []int64
		var roles []Role
		err := row.Scan(&projects, &roles)
		return toMemberships(projects, roles), err
	}, errs.P("memberships of user %d", userID),
		`SELECT coalesce(array_agg(project_id), '{}'), coalesce(array_agg(role), '{}') FROM project_members WHERE user_id = $1`, userID)
}

// ProjectIDs returns the projects a user is a member of.
func (s *Store) ProjectIDs(ctx context.Context, userID int64) ([]int64, error) {
	rows, _ := s.pool.Query(ctx, `SELECT project_id FROM project_members WHERE user_id = $1 ORDER BY project_id`, userID)
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return out, db.Error(err, "projects of user %d", userID)
}

// SeesModels reports whether u, with role in a project, may see which model and prompt
// version wrote each candidate. Everyone may where the project does not rank blind; where it
// does, trainers and experts judge blind, and reviewers and admins, who check the work, see.
func SeesModels(u User, role Role, blind bool) bool {
	return !blind || u.IsAdmin || role == RoleAdmin || role == RoleReviewer
}
