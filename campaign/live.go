package campaign

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
)

// Live generation (issue 13): a live campaign's items are ready without candidates
// (migration 00021), are dealt as any other, and their first claim starts their turn through
// the live engine, streaming as the trainer's screen does. Later claimants of the item are
// given the same turn. The turn is started under the item's row lock, so two claimants
// never start two turns; claims of the item meanwhile skip it (SKIP LOCKED), as they skip
// any item another claim holds.

// LiveTurn is what starting a live item's turn needs.
type LiveTurn struct {
	ItemID, CampaignID, ProjectID, PersonaID int64
	TrainerID                                int64  // the claimant who starts it: the turn's author
	ConversationID                           int64  // the item's prior conversation, stored; 0 without one
	ParentID                                 *int64 // the prior's last message
	Question                                 string
	Plan                                     []PlanEntry
	// ShuffleSeed shuffles the candidates' positions, in a blind project or a blind pairwise
	// campaign (the item's id, as pre-generation shuffles); nil otherwise.
	ShuffleSeed *int64
	Blind       bool // the trainers may not learn which model wrote which candidate
}

// LiveStarter starts live items' turns: the live engine, in mentor serve.
type LiveStarter interface {
	// StartItem starts the item's turn streaming and returns its id.
	StartItem(ctx context.Context, t LiveTurn) (turnID int64, err error)
	// RestartItem streams again the failed candidates of a turn that cannot be judged as it
	// stands (and nobody judged), and reports how many it restarted.
	RestartItem(ctx context.Context, turnID, trainerID int64, blind bool) (int, error)
}

// ErrNotLive refuses to stream the candidates of an item that was generated ahead.
var ErrNotLive = errs.E(errs.Conflict, "this item's candidates were generated ahead: read them from its turn")

// StartLive makes sure the live item of the trainer's open claim has its turn: the first
// claim of an item starts it, a later one finds it (and has its failed candidates streamed
// again when the turn cannot be judged as it stands). It returns the claim with its turn, and
// whether its trainers rank blind (a blind project, or a blind pairwise campaign).
func (s *Store) StartLive(ctx context.Context, claimID, trainerID int64, start LiveStarter) (Claim, bool, error) {
	now := s.now()
	var hidden bool
	err := s.inTx(ctx, func(tx pgx.Tx) (context.Context, error) {
		var owner int64
		var state string
		var lt LiveTurn
		var live, blind bool
		var turn *int64
		var prior, plan []byte
		var kind TaskKind
		var until time.Time
		err := tx.QueryRow(ctx, `SELECT cl.trainer_id, cl.state, cl.lease_until, i.id, i.campaign_id, c.project_id, c.persona_id, i.live, i.turn_id,
				i.question, i.prior, c.plan, c.task_kind, p.blind_ranking
			FROM claims cl JOIN campaign_items i ON i.id = cl.item_id JOIN campaigns c ON c.id = i.campaign_id JOIN projects p ON p.id = c.project_id
			WHERE cl.id = $1 FOR UPDATE OF i`, claimID).
			Scan(&owner, &state, &until, &lt.ItemID, &lt.CampaignID, &lt.ProjectID, &lt.PersonaID, &live, &turn, &lt.Question, &prior, &plan, &kind, &blind)
		if err != nil {
			return ctx, db.Error(err, "claim %d", claimID)
		}
		if err := checkOwnOpen(owner, trainerID, state, until, now); err != nil {
			return ctx, err
		}
		if !live {
			return ctx, ErrNotLive
		}
		lt.Blind = blind || kind == BlindPairwise
		hidden = lt.Blind
		if turn != nil {
			_, err := start.RestartItem(ctx, *turn, trainerID, lt.Blind)
			return ctx, err
		}
		var msgs []PriorMessage
		if err := json.Unmarshal(prior, &msgs); err != nil {
			return ctx, err
		}
		if err := json.Unmarshal(plan, &lt.Plan); err != nil {
			return ctx, err
		}
		lt.TrainerID = trainerID
		if len(msgs) > 0 {
			// The prior conversation goes in first, committed, so the turn (written by the live
			// engine on a connection of its own) can continue from its last message. Should the
			// start fail, it stays behind, an unjudged conversation nobody sees.
			if lt.ConversationID, lt.ParentID, err = s.storePrior(ctx, lt, msgs); err != nil {
				return ctx, err
			}
		}
		if lt.Blind {
			seed := lt.ItemID
			lt.ShuffleSeed = &seed
		}
		id, err := start.StartItem(ctx, lt)
		if err != nil {
			return ctx, err
		}
		// The turn is committed and streaming: from here the item must get it, even when the
		// trainer's request goes away (a reload, a closed tab), or the item would stay without
		// a turn and its next claimant would start, and pay for, a second one.
		linked := context.WithoutCancel(ctx)
		_, err = tx.Exec(linked, `UPDATE campaign_items SET turn_id = $2 WHERE id = $1`, lt.ItemID, id)
		return linked, err
	})
	if err != nil {
		return Claim{}, false, db.Error(err, "start the live item of claim %d", claimID)
	}
	c, err := getClaim(ctx, s.pool, claimID)
	return c, hidden, err
}

// inTx runs do in a transaction begun with ctx and commits it with the context do returns:
// do makes the commit uncancellable once it has done what must be kept.
func (s *Store) inTx(ctx context.Context, do func(pgx.Tx) (context.Context, error)) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	commit, err := do(tx)
	if err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	return tx.Commit(commit)
}

// storePrior writes an item's prior conversation (as pre-generation does, storeGenerated)
// and returns it with its last message, in a transaction of its own.
func (s *Store) storePrior(ctx context.Context, lt LiveTurn, prior []PriorMessage) (int64, *int64, error) {
	var conv int64
	var parent *int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO conversations (project_id, persona_id, created_by, locale)
			SELECT project_id, id, $2, locale FROM personas WHERE id = $1 RETURNING id`, lt.PersonaID, lt.TrainerID).Scan(&conv); err != nil {
			return err
		}
		for _, m := range prior {
			var authorID *int64
			kind := "model"
			if m.Role == "user" {
				authorID, kind = &lt.TrainerID, "human"
			}
			var id int64
			if err := tx.QueryRow(ctx, `INSERT INTO messages (conversation_id, parent_id, role, author, author_id, content)
				VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, conv, parent, m.Role, kind, authorID, m.Content).Scan(&id); err != nil {
				return err
			}
			parent = &id
		}
		return nil
	})
	return conv, parent, db.Error(err, "store item %d's prior conversation", lt.ItemID)
}
