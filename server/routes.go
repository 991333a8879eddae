package server

import (
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/ui"
)

// public marks the few API routes that need no sign-in.
const public auth.Permission = "public"

// route is one API route and the permission it needs. Every /api/v1 route is listed here;
// a test builds requests for each of them, for every role, and fails on a route it cannot
// find in this table.
type route struct {
	method, path string
	rule         rule
	handle       apiFunc
}

func apiRoutes(d Deps) []route {
	return []route{
		{"GET", "/version", rule{public, noProject}, handleVersion(d.Version)},

		// Signing in and out, and the signed-in user's own tokens.
		{"POST", "/session", rule{public, noProject}, handleSignIn(d)},
		{"GET", "/session", rule{auth.SignedIn, noProject}, handleGetSession(d)},
		{"DELETE", "/session", rule{auth.Account, noProject}, handleSignOut(d)},
		{"PUT", "/session/password", rule{auth.Account, noProject}, handleChangeOwnPassword(d)},
		{"GET", "/tokens", rule{auth.Account, noProject}, handleListTokens(d)},
		{"POST", "/tokens", rule{auth.Account, noProject}, handleCreateToken(d)},
		{"DELETE", "/tokens/:token", rule{auth.Account, noProject}, handleRevokeToken(d)},

		// Instance administration.
		{"GET", "/users", rule{auth.InstanceAdmin, noProject}, handleListUsers(d)},
		{"POST", "/users", rule{auth.InstanceAdmin, noProject}, handleCreateUser(d)},
		{"PUT", "/users/:user/disabled", rule{auth.InstanceAdmin, noProject}, handleSetUserDisabled(d)},
		{"PUT", "/users/:user/password", rule{auth.InstanceAdmin, noProject}, handleResetPassword(d)},
		{"GET", "/audit", rule{auth.InstanceAdmin, noProject}, handleListAudit(d, false)},
		{"POST", "/projects", rule{auth.InstanceAdmin, noProject}, handleCreateProject(d)},

		// Projects and their members.
		{"GET", "/projects", rule{auth.SignedIn, noProject}, handleListProjects(d)},
		{"GET", "/projects/:project", rule{auth.ProjectRead, fromProject}, handleGetProject()},
		{"PUT", "/projects/:project", rule{auth.ProjectManage, fromProject}, handleUpdateProject(d)},
		{"GET", "/projects/:project/members", rule{auth.ProjectManage, fromProject}, handleListMembers(d)},
		{"PUT", "/projects/:project/members/:user", rule{auth.ProjectManage, fromProject}, handleSetMember(d)},
		{"DELETE", "/projects/:project/members/:user", rule{auth.ProjectManage, fromProject}, handleRemoveMember(d)},
		{"GET", "/projects/:project/audit", rule{auth.ProjectManage, fromProject}, handleListAudit(d, true)},

		// Personas, rubrics and prompt versions.
		{"GET", "/projects/:project/personas", rule{auth.ProjectRead, fromProject}, handleListPersonas(d)},
		{"POST", "/projects/:project/personas", rule{auth.PromptWrite, fromProject}, handleCreatePersona(d)},
		{"GET", "/personas/:persona", rule{auth.ProjectRead, fromPersona}, handleGetPersona(d)},
		{"PUT", "/personas/:persona", rule{auth.PromptWrite, fromPersona}, handleUpdatePersona(d)},
		{"PUT", "/personas/:persona/rubric", rule{auth.PromptWrite, fromPersona}, handlePutRubric(d)},
		{"POST", "/personas/:persona/versions", rule{auth.PromptWrite, fromPersona}, handlePublishVersion(d)},
		{"GET", "/personas/:persona/versions/:version", rule{auth.ProjectRead, fromPersona}, handleGetVersion(d)},
		{"POST", "/personas/:persona/versions/:version/try", rule{auth.Generate, fromPersona}, handleTry(d)},
		{"GET", "/personas/:persona/diff", rule{auth.ProjectRead, fromPersona}, handleDiff(d)},
		{"POST", "/personas/:persona/preview", rule{auth.PromptWrite, fromPersona}, handlePreview()},

		// Knowledge.
		{"GET", "/projects/:project/corpora", rule{auth.ProjectRead, fromProject}, handleListCorpora(d)},
		{"POST", "/projects/:project/corpora", rule{auth.KnowledgeWrite, fromProject}, handleCreateCorpus(d)},
		{"GET", "/corpora/:corpus", rule{auth.ProjectRead, fromCorpus}, handleGetCorpus(d)},
		{"GET", "/corpora/:corpus/documents", rule{auth.ProjectRead, fromCorpus}, handleListDocuments(d)},
		{"POST", "/corpora/:corpus/documents", rule{auth.KnowledgeWrite, fromCorpus}, handleImportDocuments(d)},
		{"POST", "/corpora/:corpus/evaluate", rule{auth.ProjectRead, fromCorpus}, handleEvaluate(d)},
		{"GET", "/search", rule{auth.ProjectRead, fromCorpusQuery}, handleSearch(d)},

		// Live training sessions: generate, cancel and resume on the websocket; judgments by REST.
		{"GET", "/ws", rule{auth.SignedIn, noProject}, handleWebsocket(d)},
		{"GET", "/conversations/:conversation", rule{auth.ProjectRead, fromConversation}, handleGetConversation(d)},
		{"GET", "/turns/:turn", rule{auth.ProjectRead, fromTurn}, handleGetTurn(d)},
		{"POST", "/turns/:turn/judgments", rule{auth.Judge, fromTurn}, handleSubmitJudgment(d)},
		{"PUT", "/turns/:turn/passages/:chunk/mark", rule{auth.Judge, fromTurn}, handleMarkPassage(d)},
		{"POST", "/diff", rule{auth.Account, noProject}, handleEditDiff()}, // a helper for the browser's editor

		// Datasets: creating an export (a POST: it records a snapshot and an audit event),
		// streaming a recorded one, the export page's row-count preview, and the formats.
		{"POST", "/projects/:project/exports", rule{auth.Export, fromProject}, handleCreateExport(d)},
		{"GET", "/projects/:project/exports/:snapshot/download", rule{auth.Export, fromProject}, handleDownloadExport(d)},
		{"GET", "/projects/:project/exports/count", rule{auth.Export, fromProject}, handleExportCount(d)},
		{"GET", "/exports/formats", rule{auth.SignedIn, noProject}, handleExportFormats()},

		// Webhooks (issue 16): a project's endpoints, their delivery log, resuming a paused one.
		{"GET", "/projects/:project/webhooks", rule{auth.ProjectManage, fromProject}, handleListWebhooks(d)},
		{"POST", "/projects/:project/webhooks", rule{auth.ProjectManage, fromProject}, handleCreateWebhook(d)},
		{"DELETE", "/projects/:project/webhooks/:webhook", rule{auth.ProjectManage, fromProject}, handleDeleteWebhook(d)},
		{"POST", "/projects/:project/webhooks/:webhook/resume", rule{auth.ProjectManage, fromProject}, handleResumeWebhook(d)},
		{"GET", "/projects/:project/webhooks/:webhook/deliveries", rule{auth.ProjectManage, fromProject}, handleWebhookDeliveries(d)},

		// Models.
		{"GET", "/models", rule{auth.SignedIn, noProject}, handleListModels(d)},
		{"GET", "/models/health", rule{auth.SignedIn, noProject}, handleModelHealth(d)},

		// Campaigns (api_campaigns.go): the admin's set-up, the trainer's work (next, heartbeat,
		// skip, submit through a claim), and bases with their people and the lead's view.
		{"GET", "/projects/:project/campaigns", rule{auth.ProjectRead, fromProject}, handleListCampaigns(d)},
		{"POST", "/projects/:project/campaigns", rule{auth.ProjectManage, fromProject}, handleCreateCampaign(d)},
		{"GET", "/campaigns/:campaign", rule{auth.ProjectRead, fromCampaign}, handleGetCampaign(d)},
		{"PUT", "/campaigns/:campaign/state", rule{auth.ProjectManage, fromCampaign}, handleSetCampaignState(d)},
		{"PUT", "/campaigns/:campaign/guidelines", rule{auth.ProjectManage, fromCampaign}, handleSetGuidelines(d)},
		{"POST", "/campaigns/:campaign/items", rule{auth.ProjectManage, fromCampaign}, handleImportItems(d)},
		{"POST", "/campaigns/:campaign/turns", rule{auth.ProjectManage, fromCampaign}, handleAddTurns(d)},
		{"GET", "/campaigns/:campaign/failed", rule{auth.ProjectManage, fromCampaign}, handleFailedItems(d)},
		{"POST", "/campaigns/:campaign/regenerate", rule{auth.ProjectManage, fromCampaign}, handleRegenerate(d)},
		{"GET", "/work", rule{auth.SignedIn, noProject}, handleMyWork(d)},
		{"POST", "/campaigns/:campaign/next", rule{auth.Judge, fromCampaign}, handleNext(d)},
		{"GET", "/campaigns/:campaign/claims", rule{auth.Judge, fromCampaign}, handleOpenClaims(d)},
		{"PUT", "/claims/:claim/lease", rule{auth.Judge, fromClaim}, handleHeartbeat(d)},
		{"POST", "/claims/:claim/skip", rule{auth.Judge, fromClaim}, handleSkip(d)},
		{"POST", "/claims/:claim/judgment", rule{auth.Judge, fromClaim}, handleSubmitClaim(d)},
		{"GET", "/bases", rule{auth.InstanceAdmin, noProject}, handleListBases(d)},
		{"POST", "/bases", rule{auth.InstanceAdmin, noProject}, handleCreateBase(d)},
		{"PUT", "/projects/:project/bases/:base", rule{auth.ProjectManage, fromProject}, handleAdmitBase(d)},
		{"POST", "/projects/:project/people", rule{auth.ProjectManage, fromProject}, handleImportPeople(d)},
		{"GET", "/bases/:base/people", rule{auth.SignedIn, noProject}, handleBaseView(d)}, // leads of the base and instance admins
	}
}

// addRoutes wires everything Mentor serves.
func addRoutes(r *gin.Engine, d Deps) {
	// Operations.
	r.GET("/healthz", handleHealthz())
	r.GET("/readyz", handleReadyz(d.Pool))
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{Registry: d.Registry})))

	// The API. Writes must be JSON from our own origin (sameOriginWrites); no parameter may
	// hold a NUL (rejectNULParams; bindJSON checks bodies); everything but the public routes
	// needs a session or a token, and passes the policy for its rule.
	v1 := r.Group("/api/v1", sameOriginWrites(d.Logger), rejectNULParams(d.Logger))
	for _, rt := range apiRoutes(d) {
		handlers := []gin.HandlerFunc{}
		if rt.rule.perm != public {
			handlers = append(handlers, authenticate(d), authorize(d, rt.rule))
		}
		v1.Handle(rt.method, rt.path, append(handlers, api(d.Logger, rt.handle))...)
	}

	// The web UI: embedded static files, no build step.
	static := ui.Handler()
	r.GET("/", gin.WrapH(static))
	r.GET("/static/*path", gin.WrapH(static))

	r.NoRoute(func(c *gin.Context) {
		writeError(c, d.Logger, errs.E(errs.NotFound, "no route %s %s", c.Request.Method, c.Request.URL.Path))
	})
	r.NoMethod(func(c *gin.Context) {
		writeError(c, d.Logger, errs.E(errs.NoSuchMethod, "%s is not allowed on %s", c.Request.Method, c.Request.URL.Path))
	})
}

// RouteRule describes one API route's access rule, for tests and docs/permissions.md.
type RouteRule struct {
	Method, Path string
	Permission   auth.Permission
	Target       string // "", "project", "persona" or "corpus"
}

// RouteRules lists every API route with its rule.
func RouteRules() []RouteRule {
	names := map[target]string{noProject: "", fromProject: "project", fromPersona: "persona", fromCorpus: "corpus", fromTurn: "turn", fromConversation: "conversation", fromCorpusQuery: "corpus (?corpus=)",
		fromCampaign: "campaign", fromClaim: "claim"}
	var out []RouteRule
	for _, rt := range apiRoutes(Deps{}) {
		out = append(out, RouteRule{Method: rt.method, Path: "/api/v1" + rt.path, Permission: rt.rule.perm, Target: names[rt.rule.target]})
	}
	return out
}
