package server

// A judgment's revisions (issue 14): every revision of one trainer's judgment of a turn and
// the reviewers' fixes of it, with the review decisions and appeals, for the trainer, the
// people who review it and the ML team, after the fact. The domain is in package review.

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/live"
	"github.com/mentor-ai/mentor/review"
)

// judgmentRevisions is a judgment's revisions with the turn's candidates as its trainer saw
// them (blind: their text and positions, not their models).
type judgmentRevisions struct {
	review.Revisions
	Candidates []blindCandidate `json:"candidates"`
}

// handleJudgmentRevisions lists the revisions of the trainer's judgment that :judgment is
// one of (or a reviewer's fix of). Which judgments a person may read depends on data (whose
// judgment it is, which base they lead), so the route is open to the signed-in and the
// check is here: the trainer themself, the project's reviewers and admins (and instance
// admins), and members of the project who lead the trainer's base. Anyone else gets the
// answer a judgment that does not exist gets.
func handleJudgmentRevisions(d Deps) apiFunc {
	return func(c *gin.Context) error {
		raw := c.Param("judgment")
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || id <= 0 {
			return errs.Field("judgment", "%q is not a judgment id: give the judgment's number", raw)
		}
		ctx := c.Request.Context()
		revs, err := d.Reviews.Revisions(ctx, id)
		if err != nil {
			return err
		}
		u := principalOf(c).user
		role, err := d.Auth.Role(ctx, u.ID, revs.ProjectID)
		if err != nil {
			return err
		}
		privileged := u.IsAdmin || role == auth.RoleAdmin || role == auth.RoleReviewer
		ok, err := d.Reviews.MayRead(ctx, revs, u.ID, privileged, role != "")
		if err != nil {
			return err
		}
		if !ok {
			return review.ErrNoJudgment(id)
		}
		t, err := d.Live.Turn(ctx, revs.TurnID)
		if err != nil {
			return err
		}
		out := judgmentRevisions{Revisions: revs, Candidates: make([]blindCandidate, len(t.Candidates))}
		for i, cand := range t.Candidates {
			out.Candidates[i] = blindCandidate{ID: cand.ID, TurnID: cand.TurnID, MessageID: cand.MessageID, Position: cand.Position,
				PassageIDs: cand.PassageIDs, Content: cand.Content, Status: cand.Status, FinishReason: cand.FinishReason,
				Error: live.RedactSources(cand.Error, cand), TTFTMillis: cand.TTFTMillis, DurationMillis: cand.DurationMillis}
		}
		return respond(c, http.StatusOK, out, nil)
	}
}

// fixList is the signed-in trainer's judgments that reviewers fixed, for My work.
type fixList struct {
	Fixes []review.FixedJudgment `json:"fixes"`
}

// handleMyFixes lists the reviewers' fixes of the caller's judgments: a fix is accepted with
// nothing to redo, so it is not among the reworks, yet the trainer should see what changed.
func handleMyFixes(d Deps) apiFunc {
	return func(c *gin.Context) error {
		fs, err := d.Reviews.Fixes(c.Request.Context(), principalOf(c).user.ID)
		if fs == nil {
			fs = []review.FixedJudgment{}
		}
		return respond(c, http.StatusOK, fixList{Fixes: fs}, err)
	}
}
