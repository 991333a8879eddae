package server_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/base"
	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/internal/browsertest"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/prompts/demo"
	"github.com/mentor-ai/mentor/retrieval"
)

// visibleText is what a person sees on the page, as text runs with where they are: every
// shown text node, placeholder and button label, except code (<code>, <pre>, <kbd>), a
// reply the model wrote (.rendered, the candidate texts), what a person typed into a field,
// identifiers marked translate="no", text a person stored and the page shows as written
// ([data-content]: a description, a version's note), and text marked as in another language
// (lang="en"). Collapsed <details> are opened first, so their contents count too.
const visibleText = `(() => {
  document.querySelectorAll("details").forEach((d) => (d.open = true));
  const skip = "code, pre, kbd, samp, script, style, textarea, .rendered, .candidate-text, [translate=no], [data-content]";
  const out = [];
  const where = (el) => el.id ? "#" + el.id : el.tagName.toLowerCase() + (el.className && typeof el.className === "string" ? "." + el.className.split(" ")[0] : "");
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || !n.textContent.trim() || el.closest(skip)) continue;
    // Text marked as another language (a document's English title) is content, not the UI.
    if (!el.closest("[lang]").lang.startsWith("zh")) continue;
    if (el.tagName === "OPTION") {
      const sel = el.closest("select");
      if (!sel || sel.selectedOptions[0] !== el || !sel.checkVisibility()) continue;
    } else if (!el.checkVisibility()) continue;
    out.push(where(el) + "\t" + n.textContent.trim());
  }
  for (const el of document.querySelectorAll("[placeholder]")) {
    if (el.checkVisibility() && !el.closest(skip)) out.push(where(el) + "[placeholder]\t" + el.placeholder);
  }
  return out;
})()`

// latinRun is a run of Latin letters, with the digits, dots, dashes and underscores that make
// one name of it (qwen2.5-7b, gpt-4o, train.jsonl).
var latinRun = regexp.MustCompile(`[A-Za-z][A-Za-z0-9]*(?:[._\-/@+][A-Za-z0-9]+)*`)

// allowedLatin are the Latin words a Chinese page may show: the product's name, names of
// things that are names everywhere (file formats, protocols, model families), units, and
// the data the fixture itself stored in Latin (logins, the demo project's slugs). A UI term
// is never here: it belongs in the catalogs.
var allowedLatin = map[string]bool{
	"Mentor": true,
	// Formats, protocols and standards, which Chinese documentation also writes in Latin.
	"JSON": true, "JSONL": true, "CSV": true, "Parquet": true, "OpenAPI": true, "WebSocket": true, "HTTP": true,
	"API": true, "URL": true, "SHA-256": true, "SFT": true, "DPO": true, "KTO": true, "TRL": true, "OpenAI": true,
	"Alpaca": true, "ShareGPT": true, "Markdown": true, "HTML": true, "Word": true, "ID": true, "Bearer": true,
	"Authorization": true, "Recall": true, "nDCG": true, "MRR": true, "k": true, "W": true, "RRF": true, "gzip": true,
	"UTF-8": true, "ms": true, "s": true, "Token": true, "token": true, "AI": true, "IQ": true, "EQ": true,
	"BM25": true, "Top-p": true, "top_p": true, "PDF": true, "Ctrl+Enter": true, "Excel": true, "Webhook": true,
	"http": true, "https": true, "GET": true, "POST": true, "PUT": true, "DELETE": true,
	"GB/T": true, // a national standard's prefix (GB/T 2828.1), written in Latin in Chinese too
	// Names of code: the template language, its block names, and trainer classes.
	"Go": true, "opening": true, "closing": true, "SFTTrainer": true, "DPOTrainer": true, "RewardTrainer": true,
	"KTOTrainer": true, "LLaMA-Factory": true,
	// The candidates' letters, as Chinese exams letter their options.
	"A": true, "B": true, "C": true, "D": true, "E": true, "F": true,
	// GB/T 2828.1's sample size code letters (字码 A to R; I, O and Q are not used), which the
	// Chinese standard writes in Latin too: the QC page's plans show them.
	"G": true, "H": true, "J": true, "K": true, "L": true, "M": true, "N": true, "P": true, "R": true,
	// Data the test stored: logins and the demo's own names.
	"root": true, "Demo": true, "demo": true,
}

// allowedName reports whether w is a name rather than a word: a file name, a model, a
// login or slug the test made, a version tag.
func allowedName(w string, models []string) bool {
	if allowedLatin[w] || slices.Contains(models, w) {
		return true
	}
	if regexp.MustCompile(`^[\w\-/]+\.(jsonl|csv|md|txt|docx|xlsx|pdf|html?|json|parquet|gz|markdown)$`).MatchString(w) {
		return true // a file name or path
	}
	if regexp.MustCompile(`^(zh-[a-z]+-\w+|[a-z]+-user|v\d+)$`).MatchString(w) {
		return true // the test's logins, version tags
	}
	if regexp.MustCompile(`^(jsonl|csv|md|txt|docx|xlsx|pdf|html?|json|parquet|gz|markdown)$`).MatchString(w) {
		return true // a file name's extension (.docx)
	}
	return false
}

// TestEveryPageReadsAsChinese signs in as each role that sees different pages, walks every
// page the role can open in zh-CN, and fails on any Latin word not on the allow-list, naming
// the page and the element: each such word is a term that should go through the catalogs.
func TestEveryPageReadsAsChinese(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx0 := context.Background()
	sum, err := demo.Load(ctx0, prompts.NewStore(f.pool), retrieval.NewStore(f.pool, nil, nil), f.models.Has)
	require.NoError(t, err)
	project := sum.Project
	personas, err := prompts.NewStore(f.pool).Personas(ctx0, project.ID)
	require.NoError(t, err)
	require.NotEmpty(t, personas)
	corpora, err := retrieval.NewStore(f.pool, nil, nil).Corpora(ctx0, project.ID)
	require.NoError(t, err)
	require.NotEmpty(t, corpora)
	// Campaigns (issue 13): the demo campaign with its candidates generated, so a work
	// session has an item on screen, and a base with a lead for the base view.
	cs := f.deps.Campaigns
	rootUser, err := f.auth.UserByLogin(ctx0, "root")
	require.NoError(t, err)
	require.NoError(t, cs.LoadDemo(ctx0, prompts.NewStore(f.pool), project.ID, rootUser.ID))
	var demoID int64
	require.NoError(t, f.pool.QueryRow(ctx0, `SELECT id FROM campaigns WHERE project_id = $1 AND name = $2`, project.ID, campaign.DemoName).Scan(&demoID))
	generateAll(t, f, demoID)
	bs := f.deps.Bases
	hub, err := bs.Create(ctx0, "东区标注基地")
	require.NoError(t, err)
	_, err = bs.ImportPeople(ctx0, project.ID, []base.PersonRow{{Line: 2, Login: "lead-user", Name: "基地组长", Base: hub.Name, Role: auth.RoleTrainer, Lead: true}})
	require.NoError(t, err)

	// Switching rules (issue 14): a batch of the hub's, so the QC page shows a base's
	// switching card (its state, reason, score and next switches) and, for admins, its note
	// button.
	_, err = f.pool.Exec(ctx0, `INSERT INTO batches (campaign_id, base_id, seq, lot_size, aql, severity, code_letter, plan_letter,
			sample_size, ac, re, seed, centre_result, closed_by, closed_at)
		VALUES ($1, $2, 1, 1000, '1.0', 'normal', 'J', 'J', 80, 2, 3, 1, 'accepted', $3, now())`, demoID, hub.ID, rootUser.ID)
	require.NoError(t, err)

	// A judgment's revisions (issue 14): the lead's judgment of a demo item, rejected by root
	// with a reason, and their second revision, written directly (only the page is walked).
	var revised int64
	require.NoError(t, f.pool.QueryRow(ctx0, `WITH it AS (SELECT i.turn_id, t.user_message_id,
				(SELECT array_agg(c.id ORDER BY c.position) FROM candidates c WHERE c.turn_id = i.turn_id) AS cands
				FROM campaign_items i JOIN turns t ON t.id = i.turn_id WHERE i.campaign_id = $1 ORDER BY i.id LIMIT 1),
			u AS (SELECT id FROM users WHERE login = 'lead-user'),
			j1 AS (INSERT INTO judgments (turn_id, trainer_id, revision, idempotency_key, request_hash, ranking, ratings, flags, comment, continuation_message_id, time_spent_ms)
				SELECT it.turn_id, u.id, 1, 'zh-revisions-1', '\x00', jsonb_build_array(jsonb_build_array(it.cands[1]), jsonb_build_array(it.cands[2])), '{}',
					jsonb_build_object(it.cands[2]::text, jsonb_build_array('hallucination')), '先看第一个', it.user_message_id, 4000 FROM it, u RETURNING id),
			rv AS (INSERT INTO reviews (judgment_id, campaign_id, reviewer_id, verdict, reason_code, comment, created_at)
				SELECT j1.id, $1, $2, 'rejected', 'wrong_ranking', '第二个回答更准确', now() FROM j1)
		INSERT INTO judgments (turn_id, trainer_id, revision, idempotency_key, request_hash, ranking, ratings, flags, comment, continuation_message_id, time_spent_ms)
		SELECT it.turn_id, u.id, 2, 'zh-revisions-2', '\x00', jsonb_build_array(jsonb_build_array(it.cands[2]), jsonb_build_array(it.cands[1])), '{}', '{}',
			'已重新比较', it.user_message_id, 5000 FROM it, u RETURNING id`, demoID, rootUser.ID).Scan(&revised))

	var models []string
	for _, m := range f.models.Models() {
		models = append(models, m.Name)
	}

	pages := func(admin bool, role auth.Role) []string {
		p := []string{"#/", "#/projects/" + project.Slug, fmt.Sprintf("#/personas/%d", personas[0].ID),
			fmt.Sprintf("#/corpora/%d", corpora[0].ID), "#/models", "#/account", "#/api",
			fmt.Sprintf("#/campaigns/%d/trainers", demoID)} // quality per trainer (issue 14)
		p = append(p, "#/projects/"+project.Slug+"/leaderboard") // issue 15: every reader sees the board
		// Issue 15: the board with style control, as its link opens it.
		p = append(p, "#/projects/"+project.Slug+"/leaderboard?style=control")
		if admin || auth.Decide(auth.User{}, role, nil, auth.Generate) == nil {
			p = append(p, fmt.Sprintf("#/train/%d", personas[0].ID))
		}
		if admin || auth.Decide(auth.User{}, role, nil, auth.Export) == nil {
			p = append(p, "#/projects/"+project.Slug+"/export")
		}
		if admin || auth.Decide(auth.User{}, role, nil, auth.Judge) == nil {
			p = append(p, "#/work", fmt.Sprintf("#/work/%d", demoID))
		}
		if admin || auth.Decide(auth.User{}, role, nil, auth.ProjectManage) == nil {
			p = append(p, "#/projects/"+project.Slug+"/campaigns")
		}
		// Quality control (issue 14): the review stream and the campaign's QC dashboard.
		if admin || auth.Decide(auth.User{}, role, nil, auth.Judge) == nil {
			p = append(p, fmt.Sprintf("#/campaigns/%d/review", demoID))
		}
		p = append(p, fmt.Sprintf("#/campaigns/%d/qc", demoID))
		if admin || auth.Decide(auth.User{}, role, nil, auth.Judge) == nil {
			p = append(p, fmt.Sprintf("#/campaigns/%d/appeals", demoID)) // deciding appeals (issue 14's screens)
		}
		if admin {
			p = append(p, "#/admin/users", "#/admin/audit", fmt.Sprintf("#/bases/%d", hub.ID))
			p = append(p, fmt.Sprintf("#/judgments/%d/revisions", revised)) // a judgment's revisions (issue 14)
		}
		return p
	}
	type who struct {
		login string
		admin bool
		role  auth.Role
	}
	people := []who{{"root", true, ""}}
	// Roles with the same permissions see the same pages with the same controls: one of
	// them is enough, and the walk is the slowest part of this package's tests.
	seen := map[string]bool{}
	for _, r := range auth.Roles {
		var sig []string
		for _, perm := range auth.Permissions {
			if auth.Decide(auth.User{}, r, nil, perm) == nil {
				sig = append(sig, string(perm))
			}
		}
		if key := strings.Join(sig, ","); seen[key] {
			continue
		} else {
			seen[key] = true
		}
		login := "zh-" + string(r) + "-user"
		u := f.user(t, login, false)
		require.NoError(t, f.auth.SetRole(ctx0, project.ID, u.ID, r))
		people = append(people, who{login, false, r})
	}
	for _, p := range people {
		t.Run(p.login, func(t *testing.T) {
			t.Parallel()
			ctx := browsertest.New(t, 180*time.Second)
			signInUI(t, ctx, f, p.login)
			var found []string
			for i, page := range pages(p.admin, p.role) {
				require.NoError(t, chromedp.Do(ctx,
					// A new query string makes each page a fresh load, so the ready flag
					// read is the new page's, never the last one's.
					chromedp.Navigate(fmt.Sprintf("%s/?walk=%d%s", f.srv.URL, i, page)),
					browsertest.Visible(`html[lang="zh-CN"]`),
					browsertest.Visible(`body[data-ready="true"]`),
				), page)
				if strings.HasPrefix(page, "#/train/") && (p.admin || auth.Decide(auth.User{}, p.role, nil, auth.Judge) == nil) {
					// The screen with a turn on it: candidates, their statuses, the rubric.
					browsertest.AskOnTrainScreen(t, ctx, "最近总是睡不着，怎么办？", 2)
					page += " (with a turn)"
				}
				if strings.HasPrefix(page, "#/work/") {
					// A work session with its claimed item: the candidates, rubric and skip form.
					require.NoError(t, chromedp.Do(ctx, browsertest.Visible(`#work-panes .pane[data-label="A"]`)), page)
					page += " (with an item)"
				}
				texts, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](visibleText))
				require.NoError(t, err, page)
				for _, line := range texts {
					where, text, _ := strings.Cut(line, "\t")
					for _, w := range latinRun.FindAllString(text, -1) {
						if !allowedName(w, models) {
							found = append(found, fmt.Sprintf("%s %s: %q in %q", page, where, w, text))
						}
					}
				}
			}
			slices.Sort(found)
			found = slices.Compact(found)
			if len(found) > 0 {
				t.Errorf("%d English words on Chinese pages as %s (translate them through ui/static/locales, "+
					"or mark code as <code>):\n%s", len(found), p.login, strings.Join(found, "\n"))
			}
		})
	}
}

// generateAll generates every item of a campaign now, in the test's goroutine, with the
// worker the job runner uses: the server fixture runs no job runner.
func generateAll(t *testing.T, f fixture, campaignID int64) {
	t.Helper()
	ctx := context.Background()
	rows, err := f.pool.Query(ctx, `SELECT id FROM campaign_items WHERE campaign_id = $1 ORDER BY id`, campaignID)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	require.NotEmpty(t, ids)
	ps := prompts.NewStore(f.pool)
	worker := campaign.NewGenerateWorker(f.deps.Campaigns, ps, f.deps.Generator, f.models)
	for _, id := range ids {
		job := &river.Job[campaign.GenerateArgs]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 1}, Args: campaign.GenerateArgs{ItemID: id}}
		require.NoError(t, worker.Work(ctx, job), "generate item %d", id)
	}
}
