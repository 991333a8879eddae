package export

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The consumers' rows. Each type is written to JSONL with encoding/json and to Parquet with
// parquet-go from the same value, so both encodings have the same columns. Metadata columns
// (id, persona, annotator, rule, source) sit beside the consumer's keys: TRL and
// LLaMA-Factory ignore columns they do not know. OpenAI's rows carry only OpenAI's keys.

var metaColumns = []Column{
	{"id", "a stable id: p_<pair> for a preference pair, j_<judgment> for a judged turn"},
	{"persona", "the persona's slug"},
	{"annotator", "the login of the trainer whose judgment this is"},
}

// --- TRL ---

type trlSFTRow struct {
	Messages  []message `json:"messages" parquet:"messages,list"`
	ID        string    `json:"id" parquet:"id"`
	Persona   string    `json:"persona" parquet:"persona"`
	Annotator string    `json:"annotator" parquet:"annotator"`
	Source    string    `json:"source" parquet:"source"`
}

var trlSFTColumns = append([]Column{
	{"messages", "the conversation up to the judged turn, then the chosen reply as the last assistant message"},
	{"source", "where the last reply came from: gold, edit or ranking (the top-ranked candidate)"},
}, metaColumns...)

func toTRLSFT(r turnRecord, emit func(trlSFTRow, RowInfo) error) error {
	reply, source, ok := sftReply(r)
	if !ok {
		return nil
	}
	msgs := append(clone(r.Context), message{Role: "assistant", Content: reply})
	return emit(trlSFTRow{Messages: msgs, ID: judgmentID(r), Persona: r.Persona, Annotator: r.Annotator, Source: source},
		RowInfo{Conversation: r.ConversationID, Persona: r.Persona, Dedupe: combine(r.ContextHash)})
}

type trlDPORow struct {
	Prompt    []message `json:"prompt" parquet:"prompt,list"`
	Chosen    []message `json:"chosen" parquet:"chosen,list"`
	Rejected  []message `json:"rejected" parquet:"rejected,list"`
	Margin    float64   `json:"margin" parquet:"margin"`
	ID        string    `json:"id" parquet:"id"`
	Persona   string    `json:"persona" parquet:"persona"`
	Annotator string    `json:"annotator" parquet:"annotator"`
	Rule      string    `json:"rule" parquet:"rule"`
}

var pairColumns = append([]Column{
	{"margin", "how strongly chosen is preferred (docs/derivation.md); RewardTrainer's loss is -logsigmoid(r_chosen - r_rejected - margin)"},
	{"rule", "the derivation rule that made the pair: ranking, edit or gold"},
}, metaColumns...)

var trlDPOColumns = append([]Column{
	{"prompt", "the conversation up to and including the judged user turn"},
	{"chosen", "the preferred reply, a one-message assistant list"},
	{"rejected", "the other reply, a one-message assistant list"},
}, pairColumns...)

func toTRLDPO(p pairRecord, emit func(trlDPORow, RowInfo) error) error {
	return emit(trlDPORow{Prompt: p.Context, Chosen: assistant(p.Chosen), Rejected: assistant(p.Rejected), Margin: p.Margin,
		ID: pairID(p), Persona: p.Persona, Annotator: p.Annotator, Rule: p.Rule}, pairInfo(p))
}

type trlRewardRow struct {
	Chosen    []message `json:"chosen" parquet:"chosen,list"`
	Rejected  []message `json:"rejected" parquet:"rejected,list"`
	Margin    float64   `json:"margin" parquet:"margin"`
	ID        string    `json:"id" parquet:"id"`
	Persona   string    `json:"persona" parquet:"persona"`
	Annotator string    `json:"annotator" parquet:"annotator"`
	Rule      string    `json:"rule" parquet:"rule"`
}

var trlRewardColumns = append([]Column{
	{"chosen", "the whole conversation ending with the preferred reply (implicit prompt)"},
	{"rejected", "the same conversation ending with the other reply"},
}, pairColumns...)

func toTRLReward(p pairRecord, emit func(trlRewardRow, RowInfo) error) error {
	return emit(trlRewardRow{Chosen: append(clone(p.Context), assistant(p.Chosen)...), Rejected: append(clone(p.Context), assistant(p.Rejected)...),
		Margin: p.Margin, ID: pairID(p), Persona: p.Persona, Annotator: p.Annotator, Rule: p.Rule}, pairInfo(p))
}

type trlKTORow struct {
	Prompt     []message `json:"prompt" parquet:"prompt,list"`
	Completion []message `json:"completion" parquet:"completion,list"`
	Label      bool      `json:"label" parquet:"label"`
	ID         string    `json:"id" parquet:"id"`
	Persona    string    `json:"persona" parquet:"persona"`
	Annotator  string    `json:"annotator" parquet:"annotator"`
	Source     string    `json:"source" parquet:"source"`
}

var ktoSourceColumn = Column{"source", "why the label: top-ranked, edit or gold (true); bottom-ranked or flagged (false)"}

var trlKTOColumns = append([]Column{
	{"prompt", "the conversation up to and including the judged user turn"},
	{"completion", "one reply, a one-message assistant list"},
	{"label", "true for a desirable reply, false for an undesirable one (JSON boolean)"},
	ktoSourceColumn,
}, metaColumns...)

func toTRLKTO(r turnRecord, emit func(trlKTORow, RowInfo) error) error {
	for _, k := range ktoItems(r) {
		row := trlKTORow{Prompt: r.Context, Completion: assistant(k.content), Label: k.label, ID: k.id, Persona: r.Persona,
			Annotator: r.Annotator, Source: k.source}
		if err := emit(row, ktoInfo(r, k)); err != nil {
			return err
		}
	}
	return nil
}

// --- OpenAI ---

type openAIMessage struct {
	Role    string `json:"role" parquet:"role"`
	Content string `json:"content" parquet:"content"`
	// Weight is set on assistant messages only: 0 for context turns, 1 for the judged reply.
	Weight *int `json:"weight,omitempty" parquet:"weight,optional"`
}

type openAISFTRow struct {
	Messages []openAIMessage `json:"messages" parquet:"messages,list"`
}

var openAISFTColumns = []Column{
	{"messages", "the conversation up to the judged turn, then the chosen reply; earlier assistant turns carry weight 0 (context only), the chosen reply weight 1"},
}

func toOpenAISFT(r turnRecord, emit func(openAISFTRow, RowInfo) error) error {
	reply, _, ok := sftReply(r)
	if !ok {
		return nil
	}
	zero, one := 0, 1
	msgs := make([]openAIMessage, 0, len(r.Context)+1)
	for _, m := range r.Context {
		om := openAIMessage{Role: m.Role, Content: m.Content}
		if m.Role == "assistant" {
			om.Weight = &zero
		}
		msgs = append(msgs, om)
	}
	msgs = append(msgs, openAIMessage{Role: "assistant", Content: reply, Weight: &one})
	return emit(openAISFTRow{Messages: msgs}, RowInfo{Conversation: r.ConversationID, Persona: r.Persona, Dedupe: combine(r.ContextHash)})
}

type openAIInput struct {
	Messages []message `json:"messages" parquet:"messages,list"`
}

type openAIDPORow struct {
	Input              openAIInput `json:"input" parquet:"input"`
	PreferredOutput    []message   `json:"preferred_output" parquet:"preferred_output,list"`
	NonPreferredOutput []message   `json:"non_preferred_output" parquet:"non_preferred_output,list"`
}

var openAIDPOColumns = []Column{
	{"input", "{messages}: the conversation up to and including the judged user turn"},
	{"preferred_output", "the preferred reply, one assistant message"},
	{"non_preferred_output", "the other reply, one assistant message"},
}

func toOpenAIDPO(p pairRecord, emit func(openAIDPORow, RowInfo) error) error {
	return emit(openAIDPORow{Input: openAIInput{Messages: p.Context}, PreferredOutput: assistant(p.Chosen),
		NonPreferredOutput: assistant(p.Rejected)}, pairInfo(p))
}

// --- LLaMA-Factory, ShareGPT style ---

type shareGPTTurn struct {
	From  string `json:"from" parquet:"from"`
	Value string `json:"value" parquet:"value"`
}

type shareGPTSFTRow struct {
	Conversations []shareGPTTurn `json:"conversations" parquet:"conversations,list"`
	System        string         `json:"system,omitempty" parquet:"system,optional"`
	ID            string         `json:"id" parquet:"id"`
	Persona       string         `json:"persona" parquet:"persona"`
	Annotator     string         `json:"annotator" parquet:"annotator"`
	Source        string         `json:"source" parquet:"source"`
}

var shareGPTSFTColumns = append([]Column{
	{"conversations", "human and gpt turns alternating, ending with the chosen reply (an even count)"},
	{"system", "a system message, when the conversation has one (omitted otherwise)"},
	{"source", "where the last reply came from: gold, edit or ranking"},
}, metaColumns...)

func toShareGPTSFT(r turnRecord, emit func(shareGPTSFTRow, RowInfo) error) error {
	reply, source, ok := sftReply(r)
	if !ok {
		return nil
	}
	conv, system := shareGPT(r.Context)
	conv = append(conv, shareGPTTurn{From: "gpt", Value: reply})
	return emit(shareGPTSFTRow{Conversations: conv, System: system, ID: judgmentID(r), Persona: r.Persona, Annotator: r.Annotator, Source: source},
		RowInfo{Conversation: r.ConversationID, Persona: r.Persona, Dedupe: combine(r.ContextHash)})
}

type shareGPTPreferenceRow struct {
	Conversations []shareGPTTurn `json:"conversations" parquet:"conversations,list"`
	Chosen        shareGPTTurn   `json:"chosen" parquet:"chosen"`
	Rejected      shareGPTTurn   `json:"rejected" parquet:"rejected"`
	System        string         `json:"system,omitempty" parquet:"system,optional"`
	ID            string         `json:"id" parquet:"id"`
	Persona       string         `json:"persona" parquet:"persona"`
	Annotator     string         `json:"annotator" parquet:"annotator"`
	Rule          string         `json:"rule" parquet:"rule"`
}

var shareGPTPreferenceColumns = append([]Column{
	{"conversations", "human and gpt turns alternating, ending with the judged human turn (an odd count)"},
	{"chosen", "the preferred reply, one {from: gpt, value} object"},
	{"rejected", "the other reply, one {from: gpt, value} object"},
	{"system", "a system message, when the conversation has one (omitted otherwise)"},
	{"rule", "the derivation rule that made the pair: ranking, edit or gold"},
}, metaColumns...)

func toShareGPTPreference(p pairRecord, emit func(shareGPTPreferenceRow, RowInfo) error) error {
	conv, system := shareGPT(p.Context)
	return emit(shareGPTPreferenceRow{Conversations: conv, Chosen: shareGPTTurn{"gpt", p.Chosen}, Rejected: shareGPTTurn{"gpt", p.Rejected},
		System: system, ID: pairID(p), Persona: p.Persona, Annotator: p.Annotator, Rule: p.Rule}, pairInfo(p))
}

type shareGPTKTORow struct {
	Conversations []shareGPTTurn `json:"conversations" parquet:"conversations,list"`
	KTOTag        bool           `json:"kto_tag" parquet:"kto_tag"`
	System        string         `json:"system,omitempty" parquet:"system,optional"`
	ID            string         `json:"id" parquet:"id"`
	Persona       string         `json:"persona" parquet:"persona"`
	Annotator     string         `json:"annotator" parquet:"annotator"`
	Source        string         `json:"source" parquet:"source"`
}

var shareGPTKTOColumns = append([]Column{
	{"conversations", "human and gpt turns alternating, ending with the labelled reply (an even count)"},
	{"kto_tag", "true for a desirable reply, false for an undesirable one (JSON boolean)"},
	{"system", "a system message, when the conversation has one (omitted otherwise)"},
	ktoSourceColumn,
}, metaColumns...)

func toShareGPTKTO(r turnRecord, emit func(shareGPTKTORow, RowInfo) error) error {
	base, system := shareGPT(r.Context)
	for _, k := range ktoItems(r) {
		conv := append(base[:len(base):len(base)], shareGPTTurn{From: "gpt", Value: k.content})
		row := shareGPTKTORow{Conversations: conv, KTOTag: k.label, System: system, ID: k.id, Persona: r.Persona, Annotator: r.Annotator, Source: k.source}
		if err := emit(row, ktoInfo(r, k)); err != nil {
			return err
		}
	}
	return nil
}

// shareGPT maps messages to ShareGPT turns; system messages go to the separate system field.
func shareGPT(msgs []message) ([]shareGPTTurn, string) {
	out := make([]shareGPTTurn, 0, len(msgs)+1)
	var system []string
	for _, m := range msgs {
		switch m.Role {
		case "system":
			system = append(system, m.Content)
		case "user":
			out = append(out, shareGPTTurn{From: "human", Value: m.Content})
		default:
			out = append(out, shareGPTTurn{From: "gpt", Value: m.Content})
		}
	}
	return out, strings.Join(system, "\n\n")
}

// --- LLaMA-Factory, Alpaca style ---

type alpacaSFTRow struct {
	Instruction string     `json:"instruction" parquet:"instruction"`
	Input       string     `json:"input" parquet:"input"`
	Output      string     `json:"output" parquet:"output"`
	System      string     `json:"system,omitempty" parquet:"system,optional"`
	History     [][]string `json:"history" parquet:"history,list"`
	ID          string     `json:"id" parquet:"id"`
	Persona     string     `json:"persona" parquet:"persona"`
	Annotator   string     `json:"annotator" parquet:"annotator"`
	Source      string     `json:"source" parquet:"source"`
}

var alpacaCommonColumns = []Column{
	{"instruction", "the judged user turn"},
	{"input", "always empty: the question is the instruction"},
	{"system", "a system message, when the conversation has one (omitted otherwise)"},
	{"history", "the earlier turns as [user, assistant] pairs, oldest first"},
}

var alpacaSFTColumns = append(append(slicesClone(alpacaCommonColumns),
	Column{"output", "the chosen reply"}, Column{"source", "where the reply came from: gold, edit or ranking"}), metaColumns...)

func toAlpacaSFT(r turnRecord, emit func(alpacaSFTRow, RowInfo) error) error {
	reply, source, ok := sftReply(r)
	if !ok {
		return nil
	}
	a := alpaca(r.Context)
	return emit(alpacaSFTRow{Instruction: a.instruction, Output: reply, System: a.system, History: a.history, ID: judgmentID(r),
		Persona: r.Persona, Annotator: r.Annotator, Source: source},
		RowInfo{Conversation: r.ConversationID, Persona: r.Persona, Dedupe: combine(r.ContextHash)})
}

type alpacaPreferenceRow struct {
	Instruction string     `json:"instruction" parquet:"instruction"`
	Input       string     `json:"input" parquet:"input"`
	Chosen      string     `json:"chosen" parquet:"chosen"`
	Rejected    string     `json:"rejected" parquet:"rejected"`
	System      string     `json:"system,omitempty" parquet:"system,optional"`
	History     [][]string `json:"history" parquet:"history,list"`
	ID          string     `json:"id" parquet:"id"`
	Persona     string     `json:"persona" parquet:"persona"`
	Annotator   string     `json:"annotator" parquet:"annotator"`
	Rule        string     `json:"rule" parquet:"rule"`
}

var alpacaPreferenceColumns = append(append(slicesClone(alpacaCommonColumns),
	Column{"chosen", "the preferred reply"}, Column{"rejected", "the other reply"},
	Column{"rule", "the derivation rule that made the pair: ranking, edit or gold"}), metaColumns...)

func toAlpacaPreference(p pairRecord, emit func(alpacaPreferenceRow, RowInfo) error) error {
	a := alpaca(p.Context)
	return emit(alpacaPreferenceRow{Instruction: a.instruction, Chosen: p.Chosen, Rejected: p.Rejected, System: a.system, History: a.history,
		ID: pairID(p), Persona: p.Persona, Annotator: p.Annotator, Rule: p.Rule}, pairInfo(p))
}

type alpacaKTORow struct {
	Instruction string     `json:"instruction" parquet:"instruction"`
	Input       string     `json:"input" parquet:"input"`
	Output      string     `json:"output" parquet:"output"`
	KTOTag      bool       `json:"kto_tag" parquet:"kto_tag"`
	System      string     `json:"system,omitempty" parquet:"system,optional"`
	History     [][]string `json:"history" parquet:"history,list"`
	ID          string     `json:"id" parquet:"id"`
	Persona     string     `json:"persona" parquet:"persona"`
	Annotator   string     `json:"annotator" parquet:"annotator"`
	Source      string     `json:"source" parquet:"source"`
}

var alpacaKTOColumns = append(append(slicesClone(alpacaCommonColumns),
	Column{"output", "one reply"}, Column{"kto_tag", "true for a desirable reply, false for an undesirable one (JSON boolean)"},
	ktoSourceColumn), metaColumns...)

func toAlpacaKTO(r turnRecord, emit func(alpacaKTORow, RowInfo) error) error {
	a := alpaca(r.Context)
	for _, k := range ktoItems(r) {
		row := alpacaKTORow{Instruction: a.instruction, Output: k.content, KTOTag: k.label, System: a.system, History: a.history,
			ID: k.id, Persona: r.Persona, Annotator: r.Annotator, Source: k.source}
		if err := emit(row, ktoInfo(r, k)); err != nil {
			return err
		}
	}
	return nil
}

type alpacaParts struct {
	instruction, system string
	history             [][]string
}

// alpaca splits a context ending with a user turn into the instruction, the earlier
// [user, assistant] pairs and the system message.
func alpaca(msgs []message) alpacaParts {
	var a alpacaParts
	a.history = [][]string{} // [] rather than null: LLaMA-Factory iterates it
	var system []string
	var q *string
	for _, m := range msgs {
		switch m.Role {
		case "system":
			system = append(system, m.Content)
		case "user":
			c := m.Content
			q = &c
		case "assistant":
			if q != nil {
				a.history = append(a.history, []string{*q, m.Content})
				q = nil
			}
		}
	}
	if q != nil {
		a.instruction = *q
	}
	a.system = strings.Join(system, "\n\n")
	return a
}

// --- rankings ---

type rankingsRow struct {
	ID             string            `json:"id" parquet:"id"`
	TurnID         int64             `json:"turn_id" parquet:"turn_id"`
	ConversationID int64             `json:"conversation_id" parquet:"conversation_id"`
	Persona        string            `json:"persona" parquet:"persona"`
	Annotator      string            `json:"annotator" parquet:"annotator"`
	Prompt         []message         `json:"prompt" parquet:"prompt,list"`
	Candidates     []rankedCandidate `json:"candidates" parquet:"candidates,list"`
	Edit           *rankedEdit       `json:"edit" parquet:"edit,optional"`
	Gold           *string           `json:"gold" parquet:"gold,optional"`
	Comment        string            `json:"comment" parquet:"comment"`
	JudgedAt       string            `json:"judged_at" parquet:"judged_at"`
}

type rankedCandidate struct {
	CandidateID   int64       `json:"candidate_id" parquet:"candidate_id"`
	Rank          int         `json:"rank" parquet:"rank"` // 1 is best; tied candidates share a rank
	Content       string      `json:"content" parquet:"content"`
	Model         string      `json:"model" parquet:"model"`
	PromptVersion int         `json:"prompt_version" parquet:"prompt_version"`
	Baseline      bool        `json:"baseline" parquet:"baseline"`
	Status        string      `json:"status" parquet:"status"`
	Ratings       []dimRating `json:"ratings" parquet:"ratings,list"`
	Flags         []string    `json:"flags" parquet:"flags,list"`
}

type dimRating struct {
	Dimension string `json:"dimension" parquet:"dimension"`
	Value     int    `json:"value" parquet:"value"`
	Min       int    `json:"min" parquet:"min"`
	Max       int    `json:"max" parquet:"max"`
}

type rankedEdit struct {
	CandidateID int64  `json:"candidate_id" parquet:"candidate_id"`
	Content     string `json:"content" parquet:"content"`
}

var rankingsColumns = []Column{
	{"id", "j_<judgment>"},
	{"turn_id", "the judged turn"},
	{"conversation_id", "the conversation the turn belongs to"},
	{"persona", "the persona's slug"},
	{"annotator", "the login of the trainer whose judgment this is"},
	{"prompt", "the conversation up to and including the judged user turn"},
	{"candidates", "every eligible candidate in ranking order: rank (1 best, ties share one), content, model, prompt_version, baseline, status, ratings [{dimension, value, min, max}] and flags"},
	{"edit", "the trainer's correction {candidate_id, content}, or null"},
	{"gold", "a reply written from scratch, or null"},
	{"comment", "the trainer's comment"},
	{"judged_at", "when this revision of the judgment was made (RFC 3339, UTC)"},
}

func toRankings(r turnRecord, emit func(rankingsRow, RowInfo) error) error {
	if len(r.Candidates) == 0 {
		return nil
	}
	row := rankingsRow{ID: judgmentID(r), TurnID: r.TurnID, ConversationID: r.ConversationID, Persona: r.Persona, Annotator: r.Annotator,
		Prompt: r.Context, Comment: r.Comment, JudgedAt: r.CreatedAt.UTC().Format(time.RFC3339Nano), Candidates: []rankedCandidate{}}
	for gi, group := range r.Ranking {
		for _, id := range group {
			c := r.candidate(id)
			if c == nil {
				continue
			}
			key := strconv.FormatInt(id, 10)
			rc := rankedCandidate{CandidateID: id, Rank: gi + 1, Content: c.Content, Model: c.Model, PromptVersion: c.PromptVersion,
				Baseline: c.Baseline, Status: c.Status, Ratings: []dimRating{}, Flags: []string{}}
			for _, dim := range sortedKeys(r.Ratings[key]) {
				v := r.Ratings[key][dim]
				rc.Ratings = append(rc.Ratings, dimRating{Dimension: dim, Value: v.Value, Min: v.Min, Max: v.Max})
			}
			rc.Flags = append(rc.Flags, r.Flags[key]...)
			row.Candidates = append(row.Candidates, rc)
		}
	}
	if r.Edit != nil {
		row.Edit = &rankedEdit{CandidateID: r.Edit.CandidateID, Content: r.Edit.Content}
	}
	if r.Gold != nil {
		g := r.Gold.Content
		row.Gold = &g
	}
	return emit(row, RowInfo{Conversation: r.ConversationID, Persona: r.Persona})
}

// --- the rules ---

// sftReply is the reply an SFT row trains on: the gold reply, else the correction, else the
// first unflagged candidate of the best-ranked group (of eligible candidates). A turn with
// none gives no SFT row.
func sftReply(r turnRecord) (content, source string, ok bool) {
	switch {
	case r.Gold != nil:
		return r.Gold.Content, "gold", true
	case r.Edit != nil:
		return r.Edit.Content, "edit", true
	}
	ranking := r.eligibleRanking()
	if len(ranking) == 0 {
		return "", "", false
	}
	for _, id := range ranking[0] {
		if len(r.Flags[strconv.FormatInt(id, 10)]) == 0 {
			return r.candidate(id).Content, "ranking", true
		}
	}
	return "", "", false
}

// eligibleRanking is the ranking as if ineligible candidates (the baseline's, say) had never
// been there: they are dropped, and so are groups left empty.
func (r *turnRecord) eligibleRanking() [][]int64 {
	var out [][]int64
	for _, group := range r.Ranking {
		var g []int64
		for _, id := range group {
			if r.candidate(id) != nil {
				g = append(g, id)
			}
		}
		if len(g) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// ktoItem is one labelled reply.
type ktoItem struct {
	id, content, source string
	label               bool
}

// ktoItems applies the KTO rule to one judgment. Desirable (true): candidates of the
// best-ranked group, the correction and the gold reply. Undesirable (false): candidates of
// the worst-ranked group, and any flagged candidate, whatever its rank. A ranking with one
// group (all tied) says nothing about good or bad, so only flags, the correction and the
// gold reply label that turn. Candidates in between are left out.
func ktoItems(r turnRecord) []ktoItem {
	var out []ktoItem
	ranking := r.eligibleRanking()
	last := len(ranking) - 1
	for gi, group := range ranking {
		for _, id := range group {
			c := r.candidate(id)
			it := ktoItem{id: fmt.Sprintf("j_%d_c%d", r.JudgmentID, id), content: c.Content}
			switch {
			case len(r.Flags[strconv.FormatInt(id, 10)]) > 0:
				it.source, it.label = "flagged", false
			case last > 0 && gi == 0:
				it.source, it.label = "top-ranked", true
			case last > 0 && gi == last:
				it.source, it.label = "bottom-ranked", false
			default:
				continue
			}
			out = append(out, it)
		}
	}
	if r.Edit != nil {
		out = append(out, ktoItem{id: fmt.Sprintf("j_%d_edit", r.JudgmentID), content: r.Edit.Content, source: "edit", label: true})
	}
	if r.Gold != nil {
		out = append(out, ktoItem{id: fmt.Sprintf("j_%d_gold", r.JudgmentID), content: r.Gold.Content, source: "gold", label: true})
	}
	return out
}

func ktoInfo(r turnRecord, k ktoItem) RowInfo {
	label := k.label
	return RowInfo{Conversation: r.ConversationID, Persona: r.Persona, Label: &label, Dedupe: combine(r.ContextHash, textHash(k.content))}
}

func pairInfo(p pairRecord) RowInfo {
	m := p.Margin
	return RowInfo{Conversation: p.ConversationID, Persona: p.Persona, Margin: &m, Dedupe: p.Dedupe}
}

func judgmentID(r turnRecord) string { return "j_" + strconv.FormatInt(r.JudgmentID, 10) }
func pairID(p pairRecord) string     { return "p_" + strconv.FormatInt(p.PairID, 10) }

func assistant(content string) []message { return []message{{Role: "assistant", Content: content}} }

// clone copies a context before appending to it: records may share their context slice
// between rows.
func clone(msgs []message) []message {
	out := make([]message, len(msgs), len(msgs)+1)
	copy(out, msgs)
	return out
}

func slicesClone(cs []Column) []Column { return append([]Column(nil), cs...) }

// dedupeKey is the key rows are deduplicated by: the prompt and, for preference and KTO
// rows, the replies. It is 64-bit FNV-1a: a collision would drop one row wrongly, and among a
// million distinct rows its chance is about 3 in 100 million; 64 bits keep the seen-set at
// ~20 bytes a row. Sources that yield many rows per prompt hash the parts once and combine
// them (see scanTurns), which gives the same key.
func dedupeKey(ctx []message, replies ...string) uint64 {
	hs := []uint64{contextHash(ctx)}
	for _, r := range replies {
		hs = append(hs, textHash(r))
	}
	return combine(hs...)
}

func contextHash(ctx []message) uint64 {
	h := uint64(fnvOffset)
	for _, m := range ctx {
		h = fnvString(fnvString(h, m.Role), m.Content)
	}
	return h
}

func textHash(s string) uint64 { return fnvString(fnvOffset, s) }

// combine hashes a list of hashes (or any numbers) into one.
func combine(hs ...uint64) uint64 {
	h := uint64(fnvOffset)
	for _, x := range hs {
		for i := range 8 {
			h ^= x >> (8 * i) & 0xff
			h *= fnvPrime
		}
	}
	return h
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnvString adds s and a terminating zero byte to an FNV-1a hash, without converting s to
// bytes (hash/fnv's Write would copy every string of every row).
func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h * fnvPrime // ^= 0 is a no-op
}

func roundMargin(f float64) float64 { return math.Round(f*1000) / 1000 }

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
