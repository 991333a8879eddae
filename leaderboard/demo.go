package leaderboard

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DemoMark is in the name of every campaign that Seed makes and in the comment of each of
// its judgments: demo votes are never mistaken for real ones.
const DemoMark = "演示数据 / demo votes"

// SeedVersion is one side of a seeded blind campaign: a prompt version, the model its
// candidates are recorded with, and the true strength the simulated trainers vote by
// (log-odds; only differences matter).
type SeedVersion struct {
	ID       int64
	Model    string
	Strength float64
	// Dimensions are the true strengths per rubric dimension; a dimension not here scores
	// as Strength.
	Dimensions map[string]float64
}

// SeedSpec is a simulated blind pairwise campaign: Items turns of two candidates, each
// judged by K of Trainers, who vote by the Bradley–Terry model with the given strengths.
type SeedSpec struct {
	ProjectID, PersonaID, CreatedBy int64
	Name                            string
	Versions                        [2]SeedVersion
	Trainers                        []int64
	Items, K                        int
	TieShare                        float64           // share of votes that are ties
	Rubric                          map[string][2]int // dimension → its scale (min, max)
	Checked                         bool              // mark the judgments accepted in judgment_checks
	Seed                            uint64
}

// Seed writes a simulated blind pairwise campaign, closed and complete, with its turns,
// candidates and judgments: the demo's board, and the tests' known truth. Its name and
// every judgment's comment carry DemoMark. Seed does nothing when a campaign of that name
// exists in the project.
func Seed(ctx context.Context, pool *pgxpool.Pool, s SeedSpec) error {
	if len(s.Trainers) < s.K || s.K < 1 {
		return fmt.Errorf("seed %q: %d trainers cannot give k = %d", s.Name, len(s.Trainers), s.K)
	}
	name := s.Name + "（" + DemoMark + "）"
	rng := rand.New(rand.NewPCG(s.Seed, 15))
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM campaigns WHERE project_id = $1 AND name = $2)`, s.ProjectID, name).Scan(&exists); err != nil {
			return fmt.Errorf("seed %q: %w", s.Name, err)
		}
		if exists {
			return nil
		}
		plan, _ := json.Marshal([]map[string]any{{"prompt_version_id": s.Versions[0].ID, "model": s.Versions[0].Model},
			{"prompt_version_id": s.Versions[1].ID, "model": s.Versions[1].Model}})
		var campaignID int64
		if err := tx.QueryRow(ctx, `INSERT INTO campaigns (project_id, persona_id, name, task_kind, plan, k, guidelines, state, created_by)
			VALUES ($1, $2, $3, 'blind_pairwise', $4, $5, $6, 'closed', $7) RETURNING id`,
			s.ProjectID, s.PersonaID, name, plan, s.K, "演示数据：模拟的盲评投票，用于展示排行榜。Simulated blind votes that fill the demo leaderboard.", s.CreatedBy).Scan(&campaignID); err != nil {
			return fmt.Errorf("seed %q: campaign: %w", s.Name, err)
		}
		for item := range s.Items {
			if err := seedItem(ctx, tx, s, campaignID, item, rng); err != nil {
				return fmt.Errorf("seed %q: item %d: %w", s.Name, item+1, err)
			}
		}
		return nil
	})
}

func seedItem(ctx context.Context, tx pgx.Tx, s SeedSpec, campaignID int64, item int, rng *rand.Rand) error {
	question := fmt.Sprintf("演示问题 %d（%s）", item+1, DemoMark)
	var convID, userMsg, turnID int64
	if err := tx.QueryRow(ctx, `INSERT INTO conversations (project_id, persona_id, created_by, locale) VALUES ($1, $2, $3, 'zh-CN') RETURNING id`,
		s.ProjectID, s.PersonaID, s.CreatedBy).Scan(&convID); err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, `INSERT INTO messages (conversation_id, role, author, author_id, content) VALUES ($1, 'user', 'human', $2, $3) RETURNING id`,
		convID, s.CreatedBy, question).Scan(&userMsg); err != nil {
		return err
	}
	seed := rng.Int64()
	if err := tx.QueryRow(ctx, `INSERT INTO turns (conversation_id, user_message_id, created_by, shuffle_seed) VALUES ($1, $2, $3, $4) RETURNING id`,
		convID, userMsg, s.CreatedBy, seed).Scan(&turnID); err != nil {
		return err
	}
	// Blind: the two plan entries are shown in a shuffled order.
	order := [2]int{0, 1}
	if rng.IntN(2) == 1 {
		order = [2]int{1, 0}
	}
	var cands [2]int64 // by plan index
	var msgs [2]int64
	for pos, pi := range order {
		v := s.Versions[pi]
		// Replies of varied length and markdown, drawn apart from the votes (their own
		// generator), so the demo's style-controlled board has covariates to fit and finds
		// they did not sway the simulated trainers.
		style := rand.New(rand.NewPCG(uint64(item), uint64(pi)+16))
		content := fmt.Sprintf("演示回答：版本 %d 的候选（%s）", pi+1, DemoMark) + strings.Repeat("这里是补充说明。", style.IntN(8)) +
			strings.Repeat("\n- 要点", style.IntN(4))
		if err := tx.QueryRow(ctx, `INSERT INTO messages (conversation_id, parent_id, role, author, content) VALUES ($1, $2, 'assistant', 'model', $3) RETURNING id`,
			convID, userMsg, content).Scan(&msgs[pi]); err != nil {
			return err
		}
		hash := sha256.Sum256([]byte(strconv.FormatInt(v.ID, 10)))
		if err := tx.QueryRow(ctx, `INSERT INTO candidates (turn_id, message_id, position, model, endpoint, baseline, prompt_version_id,
				temperature, top_p, max_tokens, seed, system_prompt_hash, status, finish_reason, plan_index)
			VALUES ($1, $2, $3, $4, 'demo', true, $5, 0.7, 1, 512, $6, $7, 'complete', 'stop', $8) RETURNING id`,
			turnID, msgs[pi], pos+1, v.Model, v.ID, seed, fmt.Sprintf("%x", hash[:8]), pi).Scan(&cands[pi]); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO campaign_items (campaign_id, external_id, question, normalized, turn_id, generation, taken, judged, completed_at)
		VALUES ($1, $2, $3, $3, $4, 'ready', $5, $5, now())`, campaignID, fmt.Sprintf("demo-vote-%d", item+1), question, turnID, s.K); err != nil {
		return err
	}
	start := rng.IntN(len(s.Trainers))
	for k := range s.K {
		trainer := s.Trainers[(start+k)%len(s.Trainers)]
		winner := vote(s.Versions[0].Strength, s.Versions[1].Strength, s.TieShare, rng)
		var ranking [][]int64
		switch winner {
		case 0:
			ranking = [][]int64{{cands[0]}, {cands[1]}}
		case 1:
			ranking = [][]int64{{cands[1]}, {cands[0]}}
		default:
			ranking = [][]int64{{cands[0], cands[1]}}
		}
		ratings := map[string]map[string]map[string]int{}
		for pi := range 2 {
			ratings[strconv.FormatInt(cands[pi], 10)] = map[string]map[string]int{}
		}
		for dim, scale := range s.Rubric {
			for pi := range 2 {
				strength, ok := s.Versions[pi].Dimensions[dim]
				if !ok {
					strength = s.Versions[pi].Strength
				}
				// A score on the scale: the logistic of strength plus noise, spread over it.
				p := 1 / (1 + math.Exp(-(strength + rng.NormFloat64())))
				v := scale[0] + int(math.Round(p*float64(scale[1]-scale[0])))
				ratings[strconv.FormatInt(cands[pi], 10)][dim] = map[string]int{"value": v, "min": scale[0], "max": scale[1]}
			}
		}
		rankJSON, _ := json.Marshal(ranking)
		rateJSON, _ := json.Marshal(ratings)
		cont := msgs[0]
		if winner == 1 {
			cont = msgs[1]
		}
		key := fmt.Sprintf("demo-vote-%d-%d-%d", campaignID, item, k)
		hash := sha256.Sum256([]byte(key))
		var judgmentID int64
		if err := tx.QueryRow(ctx, `INSERT INTO judgments (turn_id, trainer_id, revision, idempotency_key, request_hash, ranking, ratings, flags,
				comment, continuation_message_id, time_spent_ms)
			VALUES ($1, $2, 1, $3, $4, $5, $6, '{}', $7, $8, $9) RETURNING id`,
			turnID, trainer, key, hash[:], rankJSON, rateJSON, DemoMark, cont, 20000+rng.IntN(40000)).Scan(&judgmentID); err != nil {
			return err
		}
		if s.Checked {
			if _, err := tx.Exec(ctx, `INSERT INTO judgment_checks (judgment_id, review_state) VALUES ($1, 'accepted')
				ON CONFLICT (judgment_id) DO UPDATE SET review_state = 'accepted', updated_at = now()`, judgmentID); err != nil {
				return err
			}
		}
	}
	return nil
}

// vote draws one Bradley–Terry vote between strengths a and b: 0 when a wins, 1 when b
// wins, 2 for a tie.
func vote(a, b, tieShare float64, rng *rand.Rand) int {
	u := rng.Float64()
	if u < tieShare {
		return 2
	}
	if rng.Float64() < 1/(1+math.Exp(b-a)) {
		return 0
	}
	return 1
}

// demoPlan is how the demo's simulated trainers favour each persona's second version:
// clearly for the customs helper (and most on its first rubric dimension), a little for the
// others, so the board shows a decided comparison beside undecided ones.
var demoPlan = map[string]struct {
	items    int
	strength float64
	firstDim float64
}{
	"customs-helper": {items: 240, strength: 0.7, firstDim: 1.2},
	"finance-helper": {items: 90, strength: 0.15},
	"companion":      {items: 90, strength: -0.1},
}

// LoadDemo gives the demo project's board something to show: for each demo persona with
// two versions, a closed blind pairwise campaign of simulated votes (DemoMark in its name
// and in every judgment), checked as accepted so the default "checked only" board counts
// them. Safe at every start: a seeded campaign is not seeded again.
func LoadDemo(ctx context.Context, pool *pgxpool.Pool, projectID, createdBy int64, trainers []int64) error {
	type persona struct {
		ID   int64
		Slug string
	}
	rows, _ := pool.Query(ctx, `SELECT id, slug FROM personas WHERE project_id = $1 ORDER BY id`, projectID)
	personas, err := pgx.CollectRows(rows, pgx.RowToStructByPos[persona])
	if err != nil {
		return fmt.Errorf("demo votes: %w", err)
	}
	for _, p := range personas {
		plan, ok := demoPlan[p.Slug]
		if !ok {
			continue
		}
		type version struct {
			ID    int64
			Model string
		}
		rows, _ := pool.Query(ctx, `SELECT id, model FROM prompt_versions WHERE persona_id = $1 ORDER BY version LIMIT 2`, p.ID)
		versions, err := pgx.CollectRows(rows, pgx.RowToStructByPos[version])
		if err != nil {
			return fmt.Errorf("demo votes: %w", err)
		}
		if len(versions) < 2 {
			continue
		}
		type dim struct {
			Key      string
			Min, Max int
		}
		rows, _ = pool.Query(ctx, `SELECT key, scale_min, scale_max FROM rubric_dimensions WHERE persona_id = $1 ORDER BY position`, p.ID)
		dims, err := pgx.CollectRows(rows, pgx.RowToStructByPos[dim])
		if err != nil {
			return fmt.Errorf("demo votes: %w", err)
		}
		rubric := map[string][2]int{}
		second := SeedVersion{ID: versions[1].ID, Model: versions[1].Model, Strength: plan.strength, Dimensions: map[string]float64{}}
		for i, d := range dims {
			rubric[d.Key] = [2]int{d.Min, d.Max}
			second.Dimensions[d.Key] = 0 // no different, unless it is the first dimension
			if i == 0 {
				second.Dimensions[d.Key] = plan.firstDim
			}
		}
		if err := Seed(ctx, pool, SeedSpec{ProjectID: projectID, PersonaID: p.ID, CreatedBy: createdBy,
			Name: "演示：盲评投票 " + p.Slug, Versions: [2]SeedVersion{{ID: versions[0].ID, Model: versions[0].Model}, second},
			Trainers: trainers, Items: plan.items, K: min(2, len(trainers)), TieShare: 0.1, Rubric: rubric, Checked: true, Seed: 15}); err != nil {
			return fmt.Errorf("demo votes: %w", err)
		}
	}
	return nil
}
