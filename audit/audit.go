// Package audit records who did what, when and from where: sign-ins, role changes, token
// creation, exports, account changes. Events are append-only (a trigger refuses changes).
package audit

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mentor-ai/mentor/db"
)

// Event is one audited action.
type Event struct {
	ID        int64          `json:"id" db:"id"`
	At        time.Time      `json:"at" db:"at"`
	ActorID   *int64         `json:"actor_id" db:"actor_id"`
	Actor     string         `json:"actor" db:"actor"`
	TokenID   *int64         `json:"token_id" db:"token_id"`
	Action    string         `json:"action" db:"action"`
	ProjectID *int64         `json:"project_id" db:"project_id"`
	Target    string         `json:"target" db:"target"`
	IP        string         `json:"ip" db:"ip"`
	UserAgent string         `json:"user_agent" db:"user_agent"`
	Details   map[string]any `json:"details" db:"details"`
}

// Actions recorded. Keep them stable: people filter and alert on them.
const (
	SignIn        = "sign_in"
	SignInFailed  = "sign_in_failed"
	SignOut       = "sign_out"
	UserCreated   = "user_created"
	UserDisabled  = "user_disabled"
	UserEnabled   = "user_enabled"
	PasswordReset = "password_reset"
	RoleChanged   = "role_changed"
	MemberRemoved = "member_removed"
	TokenCreated  = "token_created"
	TokenRevoked  = "token_revoked"
	ProjectMade   = "project_created"
	Export        = "export"
	CorpusMade    = "corpus_created"
	Import        = "documents_imported"
	// Issue 16: webhooks send project data out, so who pointed them where is recorded.
	WebhookMade    = "webhook_created"
	WebhookDeleted = "webhook_deleted"
	WebhookResumed = "webhook_resumed"
	// Issue 14: a trainer's appeal of a rejection, and the lead's or admin's decision.
	AppealFiled   = "appeal_filed"
	AppealDecided = "appeal_decided"
	// Issue 14: honeypot accuracy paused a trainer in a campaign; a lead reads it here.
	TrainerPaused = "trainer_paused"
	PauseLifted   = "pause_lifted"
)

// Actions lists every action, for the interface's catalogs: a test fails when one has no
// Chinese name (server/catalog_terms_test.go).
var Actions = []string{SignIn, SignInFailed, SignOut, UserCreated, UserDisabled, UserEnabled, PasswordReset, RoleChanged,
	MemberRemoved, TokenCreated, TokenRevoked, ProjectMade, Export, CorpusMade, Import, WebhookMade, WebhookDeleted, WebhookResumed,
	AppealFiled, AppealDecided, TrainerPaused, PauseLifted}

// Log writes and reads audit events.
type Log struct {
	pool *pgxpool.Pool
}

// New returns a Log on pool.
func New(pool *pgxpool.Pool) *Log { return &Log{pool: pool} }

// Record appends an event.
func (l *Log) Record(ctx context.Context, e Event) error {
	details := e.Details
	if details == nil {
		details = map[string]any{}
	}
	b, err := json.Marshal(details)
	if err != nil {
		return err
	}
	_, err = l.pool.Exec(ctx, `INSERT INTO audit_events (actor_id, actor, token_id, action, project_id, target, ip, user_agent, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, e.ActorID, e.Actor, e.TokenID, e.Action, e.ProjectID, e.Target, e.IP, e.UserAgent, b)
	return db.Error(err, "record audit event %s", e.Action)
}

// Filter narrows a listing. Zero values mean no restriction.
type Filter struct {
	ProjectID int64
	Action    string
	Before    int64 // events with a smaller id, for paging
	Limit     int   // default and maximum 200
}

// List returns events, newest first.
func (l *Log) List(ctx context.Context, f Filter) ([]Event, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 200
	}
	rows, _ := l.pool.Query(ctx, `SELECT id, at, actor_id, actor, token_id, action, project_id, target, ip, user_agent, details
		FROM audit_events
		WHERE ($1 = 0 OR project_id = $1) AND ($2 = '' OR action = $2) AND ($3 = 0 OR id < $3)
		ORDER BY id DESC LIMIT $4`, f.ProjectID, f.Action, f.Before, f.Limit)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Event])
	return out, db.Error(err, "list audit events")
}
