package server

// Quality control, part A (issue 14): the review stream, rework and appeals, batches with
// GB/T 2828.1 acceptance sampling, and the QC dashboard. The domain is in packages review
// and acceptance; this file only routes.

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/mentor-ai/mentor/acceptance"
	"github.com/mentor-ai/mentor/audit"
	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/live"
	"github.com/mentor-ai/mentor/review"
	"github.com/mentor-ai/mentor/rlhf"
)

func reviewOf(c *gin.Context) int64 { return c.MustGet(keyReview).(int64) }
func batchOf(c *gin.Context) int64  { return c.MustGet(keyBatch).(int64) }

// standing is what the caller's role in a project lets them do in quality control: review
// everything (the project's reviewers and admins), and manage (its admins).
func standing(c *gin.Context, d Deps, projectID int64) (reviewer, manager bool, err error) {
	u := principalOf(c).user
	if u.IsAdmin {
		return true, true, nil
	}
	role, err := d.Auth.Role(c.Request.Context(), u.ID, projectID)
	if err != nil {
		return false, false, err
	}
	return role == auth.RoleAdmin || role == auth.RoleReviewer, role == auth.RoleAdmin, nil
}

func campaignScope(c *gin.Context, d Deps) (review.Scope, error) {
	ctx := c.Request.Context()
	projectID, err := d.Campaigns.ProjectOf(ctx, campaignOf(c))
	if err != nil {
		return review.Scope{}, err
	}
	reviewer, _, err := standing(c, d, projectID)
	if err != nil {
		return review.Scope{}, err
	}
	return d.Reviews.ScopeFor(ctx, campaignOf(c), principalOf(c).user.ID, reviewer)
}

// reviewItem is one judgment as the review screen shows it: the trainer's marks, the turn's
// candidates (blind: the reviewer judges the ranking, not the models) and its passages.
type reviewItem struct {
	review.Item
	Candidates []blindCandidate `json:"candidates"`
	Passages   []turnPassage    `json:"passages"`
}

func withTurn(c *gin.Context, d Deps, it review.Item) (reviewItem, error) {
	t, err := d.Live.Turn(c.Request.Context(), it.TurnID)
	if err != nil {
		return reviewItem{}, err
	}
	passages, err := turnPassages(c, d, t)
	if err != nil {
		return reviewItem{}, err
	}
	out := reviewItem{Item: it, Candidates: make([]blindCandidate, len(t.Candidates)), Passages: passages}
	for i, cand := range t.Candidates {
		out.Candidates[i] = blindCandidate{ID: cand.ID, TurnID: cand.TurnID, MessageID: cand.MessageID, Position: cand.Position,
			PassageIDs: cand.PassageIDs, Content: cand.Content, Status: cand.Status, FinishReason: cand.FinishReason,
			Error: live.RedactSources(cand.Error, cand), TTFTMillis: cand.TTFTMillis, DurationMillis: cand.DurationMillis}
	}
	return out, nil
}

func optionalID(c *gin.Context, name string) (*int64, error) {
	raw := c.Query(name)
	if raw == "" {
		return nil, nil
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return nil, errs.Field(name, "%q is not an id", raw)
	}
	return &id, nil
}

// handleReviewNext takes the next judgment waiting for review in a campaign (or one batch of
// it) and keeps it for the reviewer a few minutes.
func handleReviewNext(d Deps) apiFunc {
	return func(c *gin.Context) error {
		sc, err := campaignScope(c, d)
		if err != nil {
			return err
		}
		batch, err := optionalID(c, "batch")
		if err != nil {
			return err
		}
		it, err := d.Reviews.Next(c.Request.Context(), sc, batch, principalOf(c).user.ID)
		if err != nil {
			return err
		}
		out, err := withTurn(c, d, it)
		return respond(c, http.StatusOK, out, err)
	}
}

// handleReview records a review decision: accept, reject with a reason, or fix and accept.
func handleReview(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in review.Decision
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		sc, err := campaignScope(c, d)
		if err != nil {
			return err
		}
		out, err := d.Reviews.Decide(c.Request.Context(), sc, principalOf(c).user.ID, in, nil)
		return respond(c, http.StatusCreated, out, err)
	}
}

// reasonList is a project's rejection reasons.
type reasonList struct {
	Reasons []review.Reason `json:"reasons"`
}

func handleReviewReasons(d Deps) apiFunc {
	return func(c *gin.Context) error {
		rs, err := d.Reviews.Reasons(c.Request.Context(), projectOf(c).ID)
		return respond(c, http.StatusOK, reasonList{Reasons: rs}, err)
	}
}

func handleSetReviewReasons(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in reasonList
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		ctx := c.Request.Context()
		if err := d.Reviews.SetReasons(ctx, projectOf(c).ID, in.Reasons); err != nil {
			return err
		}
		rs, err := d.Reviews.Reasons(ctx, projectOf(c).ID)
		return respond(c, http.StatusOK, reasonList{Reasons: rs}, err)
	}
}

// reworkList is the signed-in trainer's reworks, for My work.
type reworkList struct {
	Reworks []review.Rework `json:"reworks"`
}

func handleMyReworks(d Deps) apiFunc {
	return func(c *gin.Context) error {
		rs, err := d.Reviews.Reworks(c.Request.Context(), principalOf(c).user.ID)
		if rs == nil {
			rs = []review.Rework{}
		}
		return respond(c, http.StatusOK, reworkList{Reworks: rs}, err)
	}
}

// reworkDetail is a rework with the judgment it sends back, for the trainer's screen.
type reworkDetail struct {
	Rework review.Rework `json:"rework"`
	Item   reviewItem    `json:"item"`
}

func handleGetRework(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		rw, err := d.Reviews.ReworkOf(ctx, reviewOf(c), principalOf(c).user.ID)
		if err != nil {
			return err
		}
		it, err := d.Reviews.Item(ctx, rw.JudgmentID)
		if err != nil {
			return err
		}
		item, err := withTurn(c, d, it)
		return respond(c, http.StatusOK, reworkDetail{Rework: rw, Item: item}, err)
	}
}

// handleResubmit stores the trainer's reworked judgment as a new revision, which goes back to
// review.
func handleResubmit(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var sub rlhf.Submission
		if err := bindJSON(c, &sub); err != nil {
			return err
		}
		res, err := d.Reviews.Resubmit(c.Request.Context(), reviewOf(c), principalOf(c).user.ID, sub)
		if err != nil {
			return err
		}
		status := http.StatusCreated
		if res.Replayed {
			status = http.StatusOK
		}
		c.JSON(status, res)
		return nil
	}
}

// appealInput is a trainer's appeal of a rejection.
type appealInput struct {
	Reason string `json:"reason"` // why the rejection is wrong
}

func handleAppeal(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in appealInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		a, err := d.Reviews.FileAppeal(c.Request.Context(), reviewOf(c), principalOf(c).user.ID, in.Reason)
		if err != nil {
			return err
		}
		projectID := c.MustGet(keyReviewProject).(int64)
		record(c, d, audit.Event{Action: audit.AppealFiled, ProjectID: &projectID, Target: "review " + strconv.FormatInt(a.ReviewID, 10),
			Details: map[string]any{"judgment_id": a.JudgmentID, "reason": a.Reason}})
		c.JSON(http.StatusCreated, a)
		return nil
	}
}

// appealList is a campaign's appeals waiting for a decision.
type appealList struct {
	Appeals []review.Appeal `json:"appeals"`
}

func handleListAppeals(d Deps) apiFunc {
	return func(c *gin.Context) error {
		sc, err := campaignScope(c, d)
		if err != nil {
			return err
		}
		as, err := d.Reviews.Appeals(c.Request.Context(), sc)
		if as == nil {
			as = []review.Appeal{}
		}
		return respond(c, http.StatusOK, appealList{Appeals: as}, err)
	}
}

// appealDecision is a lead's or admin's decision of an appeal.
type appealDecision struct {
	Decision string `json:"decision"` // upheld (the rejection stands) or overturned (the judgment is accepted)
	Note     string `json:"note"`     // for the trainer
}

func handleDecideAppeal(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in appealDecision
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		projectID := c.MustGet(keyReviewProject).(int64)
		_, manager, err := standing(c, d, projectID)
		if err != nil {
			return err
		}
		a, err := d.Reviews.DecideAppeal(c.Request.Context(), reviewOf(c), principalOf(c).user.ID, manager, in.Decision, in.Note)
		if err != nil {
			return err
		}
		record(c, d, audit.Event{Action: audit.AppealDecided, ProjectID: &projectID, Target: "review " + strconv.FormatInt(a.ReviewID, 10),
			Details: map[string]any{"judgment_id": a.JudgmentID, "decision": a.State, "note": a.Note}})
		return respond(c, http.StatusOK, a, nil)
	}
}

// Batches and acceptance sampling.

func handleQCSettings(d Deps) apiFunc {
	return func(c *gin.Context) error {
		s, err := d.Acceptance.Settings(c.Request.Context(), campaignOf(c))
		return respond(c, http.StatusOK, s, err)
	}
}

func handleSetQCSettings(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in acceptance.Settings
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		s, err := d.Acceptance.SetSettings(c.Request.Context(), campaignOf(c), in)
		return respond(c, http.StatusOK, s, err)
	}
}

func handleCloseBatch(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in acceptance.CloseInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		ctx := c.Request.Context()
		projectID, err := d.Campaigns.ProjectOf(ctx, campaignOf(c))
		if err != nil {
			return err
		}
		_, manager, err := standing(c, d, projectID)
		if err != nil {
			return err
		}
		b, err := d.Acceptance.Close(ctx, campaignOf(c), principalOf(c).user.ID, manager, in)
		return respond(c, http.StatusCreated, b, err)
	}
}

// batchList is a campaign's batches.
type batchList struct {
	Batches []acceptance.Batch `json:"batches"`
}

func handleListBatches(d Deps) apiFunc {
	return func(c *gin.Context) error {
		base, err := optionalID(c, "base")
		if err != nil {
			return err
		}
		bs, err := d.Acceptance.List(c.Request.Context(), campaignOf(c), base)
		if bs == nil {
			bs = []acceptance.Batch{}
		}
		return respond(c, http.StatusOK, batchList{Batches: bs}, err)
	}
}

// batchDetail is a batch with its sample in draw order.
type batchDetail struct {
	Batch  acceptance.Batch        `json:"batch"`
	Sample []acceptance.SampleItem `json:"sample"`
}

func handleGetBatch(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		b, err := d.Acceptance.Get(ctx, batchOf(c))
		if err != nil {
			return err
		}
		s, err := d.Acceptance.SampleOf(ctx, b.ID)
		if s == nil {
			s = []acceptance.SampleItem{}
		}
		return respond(c, http.StatusOK, batchDetail{Batch: b, Sample: s}, err)
	}
}

func batchStanding(c *gin.Context, d Deps) (bool, error) {
	reviewer, _, err := standing(c, d, c.MustGet(keyBatchProject).(int64))
	return reviewer, err
}

func handleBatchNext(d Deps) apiFunc {
	return func(c *gin.Context) error {
		reviewer, err := batchStanding(c, d)
		if err != nil {
			return err
		}
		it, err := d.Acceptance.NextSample(c.Request.Context(), batchOf(c), principalOf(c).user.ID, reviewer, c.Query("tier"))
		if err != nil {
			return err
		}
		out, err := withTurn(c, d, it)
		return respond(c, http.StatusOK, out, err)
	}
}

// inspectionInput is one tier's inspection of a sampled judgment: a review decision.
type inspectionInput struct {
	Tier string `json:"tier"` // base (the base's own check, 质检) or centre (the centre's acceptance, 验收)
	review.Decision
}

func handleInspect(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in inspectionInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		reviewer, err := batchStanding(c, d)
		if err != nil {
			return err
		}
		out, err := d.Acceptance.Inspect(c.Request.Context(), batchOf(c), principalOf(c).user.ID, reviewer, in.Tier, in.Decision)
		return respond(c, http.StatusCreated, out, err)
	}
}

func handleQCDashboard(d Deps) apiFunc {
	return func(c *gin.Context) error {
		base, err := optionalID(c, "base")
		if err != nil {
			return err
		}
		out, err := d.Acceptance.Dashboard(c.Request.Context(), campaignOf(c), base)
		return respond(c, http.StatusOK, out, err)
	}
}

// Reduced inspection and discontinuation (issue 14): a note of what the switching rules
// cannot see in the batches, by the project's admins (the standard's responsible authority).
func handleInspectionNote(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in acceptance.NoteInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		out, err := d.Acceptance.AddNote(c.Request.Context(), campaignOf(c), principalOf(c).user.ID, in)
		return respond(c, http.StatusCreated, out, err)
	}
}
