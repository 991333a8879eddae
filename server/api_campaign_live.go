package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/live"
)

// Live generation for campaigns (issue 13): the first claim of a live campaign's item starts
// its turn through the live engine, and every claimant follows it as server-sent events
// (GET /claims/:claim/stream), the work screen's panes filling side by side as the train
// screen's do.

// liveStarter is the live engine as package campaign asks for it.
type liveStarter struct{ engine *live.Engine }

// StartItem implements campaign.LiveStarter.
func (l liveStarter) StartItem(ctx context.Context, t campaign.LiveTurn) (int64, error) {
	plan := make([]live.ItemCandidate, len(t.Plan))
	for i, p := range t.Plan {
		plan[i] = live.ItemCandidate{PromptVersionID: p.PromptVersionID, Model: p.Model, Temperature: p.Temperature}
	}
	turn, err := l.engine.StartItem(ctx, live.ItemTurn{PersonaID: t.PersonaID, UserID: t.TrainerID, ConversationID: t.ConversationID,
		ParentID: t.ParentID, Message: t.Question, Plan: plan, ShuffleSeed: t.ShuffleSeed, HideSources: t.Blind})
	return turn.ID, err
}

// RestartItem implements campaign.LiveStarter.
func (l liveStarter) RestartItem(ctx context.Context, turnID, trainerID int64, blind bool) (int, error) {
	return l.engine.RestartItem(ctx, turnID, trainerID, blind)
}

// startLive gives a live item's claim its turn (the first claim of the item starts it);
// other claims pass as they are.
func startLive(ctx context.Context, d Deps, claim campaign.Claim, trainerID int64) (campaign.Claim, error) {
	if !claim.Live || claim.TurnID != 0 || claim.State != "open" {
		return claim, nil
	}
	started, _, err := d.Campaigns.StartLive(ctx, claim.ID, trainerID, liveStarter{d.Engine})
	return started, err
}

// parseAfter reads ?after=: per candidate id, the last event number the client has, as a
// JSON object ({"51": 7}); absent, the client has nothing yet.
func parseAfter(raw string) (map[int64]int64, error) {
	out := map[int64]int64{}
	if raw == "" {
		return out, nil
	}
	var in map[string]int64
	if err := json.Unmarshal([]byte(raw), &in); err != nil {
		return nil, errs.Field("after", "must be a JSON object of candidate ids to event numbers, like {\"51\": 7}")
	}
	for k, v := range in {
		id, err := strconv.ParseInt(k, 10, 64)
		if err != nil || id <= 0 {
			return nil, errs.Field("after", "keys must be candidate ids, got %q", k)
		}
		if v < 0 {
			return nil, errs.Field("after", "event numbers must not be negative, got %d", v)
		}
		out[id] = v
	}
	return out, nil
}

// handleClaimStream streams a live item's candidates to its claimant as server-sent events:
// the events of the live session's websocket (start, passages, delta, reasoning, done, and
// snapshot for what is stored), one per message, then an end event once every candidate is
// finished. Opening it starts the item's turn if no claim has yet, and streams again the
// failed candidates of a turn that cannot be judged. Errors before the stream are ordinary
// JSON errors.
func handleClaimStream(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		after, err := parseAfter(c.Query("after"))
		if err != nil {
			return err
		}
		claim, blind, err := d.Campaigns.StartLive(ctx, claimOf(c), principalOf(c).user.ID, liveStarter{d.Engine})
		if err != nil {
			return err
		}
		w := c.Writer
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Accel-Buffering", "no") // nginx would otherwise hold the stream
		w.WriteHeader(http.StatusOK)
		w.Flush()
		rc := http.NewResponseController(w)
		err = d.Engine.FollowItem(ctx, claim.TurnID, after, blind, func(ev []byte) error {
			rc.SetWriteDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck // not every writer has deadlines; a stall shows as a write error
			if _, err := fmt.Fprintf(w, "data: %s\n\n", ev); err != nil {
				return err
			}
			return rc.Flush()
		})
		switch {
		case err == nil:
			fmt.Fprintf(w, "event: end\ndata: {\"turn_id\":%d}\n\n", claim.TurnID)
			w.Flush()
		case errors.Is(err, context.Canceled), errors.Is(err, live.ErrShutdown), errors.Is(err, live.ErrFollowerDropped):
			// The client left, the server is stopping, or the client fell behind: it follows
			// again from the last event it has.
		default:
			d.Logger.WarnContext(ctx, "stream a live campaign item", "claim", claim.ID, "turn", claim.TurnID, "err", err)
		}
		return nil
	}
}
