package campaign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/generation"
	"github.com/mentor-ai/mentor/jobs"
	"github.com/mentor-ai/mentor/llm"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/retrieval"
)

// GenerateQueue is the queue pre-generation jobs run on.
const GenerateQueue = "campaign_generation"

// GenerateArgs is the job that generates one item's candidates.
type GenerateArgs struct {
	ItemID int64 `json:"item_id"`
}

// Kind implements river.JobArgs.
func (GenerateArgs) Kind() string { return "campaign_generate" }

// InsertOpts keeps one pending job per item: a second "regenerate" while one waits adds
// nothing.
func (GenerateArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: GenerateQueue, MaxAttempts: 8, UniqueOpts: river.UniqueOpts{ByArgs: true,
		ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateRetryable, rivertype.JobStateScheduled}}}
}

// enqueue inserts one generation job per item in tx, so an item marked generating always
// has its job.
func (s *Store) enqueue(ctx context.Context, tx pgx.Tx, itemIDs []int64) error {
	if len(itemIDs) == 0 {
		return nil
	}
	many, ok := s.jobs.(bulkInserter)
	if !ok {
		for _, id := range itemIDs {
			if _, err := s.jobs.InsertTx(ctx, tx, GenerateArgs{ItemID: id}, nil); err != nil {
				return fmt.Errorf("enqueue generation: %w", err)
			}
		}
		return nil
	}
	params := make([]river.InsertManyParams, len(itemIDs))
	for i, id := range itemIDs {
		params[i] = river.InsertManyParams{Args: GenerateArgs{ItemID: id}}
	}
	// In batches of one statement each: an import of 200,000 items is not 200,000 round trips.
	for len(params) > 0 {
		n := min(len(params), 5000)
		if _, err := many.InsertManyFastTx(ctx, tx, params[:n]); err != nil {
			return fmt.Errorf("enqueue generation: %w", err)
		}
		params = params[n:]
	}
	return nil
}

// bulkInserter is what *river.Client[pgx.Tx] offers beyond jobs.Inserter for large batches.
type bulkInserter interface {
	InsertManyFastTx(ctx context.Context, tx pgx.Tx, params []river.InsertManyParams) (int, error)
}

// Jobs is the campaign package's share of the job runner: the pre-generation worker and its
// queue. workers is how many items generate at once in this process; each endpoint's own
// limits (max_concurrent, requests_per_minute) hold across them.
func Jobs(w *GenerateWorker, workers int) jobs.Registration {
	return jobs.Registration{
		Name:   "campaign generation",
		Add:    func(ws *river.Workers) error { return river.AddWorkerSafely(ws, w) },
		Queues: map[string]river.QueueConfig{GenerateQueue: {MaxWorkers: max(workers, 1)}},
	}
}

// GenerateWorker generates an item's candidates against the campaign's plan and stores them
// as one ordinary turn. Delivery is at least once, so it only fills what is missing: an item
// that has its turn is done, and the turn is written under the item's lock, so two
// deliveries never write two turns.
type GenerateWorker struct {
	river.WorkerDefaults[GenerateArgs]
	store     *Store
	prompts   *prompts.Store
	generator *generation.Generator
	models    *llm.Registry
	limits    *endpointLimits
	// versions caches prompt versions by id: a version never changes once stored (the
	// prompt_versions_immutable trigger refuses every update and delete), and reading it was
	// one of an item's five round trips.
	versions sync.Map // int64 -> prompts.Version
	// Backoff is the wait before attempt n+1 after n failed ones.
	Backoff func(attempt int) time.Duration
}

// NewGenerateWorker returns the pre-generation worker, backing off exponentially up to five
// minutes between attempts.
func NewGenerateWorker(store *Store, ps *prompts.Store, g *generation.Generator, models *llm.Registry) *GenerateWorker {
	return &GenerateWorker{store: store, prompts: ps, generator: g, models: models, limits: &endpointLimits{m: map[string]*endpointLimit{}},
		Backoff: func(attempt int) time.Duration {
			return min(time.Duration(1<<min(attempt, 9))*time.Second, 5*time.Minute)
		}}
}

// Timeout is longer than River's one-minute default: N long replies from a slow endpoint,
// waiting their turn behind its limits.
func (w *GenerateWorker) Timeout(*river.Job[GenerateArgs]) time.Duration { return 10 * time.Minute }

// NextRetry implements river.Worker.
func (w *GenerateWorker) NextRetry(job *river.Job[GenerateArgs]) time.Time {
	return time.Now().Add(w.Backoff(job.Attempt))
}

// generatedCandidate is one finished candidate, before it is stored.
type generatedCandidate struct {
	planIndex int
	version   prompts.Version
	prepared  generation.Prepared
	content   string
	reasoning string
	result    llm.Result
}

// Work implements river.Worker.
func (w *GenerateWorker) Work(ctx context.Context, job *river.Job[GenerateArgs]) error {
	err := w.generate(ctx, job.Args.ItemID)
	if err == nil || errors.Is(err, errItemGone) {
		return nil
	}
	last := job.Attempt >= job.MaxAttempts
	w.store.recordFailure(ctx, job.Args.ItemID, err, last)
	return err
}

var errItemGone = errors.New("item gone or generated already")

func (w *GenerateWorker) generate(ctx context.Context, itemID int64) error {
	var it struct {
		campaignID, personaID, createdBy int64
		question                         string
		prior                            []PriorMessage
		plan                             []PlanEntry
		blind                            bool
		turn                             *int64
		state                            State
	}
	var prior, plan []byte
	var kind TaskKind
	err := w.store.pool.QueryRow(ctx, `SELECT i.campaign_id, c.persona_id, c.created_by, i.question, i.prior, c.plan, p.blind_ranking, i.turn_id, c.state, c.task_kind
		FROM campaign_items i JOIN campaigns c ON c.id = i.campaign_id JOIN projects p ON p.id = c.project_id WHERE i.id = $1`, itemID).
		Scan(&it.campaignID, &it.personaID, &it.createdBy, &it.question, &prior, &plan, &it.blind, &it.turn, &it.state, &kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return errItemGone
	}
	if err != nil {
		return db.Error(err, "item %d", itemID)
	}
	if it.turn != nil || it.state == Closed {
		return errItemGone
	}
	if err := json.Unmarshal(prior, &it.prior); err != nil {
		return err
	}
	if err := json.Unmarshal(plan, &it.plan); err != nil {
		return err
	}
	persona, err := w.prompts.Persona(ctx, it.personaID)
	if err != nil {
		return err
	}
	history := make([]llm.Message, 0, len(it.prior)+1)
	for _, m := range it.prior {
		history = append(history, llm.Message{Role: m.Role, Content: m.Content})
	}
	history = append(history, llm.Message{Role: "user", Content: it.question})

	// One search per prompt version, as on the live screen: its candidates share numbering.
	versions := make([]prompts.Version, len(it.plan))
	retrieved := map[int64]*[]retrieval.Passage{}
	byID := map[int64]prompts.Version{} // a plan often names one version several times (temperatures, models)
	for i, p := range it.plan {
		v, ok := byID[p.PromptVersionID]
		if !ok {
			if v, err = w.version(ctx, p.PromptVersionID); err != nil {
				return err
			}
			byID[p.PromptVersionID] = v
		}
		versions[i] = v
		if retrieved[p.PromptVersionID] == nil {
			passages, err := w.generator.Retrieve(ctx, versions[i], it.question)
			if err != nil {
				return err
			}
			retrieved[p.PromptVersionID] = &passages
		}
	}
	out := make([]generatedCandidate, len(it.plan))
	g, gctx := errgroup.WithContext(ctx)
	for i, p := range it.plan {
		g.Go(func() error {
			// The seed is the item's and the plan place's: a retry asks for the same reply.
			prep, err := w.generator.Prepare(gctx, generation.Plan{Persona: persona, Version: versions[i], Model: p.Model,
				Temperature: p.Temperature, Seed: itemID*10 + int64(i), Locale: persona.Locale, History: history,
				Retrieved: retrieved[p.PromptVersionID]})
			if err != nil {
				return err
			}
			release, err := w.limits.acquire(gctx, prep.Model)
			if err != nil {
				return err
			}
			defer release()
			var content, reasoning strings.Builder
			res, err := prep.Provider.Stream(gctx, prep.Request, func(d llm.Delta) {
				content.WriteString(d.Content)
				reasoning.WriteString(d.Reasoning)
			})
			if err != nil {
				return fmt.Errorf("candidate %d (%s): %w", i+1, prep.Model.Name, err)
			}
			if strings.TrimSpace(content.String()) == "" {
				return fmt.Errorf("candidate %d (%s): the reply is empty", i+1, prep.Model.Name)
			}
			out[i] = generatedCandidate{planIndex: i, version: versions[i], prepared: prep, content: content.String(),
				reasoning: reasoning.String(), result: res}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	var seed *int64
	if it.blind || kind == BlindPairwise {
		s := itemID
		seed = &s
		r := rand.New(rand.NewPCG(uint64(s), 0x63616d706169676e))
		r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	}
	return w.store.storeGenerated(ctx, itemID, it.campaignID, persona, it.createdBy, it.prior, it.question, seed, out)
}

// version returns a prompt version, from the cache when this worker has read it before.
func (w *GenerateWorker) version(ctx context.Context, id int64) (prompts.Version, error) {
	if v, ok := w.versions.Load(id); ok {
		return v.(prompts.Version), nil
	}
	v, err := w.prompts.Version(ctx, id)
	if err != nil {
		return v, err
	}
	w.versions.Store(id, v)
	return v, nil
}

// storeGenerated writes the item's turn: its conversation, the prior messages, the question
// and the finished candidates, in one statement, under the item's lock. It was a
// transaction of seven round trips (begin, the lock, the conversation, the question, the
// turn, the candidates, commit); one statement is as atomic, and "under the item's lock"
// still holds: the statement's first step locks the item while it has no turn, and every
// insert is of that lock's row, so a second delivery that got here second (waiting for the
// lock, then finding the turn) writes nothing.
func (s *Store) storeGenerated(ctx context.Context, itemID, campaignID int64, persona prompts.Persona, author int64,
	prior []PriorMessage, question string, seed *int64, cands []generatedCandidate) error {
	roles, contents := make([]string, 0, len(prior)+1), make([]string, 0, len(prior)+1)
	for _, m := range append(prior, PriorMessage{Role: "user", Content: question}) {
		roles, contents = append(roles, m.Role), append(contents, m.Content)
	}
	n := len(cands)
	positions, maxTokens, planIndex, ttft, dur := make([]int32, n), make([]int32, n), make([]int32, n), make([]int32, n), make([]int32, n)
	promptTokens, completionTokens, attempts := make([]int32, n), make([]int32, n), make([]int32, n)
	texts, models, endpoints, hashes, passages, reasoning, finish := make([]string, n), make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n)
	baselines, versions, seeds := make([]bool, n), make([]int64, n), make([]int64, n)
	temps, topPs := make([]float32, n), make([]float32, n)
	for pos, c := range cands {
		p := c.prepared
		positions[pos], maxTokens[pos], planIndex[pos] = int32(pos+1), int32(p.Request.MaxTokens), int32(c.planIndex)
		ttft[pos], dur[pos] = int32(c.result.TimeToFirstToken.Milliseconds()), int32(c.result.Duration.Milliseconds())
		promptTokens[pos], completionTokens[pos], attempts[pos] = int32(c.result.Usage.PromptTokens), int32(c.result.Usage.CompletionTokens), int32(c.result.Attempts)
		texts[pos], models[pos], endpoints[pos], hashes[pos] = c.content, p.Model.Name, p.Model.Endpoint, p.SystemPromptHash
		reasoning[pos], finish[pos] = c.reasoning, c.result.FinishReason
		baselines[pos], versions[pos], seeds[pos] = p.Model.Baseline, c.version.ID, p.Request.Seed
		temps[pos], topPs[pos] = p.Request.Temperature, p.Request.TopP
		// An array per candidate cannot ride unnest (it would flatten them): each goes as its
		// text form and is cast back, as rlhf.Store.StartTurn does.
		ids := make([]string, len(p.Passages))
		for j, ps := range p.Passages {
			ids[j] = strconv.FormatInt(ps.ChunkID, 10)
		}
		passages[pos] = "{" + strings.Join(ids, ",") + "}"
	}
	// Message ids are drawn first (each MATERIALIZED step is computed once), so each message
	// names its parent, and each candidate its message, without relying on the order
	// RETURNING lists rows in.
	var stored bool
	err := s.pool.QueryRow(ctx, `WITH lock AS (SELECT id FROM campaign_items WHERE id = $1 AND turn_id IS NULL FOR UPDATE),
			conv AS (INSERT INTO conversations (project_id, persona_id, created_by, locale) SELECT $2, $3, $4, $5 FROM lock RETURNING id),
			um AS MATERIALIZED (SELECT m.role, m.content, m.ord, nextval(pg_get_serial_sequence('messages', 'id')) AS id
				FROM unnest($6::text[], $7::text[]) WITH ORDINALITY AS m (role, content, ord), lock),
			ums AS (INSERT INTO messages (id, conversation_id, parent_id, role, author, author_id, content) OVERRIDING SYSTEM VALUE
				SELECT um.id, conv.id, lag(um.id) OVER (ORDER BY um.ord), um.role, CASE WHEN um.role = 'user' THEN 'human' ELSE 'model' END,
					CASE WHEN um.role = 'user' THEN $4::bigint END, um.content FROM um, conv),
			t AS (INSERT INTO turns (conversation_id, user_message_id, created_by, shuffle_seed)
				SELECT conv.id, (SELECT id FROM um ORDER BY ord DESC LIMIT 1), $4, $8 FROM conv RETURNING id, conversation_id, user_message_id),
			spec AS MATERIALIZED (SELECT s.*, nextval(pg_get_serial_sequence('messages', 'id')) AS message_id
				FROM unnest($9::int[], $10::text[], $11::text[], $12::text[], $13::bool[], $14::bigint[], $15::real[], $16::real[], $17::int[],
					$18::bigint[], $19::text[], $20::text[], $21::text[], $22::text[], $23::int[], $24::int[], $25::int[], $26::int[], $27::int[], $28::int[])
					AS s (position, content, model, endpoint, baseline, prompt_version_id, temperature, top_p, max_tokens, seed,
						system_prompt_hash, passage_ids, reasoning, finish_reason, prompt_tokens, completion_tokens, ttft_ms, duration_ms,
						attempts, plan_index), lock),
			am AS (INSERT INTO messages (id, conversation_id, parent_id, role, author, content) OVERRIDING SYSTEM VALUE
				SELECT spec.message_id, t.conversation_id, t.user_message_id, 'assistant', 'model', spec.content FROM spec, t),
			c AS (INSERT INTO candidates (turn_id, message_id, position, model, endpoint, baseline, prompt_version_id, temperature, top_p,
					max_tokens, seed, system_prompt_hash, passage_ids, reasoning, status, finish_reason, prompt_tokens, completion_tokens,
					ttft_ms, duration_ms, attempts, plan_index)
				SELECT t.id, spec.message_id, spec.position, spec.model, spec.endpoint, spec.baseline, spec.prompt_version_id, spec.temperature,
					spec.top_p, spec.max_tokens, spec.seed, spec.system_prompt_hash, spec.passage_ids::bigint[], spec.reasoning, 'complete',
					spec.finish_reason, spec.prompt_tokens, spec.completion_tokens, spec.ttft_ms, spec.duration_ms, spec.attempts, spec.plan_index
				FROM spec, t),
			upd AS (UPDATE campaign_items i SET turn_id = t.id, generation = 'ready', generation_error = '' FROM t WHERE i.id = $1)
		SELECT EXISTS (SELECT 1 FROM lock)`,
		itemID, persona.ProjectID, persona.ID, author, persona.Locale, roles, contents, seed,
		positions, texts, models, endpoints, baselines, versions, temps, topPs, maxTokens, seeds, hashes, passages, reasoning, finish,
		promptTokens, completionTokens, ttft, dur, attempts, planIndex).Scan(&stored)
	if err != nil {
		return db.Error(err, "store item %d's candidates", itemID)
	}
	if !stored {
		return errItemGone // another delivery got here first
	}
	return nil
}

// recordFailure shows why an item's generation failed, for the campaign page; after the last
// attempt the item is failed, until someone asks to regenerate it.
func (s *Store) recordFailure(ctx context.Context, itemID int64, cause error, last bool) {
	msg := cause.Error()
	if r := []rune(msg); len(r) > 300 {
		msg = string(r[:300]) + "…"
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	state := "generating"
	if last {
		state = "failed"
	}
	if _, err := s.pool.Exec(ctx, `UPDATE campaign_items SET generation = $2, generation_error = $3 WHERE id = $1 AND turn_id IS NULL`,
		itemID, state, msg); err != nil {
		s.logger.Warn("record a generation failure", "item", itemID, "err", err)
	}
}

// Regenerate starts generation again for the campaign's failed items and returns how many.
func (s *Store) Regenerate(ctx context.Context, campaignID int64) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `UPDATE campaign_items SET generation = 'generating', generation_error = ''
			WHERE campaign_id = $1 AND generation = 'failed' RETURNING id`, campaignID)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		n = len(ids)
		return s.enqueue(ctx, tx, ids)
	})
	return n, db.Error(err, "regenerate campaign %d's failed items", campaignID)
}

// Progress counts a campaign's items by generation state and by work done.
type Progress struct {
	Pending    int `json:"pending"`
	Generating int `json:"generating"`
	Ready      int `json:"ready"`
	Failed     int `json:"failed"`
	Completed  int `json:"completed"` // items with their k judgments
	SetAside   int `json:"set_aside"` // skipped too often: waiting for a lead
	Judgments  int `json:"judgments"`
}

// Progress returns the campaign's progress.
func (s *Store) Progress(ctx context.Context, campaignID int64) (Progress, error) {
	var p Progress
	err := s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE generation = 'pending'), count(*) FILTER (WHERE generation = 'generating'),
			count(*) FILTER (WHERE generation = 'ready'), count(*) FILTER (WHERE generation = 'failed'),
			count(*) FILTER (WHERE completed_at IS NOT NULL), count(*) FILTER (WHERE set_aside), coalesce(sum(judged), 0)
		FROM campaign_items WHERE campaign_id = $1`, campaignID).
		Scan(&p.Pending, &p.Generating, &p.Ready, &p.Failed, &p.Completed, &p.SetAside, &p.Judgments)
	return p, db.Error(err, "progress of campaign %d", campaignID)
}

// FailedItem is an item whose generation failed, with why.
type FailedItem struct {
	ID         int64  `json:"id"`
	ExternalID string `json:"external_id"`
	Question   string `json:"question"`
	Error      string `json:"error"`
}

// Failed lists up to 100 of the campaign's items whose generation failed or is retrying
// after an error.
func (s *Store) Failed(ctx context.Context, campaignID int64) ([]FailedItem, error) {
	rows, _ := s.pool.Query(ctx, `SELECT id, coalesce(external_id, ''), question, generation_error FROM campaign_items
		WHERE campaign_id = $1 AND generation_error <> '' ORDER BY id LIMIT 100`, campaignID)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (FailedItem, error) {
		var f FailedItem
		return f, r.Scan(&f.ID, &f.ExternalID, &f.Question, &f.Error)
	})
	if out == nil {
		out = []FailedItem{}
	}
	return out, db.Error(err, "failed items of campaign %d", campaignID)
}

// endpointLimits keeps each endpoint's concurrency and rate limits for the whole process:
// every job streaming from one endpoint shares them.
type endpointLimits struct {
	mu sync.Mutex
	m  map[string]*endpointLimit
}

type endpointLimit struct {
	slots chan struct{}
	rate  *rate.Limiter
}

// acquire waits for a slot and a request token of the model's endpoint.
func (l *endpointLimits) acquire(ctx context.Context, m llm.Model) (func(), error) {
	l.mu.Lock()
	e := l.m[m.Endpoint]
	if e == nil {
		e = &endpointLimit{}
		if m.MaxConcurrent > 0 {
			e.slots = make(chan struct{}, m.MaxConcurrent)
		}
		if m.RequestsPerMinute > 0 {
			e.rate = rate.NewLimiter(rate.Limit(float64(m.RequestsPerMinute)/60), 1)
		}
		l.m[m.Endpoint] = e
	}
	l.mu.Unlock()
	if e.slots != nil {
		select {
		case e.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	release := func() {
		if e.slots != nil {
			<-e.slots
		}
	}
	if e.rate != nil {
		if err := e.rate.Wait(ctx); err != nil {
			release()
			return nil, err
		}
	}
	return release, nil
}
