package export_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/export"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/rlhf"
)

// world is a project with judged conversations, built through the real stores: what the
// trainer's screen would have stored.
type world struct {
	t        testing.TB
	pool     *pgxpool.Pool
	prompts  *prompts.Store
	live     *rlhf.Store
	project  prompts.Project
	users    map[string]auth.User
	personas map[string]prompts.Persona
	versions map[string][]prompts.Version // by persona slug, version 1 first
	rubrics  map[string][]rlhf.Scale
	keys     int
}

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	w := &world{t: t, pool: pool, prompts: prompts.NewStore(pool), live: rlhf.NewStore(pool), users: map[string]auth.User{},
		personas: map[string]prompts.Persona{}, versions: map[string][]prompts.Version{}, rubrics: map[string][]rlhf.Scale{}}
	var err error
	w.project, err = w.prompts.CreateProject(ctx, prompts.Project{Name: "导出测试", Slug: "exports"})
	require.NoError(t, err)
	as := auth.NewStore(pool, nil)
	for _, login := range []string{"wang", "li"} {
		u, err := as.CreateUser(ctx, auth.NewUser{Login: login, DisplayName: "训练师 " + login, Password: "correct horse battery"})
		require.NoError(t, err)
		w.users[login] = u
	}
	for _, p := range []prompts.Persona{
		{Slug: "customs-helper", Name: "通关助手", Kind: prompts.DomainAssistant, Locale: "zh-CN"},
		{Slug: "companion", Name: "小暖", NameEN: "Xiaonuan", Kind: prompts.DigitalHuman, Locale: "en"},
	} {
		p.ProjectID = w.project.ID
		persona, err := w.prompts.CreatePersona(ctx, p)
		require.NoError(t, err)
		w.personas[p.Slug] = persona
		for i := 1; i <= 2; i++ {
			v, err := w.prompts.PublishVersion(ctx, persona.ID, prompts.Version{Template: fmt.Sprintf("你是{{.Persona.Name}}（第%d版）", i),
				Model: "baseline-extractive", Temperature: 0.3, TopP: 1, MaxTokens: 200, RetrievalK: 2, Author: "t"})
			require.NoError(t, err)
			w.versions[p.Slug] = append(w.versions[p.Slug], v)
		}
		dims, err := w.prompts.Rubric(ctx, persona.ID)
		require.NoError(t, err)
		for _, d := range dims {
			w.rubrics[p.Slug] = append(w.rubrics[p.Slug], rlhf.Scale{Key: d.Key, Min: d.ScaleMin, Max: d.ScaleMax})
		}
	}
	return w
}

// cand is a candidate to generate and finish.
type cand struct {
	content  string
	model    string
	version  int // 1 or 2
	baseline bool
	status   rlhf.Status // complete unless set
	passages []int64     // chunk ids it was given
}

// turn stores a user message (continuing from parent, or starting a conversation) and its
// finished candidates, and returns the turn.
func (w *world) turn(persona, user string, conversation int64, parent *int64, message string, cands ...cand) rlhf.Turn {
	w.t.Helper()
	ctx := context.Background()
	var specs []rlhf.CandidateSpec
	for i, c := range cands {
		endpoint := "http://models.test/v1"
		if c.baseline {
			endpoint = "offline"
		}
		specs = append(specs, rlhf.CandidateSpec{Position: i + 1, Model: c.model, Endpoint: endpoint, Baseline: c.baseline,
			PromptVersionID: w.versions[persona][c.version-1].ID, Temperature: 0.7, TopP: 1, MaxTokens: 200, Seed: int64(i),
			SystemPromptHash: "sha", PassageIDs: c.passages})
	}
	locale := "zh-CN"
	if persona == "companion" {
		locale = "en"
	}
	t, err := w.live.StartTurn(ctx, rlhf.NewTurn{ConversationID: conversation, ProjectID: w.project.ID, PersonaID: w.personas[persona].ID,
		Locale: locale, ParentID: parent, UserID: w.users[user].ID, Message: message, Candidates: specs,
		Lease: rlhf.Lease{Owner: "fixture", For: time.Hour}})
	require.NoError(w.t, err)
	for i := range t.Candidates {
		c := &t.Candidates[i]
		c.Content, c.Status, c.FinishReason = cands[i].content, cands[i].status, "stop"
		if c.Status == "" {
			c.Status = "complete"
		}
		require.NoError(w.t, w.live.Finish(ctx, *c))
	}
	return t
}

// judge submits a judgment; ranking and the maps name candidates by position (1 = A).
func (w *world) judge(persona, user string, t rlhf.Turn, j judgment) rlhf.Submitted {
	w.t.Helper()
	id := func(pos int) int64 { return t.Candidates[pos-1].ID }
	w.keys++
	sub := rlhf.Submission{IdempotencyKey: "export-test-" + strconv.Itoa(w.keys), Ratings: map[string]map[string]int{},
		Flags: map[string][]string{}, Comment: j.comment, TimeSpentMillis: 1000}
	for _, g := range j.ranking {
		var group []int64
		for _, p := range g {
			group = append(group, id(p))
		}
		sub.Ranking = append(sub.Ranking, group)
	}
	for p, r := range j.ratings {
		sub.Ratings[strconv.FormatInt(id(p), 10)] = r
	}
	for p, f := range j.flags {
		sub.Flags[strconv.FormatInt(id(p), 10)] = f
	}
	if j.edit != "" {
		sub.Edit = &rlhf.EditInput{CandidateID: id(j.editOf), Content: j.edit}
	}
	if j.gold != "" {
		sub.Gold = &rlhf.GoldInput{Content: j.gold}
	}
	switch {
	case j.continueEdit:
		sub.ContinueFrom = rlhf.ContinueFrom{Edit: true}
	case j.continueGold:
		sub.ContinueFrom = rlhf.ContinueFrom{Gold: true}
	default:
		sub.ContinueFrom = rlhf.ContinueFrom{CandidateID: id(max(j.continueFrom, 1))}
	}
	res, err := w.live.Submit(context.Background(), t.ID, w.users[user].ID, sub)
	require.NoError(w.t, err)
	return res
}

type judgment struct {
	ranking      [][]int
	ratings      map[int]map[string]int
	flags        map[int][]string
	edit         string
	editOf       int
	gold         string
	comment      string
	continueFrom int
	continueEdit bool
	continueGold bool
}

// fixture builds the realistic world every format is tested on: multi-turn conversations
// in Chinese and English, ties, a correction, gold replies, flags, baseline candidates, a
// judgment revised, two trainers on one turn, and a prompt asked twice.
func fixture(t testing.TB) *world {
	t.Helper()
	w := newWorld(t)

	// A two-turn customs conversation: ties, ratings, a flag, an edit and a gold reply; the
	// conversation goes on from the edit.
	t1 := w.turn("customs-helper", "wang", 0, nil, "个人邮寄进境物品的免税额是多少？",
		cand{content: "应征进口税税额在人民币50元（含）以下的，海关予以免征。[1]", model: "qwen-plus", version: 1},
		cand{content: "税额50元以下免征，超过则全额征税。", model: "deepseek-chat", version: 2},
		cand{content: "50元以内免税。", model: "qwen-plus", version: 2},
		cand{content: "所有邮寄物品都免税。", model: "deepseek-chat", version: 1},
		cand{content: "【摘录】个人邮寄物品……[1]", model: "baseline-extractive", version: 1, baseline: true},
	)
	r1 := w.judge("customs-helper", "wang", t1, judgment{
		ranking: [][]int{{1}, {2, 3}, {5}, {4}},
		ratings: map[int]map[string]int{1: {"accuracy": 5, "groundedness": 5}, 2: {"accuracy": 4}, 4: {"accuracy": 1, "groundedness": 1}},
		flags:   map[int][]string{4: {"hallucination"}},
		edit:    "应征进口税税额在人民币50元（含）以下的，海关予以免征；超过的全额征收。", editOf: 2,
		gold: "个人邮寄进境物品，应征税额在50元（含）以下的免征。", comment: "第四个编造了规定", continueEdit: true,
	})
	t2 := w.turn("customs-helper", "wang", t1.ConversationID, r1.EditedMessageID, "那超过50元怎么办？请用 <b>要点</b> 回答",
		cand{content: "超过50元的，应全额缴纳进口税。\n1. 申报\n2. 缴税", model: "qwen-plus", version: 2},
		cand{content: "可以分开寄，每包都免税 \"技巧\" \\ 路径 C:\\temp", model: "deepseek-chat", version: 2},
		cand{content: "请咨询当地海关。", model: "qwen-plus", version: 1},
	)
	w.judge("customs-helper", "wang", t2, judgment{
		ranking: [][]int{{1}, {3}, {2}},
		flags:   map[int][]string{2: {"unsafe"}},
		ratings: map[int]map[string]int{1: {"accuracy": 5, "helpfulness": 4}, 3: {"accuracy": 3, "helpfulness": 2}},
	})

	// An English companion turn, judged by two trainers; wang revises, and only the revision
	// counts.
	t3 := w.turn("companion", "li", 0, nil, "I failed my driving test today.",
		cand{content: "Oh no, I'm sorry. That's really disappointing — want to tell me what happened?", model: "gpt-4o", version: 1},
		cand{content: "Driving tests are hard. Try again.", model: "gpt-4o-mini", version: 2},
		cand{content: "Many people fail the first time & pass later <3", model: "gpt-4o", version: 2},
	)
	w.judge("companion", "wang", t3, judgment{ranking: [][]int{{2}, {1}, {3}}})
	w.judge("companion", "wang", t3, judgment{ranking: [][]int{{1}, {3}, {2}},
		ratings: map[int]map[string]int{1: {"empathy": 5, "warmth": 5}, 2: {"empathy": 2, "warmth": 1}}})
	w.judge("companion", "li", t3, judgment{ranking: [][]int{{1, 3}, {2}}, continueFrom: 1})

	// The same question in a new conversation: a duplicate prompt.
	t4 := w.turn("companion", "li", 0, nil, "I failed my driving test today.",
		cand{content: "That stings. You'll get it next time!", model: "gpt-4o", version: 1},
		cand{content: "Bad luck.", model: "gpt-4o-mini", version: 1},
	)
	w.judge("companion", "li", t4, judgment{ranking: [][]int{{1}, {2}}})

	// All tied, one flagged; and a turn whose best candidate is the baseline.
	t5 := w.turn("customs-helper", "li", 0, nil, "行李里能带几瓶酒？",
		cand{content: "旅客携带酒类不超过1500毫升免税。", model: "qwen-plus", version: 1},
		cand{content: "随便带。", model: "deepseek-chat", version: 1},
		cand{content: "酒精度12度以上的酒，限量1500毫升。", model: "qwen-plus", version: 2, status: "interrupted"},
	)
	w.judge("customs-helper", "li", t5, judgment{ranking: [][]int{{1, 2, 3}}, flags: map[int][]string{2: {"unsafe", "refusal"}}})
	t6 := w.turn("customs-helper", "li", 0, nil, "What is the duty-free allowance for mailed goods?",
		cand{content: "[extract] Tax of RMB 50 or less is waived. [1]", model: "baseline-extractive", version: 1, baseline: true},
		cand{content: "Duties of 50 yuan or less are waived.", model: "gpt-4o", version: 2},
		cand{content: "Everything is free.", model: "gpt-4o-mini", version: 2},
	)
	w.judge("customs-helper", "li", t6, judgment{ranking: [][]int{{1}, {2}, {3}}, gold: "Import tax of RMB 50 or less on a parcel is waived.", continueGold: true})
	t7 := w.turn("customs-helper", "wang", 0, nil, "入境可以携带多少现金？",
		cand{content: "【摘录】携带人民币现钞超过20000元的，应当向海关书面申报。[1]", model: "baseline-extractive", version: 2, baseline: true},
		cand{content: "超过2万元人民币现钞需要申报。", model: "qwen-plus", version: 2},
		cand{content: "不限。", model: "deepseek-chat", version: 2},
	)
	w.judge("customs-helper", "wang", t7, judgment{ranking: [][]int{{1}, {2}, {3}}})

	// A turn grounded in a knowledge corpus: wang marks its passages and cites one in a gold
	// reply; li only marks them, and finds nothing irrelevant (no row: no negative he chose,
	// but the unused passage is a hard negative, so he gets a row too).
	chunks := w.knowledge(map[string]string{
		"postal": "个人邮寄进境物品，应征进口税税额在人民币50元（含）以下的，海关予以免征。",
		"cash":   "旅客携带人民币现钞超过20000元的，应当向海关书面申报。",
		"pets":   "每名旅客限带一只犬或猫，须出具检疫证书。",
	})
	t8 := w.turn("customs-helper", "wang", 0, nil, "邮寄物品超过多少要交税？",
		cand{content: "税额50元以下免征。[1]", model: "qwen-plus", version: 1, passages: []int64{chunks["postal"], chunks["cash"]}},
		cand{content: "要看具体情况。", model: "deepseek-chat", version: 2, passages: []int64{chunks["postal"], chunks["pets"]}},
	)
	w.mark(t8, "wang", chunks["postal"], 2)
	w.mark(t8, "wang", chunks["pets"], 1)
	w.mark(t8, "wang", chunks["pets"], 0) // changed his mind: the later mark counts
	w.judge("customs-helper", "wang", t8, judgment{ranking: [][]int{{1}, {2}}, gold: "应征税额50元（含）以下免征。[1]", continueGold: true})
	w.mark(t8, "li", chunks["cash"], 1)
	return w
}

// knowledge stores one corpus with a document per entry and returns each one's chunk id.
func (w *world) knowledge(docs map[string]string) map[string]int64 {
	w.t.Helper()
	ctx := context.Background()
	rs := retrieval.NewStore(w.pool, nil, nil)
	c, err := rs.CreateCorpus(ctx, retrieval.Corpus{ProjectID: w.project.ID, Slug: "kb", Name: "知识库"})
	require.NoError(w.t, err)
	out := map[string]int64{}
	for _, slug := range slices.Sorted(maps.Keys(docs)) {
		res, err := rs.Ingest(ctx, c, retrieval.DocumentInput{Slug: slug, Title: slug, Body: docs[slug]})
		require.NoError(w.t, err)
		var id int64
		require.NoError(w.t, w.pool.QueryRow(ctx, `SELECT id FROM chunks WHERE document_id = $1`, res.DocumentID).Scan(&id))
		out[slug] = id
	}
	return out
}

func (w *world) mark(t rlhf.Turn, user string, chunk int64, grade int) {
	w.t.Helper()
	_, err := retrieval.NewStore(w.pool, nil, nil).SetMark(context.Background(), retrieval.Mark{TurnID: t.ID, ChunkID: chunk, TrainerID: w.users[user].ID, Grade: grade})
	require.NoError(w.t, err)
}

// export streams a whole export (both splits) to memory.
func (w *world) export(t testing.TB, spec export.Spec) ([]byte, export.Stats) {
	t.Helper()
	if spec.Filter.Project == "" {
		spec.Filter.Project = "exports"
	}
	var buf bytes.Buffer
	_, stats, err := export.New(w.pool, nil).Stream(context.Background(), spec, "", &buf)
	require.NoError(t, err)
	return buf.Bytes(), stats
}

func at(s string) *time.Time {
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &tm
}
