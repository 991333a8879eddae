package server

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/rlhf"
)

const (
	sessionCookie = "mentor_session"
	csrfHeader    = "X-CSRF-Token"
)

// principal is who is making a request: a signed-in browser or an API token.
type principal struct {
	user    auth.User
	session *auth.Session // nil for a token
	token   *auth.Token   // nil for a session
}

// scopes is nil for a browser session: only tokens are limited by scope. A token always
// yields a non-nil list, so a token with no scopes can do nothing rather than everything.
func (p principal) scopes() []auth.Scope {
	if p.token == nil {
		return nil
	}
	if p.token.Scopes == nil {
		return []auth.Scope{}
	}
	return p.token.Scopes
}

// target says where a route's project comes from, so that the policy can be checked before
// the handler runs.
type target int

const (
	noProject        target = iota // the route concerns no single project
	fromProject                    // :project, an id or a slug
	fromPersona                    // :persona
	fromCorpus                     // :corpus
	fromTurn                       // :turn
	fromConversation               // :conversation
	fromCorpusQuery                // ?corpus=ID, for routes about a corpus that are not under /corpora
	// fromJudgedTurn is :turn for a judgment's submission: the access check's batch also
	// reads what the submission's checks need (rlhf.QueueSubmitLookup), which would otherwise
	// be a round trip of its own after it (issue 17).
	fromJudgedTurn

	// Campaigns (api_campaigns.go).
	fromCampaign // :campaign
	fromClaim    // :claim, a trainer's lease on a campaign item

	// Quality control (issue 14, part A; api_review.go).
	fromReview // :review, a review decision (its rework and appeal)
	fromBatch  // :batch, a base's delivered batch
)

// rule is what a route requires.
type rule struct {
	perm   auth.Permission
	target target
}

// Keys under which the middleware leaves what it resolved for the handler.
const (
	keyPrincipal    = "mentor.principal"
	keyProject      = "mentor.project"
	keyPersona      = "mentor.persona"
	keyCorpus       = "mentor.corpus"
	keyTurn         = "mentor.turn"
	keySubmitLookup = "mentor.submit-lookup" // *rlhf.SubmitLookup, under fromJudgedTurn
	keyConversation = "mentor.conversation"
	keyCampaign     = "mentor.campaign" // campaign id
	keyClaim        = "mentor.claim"    // claim id

	// Quality control (issue 14, part A).
	keyReview        = "mentor.review"         // review id
	keyReviewProject = "mentor.review.project" // its project's id
	keyBatch         = "mentor.batch"          // batch id
	keyBatchProject  = "mentor.batch.project"  // its project's id
)

func principalOf(c *gin.Context) principal { return c.MustGet(keyPrincipal).(principal) }
func projectOf(c *gin.Context) prompts.Project {
	return c.MustGet(keyProject).(prompts.Project)
}
func personaOf(c *gin.Context) prompts.Persona {
	return c.MustGet(keyPersona).(prompts.Persona)
}
func corpusOf(c *gin.Context) retrieval.Corpus {
	return c.MustGet(keyCorpus).(retrieval.Corpus)
}

// turnRef is a turn resolved by the access check, with its conversation's persona.
type turnRef struct{ id, personaID int64 }

func turnOf(c *gin.Context) turnRef { return c.MustGet(keyTurn).(turnRef) }

// submitLookupOf is what the access check read for a judgment's submission (fromJudgedTurn).
func submitLookupOf(c *gin.Context) *rlhf.SubmitLookup {
	return c.MustGet(keySubmitLookup).(*rlhf.SubmitLookup)
}

func conversationOf(c *gin.Context) int64 { return c.MustGet(keyConversation).(int64) }

// access is the one middleware before every non-public route: it finds the principal from
// an Authorization: Bearer token or the session cookie (401 when there is neither), checks
// CSRF for browser writes, resolves the route's project and applies the policy, the one
// place where Mentor decides who may do what.
//
// The credential (with its user's memberships, so the role needs no question of its own)
// and what the route is about are looked up in one pipelined batch: one round trip before
// the handler where there were three (issue 17; TestAccessRoundTrips counts them). The
// answers are judged in the order they always were: who you are, then CSRF, then what
// the route names, then whether you may.
func access(d Deps, r rule) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		b := &pgx.Batch{}
		// Every lookup here finds a row by its key: one generic plan per connection serves
		// them all, where PostgreSQL kept planning the session's lookup anew (issue 17).
		db.QueueGenericPlans(b)
		lookups := b.Len()
		var finishCredential func() (principal, auth.Memberships, error)
		if h := c.GetHeader("Authorization"); h != "" {
			secret, ok := strings.CutPrefix(h, "Bearer ")
			if !ok {
				writeError(c, d.Logger, errs.E(errs.Unauthenticated, "the Authorization header must be `Bearer <token>`"))
				return
			}
			pending := d.Auth.QueueToken(b, strings.TrimSpace(secret))
			finishCredential = func() (principal, auth.Memberships, error) {
				tok, u, m, err := pending.Finish(ctx)
				return principal{user: u, token: &tok}, m, err
			}
		} else {
			cookie, _ := c.Cookie(sessionCookie)
			pending := d.Auth.QueueSession(b, cookie)
			finishCredential = func() (principal, auth.Memberships, error) {
				sess, m, err := pending.Finish(ctx, d.Sessions)
				return principal{user: sess.User, session: &sess}, m, err
			}
		}
		var finishTarget func() (int64, error)
		if b.Len() > lookups { // no credential to look up: the target's lookup would be wasted
			finishTarget = queueTarget(b, c, d, r.target)
			if err := d.Pool.SendBatch(ctx, b).Close(); err != nil {
				writeError(c, d.Logger, db.Error(err, "read session"))
				return
			}
		}
		p, memberships, err := finishCredential()
		if err != nil {
			writeError(c, d.Logger, err)
			return
		}
		c.Set(keyPrincipal, p)
		if p.session != nil && !safeMethod(c.Request.Method) {
			got := c.GetHeader(csrfHeader)
			if subtle.ConstantTimeCompare([]byte(got), []byte(p.session.CSRFToken)) != 1 {
				writeError(c, d.Logger, errs.E(errs.Forbidden, "missing or wrong %s header: reload the page and try again", csrfHeader))
				return
			}
		}
		projectID, err := finishTarget()
		if err != nil {
			writeError(c, d.Logger, err)
			return
		}
		var role auth.Role
		if projectID != 0 {
			role = memberships.In(projectID)
			if role == "" && !p.user.IsAdmin {
				// Not a member: answer exactly as if the thing did not exist, before anything
				// else (a token's scopes, the route's permission) can refuse it differently
				// and so tell an outsider that it exists.
				writeError(c, d.Logger, notFound(r.target, c))
				return
			}
		}
		if err := auth.Decide(p.user, role, p.scopes(), r.perm); err != nil {
			if errs.KindOf(err) == errs.NotFound {
				// Not a member: answer exactly as if the thing did not exist.
				err = notFound(r.target, c)
			}
			writeError(c, d.Logger, err)
			return
		}
		c.Next()
	}
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// queueTarget queues the lookup of what the route is about on b, and returns what reads
// it once b has been sent: the project it belongs to, after leaving the thing for the
// handler. A parameter that names nothing queues nothing; its error waits for the finish,
// so that a caller who is not signed in learns only that.
func queueTarget(b *pgx.Batch, c *gin.Context, d Deps, t target) func() (int64, error) {
	fail := func(err error) func() (int64, error) { return func() (int64, error) { return 0, err } }
	switch t {
	case fromProject:
		var p *db.Pending[prompts.Project]
		if id, perr := strconv.ParseInt(c.Param("project"), 10, 64); perr == nil {
			p = d.Prompts.QueueProject(b, id)
		} else {
			p = d.Prompts.QueueProjectBySlug(b, c.Param("project"))
		}
		return func() (int64, error) {
			project, err := p.Result()
			if err != nil {
				return 0, hideMissing(err, t, c)
			}
			c.Set(keyProject, project)
			return project.ID, nil
		}
	case fromPersona:
		id, err := idParam(c, "persona")
		if err != nil {
			return fail(notFound(t, c))
		}
		p := d.Prompts.QueuePersona(b, id)
		return func() (int64, error) {
			persona, err := p.Result()
			if err != nil {
				return 0, hideMissing(err, t, c)
			}
			c.Set(keyPersona, persona)
			return persona.ProjectID, nil
		}
	case fromCorpus, fromCorpusQuery:
		raw := c.Param("corpus")
		if t == fromCorpusQuery {
			if raw = c.Query("corpus"); raw == "" {
				return fail(errs.Field("corpus", "name the corpus to search: ?corpus=ID"))
			}
		}
		id, err := strconv.ParseInt(raw, 10, 64)
		if t == fromCorpusQuery && err != nil {
			return fail(errs.Field("corpus", "%q is not a corpus id", raw))
		}
		if err != nil || id <= 0 {
			return fail(notFound(t, c))
		}
		p := d.Retrieval.QueueCorpus(b, id)
		return func() (int64, error) {
			corpus, err := p.Result()
			if err != nil {
				return 0, hideMissing(err, t, c)
			}
			c.Set(keyCorpus, corpus)
			return corpus.ProjectID, nil
		}
	case fromConversation:
		id, err := idParam(c, "conversation")
		if err != nil {
			return fail(notFound(t, c))
		}
		p := d.Live.QueueConversationProject(b, id)
		return func() (int64, error) {
			projectID, err := p.Result()
			if err != nil {
				return 0, hideMissing(err, t, c)
			}
			c.Set(keyConversation, id)
			return projectID, nil
		}
	case fromJudgedTurn:
		id, err := idParam(c, "turn")
		if err != nil {
			return fail(notFound(t, c))
		}
		l := d.Live.QueueSubmitLookup(b, id)
		return func() (int64, error) {
			if !l.Found() {
				return 0, notFound(t, c)
			}
			c.Set(keyTurn, turnRef{id: id, personaID: l.PersonaID()})
			c.Set(keySubmitLookup, l)
			return l.ProjectID(), nil
		}
	case fromTurn:
		id, err := idParam(c, "turn")
		if err != nil {
			return fail(notFound(t, c))
		}
		p := d.Live.QueueTurnOwner(b, id)
		return func() (int64, error) {
			owner, err := p.Result()
			if err != nil {
				return 0, hideMissing(err, t, c)
			}
			c.Set(keyTurn, turnRef{id: id, personaID: owner.PersonaID})
			return owner.ProjectID, nil
		}

	// Campaigns.
	case fromCampaign:
		id, err := idParam(c, "campaign")
		if err != nil {
			return fail(notFound(t, c))
		}
		p := d.Campaigns.QueueProjectOf(b, id)
		return func() (int64, error) {
			projectID, err := p.Result()
			if err != nil {
				return 0, hideMissing(err, t, c)
			}
			c.Set(keyCampaign, id)
			return projectID, nil
		}
	case fromClaim:
		id, err := idParam(c, "claim")
		if err != nil {
			return fail(notFound(t, c))
		}
		p := d.Campaigns.QueueClaimProject(b, id)
		return func() (int64, error) {
			owner, err := p.Result()
			if err != nil {
				return 0, hideMissing(err, t, c)
			}
			c.Set(keyClaim, id)
			c.Set(keyCampaign, owner.CampaignID)
			return owner.ProjectID, nil
		}

	// Quality control (issue 14, part A).
	case fromReview:
		id, err := idParam(c, "review")
		if err != nil {
			return fail(notFound(t, c))
		}
		p := d.Reviews.QueueProjectOf(b, id)
		return func() (int64, error) {
			projectID, err := p.Result()
			if err != nil {
				return 0, hideMissing(err, t, c)
			}
			c.Set(keyReview, id)
			c.Set(keyReviewProject, projectID)
			return projectID, nil
		}
	case fromBatch:
		id, err := idParam(c, "batch")
		if err != nil {
			return fail(notFound(t, c))
		}
		p := d.Acceptance.QueueProjectOf(b, id)
		return func() (int64, error) {
			owner, err := p.Result()
			if err != nil {
				return 0, hideMissing(err, t, c)
			}
			c.Set(keyBatch, id)
			c.Set(keyBatchProject, owner.ProjectID)
			c.Set(keyCampaign, owner.CampaignID)
			return owner.ProjectID, nil
		}
	}
	return func() (int64, error) { return 0, nil }
}

func hideMissing(err error, t target, c *gin.Context) error {
	if errs.KindOf(err) == errs.NotFound {
		return notFound(t, c)
	}
	return err
}

// notFound is the same answer for "does not exist" and "exists, but not yours".
func notFound(t target, c *gin.Context) error {
	switch t {
	case fromPersona:
		return errs.E(errs.NotFound, "no persona %q", c.Param("persona"))
	case fromCorpus:
		return errs.E(errs.NotFound, "no corpus %q", c.Param("corpus"))
	case fromCorpusQuery:
		return errs.E(errs.NotFound, "no corpus %q", c.Query("corpus"))
	case fromTurn, fromJudgedTurn:
		return errs.E(errs.NotFound, "no turn %q", c.Param("turn"))
	case fromConversation:
		return errs.E(errs.NotFound, "no conversation %q", c.Param("conversation"))
	case fromCampaign:
		return errs.E(errs.NotFound, "no campaign %q", c.Param("campaign"))
	case fromClaim:
		return errs.E(errs.NotFound, "no claim %q", c.Param("claim"))
	case fromReview:
		return errs.E(errs.NotFound, "no review %q", c.Param("review"))
	case fromBatch:
		return errs.E(errs.NotFound, "no batch %q", c.Param("batch"))
	}
	return errs.E(errs.NotFound, "no project %q", c.Param("project"))
}

// clientIP is the address sign-in throttling and the audit log record. Forwarded headers
// count only from the proxies configured as trusted (see the engine's SetTrustedProxies).
func clientIP(c *gin.Context) string { return c.ClientIP() }

// secureRequest reports whether the browser reached us over TLS, directly or through a
// trusted proxy that says so.
func secureRequest(c *gin.Context, trustProxy bool) bool {
	return c.Request.TLS != nil || (trustProxy && strings.EqualFold(c.GetHeader("X-Forwarded-Proto"), "https"))
}
