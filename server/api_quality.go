package server

// Quality control, part B (issue 14): campaign checks, gold items, pauses, agreement and
// per-trainer statistics. The review stream and batches (part A) are elsewhere.

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/mentor-ai/mentor/agreement"
	"github.com/mentor-ai/mentor/audit"
	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/errs"
)

// goldList is a campaign's gold items and the items waiting to be promoted to one.
type goldList struct {
	Gold       []campaign.GoldItem  `json:"gold"`
	Promotable []campaign.Unanimous `json:"promotable" doc:"items at least 3 trainers ranked alike, and no one otherwise"`
}

// goldBody is one gold item.
type goldBody struct {
	Gold campaign.GoldItem `json:"gold"`
}

// promoteInput names the unanimous item to promote.
type promoteInput struct {
	ItemID int64 `json:"item_id"`
}

// pauseList is a campaign's pauses the reader may see.
type pauseList struct {
	Pauses []campaign.Pause `json:"pauses"`
}

// agreementBody is a campaign's agreement.
type agreementBody struct {
	Agreement agreement.Report `json:"agreement"`
}

// trainerStatsBody is the per-trainer statistics page: the trainers the reader may see, and
// the campaign's agreement for its chart.
type trainerStatsBody struct {
	Campaign  campaign.Campaign       `json:"campaign"`
	Trainers  []campaign.TrainerStats `json:"trainers"`
	Agreement agreement.Report        `json:"agreement"`
	Scope     string                  `json:"scope" doc:"all (admins and reviewers), base (a lead: their bases and themselves) or self"`
}

// statsScope is whose QC figures the reader of a campaign may see: admins and reviewers
// everyone's, a base's lead their base's people and their own, anyone else their own.
func statsScope(c *gin.Context, d Deps, campaignID int64) (campaign.StatsScope, string, error) {
	ctx := c.Request.Context()
	u := principalOf(c).user
	if u.IsAdmin {
		return campaign.StatsScope{All: true}, "all", nil
	}
	project, err := d.Campaigns.ProjectOf(ctx, campaignID)
	if err != nil {
		return campaign.StatsScope{}, "", err
	}
	role, err := d.Auth.Role(ctx, u.ID, project)
	if err != nil {
		return campaign.StatsScope{}, "", err
	}
	if role == auth.RoleAdmin || role == auth.RoleReviewer {
		return campaign.StatsScope{All: true}, "all", nil
	}
	led, err := d.Bases.Led(ctx, u.ID)
	if err != nil {
		return campaign.StatsScope{}, "", err
	}
	scope := campaign.StatsScope{Self: u.ID}
	for _, b := range led {
		scope.Bases = append(scope.Bases, b.ID)
	}
	if len(scope.Bases) > 0 {
		return scope, "base", nil
	}
	return scope, "self", nil
}

func handleSetChecks(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in campaign.ChecksInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		cp, err := d.Campaigns.SetChecks(c.Request.Context(), campaignOf(c), in)
		return respond(c, http.StatusOK, campaignBody{Campaign: cp}, err)
	}
}

func handleListGold(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		gold, err := d.Campaigns.Gold(ctx, campaignOf(c))
		if err != nil {
			return err
		}
		promotable, err := d.Campaigns.Promotable(ctx, campaignOf(c))
		return respond(c, http.StatusOK, goldList{Gold: gold, Promotable: promotable}, err)
	}
}

func handleSetGold(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in campaign.GoldInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		g, err := d.Campaigns.SetGold(c.Request.Context(), campaignOf(c), principalOf(c).user.ID, in)
		return respond(c, http.StatusCreated, goldBody{Gold: g}, err)
	}
}

func handlePromoteGold(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in promoteInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		g, err := d.Campaigns.Promote(c.Request.Context(), campaignOf(c), in.ItemID, principalOf(c).user.ID)
		return respond(c, http.StatusCreated, goldBody{Gold: g}, err)
	}
}

func handleRemoveGold(d Deps) apiFunc {
	return func(c *gin.Context) error {
		item, err := idParam(c, "item")
		if err != nil {
			return err
		}
		if err := d.Campaigns.RemoveGold(c.Request.Context(), campaignOf(c), item); err != nil {
			return err
		}
		c.Status(http.StatusNoContent)
		return nil
	}
}

func handleListPauses(d Deps) apiFunc {
	return func(c *gin.Context) error {
		scope, _, err := statsScope(c, d, campaignOf(c))
		if err != nil {
			return err
		}
		all, err := d.Campaigns.Pauses(c.Request.Context(), campaignOf(c))
		if err != nil {
			return err
		}
		visible, err := visibleTrainers(c, d, scope)
		if err != nil {
			return err
		}
		out := []campaign.Pause{}
		for _, p := range all {
			if scope.All || visible(p.TrainerID) {
				out = append(out, p)
			}
		}
		c.JSON(http.StatusOK, pauseList{Pauses: out})
		return nil
	}
}

// visibleTrainers says whether the reader may see a trainer: themselves, or one of the
// bases they lead.
func visibleTrainers(c *gin.Context, d Deps, scope campaign.StatsScope) (func(int64) bool, error) {
	ctx := c.Request.Context()
	var members []int64
	for _, b := range scope.Bases {
		people, err := d.Campaigns.BaseView(ctx, b)
		if err != nil {
			return nil, err
		}
		for _, p := range people {
			members = append(members, p.UserID)
		}
	}
	return func(id int64) bool { return scope.All || id == scope.Self || slices.Contains(members, id) }, nil
}

// handleLiftPause lets a paused trainer claim again: the campaign's admins and reviewers, or
// a lead of the trainer's base, may. A trainer may not lift their own.
func handleLiftPause(d Deps) apiFunc {
	return func(c *gin.Context) error {
		trainer, err := idParam(c, "trainer")
		if err != nil {
			return err
		}
		scope, _, err := statsScope(c, d, campaignOf(c))
		if err != nil {
			return err
		}
		visible, err := visibleTrainers(c, d, scope)
		if err != nil {
			return err
		}
		if !scope.All && (trainer == scope.Self || !visible(trainer)) {
			return errs.E(errs.Forbidden, "only the campaign's admins and reviewers, or a lead of the trainer's base, may lift a pause")
		}
		if err := d.Campaigns.Lift(c.Request.Context(), campaignOf(c), trainer, principalOf(c).user.ID); err != nil {
			return err
		}
		project, err := d.Campaigns.ProjectOf(c.Request.Context(), campaignOf(c))
		if err != nil {
			return err
		}
		record(c, d, audit.Event{Action: audit.PauseLifted, ProjectID: &project, Target: strconv.FormatInt(trainer, 10),
			Details: map[string]any{"campaign_id": campaignOf(c)}})
		c.Status(http.StatusNoContent)
		return nil
	}
}

func handleAgreement(d Deps) apiFunc {
	return func(c *gin.Context) error {
		scope, _, err := statsScope(c, d, campaignOf(c))
		if err != nil {
			return err
		}
		rep, err := d.Agreement.Report(c.Request.Context(), campaignOf(c), 0)
		if err != nil {
			return err
		}
		rep.Trainers, err = filterScopes(c, d, scope, rep.Trainers)
		return respond(c, http.StatusOK, agreementBody{Agreement: rep}, err)
	}
}

func filterScopes(c *gin.Context, d Deps, scope campaign.StatsScope, in []agreement.Scope) ([]agreement.Scope, error) {
	visible, err := visibleTrainers(c, d, scope)
	if err != nil {
		return nil, err
	}
	out := []agreement.Scope{}
	for _, t := range in {
		if visible(t.ID) {
			out = append(out, t)
		}
	}
	return out, nil
}

func handleTrainerStats(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		cp, err := d.Campaigns.Get(ctx, campaignOf(c))
		if err != nil {
			return err
		}
		scope, name, err := statsScope(c, d, cp.ID)
		if err != nil {
			return err
		}
		stats, err := d.Campaigns.TrainerStats(ctx, cp.ID, scope)
		if err != nil {
			return err
		}
		rep, err := d.Agreement.Report(ctx, cp.ID, 0)
		if err != nil {
			return err
		}
		if rep.Trainers, err = filterScopes(c, d, scope, rep.Trainers); err != nil {
			return err
		}
		c.JSON(http.StatusOK, trainerStatsBody{Campaign: cp, Trainers: stats, Agreement: rep, Scope: name})
		return nil
	}
}

// goldDraftBody is an item with its candidates, for the expert's gold form.
type goldDraftBody struct {
	Item campaign.GoldDraft `json:"item"`
}

func handleGoldDraft(d Deps) apiFunc {
	return func(c *gin.Context) error {
		item, err := idParam(c, "item")
		if err != nil {
			return err
		}
		draft, err := d.Campaigns.GoldDraftOf(c.Request.Context(), campaignOf(c), item)
		return respond(c, http.StatusOK, goldDraftBody{Item: draft}, err)
	}
}
