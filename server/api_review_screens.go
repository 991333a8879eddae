package server

// Quality control screens (issue 14): two small reads the QC pages need and the API did not
// answer yet. Deciding still happens where it did (PUT /appeals/:review, POST
// /campaigns/:campaign/batches); these only say what the screen should offer.

import (
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/mentor-ai/mentor/base"
	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/review"
)

// appealDetail is a waiting appeal with the judgment it is about, as the decider sees it.
type appealDetail struct {
	Appeal review.Appeal `json:"appeal"`
	Item   reviewItem    `json:"item"`
	// CanDecide says whether the caller may decide it: the project's admins and the leads of
	// the trainer's base, never the reviewer who rejected. PUT /appeals/:review decides
	// again, so a stale true only costs a refusal.
	CanDecide bool `json:"can_decide"`
}

// handleAppealDetail answers one of a campaign's waiting appeals with its judgment, for the
// campaign's appeals page. Whoever may list the campaign's appeals may read it (the
// project's reviewers and admins; a lead, their base's).
func handleAppealDetail(d Deps) apiFunc {
	return func(c *gin.Context) error {
		reviewID, err := idParam(c, "review")
		if err != nil {
			return err
		}
		sc, err := campaignScope(c, d)
		if err != nil {
			return err
		}
		ctx := c.Request.Context()
		as, err := d.Reviews.Appeals(ctx, sc)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(as, func(a review.Appeal) bool { return a.ReviewID == reviewID })
		if i < 0 {
			return errs.E(errs.NotFound, "no appeal of review %d waits for a decision in this campaign", reviewID)
		}
		a := as[i]
		_, manager, err := standing(c, d, sc.ProjectID)
		if err != nil {
			return err
		}
		me := principalOf(c).user.ID
		lead := false
		if !manager && a.BaseID != nil {
			if lead, err = d.Bases.LeadOf(ctx, me, *a.BaseID); err != nil {
				return err
			}
		}
		it, err := d.Reviews.Item(ctx, a.JudgmentID)
		if err != nil {
			return err
		}
		item, err := withTurn(c, d, it)
		return respond(c, http.StatusOK, appealDetail{Appeal: a, Item: item, CanDecide: (manager || lead) && a.ReviewerID != me}, err)
	}
}

// batchBases is the bases the caller may close a campaign's batches for.
type batchBases struct {
	Bases []base.Base `json:"bases"`
}

// handleBatchBases lists the bases the QC page's "close a batch" picker offers: the
// campaign's bases (the project's admitted bases when the campaign names none), all of
// them for the project's admins, only the ones they lead for anyone else.
func handleBatchBases(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		camp, err := d.Campaigns.Get(ctx, campaignOf(c))
		if err != nil {
			return err
		}
		_, manager, err := standing(c, d, camp.ProjectID)
		if err != nil {
			return err
		}
		all, err := d.Bases.ForProject(ctx, camp.ProjectID)
		if err != nil {
			return err
		}
		var led []base.Base
		if !manager {
			if led, err = d.Bases.Led(ctx, principalOf(c).user.ID); err != nil {
				return err
			}
		}
		out := batchBases{Bases: []base.Base{}}
		for _, b := range all {
			named := len(camp.Bases) == 0 && b.Admitted ||
				slices.ContainsFunc(camp.Bases, func(q campaign.BaseQuota) bool { return q.BaseID == b.ID })
			mine := manager || slices.ContainsFunc(led, func(l base.Base) bool { return l.ID == b.ID })
			if named && mine {
				out.Bases = append(out.Bases, b.Base)
			}
		}
		return respond(c, http.StatusOK, out, nil)
	}
}
