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

func handleListCampaigns(d Deps) apiFunc {
	return func(c *gin.Context) error {
		list, err := d.Campaigns.List(c.Request.Context(), projectOf(c).ID)
		return respond(c, http.StatusOK, gin.H{"campaigns": list}, err)
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
		c.JSON(http.StatusCreated, gin.H{"campaign": saved.Campaign, "warnings": warnings})
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
		return respond(c, http.StatusOK, gin.H{"campaign": cp, "progress": progress}, err)
	}
}

func handleSetCampaignState(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in struct {
			State campaign.State `json:"state"`
		}
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		cp, err := d.Campaigns.SetState(c.Request.Context(), campaignOf(c), in.State)
		return respond(c, http.StatusOK, gin.H{"campaign": cp}, err)
	}
}

func handleSetGuidelines(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in struct {
			Guidelines string `json:"guidelines"`
		}
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		cp, err := d.Campaigns.SetGuidelines(c.Request.Context(), campaignOf(c), in.Guidelines)
		return respond(c, http.StatusOK, gin.H{"campaign": cp}, err)
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
		c.JSON(http.StatusOK, gin.H{"added": rep.Added, "duplicates": rep.Duplicates, "errors": lineProblems(c, append(bad, rep.Errors...))})
		return nil
	}
}

// handleAddTurns makes items of existing, unjudged turns; each turn that cannot be one is
// reported with why.
func handleAddTurns(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in struct {
			TurnIDs []int64 `json:"turn_ids"`
		}
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		added, problems, err := d.Campaigns.AddTurns(c.Request.Context(), campaignOf(c), in.TurnIDs)
		if err != nil {
			return err
		}
		lang := requestLang(c.Request)
		out := make([]gin.H, len(problems))
		for i, p := range problems {
			out[i] = gin.H{"turn_id": p.TurnID, "message": errs.Localize(p.Err, lang)}
		}
		c.JSON(http.StatusOK, gin.H{"added": added, "errors": out})
		return nil
	}
}

func handleFailedItems(d Deps) apiFunc {
	return func(c *gin.Context) error {
		items, err := d.Campaigns.Failed(c.Request.Context(), campaignOf(c))
		return respond(c, http.StatusOK, gin.H{"items": items}, err)
	}
}

func handleRegenerate(d Deps) apiFunc {
	return func(c *gin.Context) error {
		n, err := d.Campaigns.Regenerate(c.Request.Context(), campaignOf(c))
		return respond(c, http.StatusOK, gin.H{"regenerating": n}, err)
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
		return respond(c, http.StatusOK, gin.H{"campaigns": work, "leads": led}, err)
	}
}

func handleNext(d Deps) apiFunc {
	return func(c *gin.Context) error {
		claim, err := d.Campaigns.Next(c.Request.Context(), campaignOf(c), principalOf(c).user.ID)
		return respond(c, http.StatusCreated, gin.H{"claim": claim}, err)
	}
}

func handleOpenClaims(d Deps) apiFunc {
	return func(c *gin.Context) error {
		claims, err := d.Campaigns.Open(c.Request.Context(), campaignOf(c), principalOf(c).user.ID)
		return respond(c, http.StatusOK, gin.H{"claims": claims}, err)
	}
}

func handleHeartbeat(d Deps) apiFunc {
	return func(c *gin.Context) error {
		claim, err := d.Campaigns.Heartbeat(c.Request.Context(), claimOf(c), principalOf(c).user.ID)
		return respond(c, http.StatusOK, gin.H{"claim": claim}, err)
	}
}

func handleSkip(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in struct {
			Reason string `json:"reason"`
		}
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
			c.JSON(status, res)
			return nil
		}
		// Arena style: the two names are revealed once the vote is in, never before.
		turn, err := d.Live.Turn(ctx, prep.TurnID)
		if err != nil {
			return err
		}
		revealed := make([]gin.H, len(turn.Candidates))
		for i, cand := range turn.Candidates {
			revealed[i] = gin.H{"candidate_id": cand.ID, "position": cand.Position, "model": cand.Model}
		}
		c.JSON(status, gin.H{"judgment_id": res.JudgmentID, "revision": res.Revision, "pairs": res.Pairs,
			"continuation_message_id": res.ContinuationMessageID, "edited_message_id": res.EditedMessageID,
			"gold_message_id": res.GoldMessageID, "replayed": res.Replayed, "revealed": revealed})
		return nil
	}
}

func handleListBases(d Deps) apiFunc {
	return func(c *gin.Context) error {
		list, err := d.Bases.List(c.Request.Context())
		return respond(c, http.StatusOK, gin.H{"bases": list}, err)
	}
}

func handleCreateBase(d Deps) apiFunc {
	return func(c *gin.Context) error {
		var in struct {
			Name string `json:"name"`
		}
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		b, err := d.Bases.Create(c.Request.Context(), in.Name)
		return respond(c, http.StatusCreated, gin.H{"base": b}, err)
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
		c.JSON(http.StatusOK, gin.H{"added": rep.Added, "errors": lineProblems(c, append(bad, rep.Errors...))})
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
		return respond(c, http.StatusOK, gin.H{"people": people}, err)
	}
}
