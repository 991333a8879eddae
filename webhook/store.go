package webhook

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
)

// PauseAfter is how many failed attempts in a row pause an endpoint.
const PauseAfter = 50

// Webhook is an endpoint as the API shows it: never with its secret.
type Webhook struct {
	ID          int64      `json:"id"`
	ProjectID   int64      `json:"project_id"`
	URL         string     `json:"url"`
	Events      []Event    `json:"events"`
	Description string     `json:"description"`
	CreatedBy   *int64     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	Failures    int        `json:"failures"`  // failed attempts since the last success
	PausedAt    *time.Time `json:"paused_at"` // set when Failures reached PauseAfter; null while active
}

// Created is a new endpoint with its signing secret, which is shown this once.
type Created struct {
	Webhook
	Secret string `json:"secret"`
}

// NewWebhook is what registering an endpoint takes.
type NewWebhook struct {
	URL         string  `json:"url"`
	Events      []Event `json:"events"`
	Description string  `json:"description"`
}

// Delivery is one event sent (or to be sent) to one endpoint, with its attempts.
type Delivery struct {
	ID          int64      `json:"id"`
	WebhookID   int64      `json:"webhook_id"`
	Event       Event      `json:"event"`
	Status      string     `json:"status"` // pending, delivered, failed or paused
	CreatedAt   time.Time  `json:"created_at"`
	DeliveredAt *time.Time `json:"delivered_at"`
	Attempts    []Attempt  `json:"attempts"` // oldest first
}

// Attempt is one try at a delivery.
type Attempt struct {
	At             time.Time `json:"at"`
	StatusCode     *int      `json:"status_code"` // null when no response came
	Error          string    `json:"error"`       // why it failed; "" on success
	DurationMillis int       `json:"duration_ms"`
}

// Store keeps a project's endpoints and their delivery log.
type Store struct {
	pool   *pgxpool.Pool
	sealer *Sealer // nil: no MENTOR_WEBHOOK_KEY, so no endpoint can be registered
	guard  Guard
}

// NewStore returns a Store. sealer may be nil when the server has no webhook key: the
// endpoints' list and log still work, and registering one says which setting is missing.
func NewStore(pool *pgxpool.Pool, sealer *Sealer, guard Guard) *Store {
	return &Store{pool: pool, sealer: sealer, guard: guard}
}

const webhookColumns = `id, project_id, url, events, description, created_by, created_at, failures, paused_at`

func scanWebhook(row pgx.Row) (Webhook, error) {
	var w Webhook
	var events []string
	err := row.Scan(&w.ID, &w.ProjectID, &w.URL, &events, &w.Description, &w.CreatedBy, &w.CreatedAt, &w.Failures, &w.PausedAt)
	for _, e := range events {
		w.Events = append(w.Events, Event(e))
	}
	return w, err
}

// Create registers an endpoint in a project and returns it with its new secret.
func (s *Store) Create(ctx context.Context, projectID, createdBy int64, in NewWebhook) (Created, error) {
	if s.sealer == nil {
		return Created{}, errs.E(errs.Unavailable, "webhooks are not set up on this server: its administrator must set MENTOR_WEBHOOK_KEY (see docs/webhooks.md)")
	}
	u, err := s.guard.CheckURL(ctx, in.URL)
	if err != nil {
		return Created{}, err
	}
	if len(in.Events) == 0 {
		return Created{}, errs.Field("events", "name at least one event: %s", eventNames())
	}
	events := make([]string, 0, len(in.Events))
	for i, e := range in.Events {
		if !Known(e) {
			return Created{}, errs.Field("events", "item %d: must be one of %s, got %q", i+1, eventNames(), string(e))
		}
		if !containsString(events, string(e)) {
			events = append(events, string(e))
		}
	}
	in.Description = strings.TrimSpace(in.Description)
	if utf8.RuneCountInString(in.Description) > 200 {
		return Created{}, errs.Field("description", "must be at most %d characters", 200)
	}
	secret := newSecret()
	var out Created
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The secret is sealed with the row's id as additional data, so the row comes first.
		w, err := scanWebhook(tx.QueryRow(ctx, `INSERT INTO webhooks (project_id, url, events, description, secret_sealed, created_by)
			VALUES ($1, $2, $3, $4, '', $5) RETURNING `+webhookColumns, projectID, u.String(), events, in.Description, createdBy))
		if err != nil {
			return db.Error(err, "store webhook")
		}
		if _, err := tx.Exec(ctx, `UPDATE webhooks SET secret_sealed = $2 WHERE id = $1`, w.ID, s.sealer.seal(secret, w.ID)); err != nil {
			return db.Error(err, "store webhook")
		}
		out = Created{Webhook: w, Secret: secret}
		return nil
	})
	return out, err
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// List returns a project's endpoints, newest first.
func (s *Store) List(ctx context.Context, projectID int64) ([]Webhook, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE project_id = $1 ORDER BY id DESC`, projectID)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Webhook, error) { return scanWebhook(r) })
	if out == nil {
		out = []Webhook{}
	}
	return out, db.Error(err, "list webhooks")
}

// Get returns one endpoint of a project.
func (s *Store) Get(ctx context.Context, projectID, id int64) (Webhook, error) {
	w, err := scanWebhook(s.pool.QueryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = $1 AND project_id = $2`, id, projectID))
	return w, db.Error(err, "webhook %d", id)
}

// Delete removes an endpoint and its delivery log; its queued jobs find nothing to send.
func (s *Store) Delete(ctx context.Context, projectID, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhooks WHERE id = $1 AND project_id = $2`, id, projectID)
	if err == nil && tag.RowsAffected() == 0 {
		err = pgx.ErrNoRows
	}
	return db.Error(err, "webhook %d", id)
}

// Resume reactivates a paused endpoint: its failure count starts again from zero, and the
// deliveries held back while it was paused, if less than a day old, are queued again.
func (s *Store) Resume(ctx context.Context, projectID, id int64) (Webhook, int, error) {
	var w Webhook
	var requeued int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		w, err = scanWebhook(tx.QueryRow(ctx, `UPDATE webhooks SET failures = 0, paused_at = NULL WHERE id = $1 AND project_id = $2
			RETURNING `+webhookColumns, id, projectID))
		if err != nil {
			return db.Error(err, "webhook %d", id)
		}
		err = tx.QueryRow(ctx, `WITH d AS (
				UPDATE webhook_deliveries SET status = 'pending'
				WHERE webhook_id = $1 AND status = 'paused' AND created_at > now() - $2::interval RETURNING id
			), j AS (`+insertJobs+`)
			SELECT count(*)::int FROM j`, id, maxAge.String(), jobKind, queue, maxTries).Scan(&requeued)
		return db.Error(err, "queue the held deliveries of webhook %d", id)
	})
	return w, requeued, err
}

// insertJobs queues a delivery job for each id in the CTE d; $3, $4 and $5 are jobKind,
// queue and maxTries. See Emit for why this is SQL.
const insertJobs = `INSERT INTO river_job (kind, args, queue, max_attempts, priority, state, scheduled_at)
	SELECT $3, jsonb_build_object('delivery_id', d.id), $4, $5, 1, 'available', now() FROM d
	RETURNING 1`

// Deliveries returns the latest deliveries to an endpoint with their attempts, newest
// first.
func (s *Store) Deliveries(ctx context.Context, projectID, id int64, limit int) ([]Delivery, error) {
	if _, err := s.Get(ctx, projectID, id); err != nil {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, `SELECT d.id, d.webhook_id, d.event, d.status, d.created_at, d.delivered_at,
			coalesce((SELECT jsonb_agg(jsonb_build_object('at', a.attempted_at, 'status_code', a.status_code, 'error', a.error,
				'duration_ms', a.duration_ms) ORDER BY a.id) FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]')
		FROM webhook_deliveries d WHERE d.webhook_id = $1 ORDER BY d.id DESC LIMIT $2`, id, limit)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		err := r.Scan(&d.ID, &d.WebhookID, &d.Event, &d.Status, &d.CreatedAt, &d.DeliveredAt, &d.Attempts)
		return d, err
	})
	if out == nil {
		out = []Delivery{}
	}
	return out, db.Error(err, "list deliveries of webhook %d", id)
}
