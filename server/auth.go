package server

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/retrieval"
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

func conversationOf(c *gin.Context) int64 { return c.MustGet(keyConversation).(int64) }

// authenticate finds the principal from an Authorization: Bearer token or the session
// cookie, and refuses the request with 401 when there is neither.
func authenticate(d Deps) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		var p principal
		if h := c.GetHeader("Authorization"); h != "" {
			secret, ok := strings.CutPrefix(h, "Bearer ")
			if !ok {
				writeError(c, d.Logger, errs.E(errs.Unauthenticated, "the Authorization header must be `Bearer <token>`"))
				return
			}
			tok, u, err := d.Auth.TokenUser(ctx, strings.TrimSpace(secret))
			if err != nil {
				writeError(c, d.Logger, err)
				return
			}
			p = principal{user: u, token: &tok}
		} else {
			cookie, _ := c.Cookie(sessionCookie)
			sess, err := d.Auth.Session(ctx, cookie, d.Sessions)
			if err != nil {
				writeError(c, d.Logger, err)
				return
			}
			p = principal{user: sess.User, session: &sess}
		}
		c.Set(keyPrincipal, p)
		c.Next()
	}
}

// authorize checks CSRF for browser writes, resolves the route's project and applies the
// policy: the one place where Mentor decides who may do what.
func authorize(d Deps, r rule) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		p := principalOf(c)
		if p.session != nil && !safeMethod(c.Request.Method) {
			got := c.GetHeader(csrfHeader)
			if subtle.ConstantTimeCompare([]byte(got), []byte(p.session.CSRFToken)) != 1 {
				writeError(c, d.Logger, errs.E(errs.Forbidden, "missing or wrong %s header: reload the page and try again", csrfHeader))
				return
			}
		}
		projectID, err := resolveTarget(ctx, c, d, r.target)
		if err != nil {
			writeError(c, d.Logger, err)
			return
		}
		var role auth.Role
		if projectID != 0 {
			if role, err = d.Auth.Role(ctx, p.user.ID, projectID); err != nil {
				writeError(c, d.Logger, err)
				return
			}
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

// resolveTarget loads what the route is about and returns its project id.
func resolveTarget(ctx context.Context, c *gin.Context, d Deps, t target) (int64, error) {
	switch t {
	case fromProject:
		var p prompts.Project
		var err error
		if id, perr := strconv.ParseInt(c.Param("project"), 10, 64); perr == nil {
			p, err = d.Prompts.Project(ctx, id)
		} else {
			p, err = d.Prompts.ProjectBySlug(ctx, c.Param("project"))
		}
		if err != nil {
			return 0, hideMissing(err, t, c)
		}
		c.Set(keyProject, p)
		return p.ID, nil
	case fromPersona:
		id, err := idParam(c, "persona")
		if err != nil {
			return 0, notFound(t, c)
		}
		p, err := d.Prompts.Persona(ctx, id)
		if err != nil {
			return 0, hideMissing(err, t, c)
		}
		c.Set(keyPersona, p)
		return p.ProjectID, nil
	case fromCorpus, fromCorpusQuery:
		raw := c.Param("corpus")
		if t == fromCorpusQuery {
			if raw = c.Query("corpus"); raw == "" {
				return 0, errs.Field("corpus", "name the corpus to search: ?corpus=ID")
			}
		}
		id, err := strconv.ParseInt(raw, 10, 64)
		if t == fromCorpusQuery && err != nil {
			return 0, errs.Field("corpus", "%q is not a corpus id", raw)
		}
		if err != nil || id <= 0 {
			return 0, notFound(t, c)
		}
		corpus, err := d.Retrieval.Corpus(ctx, id)
		if err != nil {
			return 0, hideMissing(err, t, c)
		}
		c.Set(keyCorpus, corpus)
		return corpus.ProjectID, nil
	case fromConversation:
		id, err := idParam(c, "conversation")
		if err != nil {
			return 0, notFound(t, c)
		}
		projectID, err := d.Live.ConversationProject(ctx, id)
		if err != nil {
			return 0, hideMissing(err, t, c)
		}
		c.Set(keyConversation, id)
		return projectID, nil
	case fromTurn:
		id, err := idParam(c, "turn")
		if err != nil {
			return 0, notFound(t, c)
		}
		projectID, personaID, err := d.Live.TurnOwner(ctx, id)
		if err != nil {
			return 0, hideMissing(err, t, c)
		}
		c.Set(keyTurn, turnRef{id: id, personaID: personaID})
		return projectID, nil

	// Campaigns.
	case fromCampaign:
		id, err := idParam(c, "campaign")
		if err != nil {
			return 0, notFound(t, c)
		}
		projectID, err := d.Campaigns.ProjectOf(ctx, id)
		if err != nil {
			return 0, hideMissing(err, t, c)
		}
		c.Set(keyCampaign, id)
		return projectID, nil
	case fromClaim:
		id, err := idParam(c, "claim")
		if err != nil {
			return 0, notFound(t, c)
		}
		projectID, campaignID, err := d.Campaigns.ClaimProject(ctx, id)
		if err != nil {
			return 0, hideMissing(err, t, c)
		}
		c.Set(keyClaim, id)
		c.Set(keyCampaign, campaignID)
		return projectID, nil

	// Quality control (issue 14, part A).
	case fromReview:
		id, err := idParam(c, "review")
		if err != nil {
			return 0, notFound(t, c)
		}
		projectID, err := d.Reviews.ProjectOf(ctx, id)
		if err != nil {
			return 0, hideMissing(err, t, c)
		}
		c.Set(keyReview, id)
		c.Set(keyReviewProject, projectID)
		return projectID, nil
	case fromBatch:
		id, err := idParam(c, "batch")
		if err != nil {
			return 0, notFound(t, c)
		}
		projectID, campaignID, err := d.Acceptance.ProjectOf(ctx, id)
		if err != nil {
			return 0, hideMissing(err, t, c)
		}
		c.Set(keyBatch, id)
		c.Set(keyBatchProject, projectID)
		c.Set(keyCampaign, campaignID)
		return projectID, nil
	}
	return 0, nil
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
	case fromTurn:
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
