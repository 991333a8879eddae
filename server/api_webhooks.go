package server

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/mentor-ai/mentor/audit"
	"github.com/mentor-ai/mentor/webhook"
)

// Webhooks (issue 16): a project's endpoints, their delivery log, and resuming a paused one.
// The signing secret is in the answer to the POST and nowhere else.

// webhookList is a project's endpoints and the events they may subscribe to.
type webhookList struct {
	Webhooks   []webhook.Webhook `json:"webhooks"`
	Events     []webhook.Event   `json:"events"`
	Emitted    []webhook.Event   `json:"emitted"`
	PauseAfter int               `json:"pause_after"`
}

// webhookResumed is a resumed endpoint and how many deliveries were queued again.
type webhookResumed struct {
	Webhook  webhook.Webhook `json:"webhook"`
	Requeued int             `json:"requeued"`
}

// deliveryList is an endpoint's delivery log, newest first.
type deliveryList struct {
	Deliveries []webhook.Delivery `json:"deliveries"`
}

// handleListWebhooks lists a project's endpoints with the events they can subscribe to (and
// which of those are emitted yet); a paused one has paused_at set, which the project page
// shows its managers.
func handleListWebhooks(d Deps) apiFunc {
	return func(c *gin.Context) error {
		hooks, err := d.Webhooks.List(c.Request.Context(), projectOf(c).ID)
		return respond(c, http.StatusOK, webhookList{Webhooks: hooks, Events: webhook.Events, Emitted: webhook.Emitted,
			PauseAfter: webhook.PauseAfter}, err)
	}
}

func handleCreateWebhook(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in webhook.NewWebhook
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		project := projectOf(c)
		created, err := d.Webhooks.Create(c.Request.Context(), project.ID, principalOf(c).user.ID, in)
		if err != nil {
			return err
		}
		record(c, d, audit.Event{Action: audit.WebhookMade, ProjectID: &project.ID, Target: "webhook:" + strconv.FormatInt(created.ID, 10),
			Details: map[string]any{"url": created.URL, "events": created.Events}})
		c.JSON(http.StatusCreated, created)
		return nil
	}
}

func handleDeleteWebhook(d Deps) apiFunc {
	return func(c *gin.Context) error {
		project := projectOf(c)
		id, err := idParam(c, "webhook")
		if err != nil {
			return err
		}
		if err := d.Webhooks.Delete(c.Request.Context(), project.ID, id); err != nil {
			return err
		}
		record(c, d, audit.Event{Action: audit.WebhookDeleted, ProjectID: &project.ID, Target: "webhook:" + strconv.FormatInt(id, 10)})
		c.Status(http.StatusNoContent)
		return nil
	}
}

// handleResumeWebhook reactivates a paused endpoint and queues again what it held back.
func handleResumeWebhook(d Deps) apiFunc {
	return func(c *gin.Context) error {
		project := projectOf(c)
		id, err := idParam(c, "webhook")
		if err != nil {
			return err
		}
		w, requeued, err := d.Webhooks.Resume(c.Request.Context(), project.ID, id)
		if err != nil {
			return err
		}
		record(c, d, audit.Event{Action: audit.WebhookResumed, ProjectID: &project.ID, Target: "webhook:" + strconv.FormatInt(id, 10),
			Details: map[string]any{"requeued": requeued}})
		c.JSON(http.StatusOK, webhookResumed{Webhook: w, Requeued: requeued})
		return nil
	}
}

// handleWebhookDeliveries is the delivery log: the latest 50 deliveries with every attempt's
// status code.
func handleWebhookDeliveries(d Deps) apiFunc {
	return func(c *gin.Context) error {
		id, err := idParam(c, "webhook")
		if err != nil {
			return err
		}
		ds, err := d.Webhooks.Deliveries(c.Request.Context(), projectOf(c).ID, id, 50)
		return respond(c, http.StatusOK, deliveryList{Deliveries: ds}, err)
	}
}
