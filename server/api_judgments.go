package server

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/live"
	"github.com/mentor-ai/mentor/rlhf"
)

// handleGetTurn returns a turn with its candidates and the caller's judgments of it. In a
// project that ranks blind, a caller who judges (rather than reviews) gets the candidates
// without what would name their model or prompt version.
func handleGetTurn(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		t, err := d.Live.Turn(ctx, turnOf(c).id)
		if err != nil {
			return err
		}
		judgments, err := d.Live.Judgments(ctx, t.ID, principalOf(c).user.ID)
		if err != nil {
			return err
		}
		passages, err := turnPassages(c, d, t)
		if err != nil {
			return err
		}
		reveal, err := revealsModels(c, d, turnOf(c).personaID)
		if err != nil {
			return err
		}
		var candidates any = t.Candidates // []rlhf.Candidate
		if !reveal {
			blind := make([]blindCandidate, len(t.Candidates))
			for i, cand := range t.Candidates {
				blind[i] = blindCandidate{ID: cand.ID, TurnID: cand.TurnID, MessageID: cand.MessageID, Position: cand.Position,
					PassageIDs: cand.PassageIDs, Content: cand.Content, Status: cand.Status, FinishReason: cand.FinishReason,
					Error: live.RedactSources(cand.Error, cand), TTFTMillis: cand.TTFTMillis, DurationMillis: cand.DurationMillis}
			}
			candidates = blind
		}
		return respond(c, http.StatusOK, turnDetail{Turn: turnView{ID: t.ID, ConversationID: t.ConversationID,
			UserMessageID: t.UserMessageID, CreatedBy: t.CreatedBy, Candidates: candidates},
			Judgments: judgments, Passages: passages}, nil)
	}
}

// turnDetail is a turn as the trainer's screen loads it.
type turnDetail struct {
	Turn      turnView            `json:"turn"`
	Judgments []rlhf.JudgmentView `json:"judgments"`
	Passages  []turnPassage       `json:"passages"`
}

// turnView is a turn and its candidates: rlhf.Candidate for callers who may see models,
// blindCandidate for the others.
type turnView struct {
	ID             int64 `json:"id"`
	ConversationID int64 `json:"conversation_id"`
	UserMessageID  int64 `json:"user_message_id"`
	CreatedBy      int64 `json:"created_by"`
	Candidates     any   `json:"candidates" doc:"the candidates: each a Candidate, or a BlindCandidate in a blind project for a caller who does not see models"`
}

// editDiffInput is the text before and after an edit.
type editDiffInput struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// editDiff is an edit's operations: [op, text] pairs.
type editDiff struct {
	Ops [][2]any `json:"ops"`
}

// conversationTree is a conversation's whole tree of messages.
type conversationTree struct {
	PersonaID int64              `json:"persona_id"`
	Messages  []rlhf.TreeMessage `json:"messages"`
}

// blindCandidate is a candidate as a trainer of a blind project sees it: what it said and
// how it ended, and nothing that tells its model, endpoint, version or sampling.
type blindCandidate struct {
	ID             int64       `json:"id"`
	TurnID         int64       `json:"turn_id"`
	MessageID      int64       `json:"message_id"`
	Position       int         `json:"position"`
	PassageIDs     []int64     `json:"passage_ids"`
	Content        string      `json:"content"`
	Status         rlhf.Status `json:"status"`
	FinishReason   string      `json:"finish_reason"`
	Error          string      `json:"error"`
	TTFTMillis     *int        `json:"ttft_ms"`
	DurationMillis *int        `json:"duration_ms"`
}

// revealsModels reports whether the caller may see candidates' models in the persona's
// project (auth.SeesModels).
func revealsModels(c *gin.Context, d Deps, personaID int64) (bool, error) {
	ctx := c.Request.Context()
	persona, err := d.Prompts.Persona(ctx, personaID)
	if err != nil {
		return false, err
	}
	project, err := d.Prompts.Project(ctx, persona.ProjectID)
	if err != nil {
		return false, err
	}
	p := principalOf(c)
	role, err := d.Auth.Role(ctx, p.user.ID, project.ID)
	if err != nil {
		return false, err
	}
	return auth.SeesModels(p.user, role, project.BlindRanking), nil
}

// handleSubmitJudgment stores a judgment and its preference pairs. A retry with the same
// idempotency key returns the stored result with 200; a new judgment answers 201.
func handleSubmitJudgment(d Deps) apiFunc {
	return func(c *gin.Context) error {
		ctx := c.Request.Context()
		var sub rlhf.Submission
		if err := bindJSON(c, &sub); err != nil {
			return err
		}
		res, err := d.Live.SubmitLooked(ctx, submitLookupOf(c), principalOf(c).user.ID, sub)
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

// handleDiff shows an edit as it is typed: the same diff the judgment will store.
func handleEditDiff() apiFunc {
	return func(c *gin.Context) error {
		var in editDiffInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		c.JSON(http.StatusOK, editDiff{Ops: rlhf.Diff(in.From, in.To)})
		return nil
	}
}

// handleGetConversation returns a conversation's whole tree, for navigating its branches.
func handleGetConversation(d Deps) apiFunc {
	return func(c *gin.Context) error {
		personaID, msgs, err := d.Live.Conversation(c.Request.Context(), conversationOf(c))
		return respond(c, http.StatusOK, conversationTree{PersonaID: personaID, Messages: msgs}, err)
	}
}
