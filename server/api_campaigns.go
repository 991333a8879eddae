package server

import (
	"errors"
	"io"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/mentor-ai/mentor/base"
	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/rlhf"
)

// maxItemFile bounds an item or people file: 200,000 questions of a few hundred characters.
const maxItemFile = 64 << 20

func campaignOf(c *gin.Context) int64 { return c.MustGet(keyCampaign).(int64) }
func claimOf(c *gin.Context) int64    { return c.MustGet(keyClaim).(int64) }

// lineProblem is a line of an imported file that was not imported, in the reader's language.
type lineProblem struct {
	Line    int    `json:"line"`
	Field   string `json:"field"`
	Key     string `json:"key"` // the English message format: stable across languages
	Message string `json:"message"`
}

func lineProblems(c *gin.Context, in []campaign.LineError) []lineProblem {
	lang := requestLang(c.Request)
	out := make([]lineProblem, len(in))
	for i, e := range in {
		d := errs.Describe(e.Err, lang)
		out[i] = lineProblem{Line: e.Line, Field: e.Field, Key: d.Key, Message: d.Message}
	}
	return out
}

// The campaign API's bodies. Their JSON is what the pages (work.js, campaigns.js) read: a
// field renamed here is one renamed there.

// campaignList is a project's campaigns.
type campaignList struct {
	Campaigns []campaign.Campaign `json:"campaigns"`
}

// campaignCreated is a new draft with the warnings about it (k over the trainers who can
// work on it), in the reader's language.
type campaignCreated struct {
	Campaign campaign.Campaign `json:"campaign"`
	Warnings []string          `json:"warnings"`
}

// campaignDetail is a campaign with how far its items have come.
type campaignDetail struct {
	Campaign campaign.Campaign `json:"campaign"`
	Progress campaign.Progress `json:"progress"`
}

// campaignBody is one campaign.
type campaignBody struct {
	Campaign campaign.Campaign `json:"campaign"`
}

// stateInput is the state a campaign should move to.
type stateInput struct {
	State campaign.State `json:"state" doc:"open, paused or closed (a draft opens through generating unless it is live)"`
}

// guidelinesInput replaces a campaign's guidelines.
type guidelinesInput struct {
	Guidelines string `json:"guidelines" doc:"markdown, at most 100,000 characters"`
}

// itemsImported is what an item import did, line by line.
type itemsImported struct {
	Added      int                  `json:"added"`
	Duplicates []campaign.Duplicate `json:"duplicates"`
	Errors     []lineProblem        `json:"errors"`
}

// turnsInput names the turns to make items of.
type turnsInput struct {
	TurnIDs []int64 `json:"turn_ids"`
}

// turnProblem is a turn that could not become an item, and why.
type turnProblem struct {
	TurnID  int64  `json:"turn_id"`
	Message string `json:"message"`
}

// turnsAdded is how many turns became items, and the ones that did not.
type turnsAdded struct {
	Added  int           `json:"added"`
	Errors []turnProblem `json:"errors"`
}

// failedList is a campaign's items whose candidates could not be generated.
type failedList struct {
	Items []campaign.FailedItem `json:"items"`
}

// regenerating is how many failed items were queued again.
type regenerating struct {
	Regenerating int `json:"regenerating"`
}

// myWork is a trainer's 我的任务.
type myWork struct {
	Campaigns []workCampaign `json:"campaigns"`
	Leads     []base.Base    `json:"leads"`
}

// workCampaign is a campaign open to me, with its guidelines rendered. The guidelines are an
// admin's markdown, but rendered as a model's reply is (package render: raw HTML shown as
// text, then an allow-list), so a pasted <script> is words on the page, never run.
type workCampaign struct {
	campaign.Work
	GuidelinesHTML string `json:"guidelines_html" doc:"the guidelines as safe HTML (markdown rendered, raw HTML escaped)"`
}

// claimBody is one claim.
type claimBody struct {
	Claim campaign.Claim `json:"claim"`
}

// claimList is a trainer's open claims.
type claimList struct {
	Claims []campaign.Claim `json:"claims"`
}

// skipInput is why a trainer skips an item.
type skipInput struct {
	Reason string `json:"reason" doc:"unclear, needs_expertise, harmful or broken_candidates"`
}

// revealedCandidate names a blind pair's model once the vote is in.
type revealedCandidate struct {
	CandidateID int64  `json:"candidate_id"`
	Position    int    `json:"position"`
	Model       string `json:"model"`
}

// claimSubmitted is a stored judgment of a claimed item; a blind pairwise campaign's answer
// adds the candidates' models, which only it has.
type claimSubmitted struct {
	rlhf.Submitted
	Revealed []revealedCandidate `json:"revealed,omitempty" doc:"blind pairwise campaigns only: each candidate's model"`
}

// baseList is the labelling bases.
type baseList struct {
	Bases []base.Base `json:"bases"`
}

// projectBaseList is every base, each saying whether the project admits it.
type projectBaseList struct {
	Bases []base.ProjectBase `json:"bases"`
}

// baseInput names a new base.
type baseInput struct {
	Name string `json:"name"`
}

// baseBody is one base.
type baseBody struct {
	Base base.Base `json:"base"`
}

// peopleImported is what a people import did, row by row; new accounts' first passwords are
// here, once.
type peopleImported struct {
	Added  []base.Added  `json:"added"`
	Errors []lineProblem `json:"errors"`
}

// baseView is a lead's view of a base's people today.
type baseView struct {
	People []campaign.Person `json:"people"`
}

func handleListCampaigns(d Deps) apiFunc {
	return func(c *gin.Context) error {
		list, err := d.Campaigns.List(c.Request.Context(), projectOf(c).ID)
		return respond(c, http.StatusOK, campaignList{Campaigns: list}, err)
	}
}

// handleCreateCampaign stores a draft campaign. Warnings (k over the trainers who can work
// on it) come back in the reader's language beside the campaign.
func handleCreateCampaign(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in campaign.Input
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		saved, err := d.Campaigns.Create(c.Request.Context(), projectOf(c).ID, principalOf(c).user.ID, in)
		if err != nil {
			return err
		}
		lang := requestLang(c.Request)
		warnings := make([]string, len(saved.Warnings))
		for i, w := range saved.Warnings {
			warnings[i] = errs.Localize(w, lang)
		}
		c.JSON(http.StatusCreated, campaignCreated{Campaign: saved.Campaign, Warnings: warnings})
		return nil
	}
}

func handleGetCampaign(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		cp, err := d.Campaigns.Get(ctx, campaignOf(c))
		if err != nil {
			return err
		}
		progress, err := d.Campaigns.Progress(ctx, cp.ID)
		return respond(c, http.StatusOK, campaignDetail{Campaign: cp, Progress: progress}, err)
	}
}

func handleSetCampaignState(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in stateInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		cp, err := d.Campaigns.SetState(c.Request.Context(), campaignOf(c), in.State)
		return respond(c, http.StatusOK, campaignBody{Campaign: cp}, err)
	}
}

func handleSetGuidelines(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in guidelinesInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		cp, err := d.Campaigns.SetGuidelines(c.Request.Context(), campaignOf(c), in.Guidelines)
		return respond(c, http.StatusOK, campaignBody{Campaign: cp}, err)
	}
}

// uploadedFile reads the one file of a multipart upload (field "file") and says its format:
// ?format= when given, else the file name's extension.
func uploadedFile(c *gin.Context) ([]byte, string, error) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxItemFile)
	file, header, err := c.Request.FormFile("file")
	if errors.Is(err, http.ErrMissingFile) {
		file, header, err = c.Request.FormFile("files") // the name the browser's upload helper uses
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, "", errs.E(errs.TooLarge, "the file is over %d MiB", maxItemFile>>20)
		}
		return nil, "", errs.Field("file", "send the file as multipart/form-data in a field named \"file\"")
	}
	defer file.Close()
	data, err := io.ReadAll(file)
	if err != nil {
		return nil, "", errs.E(errs.TooLarge, "the file is over %d MiB", maxItemFile>>20)
	}
	format := c.Query("format")
	if format == "" {
		format = strings.TrimPrefix(strings.ToLower(path.Ext(header.Filename)), ".")
	}
	return data, format, nil
}

// handleImportItems imports a JSONL, CSV or XLSX file of items. Good lines go in; bad lines
// and duplicates are reported by line. A file that cannot be read at all is an error.
func handleImportItems(d Deps) apiFunc {
	return func(c *gin.Context) error {
		data, format, err := uploadedFile(c)
		if err != nil {
			return err
		}
		lines, bad, err := campaign.ParseItems(data, format)
		if err != nil {
			return err
		}
		rep, err := d.Campaigns.Import(c.Request.Context(), campaignOf(c), lines)
		if err != nil {
			return err
		}
		// 200 whatever the lines held: the answer is the report, line by line.
		c.JSON(http.StatusOK, itemsImported{Added: rep.Added, Duplicates: rep.Duplicates, Errors: lineProblems(c, append(bad, rep.Errors...))})
		return nil
	}
}

// handleAddTurns makes items of existing, unjudged turns; each turn that cannot be one is
// reported with why.
func handleAddTurns(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in turnsInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		added, problems, err := d.Campaigns.AddTurns(c.Request.Context(), campaignOf(c), in.TurnIDs)
		if err != nil {
			return err
		}
		lang := requestLang(c.Request)
		out := make([]turnProblem, len(problems))
		for i, p := range problems {
			out[i] = turnProblem{TurnID: p.TurnID, Message: errs.Localize(p.Err, lang)}
		}
		c.JSON(http.StatusOK, turnsAdded{Added: added, Errors: out})
		return nil
	}
}

func handleFailedItems(d Deps) apiFunc {
	return func(c *gin.Context) error {
		items, err := d.Campaigns.Failed(c.Request.Context(), campaignOf(c))
		return respond(c, http.StatusOK, failedList{Items: items}, err)
	}
}

func handleRegenerate(d Deps) apiFunc {
	return func(c *gin.Context) error {
		n, err := d.Campaigns.Regenerate(c.Request.Context(), campaignOf(c))
		return respond(c, http.StatusOK, regenerating{Regenerating: n}, err)
	}
}

// handleMyWork is the trainer's 我的任务: the campaigns open to them with their counts, and
// the bases they lead.
func handleMyWork(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		u := principalOf(c).user
		work, err := d.Campaigns.MyWork(ctx, u.ID, u.IsAdmin)
		if err != nil {
			return err
		}
		led, err := d.Bases.Led(ctx, u.ID)
		out := make([]workCampaign, len(work))
		for i, w := range work {
			out[i] = workCampaign{Work: w, GuidelinesHTML: d.renderer.Markdown(w.Guidelines)}
		}
		return respond(c, http.StatusOK, myWork{Campaigns: out, Leads: led}, err)
	}
}

func handleNext(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx, user := c.Request.Context(), principalOf(c).user.ID
		claim, err := d.Campaigns.Next(ctx, campaignOf(c), user)
		if err == nil {
			// A live campaign's item: its first claim starts its turn (api_campaign_live.go).
			claim, err = startLive(ctx, d, claim, user)
		}
		return respond(c, http.StatusCreated, claimBody{Claim: claim}, err)
	}
}

func handleOpenClaims(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx, user := c.Request.Context(), principalOf(c).user.ID
		claims, err := d.Campaigns.Open(ctx, campaignOf(c), user)
		for i := 0; err == nil && i < len(claims); i++ {
			// A live item whose start failed at its claim starts now (api_campaign_live.go).
			claims[i], err = startLive(ctx, d, claims[i], user)
		}
		return respond(c, http.StatusOK, claimList{Claims: claims}, err)
	}
}

func handleHeartbeat(d Deps) apiFunc {
	return func(c *gin.Context) error {
		claim, err := d.Campaigns.Heartbeat(c.Request.Context(), claimOf(c), principalOf(c).user.ID)
		return respond(c, http.StatusOK, claimBody{Claim: claim}, err)
	}
}

func handleSkip(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in skipInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		if err := d.Campaigns.Skip(c.Request.Context(), claimOf(c), principalOf(c).user.ID, in.Reason); err != nil {
			return err
		}
		c.Status(http.StatusNoContent)
		return nil
	}
}

// handleSubmitClaim stores the judgment of a claimed item and completes the claim in the
// same transaction (rlhf.Submission.InTx); the body is the one POST /turns/:turn/judgments
// takes. A lapsed lease is refused, and nothing is stored.
func handleSubmitClaim(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		var sub rlhf.Submission
		if err := bindJSON(c, &sub); err != nil {
			return err
		}
		user := principalOf(c).user.ID
		prep, err := d.Campaigns.PrepareSubmit(ctx, claimOf(c), user)
		if err != nil {
			return err
		}
		if err := prep.Check(sub); err != nil {
			return err
		}
		sub.InTx = prep.InTx
		res, err := d.Live.Submit(ctx, prep.TurnID, user, sub)
		if err != nil {
			return err
		}
		status := http.StatusCreated
		if res.Replayed {
			status = http.StatusOK
		} else {
			prep.Done(ctx)
		}
		if prep.TaskKind != campaign.BlindPairwise {
			c.JSON(status, claimSubmitted{Submitted: res})
			return nil
		}
		// Arena style: the two names are revealed once the vote is in, never before.
		turn, err := d.Live.Turn(ctx, prep.TurnID)
		if err != nil {
			return err
		}
		revealed := make([]revealedCandidate, len(turn.Candidates))
		for i, cand := range turn.Candidates {
			revealed[i] = revealedCandidate{CandidateID: cand.ID, Position: cand.Position, Model: cand.Model}
		}
		c.JSON(status, claimSubmitted{Submitted: res, Revealed: revealed})
		return nil
	}
}

func handleListBases(d Deps) apiFunc {
	return func(c *gin.Context) error {
		list, err := d.Bases.List(c.Request.Context())
		return respond(c, http.StatusOK, baseList{Bases: list}, err)
	}
}

func handleCreateBase(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in baseInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		b, err := d.Bases.Create(c.Request.Context(), in.Name)
		return respond(c, http.StatusCreated, baseBody{Base: b}, err)
	}
}

func handleProjectBases(d Deps) apiFunc {
	return func(c *gin.Context) error {
		list, err := d.Bases.ForProject(c.Request.Context(), projectOf(c).ID)
		return respond(c, http.StatusOK, projectBaseList{Bases: list}, err)
	}
}

func handleAdmitBase(d Deps) apiFunc {
	return func(c *gin.Context) error {
		id, err := idParam(c, "base")
		if err != nil {
			return err
		}
		if err := d.Bases.Admit(c.Request.Context(), projectOf(c).ID, id); err != nil {
			return err
		}
		c.Status(http.StatusNoContent)
		return nil
	}
}

// handleImportPeople imports a people CSV into the project: good rows go in, bad ones are
// reported by line. New accounts' first passwords are in the answer, once.
func handleImportPeople(d Deps) apiFunc {
	return func(c *gin.Context) error {
		data, _, err := uploadedFile(c)
		if err != nil {
			return err
		}
		rows, bad, err := base.ParsePeople(data)
		if err != nil {
			return err
		}
		rep, err := d.Bases.ImportPeople(c.Request.Context(), projectOf(c).ID, rows)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, peopleImported{Added: rep.Added, Errors: lineProblems(c, append(bad, rep.Errors...))})
		return nil
	}
}

// handleBaseView is a lead's view of their base. Anyone else is told there is no such base,
// as for a project they are not in.
func handleBaseView(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		id, err := idParam(c, "base")
		if err != nil {
			return err
		}
		u := principalOf(c).user
		if !u.IsAdmin {
			lead, err := d.Bases.LeadOf(ctx, u.ID, id)
			if err != nil {
				return err
			}
			if !lead {
				return errs.E(errs.NotFound, "no base %q", c.Param("base"))
			}
		}
		people, err := d.Campaigns.BaseView(ctx, id)
		return respond(c, http.StatusOK, baseView{People: people}, err)
	}
}
