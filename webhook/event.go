// Package webhook notifies other systems when something happens in a project: each project
// registers endpoints (URLs) for the events it cares about, and every event becomes one
// signed delivery per endpoint, sent by a River job that retries with backoff for a day.
//
// A caller emits an event with one call, Emit, inside the transaction that makes the event
// true, so the notification exists exactly when the judgment or export it reports does.
// The scheme receivers verify is in docs/webhooks.md.
package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/db"
)

// Event names what happened. The names are part of the API: receivers switch on them.
type Event string

// The events.
const (
	JudgmentSubmitted Event = "judgment.submitted" // a trainer submitted a judgment (each revision)
	ExportReady       Event = "export.ready"       // a dataset snapshot was recorded and can be downloaded
	ItemCompleted     Event = "item.completed"     // a campaign item has all its judgments (campaign, issue 13)
	BatchClosed       Event = "batch.closed"       // a base's batch was closed and its sample drawn (acceptance, issue 14)
	BatchAccepted     Event = "batch.accepted"     // the centre's acceptance accepted a batch (acceptance, issue 14)
	BatchRejected     Event = "batch.rejected"     // the centre's acceptance rejected a batch: it goes back for 100% re-inspection
	CampaignClosed    Event = "campaign.closed"    // a campaign was closed (campaign, issue 13)
	TrainerPaused     Event = "trainer.paused"     // honeypot accuracy paused a trainer in a campaign (issue 14)
)

// Events lists every event, in the order the interface shows them.
var Events = []Event{JudgmentSubmitted, ItemCompleted, BatchClosed, BatchAccepted, BatchRejected, CampaignClosed, TrainerPaused, ExportReady}

// Emitted lists the events Mentor emits today. It is every event now; the list stays so
// that an event can be named (and subscribed to) before the feature that emits it ships.
var Emitted = []Event{JudgmentSubmitted, ItemCompleted, BatchClosed, BatchAccepted, BatchRejected, CampaignClosed, TrainerPaused, ExportReady}

// Known reports whether e is one of Events.
func Known(e Event) bool { return slices.Contains(Events, e) }

func eventNames() string {
	names := make([]string, len(Events))
	for i, e := range Events {
		names[i] = string(e)
	}
	return strings.Join(names, ", ")
}

// Job set-up shared by Emit and the worker.
const (
	jobKind  = "webhook_delivery"
	queue    = "webhooks"
	maxTries = 100 // a ceiling only: the worker gives up after maxAge (see Deliverer.Work)
)

// Emit records event in project projectID for every active endpoint of the project that
// subscribes to it, and queues one delivery job for each, all in tx: when tx rolls back,
// nothing is sent. payload is the event's data; it goes out as the envelope's "data".
// It returns how many deliveries it queued.
//
// The jobs are inserted with SQL rather than through a River client so that any store can
// emit with only its transaction in hand, without a queue client among its constructor's
// arguments. River's schema is the contract its own non-Go clients (Python, Ruby) insert
// jobs through; the worker's end-to-end test fails if the two drift apart.
func Emit(ctx context.Context, tx pgx.Tx, projectID int64, event Event, payload any) (int, error) {
	if !Known(event) {
		return 0, fmt.Errorf("emit webhook event: unknown event %q", event)
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return 0, fmt.Errorf("emit webhook event %s: %w", event, err)
	}
	var n int
	err = tx.QueryRow(ctx, `WITH d AS (
			INSERT INTO webhook_deliveries (webhook_id, event, payload)
			SELECT id, $2, $6 FROM webhooks WHERE project_id = $1 AND $2 = ANY (events) AND paused_at IS NULL
			RETURNING id
		), j AS (`+insertJobs+`)
		SELECT count(*)::int FROM j`, projectID, string(event), jobKind, queue, maxTries, data).Scan(&n)
	if err != nil {
		return 0, db.Error(err, "queue webhook deliveries")
	}
	return n, nil
}

// Envelope is the JSON body of every delivery.
type Envelope struct {
	ID        string          `json:"id"` // the delivery's id, "dlv_…": the same on every retry
	Event     Event           `json:"event"`
	ProjectID int64           `json:"project_id"`
	CreatedAt time.Time       `json:"created_at"` // when the event happened
	Data      json.RawMessage `json:"data"`
}
