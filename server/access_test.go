package server_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/rlhf"
	"github.com/mentor-ai/mentor/server"
)

var update = flag.Bool("update", false, "rewrite docs/permissions.md from the code")

// world is two projects, each with a persona (with version 1) and a corpus, and a member of
// project A in every role, plus an outsider who belongs to no project.
type world struct {
	fixture
	a, b    projectSide
	members map[string]*client // by role, and "outsider"
	users   map[string]auth.User
}

type projectSide struct {
	project                            prompts.Project
	persona, corps, turn, conversation int64
	campaign, claim                    int64 // campaigns: a campaign with the turn as its item, claimed by root
	review, batch                      int64 // quality control (issue 14): a review of root's judgment of the turn, a batch
}

func newWorld(t *testing.T) world {
	t.Helper()
	f := newFixture(t, discardLogger(), options{})
	w := world{fixture: f, members: map[string]*client{}, users: map[string]auth.User{}}
	ctx := context.Background()
	ps, rs := prompts.NewStore(f.pool), retrieval.NewStore(f.pool, nil, nil)
	for i, side := range []*projectSide{&w.a, &w.b} {
		p, err := ps.CreateProject(ctx, prompts.Project{Name: fmt.Sprintf("项目 %d", i), Slug: fmt.Sprintf("proj-%c", 'a'+i)})
		require.NoError(t, err)
		persona, err := ps.CreatePersona(ctx, prompts.Persona{ProjectID: p.ID, Name: "助手", Kind: prompts.DomainAssistant})
		require.NoError(t, err)
		c, err := rs.CreateCorpus(ctx, retrieval.Corpus{ProjectID: p.ID, Slug: "kb", Name: "知识库"})
		require.NoError(t, err)
		v, err := ps.PublishVersion(ctx, persona.ID, prompts.Version{Template: "你是{{.Persona.Name}}", Model: "baseline-extractive",
			Temperature: 0.3, TopP: 1, MaxTokens: 100, RetrievalK: 2, Author: "t", CorpusIDs: []int64{c.ID}})
		require.NoError(t, err)
		root, err := f.auth.UserByLogin(ctx, "root")
		require.NoError(t, err)
		turn, err := rlhf.NewStore(f.pool).StartTurn(ctx, rlhf.NewTurn{ProjectID: p.ID, PersonaID: persona.ID, Locale: "zh-CN", UserID: root.ID,
			Message: "你好", Candidates: []rlhf.CandidateSpec{{Position: 1, Model: "baseline-extractive", Endpoint: "offline", PromptVersionID: v.ID,
				Temperature: 0.3, TopP: 1, MaxTokens: 100, SystemPromptHash: "x"}}, Lease: rlhf.Lease{Owner: "fixture", For: time.Hour}})
		require.NoError(t, err)
		*side = projectSide{project: p, persona: persona.ID, corps: c.ID, turn: turn.ID, conversation: turn.ConversationID}
		// Campaigns: written directly, as only the routes' access is under test here.
		require.NoError(t, f.pool.QueryRow(ctx, `INSERT INTO campaigns (project_id, persona_id, name, task_kind, plan, k, created_by, state)
			VALUES ($1, $2, '任务', 'rank_rate', $3, 1, $4, 'open') RETURNING id`, p.ID, persona.ID, fmt.Sprintf(`[{"prompt_version_id": %d}]`, v.ID), root.ID).
			Scan(&side.campaign))
		require.NoError(t, f.pool.QueryRow(ctx, `WITH i AS (INSERT INTO campaign_items (campaign_id, question, normalized, turn_id, generation, taken)
				VALUES ($1, '你好', '你好', $2, 'ready', 1) RETURNING id)
			INSERT INTO claims (campaign_id, item_id, trainer_id, claimed_at, lease_until, guidelines_version)
			SELECT $1, i.id, $3, now(), now() + interval '1 hour', 1 FROM i RETURNING id`, side.campaign, turn.ID, root.ID).Scan(&side.claim))
		// Quality control (issue 14): a judgment, its review and a batch, written directly too.
		require.NoError(t, f.pool.QueryRow(ctx, `WITH j AS (INSERT INTO judgments (turn_id, trainer_id, revision, idempotency_key, request_hash,
				ranking, ratings, flags, continuation_message_id, time_spent_ms)
				SELECT $1, $2, 1, $4, '\x00', '[]', '{}', '{}', t.user_message_id, 0 FROM turns t WHERE t.id = $1 RETURNING id)
			INSERT INTO reviews (judgment_id, campaign_id, reviewer_id, verdict, created_at) SELECT j.id, $3, $2, 'accepted', now() FROM j RETURNING id`,
			turn.ID, root.ID, side.campaign, fmt.Sprintf("access-test-key-%d", i)).Scan(&side.review))
		require.NoError(t, f.pool.QueryRow(ctx, `WITH b AS (INSERT INTO bases (name) VALUES ($1) RETURNING id)
			INSERT INTO batches (campaign_id, base_id, seq, lot_size, aql, severity, code_letter, plan_letter, sample_size, ac, re, seed, closed_by, closed_at)
			SELECT $2, b.id, 1, 2, '1.0', 'normal', 'A', 'E', 2, 0, 1, 1, $3, now() FROM b RETURNING id`,
			fmt.Sprintf("基地 %d", i), side.campaign, root.ID).Scan(&side.batch))
	}
	for _, r := range auth.Roles {
		login := string(r) + "-user"
		w.members[string(r)] = f.member(t, login, w.a.project.ID, r)
		u, err := f.auth.UserByLogin(ctx, login)
		require.NoError(t, err)
		w.users[string(r)] = u
	}
	target := f.user(t, "member-target", false)
	require.NoError(t, f.auth.SetRole(ctx, w.a.project.ID, target.ID, auth.RoleViewer))
	f.user(t, "outsider", false)
	w.members["outsider"] = f.signIn(t, "outsider")
	w.members["root"] = f.admin
	return w
}

var param = regexp.MustCompile(`:(\w+)`)

// path fills a route's parameters for one side.
func (w world) path(rr server.RouteRule, side projectSide) string {
	query := ""
	if rr.Target == "corpus (?corpus=)" {
		query = fmt.Sprintf("?corpus=%d", side.corps)
	}
	return param.ReplaceAllStringFunc(rr.Path, func(p string) string {
		switch p {
		case ":project":
			return side.project.Slug
		case ":persona":
			return fmt.Sprint(side.persona)
		case ":corpus":
			return fmt.Sprint(side.corps)
		case ":turn":
			return fmt.Sprint(side.turn)
		case ":conversation":
			return fmt.Sprint(side.conversation)
		case ":version":
			return "1"
		case ":user":
			return "member-target" // an account only the member routes touch
		case ":token":
			return "999999"
		case ":campaign":
			return fmt.Sprint(side.campaign)
		case ":claim":
			return fmt.Sprint(side.claim)
		case ":review": // quality control (issue 14)
			return fmt.Sprint(side.review)
		case ":batch":
			return fmt.Sprint(side.batch)
		}
		return "x"
	}) + query
}

// policyDenial is the start of every message the access check itself sends.
var policyDenial = regexp.MustCompile(`^(no project|no persona|no corpus|no turn|no conversation|no campaign|no claim|no review|no batch|your role does not allow|only instance administrators|this API token|this needs a signed-in session)`)

// TestEveryRouteEnforcesThePolicy sends every API route, as every role, at its own project
// and at another, and checks that the answer is what auth.Decide says: allowed, 403, or a
// 404 that does not reveal whether the other project's thing exists.
func TestEveryRouteEnforcesThePolicy(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for _, rr := range server.RouteRules() {
		if rr.Permission == "public" || rr.Path == "/api/v1/session" && rr.Method == "DELETE" || rr.Path == "/api/v1/session/password" {
			continue // signing out or changing the password would end the shared sessions; covered below
		}
		sides := []projectSide{w.a, w.b}
		if rr.Target == "" {
			sides = sides[:1]
		}
		for name, c := range w.members {
			for i, side := range sides {
				path := w.path(rr, side)
				t.Run(fmt.Sprintf("%s %s as %s in project %c", rr.Method, path, name, 'A'+i), func(t *testing.T) {
					u := w.users[name]
					if name == "root" {
						u = auth.User{IsAdmin: true}
					}
					var role auth.Role
					if rr.Target != "" && side.project.ID == w.a.project.ID && name != "outsider" && name != "root" {
						role = auth.Role(name)
					}
					want := auth.Decide(u, role, nil, rr.Permission)
					var body any
					if rr.Method != "GET" && rr.Method != "DELETE" {
						body = map[string]any{}
					}
					status, res := c.call(t, rr.Method, path, body)
					_, _, msg := errorOf(res)
					switch errs.KindOf(want) {
					case errs.Kind(""), errs.Internal: // allowed (KindOf(nil) is Internal)
						assert.NotContains(t, []int{401, 403}, status, msg)
						assert.False(t, policyDenial.MatchString(msg), "allowed, but the policy refused: %s", msg)
					case errs.NotFound:
						assert.Equal(t, http.StatusNotFound, status, msg)
						assert.True(t, policyDenial.MatchString(msg), msg)
					case errs.Forbidden:
						assert.Equal(t, http.StatusForbidden, status, msg)
						assert.True(t, policyDenial.MatchString(msg), msg)
					default:
						t.Fatalf("unexpected decision %v", want)
					}
				})
			}
		}
	}
}

// TestUnauthenticatedGets401 checks every non-public route without a session or token.
func TestUnauthenticatedGets401(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	anon := w.anonymous()
	for _, rr := range server.RouteRules() {
		if rr.Permission == "public" {
			continue
		}
		status, res := anon.call(t, rr.Method, w.path(rr, w.a), nil)
		code, _, _ := errorOf(res)
		assert.Equal(t, http.StatusUnauthorized, status, "%s %s", rr.Method, rr.Path)
		assert.Equal(t, "unauthenticated", code)
	}
}

// TestRouteTableCoversEveryAPIRoute fails when a route is registered outside the table, and
// so has no policy.
func TestRouteTableCoversEveryAPIRoute(t *testing.T) {
	t.Parallel()
	f := setup(t)
	deps := f.deps
	deps.Registry = prometheus.NewRegistry()
	h, err := server.New(deps)
	require.NoError(t, err)
	engine, ok := h.(*gin.Engine)
	require.True(t, ok)
	var table []string
	for _, rr := range server.RouteRules() {
		table = append(table, rr.Method+" "+rr.Path)
	}
	for _, r := range engine.Routes() {
		if strings.HasPrefix(r.Path, "/api/") {
			assert.Contains(t, table, r.Method+" "+r.Path, "an API route with no access rule")
		}
	}
}

// TestPermissionsDocMatchesCode renders docs/permissions.md's table from the route table and
// the policy. Run `go test ./server -run PermissionsDoc -update` after changing either.
func TestPermissionsDocMatchesCode(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("| route | needs |")
	var cols []string
	for _, r := range auth.Roles {
		cols = append(cols, string(r))
	}
	cols = append(cols, "instance admin", "token: read", "token: export", "token: write")
	for _, c := range cols {
		fmt.Fprintf(&b, " %s |", c)
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(cols)) + "\n")
	for _, rr := range server.RouteRules() {
		fmt.Fprintf(&b, "| `%s %s` | %s |", rr.Method, rr.Path, rr.Permission)
		for _, c := range cols {
			ok := false
			switch {
			case rr.Permission == "public":
				ok = true
			case c == "instance admin":
				ok = auth.Decide(auth.User{IsAdmin: true}, "", nil, rr.Permission) == nil
			case strings.HasPrefix(c, "token: "):
				ok = auth.ScopesAllow([]auth.Scope{auth.Scope(strings.TrimPrefix(c, "token: "))}, rr.Permission)
			default:
				role := auth.Role(c)
				if rr.Target == "" {
					role = ""
				}
				ok = auth.Decide(auth.User{}, role, nil, rr.Permission) == nil
			}
			mark := "–"
			if ok {
				mark = "✓"
			}
			fmt.Fprintf(&b, " %s |", mark)
		}
		b.WriteString("\n")
	}
	table := b.String()
	const begin, end = "<!-- table: generated by TestPermissionsDocMatchesCode -->\n", "<!-- end of table -->"
	doc, err := os.ReadFile("../docs/permissions.md")
	require.NoError(t, err)
	i, j := strings.Index(string(doc), begin), strings.Index(string(doc), end)
	require.True(t, i >= 0 && j > i, "docs/permissions.md must hold the table between the markers")
	want := string(doc[:i+len(begin)]) + table + string(doc[j:])
	if *update {
		require.NoError(t, os.WriteFile("../docs/permissions.md", []byte(want), 0o644))
		return
	}
	assert.Equal(t, want, string(doc), "docs/permissions.md is out of date: go test ./server -run PermissionsDoc -update")
}
