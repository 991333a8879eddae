package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/jobs"
)

// maxAge is how long a delivery is retried: after a day of failures it is given up.
const maxAge = 24 * time.Hour

// attemptTimeout bounds one attempt, connection and response together: a receiver should
// answer at once and do its work later.
const attemptTimeout = 15 * time.Second

// Backoff is how long to wait after the attempt-th failed attempt (from 1): 30 s doubling
// to an hour, then hourly, which makes about 30 attempts in the day a delivery is retried.
func Backoff(attempt int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < attempt && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// Deliverer sends deliveries: one attempt at a time, recording each in the log.
type Deliverer struct {
	pool   *pgxpool.Pool
	sealer *Sealer // nil: no key, so every attempt fails and says why
	client *http.Client
	now    func() time.Time
	logger *slog.Logger
}

// NewDeliverer returns a Deliverer whose connections pass guard. now may be nil
// (time.Now); tests pass a clock to step through a day of retries.
func NewDeliverer(pool *pgxpool.Pool, sealer *Sealer, guard Guard, now func() time.Time, logger *slog.Logger) *Deliverer {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: guard.control}
	client := &http.Client{
		Timeout: attemptTimeout,
		Transport: &http.Transport{
			// No proxy from the environment: the guard must see the receiver's address.
			Proxy:               nil,
			DialContext:         dialer.DialContext,
			TLSHandshakeTimeout: 5 * time.Second,
			MaxIdleConnsPerHost: 2,
		},
		// A redirect is an answer, not a success: following it would let an endpoint send
		// a signed delivery somewhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Deliverer{pool: pool, sealer: sealer, client: client, now: now, logger: logger}
}

// Outcome is what one attempt did.
type Outcome struct {
	Status     string // the delivery's status after it: pending (retry), delivered, failed or paused
	StatusCode int    // the receiver's, or 0 when no response came
	Err        string // why the attempt failed; "" on success
}

// Attempt tries delivery id once. A failure counts against its endpoint, which is paused
// after PauseAfter failures in a row; a delivery still failing maxAge after its event is
// given up. The error is for failures of Mentor's own (the database), not the receiver's.
func (d *Deliverer) Attempt(ctx context.Context, id int64) (Outcome, error) {
	var (
		webhookID, projectID int64
		url, event, status   string
		payload              json.RawMessage
		sealed               []byte
		createdAt            time.Time
		pausedAt             *time.Time
	)
	err := d.pool.QueryRow(ctx, `SELECT w.id, w.project_id, w.url, w.secret_sealed, w.paused_at, d.event, d.payload, d.status, d.created_at
		FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = $1`, id).
		Scan(&webhookID, &projectID, &url, &sealed, &pausedAt, &event, &payload, &status, &createdAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Outcome{Status: "failed", Err: "the endpoint was deleted"}, nil
	case err != nil:
		return Outcome{}, db.Error(err, "load webhook delivery %d", id)
	case status != "pending":
		return Outcome{Status: status}, nil // already settled: a job run twice sends once
	case pausedAt != nil:
		_, err := d.pool.Exec(ctx, `UPDATE webhook_deliveries SET status = 'paused' WHERE id = $1`, id)
		return Outcome{Status: "paused", Err: "the endpoint is paused"}, db.Error(err, "hold webhook delivery %d", id)
	}

	start := d.now()
	out := d.send(ctx, id, webhookID, projectID, url, event, payload, sealed, createdAt, start)
	elapsed := d.now().Sub(start)
	err = pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		var code *int
		if out.StatusCode != 0 {
			code = &out.StatusCode
		}
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, error, duration_ms)
			VALUES ($1, $2, $3, $4, $5)`, id, start, code, out.Err, elapsed.Milliseconds()); err != nil {
			return err
		}
		if out.Err == "" {
			out.Status = "delivered"
			if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'delivered', delivered_at = $2 WHERE id = $1`, id, d.now()); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE webhooks SET failures = 0 WHERE id = $1`, webhookID)
			return err
		}
		var paused bool
		if err := tx.QueryRow(ctx, `UPDATE webhooks SET failures = failures + 1,
				paused_at = CASE WHEN paused_at IS NULL AND failures + 1 >= $2 THEN $3 ELSE paused_at END
			WHERE id = $1 RETURNING paused_at IS NOT NULL`, webhookID, PauseAfter, d.now()).Scan(&paused); err != nil {
			return err
		}
		switch {
		case paused:
			out.Status = "paused"
		case d.now().Sub(createdAt) >= maxAge:
			out.Status = "failed"
		default:
			out.Status = "pending"
		}
		if out.Status != "pending" {
			_, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = $2 WHERE id = $1`, id, out.Status)
			return err
		}
		return nil
	})
	if err != nil {
		return out, db.Error(err, "record an attempt at webhook delivery %d", id)
	}
	if out.Status == "paused" {
		d.logger.Warn("webhook endpoint paused after repeated failures", "webhook", webhookID, "project", projectID, "failures", PauseAfter)
	}
	return out, nil
}

// send makes the HTTP request of one attempt.
func (d *Deliverer) send(ctx context.Context, id, webhookID, projectID int64, url, event string, payload json.RawMessage,
	sealed []byte, createdAt, now time.Time) Outcome {
	if d.sealer == nil {
		return Outcome{Err: "the server has no MENTOR_WEBHOOK_KEY, so it cannot sign deliveries"}
	}
	secret, err := d.sealer.open(sealed, webhookID)
	if err != nil {
		return Outcome{Err: err.Error()}
	}
	deliveryID := "dlv_" + strconv.FormatInt(id, 10)
	body, err := json.Marshal(Envelope{ID: deliveryID, Event: Event(event), ProjectID: projectID, CreatedAt: createdAt.UTC(), Data: payload})
	if err != nil {
		return Outcome{Err: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Outcome{Err: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Mentor-Webhooks/1")
	req.Header.Set(HeaderID, deliveryID)
	req.Header.Set(HeaderEvent, event)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(secret, now, body))
	resp, err := d.client.Do(req)
	if err != nil {
		return Outcome{Err: err.Error()}
	}
	defer resp.Body.Close()
	// The body is read (a little of it) so the connection can be reused; a receiver's
	// error page is kept short in the log.
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := fmt.Sprintf("HTTP %d", resp.StatusCode)
		if s := bytes.TrimSpace(snippet); len(s) > 0 {
			msg += ": " + string(bytes.ToValidUTF8(s, nil))
		}
		return Outcome{StatusCode: resp.StatusCode, Err: msg}
	}
	return Outcome{StatusCode: resp.StatusCode}
}

// DeliveryArgs is the River job of one delivery.
type DeliveryArgs struct {
	DeliveryID int64 `json:"delivery_id"`
}

// Kind is the job's kind, as Emit inserts it.
func (DeliveryArgs) Kind() string { return jobKind }

type worker struct {
	river.WorkerDefaults[DeliveryArgs]
	d *Deliverer
}

// Work makes one attempt. A failed attempt that is to be retried returns an error, so River
// schedules the next one (NextRetry); a settled delivery returns nil.
func (w *worker) Work(ctx context.Context, job *river.Job[DeliveryArgs]) error {
	out, err := w.d.Attempt(ctx, job.Args.DeliveryID)
	if err != nil {
		return err
	}
	if out.Status == "pending" {
		return fmt.Errorf("webhook delivery %d: %s", job.Args.DeliveryID, out.Err)
	}
	return nil
}

// NextRetry spaces attempts by Backoff rather than River's default, which would give up
// long before a day.
func (w *worker) NextRetry(job *river.Job[DeliveryArgs]) time.Time {
	return w.d.now().Add(Backoff(job.Attempt))
}

// Timeout leaves the attempt's own timeout to end it first.
func (w *worker) Timeout(*river.Job[DeliveryArgs]) time.Duration {
	return attemptTimeout + 15*time.Second
}

// Jobs is the webhook package's share of the job runner: the delivery worker on its own
// queue, so that a slow receiver never holds up embedding jobs.
func Jobs(d *Deliverer) jobs.Registration {
	return jobs.Registration{
		Name:   "webhook",
		Add:    func(ws *river.Workers) error { return river.AddWorkerSafely(ws, &worker{d: d}) },
		Queues: map[string]river.QueueConfig{queue: {MaxWorkers: 8}},
	}
}
