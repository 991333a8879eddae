package campaign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/honeypot"
	"github.com/mentor-ai/mentor/rlhf"
	"github.com/mentor-ai/mentor/webhook"
)

// Skip reasons a trainer can give.
const (
	SkipUnclear          = "unclear"
	SkipNeedsExpertise   = "needs_expertise"
	SkipHarmful          = "harmful"
	SkipBrokenCandidates = "broken_candidates"
)

// SkipReasons lists every skip reason.
var SkipReasons = []string{SkipUnclear, SkipNeedsExpertise, SkipHarmful, SkipBrokenCandidates}

// Claim is a trainer's lease on one item, with what the work screen shows of the item.
type Claim struct {
	ID                int64           `json:"id"`
	CampaignID        int64           `json:"campaign_id"`
	ItemID            int64           `json:"item_id"`
	TurnID            int64           `json:"turn_id"`
	ConversationID    int64           `json:"conversation_id"`
	Question          string          `json:"question"`
	Prior             json.RawMessage `json:"prior"` // earlier messages, [{role, content}]
	Tags              []string        `json:"tags"`
	State             string          `json:"state"` // open, submitted, expired or skipped
	ClaimedAt         time.Time       `json:"claimed_at"`
	LeaseUntil        time.Time       `json:"lease_until"`
	GuidelinesVersion int             `json:"guidelines_version"`
	// Swapped marks a side-swap repeat (swap.go): the work screen shows the item's two
	// replies in the other order, and labels them A and B as it shows them.
	Swapped bool `json:"swapped"`
	// Live says the item's candidates stream when it is first claimed (a live campaign,
	// live.go): the screen follows them from GET /claims/:claim/stream. TurnID is 0 until
	// the item's turn has started.
	Live bool `json:"live"`
}

// Errors a claim can end in. Each says what to do next.
var (
	ErrNoWork      = errs.E(errs.NotFound, "no item is ready for you in this campaign right now")
	ErrLeaseLapsed = errs.E(errs.Conflict, "your claim on this item expired and the item went back to the pool: take the next item")
	ErrNotYours    = errs.E(errs.Conflict, "this claim is another trainer's") // a conflict with who holds it; 403 is the access policy's answer
	ErrClaimClosed = errs.E(errs.Conflict, "this claim is closed already (submitted or skipped)")
	ErrQuotaUsed   = errs.E(errs.Unprocessable, "your base's quota for this campaign is used up")
	ErrNotInBase   = errs.E(errs.Forbidden, "this campaign is given to other bases than yours")
)

func errNotOpen(id int64, state State) error {
	return errs.E(errs.Unprocessable, "campaign %d is %s: it takes no claims", id, state)
}

func errCap(n int) error {
	return errs.E(errs.Unprocessable, "you already hold %d open items, the most this campaign allows: submit or skip one first", n)
}

// lockTrainer serialises one trainer's claims in one transaction's life: the cap on open
// claims and "never the same item twice" are then checked against everything the trainer
// holds.
func lockTrainer(b *pgx.Batch, trainerID int64) {
	b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, fmt.Sprintf("claim:%d", trainerID))
}

// expire returns the items of the campaign's lapsed leases to the pool. It runs lazily, at
// the start of every claim, so an injected clock is all a test needs; rows another
// transaction is expiring are skipped, never waited for.
//
// Only one transaction expires a campaign's leases at a time (a try-lock: the others go on
// without waiting): two expiries updating the same items in different orders could deadlock.
func expire(b *pgx.Batch, campaignID int64, now time.Time) {
	b.Queue(`WITH mine AS (SELECT pg_try_advisory_xact_lock(hashtextextended($3, 0)) AS locked),
		lapsed AS (
			SELECT id FROM claims WHERE (SELECT locked FROM mine) AND campaign_id = $1 AND state = 'open' AND lease_until <= $2
			ORDER BY id FOR UPDATE SKIP LOCKED),
		upd AS (UPDATE claims SET state = 'expired', closed_at = $2 FROM lapsed WHERE claims.id = lapsed.id
			RETURNING claims.item_id, claims.base_id, claims.swap_of IS NOT NULL AS swap),
		items AS (UPDATE campaign_items i SET taken = i.taken - n.c
			FROM (SELECT item_id, count(*)::int AS c FROM upd WHERE NOT upd.swap GROUP BY item_id) n WHERE i.id = n.item_id)
		UPDATE campaign_bases b SET used = b.used - n.c
			FROM (SELECT base_id, count(*)::int AS c FROM upd WHERE base_id IS NOT NULL GROUP BY base_id) n
			WHERE b.campaign_id = $1 AND b.base_id = n.base_id`, campaignID, now, fmt.Sprintf("expire:%d", campaignID))
}

// Next claims one ready item of the campaign for the trainer, atomically: the item is locked
// with FOR UPDATE SKIP LOCKED, so concurrent trainers take different items without waiting,
// and it is taken only while fewer than k trainers hold or have judged it (taken < k, checked
// again by PostgreSQL on the locked row). A trainer never gets an item twice: not after
// judging it, skipping it, or letting its lease lapse.
//
// A claim is two round trips in the common case: the transaction's start with everything the
// checks need, then the pick and the claim in one statement with the commit. It was five
// (begin; the checks; the pick; the claim; commit), each a wake-up of both sides on a busy
// machine: at 1,000,000 items and 500 trainers the claim's p99 was its round trips' queueing,
// not its SQL (every statement ran in under a millisecond in EXPLAIN ANALYZE).
func (s *Store) Next(ctx context.Context, campaignID, trainerID int64) (Claim, error) {
	out, err := s.next(ctx, campaignID, trainerID)
	if err != nil {
		return Claim{}, db.Error(err, "claim an item of campaign %d", campaignID)
	}
	return out, nil
}

// Claiming SQL. pickSQL is the queue's next item for a trainer ($1 campaign, $2 trainer, $3 k):
// adaptive overlap asks some items for up to 2 judgments beyond k (extra_k), and "OFFSET 0"
// keeps "never claimed by me" a probe of claims_item_trainer per item the queue offers:
// without it the planner may make it an anti join that scans claims, which it did whenever
// claims had grown since its statistics (5 ms of PostgreSQL CPU per claim with 20,000 items
// and a few thousand claims, 0.5 ms after).
const (
	pickSQL = `SELECT i.id FROM campaign_items i
		WHERE i.campaign_id = $1 AND i.generation = 'ready' AND i.completed_at IS NULL AND NOT i.set_aside AND NOT i.gold AND i.taken < $3 + i.extra_k
			AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.item_id = i.id AND c.trainer_id = $2 OFFSET 0)
		ORDER BY i.taken, i.id LIMIT 1 FOR UPDATE OF i SKIP LOCKED`
	// claimedSQL takes the place (a repeat, $8, takes none toward k), writes the claim and
	// returns it as the screen shows it, from item (the taken item) and claim.
	claimedSQL = `claim AS (INSERT INTO claims (campaign_id, item_id, trainer_id, base_id, claimed_at, lease_until, guidelines_version, swap_of)
			SELECT $1, item.id, $3, $4, $5, $6, $7, $8 FROM item RETURNING id, item_id, state, claimed_at, lease_until)
		SELECT claim.id, item.id, coalesce(item.turn_id, 0), coalesce((SELECT conversation_id FROM turns WHERE id = item.turn_id), 0), item.question,
			item.prior, item.tags, claim.state, claim.claimed_at, claim.lease_until, item.live FROM claim JOIN item ON item.id = claim.item_id`
	// claimItemSQL claims a known item ($2): a gold item, a side-swap repeat, or one picked
	// before its base's quota was taken.
	claimItemSQL = `WITH item AS (UPDATE campaign_items SET taken = taken + CASE WHEN $8::bigint IS NULL THEN 1 ELSE 0 END
			WHERE id = $2 RETURNING id, turn_id, question, prior, tags, live), ` + claimedSQL
	// pickClaimSQL picks and claims in one statement ($2 unused: pickSQL's trainer is $3 here).
	pickClaimSQL = `WITH pick AS (SELECT i.id FROM campaign_items i
			WHERE i.campaign_id = $1 AND i.generation = 'ready' AND i.completed_at IS NULL AND NOT i.set_aside AND NOT i.gold AND i.taken < $2 + i.extra_k
				AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.item_id = i.id AND c.trainer_id = $3 OFFSET 0)
			ORDER BY i.taken, i.id LIMIT 1 FOR UPDATE OF i SKIP LOCKED),
		item AS (UPDATE campaign_items i SET taken = i.taken + 1 FROM pick WHERE i.id = pick.id RETURNING i.id, i.turn_id, i.question, i.prior, i.tags, i.live), ` + claimedSQL
)

func (s *Store) next(ctx context.Context, campaignID, trainerID int64) (Claim, error) {
	now := s.now()
	var out Claim
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return out, err
	}
	defer conn.Release() // a connection left in a transaction is closed, not reused (pgxpool)
	inTx := false
	defer func() {
		if inTx {
			// Refused, or failed half-way: nothing of the claim stays (not even the expiry).
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	// "campaign_id + 0" keeps the count of my open claims on claims_open_trainer, whose
	// entries are mine: the planner took claims_open_campaign, which holds every claim of
	// the campaign within a lease (500 trainers' worth, and those closed since the last
	// vacuum) and filters them down to mine.
	//
	// One round trip for the transaction's start and three statements, which PostgreSQL runs
	// in order: the trainer's lock; under it, what the rest depends on (the campaign, the
	// trainer's base in it and how many claims the trainer holds); and the campaign's lapsed
	// leases back to the pool, which is housekeeping and harmless when a check below refuses
	// the claim.
	batch := &pgx.Batch{}
	batch.Queue("BEGIN")
	lockTrainer(batch, trainerID)
	var state State
	var k, leaseSeconds, claimCap, guidelines, bases, open int
	var base *int64
	// Honeypots (checks.go): the rate and secret seed that deal gold items, how many items
	// the trainer has claimed here, and a pause in force.
	var rate float64
	var seed int64
	var claimed int
	var pausedAcc *float64
	var pausedN *int
	// Side-swap checks (swap.go): their rate, in a blind pairwise campaign only.
	var swapRate float64
	var pairwise bool
	batch.Queue(`SELECT c.state, c.k, c.lease_seconds, c.claim_cap, c.guidelines_version,
			(SELECT count(*) FROM campaign_bases WHERE campaign_id = c.id)::int,
			(SELECT bm.base_id FROM base_members bm JOIN campaign_bases cb ON cb.base_id = bm.base_id AND cb.campaign_id = c.id WHERE bm.user_id = $2),
			(SELECT count(*) FROM claims WHERE trainer_id = $2 AND campaign_id + 0 = c.id AND state = 'open' AND lease_until > $3)::int,
			c.honeypot_rate, c.honeypot_seed, (SELECT count(*) FROM claims WHERE trainer_id = $2 AND campaign_id = c.id)::int,
			p.accuracy, p.gold_items, c.swap_rate, c.task_kind = 'blind_pairwise'
		FROM campaigns c LEFT JOIN trainer_pauses p ON p.campaign_id = c.id AND p.trainer_id = $2 AND p.lifted_at IS NULL
		WHERE c.id = $1`, campaignID, trainerID, now).
		QueryRow(func(row pgx.Row) error {
			return row.Scan(&state, &k, &leaseSeconds, &claimCap, &guidelines, &bases, &base, &open, &rate, &seed, &claimed, &pausedAcc, &pausedN, &swapRate, &pairwise)
		})
	expire(batch, campaignID, now)
	inTx = true
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		return out, db.Error(err, "campaign %d", campaignID)
	}
	if state != Open {
		return out, errNotOpen(campaignID, state)
	}
	if pausedAcc != nil {
		return out, errPaused(*pausedAcc, *pausedN)
	}
	if bases > 0 && base == nil {
		return out, ErrNotInBase
	}
	if open >= claimCap {
		return out, errCap(open)
	}
	var itemID int64
	if honeypot.Dealt(uint64(seed), trainerID, claimed, rate) {
		// A gold item when one is left that this trainer has not seen; otherwise the queue,
		// as if the draw had not come up (the trainer cannot tell either way).
		if itemID, err = dealGold(ctx, conn, campaignID, trainerID); err != nil {
			return out, err
		}
	}
	gold := itemID != 0
	// A side-swap repeat when one is due and drawn, in place of the queue's next item.
	var swapOf *int64
	if !gold && pairwise && swapDealt(uint64(seed), trainerID, claimed, swapRate) {
		of, item, err := dealSwap(ctx, conn, campaignID, trainerID)
		if err != nil {
			return out, err
		}
		if of != 0 {
			itemID, swapOf = item, &of
			base = nil // not the base's work toward its quota, like a gold claim
		}
	}
	if gold {
		// A gold claim is not the base's work toward its quota: with no base on the claim,
		// expiring or skipping it gives nothing back either.
		base = nil
	}
	leaseUntil := now.Add(time.Duration(leaseSeconds) * time.Second)
	final := &pgx.Batch{}
	scan := func(row pgx.Row) error {
		return row.Scan(&out.ID, &out.ItemID, &out.TurnID, &out.ConversationID, &out.Question, &out.Prior, &out.Tags, &out.State,
			&out.ClaimedAt, &out.LeaseUntil, &out.Live)
	}
	switch {
	case itemID == 0 && base == nil:
		// The common case: the queue's next item, picked and claimed in one statement.
		final.Queue(pickClaimSQL, campaignID, k, trainerID, nil, now, leaseUntil, guidelines, nil).QueryRow(scan)
	default:
		if itemID == 0 {
			err := conn.QueryRow(ctx, pickSQL, campaignID, trainerID, k).Scan(&itemID)
			if err == pgx.ErrNoRows {
				return out, ErrNoWork
			}
			if err != nil {
				return out, err
			}
		}
		if base != nil {
			// The quota's row lock is held to commit: two claims cannot both take its last unit.
			tag, err := conn.Exec(ctx, `UPDATE campaign_bases cb SET used = cb.used + 1 FROM campaigns c
				WHERE c.id = $1 AND cb.campaign_id = $1 AND cb.base_id = $2
				AND (`+quotaLimitSQL+` IS NULL OR cb.used < `+quotaLimitSQL+`)`,
				campaignID, *base)
			if err != nil {
				return out, err
			}
			if tag.RowsAffected() == 0 {
				return out, ErrQuotaUsed
			}
		}
		final.Queue(claimItemSQL, campaignID, itemID, trainerID, base, now, leaseUntil, guidelines, swapOf).QueryRow(scan)
	}
	// The commit goes with the claim, in one pipeline: a claim that fails makes PostgreSQL skip
	// it (the deferred rollback ends the transaction), and a queue with nothing for this
	// trainer commits the expiry alone.
	final.Queue("COMMIT")
	if err := conn.SendBatch(ctx, final).Close(); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			inTx = false
			return out, ErrNoWork
		}
		return out, err
	}
	inTx = false
	out.CampaignID, out.GuidelinesVersion, out.Swapped = campaignID, guidelines, swapOf != nil
	return out, nil
}

func getClaim(ctx context.Context, q querier, id int64) (Claim, error) {
	var c Claim
	var turn *int64
	err := q.QueryRow(ctx, `SELECT cl.id, cl.campaign_id, cl.item_id, i.turn_id, coalesce(t.conversation_id, 0), i.question, i.prior, i.tags,
			cl.state, cl.claimed_at, cl.lease_until, cl.guidelines_version, cl.swap_of IS NOT NULL, i.live
		FROM claims cl JOIN campaign_items i ON i.id = cl.item_id LEFT JOIN turns t ON t.id = i.turn_id WHERE cl.id = $1`, id).
		Scan(&c.ID, &c.CampaignID, &c.ItemID, &turn, &c.ConversationID, &c.Question, &c.Prior, &c.Tags, &c.State, &c.ClaimedAt,
			&c.LeaseUntil, &c.GuidelinesVersion, &c.Swapped, &c.Live)
	if turn != nil {
		c.TurnID = *turn
	}
	return c, db.Error(err, "claim %d", id)
}

// Open returns the trainer's open claims in the campaign, oldest first: leaving the work
// screen and coming back resumes them.
func (s *Store) Open(ctx context.Context, campaignID, trainerID int64) ([]Claim, error) {
	rows, _ := s.pool.Query(ctx, `SELECT id FROM claims WHERE campaign_id = $1 AND trainer_id = $2 AND state = 'open' AND lease_until > $3 ORDER BY id`,
		campaignID, trainerID, s.now())
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, db.Error(err, "open claims")
	}
	out := make([]Claim, 0, len(ids))
	for _, id := range ids {
		c, err := getClaim(ctx, s.pool, id)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// lockOwnClaim locks a claim and checks it is the trainer's and still open under its lease.
// A side-swap repeat's item is returned as swapOf's: the claim it repeats.
func lockOwnClaim(ctx context.Context, tx pgx.Tx, claimID, trainerID int64, now time.Time) (itemID int64, base, swapOf *int64, err error) {
	var owner int64
	var state string
	var until time.Time
	err = tx.QueryRow(ctx, `SELECT trainer_id, state, lease_until, item_id, base_id, swap_of FROM claims WHERE id = $1 FOR UPDATE`, claimID).
		Scan(&owner, &state, &until, &itemID, &base, &swapOf)
	if err != nil {
		return 0, nil, nil, db.Error(err, "claim %d", claimID)
	}
	return itemID, base, swapOf, checkOwnOpen(owner, trainerID, state, until, now)
}

func checkOwnOpen(owner, trainerID int64, state string, until, now time.Time) error {
	switch {
	case owner != trainerID:
		return ErrNotYours
	case state == "expired" || (state == "open" && !until.After(now)):
		return ErrLeaseLapsed
	case state != "open":
		return ErrClaimClosed
	}
	return nil
}

// Heartbeat renews the trainer's lease on the claim by the campaign's lease length. A lapsed
// lease cannot be renewed: its item may be someone else's by now.
func (s *Store) Heartbeat(ctx context.Context, claimID, trainerID int64) (Claim, error) {
	now := s.now()
	var out Claim
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, _, _, err := lockOwnClaim(ctx, tx, claimID, trainerID, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE claims cl SET lease_until = $2::timestamptz + make_interval(secs => c.lease_seconds)
			FROM campaigns c WHERE cl.id = $1 AND c.id = cl.campaign_id`, claimID, now); err != nil {
			return err
		}
		var err error
		out, err = getClaim(ctx, tx, claimID)
		return err
	})
	return out, db.Error(err, "renew claim %d", claimID)
}

// Skip gives the item back with a reason. The trainer will not be given it again; an item
// skipped skip_limit times is set aside for a lead instead of going back to the pool.
func (s *Store) Skip(ctx context.Context, claimID, trainerID int64, reason string) error {
	known := false
	for _, r := range SkipReasons {
		known = known || r == reason
	}
	if !known {
		return errs.Field("reason", "must be one of unclear, needs_expertise, harmful or broken_candidates, got %q", reason)
	}
	now := s.now()
	// One statement: the claim, locked, is the trainer's and open under its lease; it is
	// skipped, and its item (not for a repeat, which took no place and counts as no skip of
	// the item: the trainer judged it already) and its base's quota get their place back.
	// Only when it skips nothing is the claim read again, to say why.
	var skipped bool
	err := s.pool.QueryRow(ctx, `WITH cl AS (SELECT id, campaign_id, item_id, base_id, swap_of FROM claims
				WHERE id = $1 AND trainer_id = $2 AND state = 'open' AND lease_until > $3 FOR UPDATE),
			upd AS (UPDATE claims SET state = 'skipped', skip_reason = $4, closed_at = $3 FROM cl WHERE claims.id = cl.id RETURNING claims.id),
			item AS (UPDATE campaign_items i SET taken = taken - 1, skips = skips + 1,
					set_aside = set_aside OR skips + 1 >= (SELECT skip_limit FROM campaigns WHERE id = i.campaign_id)
				FROM cl WHERE i.id = cl.item_id AND cl.swap_of IS NULL),
			quota AS (UPDATE campaign_bases b SET used = used - 1 FROM cl
				WHERE b.campaign_id = cl.campaign_id AND b.base_id = cl.base_id AND cl.swap_of IS NULL)
		SELECT EXISTS (SELECT 1 FROM upd)`, claimID, trainerID, now, reason).Scan(&skipped)
	if err == nil && !skipped {
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, _, _, err := lockOwnClaim(ctx, tx, claimID, trainerID, now); err != nil {
				return err
			}
			return ErrClaimClosed // it changed between the two: closed by now
		})
	}
	return db.Error(err, "skip claim %d", claimID)
}

// Submission is what submitting a claim's judgment needs: the turn to judge and a hook for
// the judgment's transaction (rlhf.Submission.InTx). Call Done after the judgment is stored.
type Submission struct {
	TurnID    int64
	PersonaID int64
	TaskKind  TaskKind
	InTx      func(ctx context.Context, tx pgx.Tx, judgmentID int64) error

	s          *Store
	campaignID int64
	projectID  int64
	itemID     int64
	completed  bool
	paused     *Pause // the pause this judgment's honeypot score caused
}

// PrepareSubmit checks that the claim is the trainer's and open, and returns what judging its
// item needs. A claim submitted already passes, so a retried submission can replay; the hook
// refuses a new judgment on it. The lease is checked again inside the judgment's transaction:
// a lease that lapses between the two is refused all the same.
func (s *Store) PrepareSubmit(ctx context.Context, claimID, trainerID int64) (*Submission, error) {
	var owner int64
	var state string
	var until time.Time
	var turn *int64
	sub := &Submission{s: s}
	err := s.pool.QueryRow(ctx, `SELECT cl.trainer_id, cl.state, cl.lease_until, cl.campaign_id, cl.item_id, i.turn_id, c.persona_id, c.task_kind, c.project_id
		FROM claims cl JOIN campaign_items i ON i.id = cl.item_id JOIN campaigns c ON c.id = cl.campaign_id WHERE cl.id = $1`, claimID).
		Scan(&owner, &state, &until, &sub.campaignID, &sub.itemID, &turn, &sub.PersonaID, &sub.TaskKind, &sub.projectID)
	if err != nil {
		return nil, db.Error(err, "claim %d", claimID)
	}
	if state != "submitted" {
		if err := checkOwnOpen(owner, trainerID, state, until, s.now()); err != nil {
			return nil, err
		}
	} else if owner != trainerID {
		return nil, ErrNotYours
	}
	if turn == nil {
		return nil, errs.E(errs.Unprocessable, "this item has no candidates yet")
	}
	sub.TurnID = *turn
	sub.InTx = func(ctx context.Context, tx pgx.Tx, judgmentID int64) error {
		now := s.now()
		itemID, _, swapOf, err := lockOwnClaim(ctx, tx, claimID, trainerID, now)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE claims SET state = 'submitted', judgment_id = $2, closed_at = $3 WHERE id = $1`, claimID, judgmentID, now); err != nil {
			return err
		}
		if swapOf != nil {
			// A repeat is a check of the trainer, not one of the item's k judgments: it
			// completes nothing, and what it says is read from the two claims (stats.go).
			return nil
		}
		// The k-th judgment takes the item out of every queue.
		var externalID *string
		var judged int
		// A gold item is never completed: it is dealt as a honeypot to any number of trainers.
		if err := tx.QueryRow(ctx, `UPDATE campaign_items i SET judged = judged + 1,
				completed_at = CASE WHEN judged + 1 >= c.k + i.extra_k AND NOT i.gold THEN $2::timestamptz END
			FROM campaigns c WHERE i.id = $1 AND c.id = i.campaign_id RETURNING i.completed_at IS NOT NULL, i.external_id, i.judged`, itemID, now).
			Scan(&sub.completed, &externalID, &judged); err != nil {
			return err
		}
		// Quality control (checks.go): speed floor, honeypot score, pause; in this
		// transaction, so a judgment is never stored without its checks.
		if sub.paused, err = checkJudgment(ctx, tx, sub.projectID, sub.campaignID, itemID, trainerID, judgmentID, now); err != nil {
			return err
		}
		if !sub.completed {
			return nil
		}
		// Webhooks are queued in this transaction: no notification for a judgment undone.
		_, err = webhook.Emit(ctx, tx, sub.projectID, webhook.ItemCompleted, map[string]any{"campaign_id": sub.campaignID,
			"item_id": itemID, "external_id": externalID, "turn_id": sub.TurnID, "judgments": judged})
		return err
	}
	return sub, nil
}

// Check refuses a judgment that does not do what the campaign's task asks: a correction of
// the best reply, or a gold answer.
func (sub *Submission) Check(j rlhf.Submission) error {
	switch {
	case sub.TaskKind == CorrectBest && j.Edit == nil:
		return errs.Field("edit", "this campaign asks you to correct the best reply: edit it before you submit")
	case sub.TaskKind == CorrectBest && len(j.Ranking) > 0 && !slices.Contains(j.Ranking[0], j.Edit.CandidateID):
		return errs.Field("edit.candidate_id", "correct the reply you ranked first")
	case sub.TaskKind == WriteGold && (j.Gold == nil || strings.TrimSpace(j.Gold.Content) == ""):
		return errs.Field("gold.content", "this campaign asks for a gold answer: write one before you submit")
	}
	return nil
}

// Done announces what the stored judgment completed. Call it once the judgment committed.
func (sub *Submission) Done(ctx context.Context) {
	if sub.completed {
		sub.s.itemCompleted(ctx, sub.campaignID, sub.itemID)
	}
	if sub.paused != nil {
		sub.s.trainerPaused(ctx, *sub.paused)
	}
}

// quotaLimitSQL is a base's quota in judgments, over campaign_bases cb and campaigns c: its
// items, or its share of all k × items judgments rounded up; NULL without a quota. Next
// enforces it and MyWork shows what is left of it from this one expression, in numeric
// arithmetic: a share of 0.7 of 3 × 10 is 21 here, where float64 makes it
// 21.000000000000004 and its ceiling 22, one more than a claim is allowed.
const quotaLimitSQL = `coalesce(cb.quota_items, ceil(cb.quota_share * c.k * c.items)::int)`
