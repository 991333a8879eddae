package server

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/mentor-ai/mentor/rlhf"
)

// handleGetTurn returns a turn with its candidates and the caller's judgments of it.
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
		return respond(c, http.StatusOK, gin.H{"turn": t, "judgments": judgments, "passages": passages}, err)
	}
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
		turn := turnOf(c)
		dims, err := d.Prompts.Rubric(ctx, turn.personaID)
		if err != nil {
			return err
		}
		scales := make([]rlhf.Scale, len(dims))
		for i, dim := range dims {
			scales[i] = rlhf.Scale{Key: dim.Key, Min: dim.ScaleMin, Max: dim.ScaleMax}
		}
		res, err := d.Live.Submit(ctx, turn.id, principalOf(c).user.ID, scales, sub)
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
		var in struct {
			From string `json:"from"`
			To   string `json:"to"`
		}
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		c.JSON(http.StatusOK, gin.H{"ops": rlhf.Diff(in.From, in.To)})
		return nil
	}
}

// handleGetConversation returns a conversation's whole tree, for navigating its branches.
func handleGetConversation(d Deps) apiFunc {
	return func(c *gin.Context) error {
		personaID, msgs, err := d.Live.Conversation(c.Request.Context(), conversationOf(c))
		return respond(c, http.StatusOK, gin.H{"persona_id": personaID, "messages": msgs}, err)
	}
}
