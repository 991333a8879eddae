package server

import (
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mentor-ai/mentor/acceptance"
	"github.com/mentor-ai/mentor/apidoc"
	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/leaderboard"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/review"
	"github.com/mentor-ai/mentor/rlhf"
	"github.com/mentor-ai/mentor/ui"
	"github.com/mentor-ai/mentor/webhook"
)

// public marks the few API routes that need no sign-in.
const public auth.Permission = "public"

// route is one API route and the permission it needs. Every /api/v1 route is listed here;
// a test builds requests for each of them, for every role, and fails on a route it cannot
// find in this table.
//
// doc is the route's entry in the OpenAPI document (openapi.go): a route is added with its
// documentation, and TestEveryRouteIsDocumented fails on one without.
type route struct {
	method, path string
	rule         rule
	handle       apiFunc
	doc          apiDoc
}

func apiRoutes(d Deps) []route {
	return []route{
		{"GET", "/version", rule{public, noProject}, handleVersion(d.Version),
			doc("The server's version and the database schema it expects").ok(200, versionInfo{})},
		{"GET", "/openapi.json", rule{public, noProject}, handleOpenAPI(d.Version),
			doc("This document: the API as OpenAPI 3.1").ok(200, apidoc.Document{})},

		// Signing in and out, and the signed-in user's own tokens.
		{"POST", "/session", rule{public, noProject}, handleSignIn(d),
			doc("Sign in with a login and password").about("Starts a session: sets the mentor_session cookie and answers the CSRF token that browser writes must send as X-CSRF-Token. Failed sign-ins are throttled per login and address.").takes(signInInput{}).ok(200, sessionView{}).fail(errs.Unauthenticated, errs.RateLimited)},
		{"GET", "/session", rule{auth.SignedIn, noProject}, handleGetSession(d),
			doc("Who is signed in: the session's (or token's) user and their roles").ok(200, sessionView{})},
		{"DELETE", "/session", rule{auth.Account, noProject}, handleSignOut(d),
			doc("Sign out: end this session").ok(204, nil)},
		{"PUT", "/session/password", rule{auth.Account, noProject}, handleChangeOwnPassword(d),
			doc("Change your own password; every session ends").takes(passwordChange{}).ok(204, nil).fail(errs.RateLimited)},
		{"GET", "/tokens", rule{auth.Account, noProject}, handleListTokens(d),
			doc("List your API tokens").ok(200, tokenList{})},
		{"POST", "/tokens", rule{auth.Account, noProject}, handleCreateToken(d),
			doc("Create an API token; its secret is shown only in this answer").takes(tokenInput{}).ok(201, tokenCreated{}).fail(errs.RateLimited)},
		{"DELETE", "/tokens/:token", rule{auth.Account, noProject}, handleRevokeToken(d),
			doc("Revoke one of your API tokens").ok(204, nil)},

		// Instance administration.
		{"GET", "/users", rule{auth.InstanceAdmin, noProject}, handleListUsers(d),
			doc("List every account").ok(200, userList{})},
		{"POST", "/users", rule{auth.InstanceAdmin, noProject}, handleCreateUser(d),
			doc("Create an account").takes(auth.NewUser{}).ok(201, auth.User{}).fail(errs.Conflict)},
		{"PUT", "/users/:user/disabled", rule{auth.InstanceAdmin, noProject}, handleSetUserDisabled(d),
			doc("Disable or enable an account").takes(disabledInput{}).ok(200, auth.User{})},
		{"PUT", "/users/:user/password", rule{auth.InstanceAdmin, noProject}, handleResetPassword(d),
			doc("Set an account's password; its sessions end").takes(passwordInput{}).ok(204, nil)},
		{"GET", "/audit", rule{auth.InstanceAdmin, noProject}, handleListAudit(d, false),
			doc("The whole audit log, newest first").param("action", "", "only events of this action (sign_in, export, …)").param("before", int64(0), "only events with a smaller id: the next page").ok(200, auditList{})},
		{"POST", "/projects", rule{auth.InstanceAdmin, noProject}, handleCreateProject(d),
			doc("Create a project").takes(projectInput{}).ok(201, prompts.Project{}).fail(errs.Conflict)},

		// Projects and their members.
		{"GET", "/projects", rule{auth.SignedIn, noProject}, handleListProjects(d),
			doc("List the projects you belong to (all of them, for an instance administrator)").ok(200, projectList{})},
		{"GET", "/projects/:project", rule{auth.ProjectRead, fromProject}, handleGetProject(),
			doc("One project").ok(200, prompts.Project{})},
		{"PUT", "/projects/:project", rule{auth.ProjectManage, fromProject}, handleUpdateProject(d),
			doc("Change a project's name, description or blind ranking").takes(projectInput{}).ok(200, prompts.Project{})},
		{"GET", "/projects/:project/members", rule{auth.ProjectManage, fromProject}, handleListMembers(d),
			doc("A project's members and their roles").ok(200, memberList{})},
		{"PUT", "/projects/:project/members/:user", rule{auth.ProjectManage, fromProject}, handleSetMember(d),
			doc("Add a user (by login) to the project, or change their role").takes(roleInput{}).ok(200, memberList{})},
		{"DELETE", "/projects/:project/members/:user", rule{auth.ProjectManage, fromProject}, handleRemoveMember(d),
			doc("Remove a user (by login) from the project").ok(204, nil)},
		{"GET", "/projects/:project/audit", rule{auth.ProjectManage, fromProject}, handleListAudit(d, true),
			doc("A project's audit log, newest first").param("action", "", "only events of this action").param("before", int64(0), "only events with a smaller id: the next page").ok(200, auditList{})},

		// Personas, rubrics and prompt versions.
		{"GET", "/projects/:project/personas", rule{auth.ProjectRead, fromProject}, handleListPersonas(d),
			doc("A project's personas").ok(200, personaList{})},
		{"POST", "/projects/:project/personas", rule{auth.PromptWrite, fromProject}, handleCreatePersona(d),
			doc("Create a persona").takes(personaInput{}).ok(201, prompts.Persona{}).fail(errs.Conflict)},
		{"GET", "/personas/:persona", rule{auth.ProjectRead, fromPersona}, handleGetPersona(d),
			doc("A persona with its rubric and prompt versions").ok(200, personaDetail{})},
		{"PUT", "/personas/:persona", rule{auth.PromptWrite, fromPersona}, handleUpdatePersona(d),
			doc("Change a persona").takes(personaInput{}).ok(200, prompts.Persona{})},
		{"PUT", "/personas/:persona/rubric", rule{auth.PromptWrite, fromPersona}, handlePutRubric(d),
			doc("Replace a persona's rubric").takes(rubricBody{}).ok(200, rubricBody{})},
		{"POST", "/personas/:persona/versions", rule{auth.PromptWrite, fromPersona}, handlePublishVersion(d),
			doc("Publish a new prompt version").takes(prompts.NewVersion{}).ok(201, prompts.Version{})},
		{"GET", "/personas/:persona/versions/:version", rule{auth.ProjectRead, fromPersona}, handleGetVersion(d),
			doc("One prompt version").ok(200, prompts.Version{})},
		{"POST", "/personas/:persona/versions/:version/try", rule{auth.Generate, fromPersona}, handleTry(d),
			doc("Try a prompt version: one reply, streamed as server-sent events").about("Events: meta (the model and passages), delta (a piece of the reply) and done (status, usage, timings and the rendered HTML). Errors found before streaming are ordinary JSON errors; a failure mid-stream arrives in the done event.").takes(tryInput{}).okAs(200, "text/event-stream", "server-sent events: meta, delta…, done", nil).fail(errs.RateLimited)},
		{"GET", "/personas/:persona/diff", rule{auth.ProjectRead, fromPersona}, handleDiff(d),
			doc("Compare two prompt versions").param("from", 0, "the older version number").param("to", 0, "the newer version number").ok(200, versionDiff{})},
		{"POST", "/personas/:persona/preview", rule{auth.PromptWrite, fromPersona}, handlePreview(),
			doc("Render a template with sample data without saving it").takes(previewInput{}).ok(200, previewResult{})},

		// Knowledge.
		{"GET", "/projects/:project/corpora", rule{auth.ProjectRead, fromProject}, handleListCorpora(d),
			doc("A project's knowledge corpora").ok(200, corpusList{})},
		{"POST", "/projects/:project/corpora", rule{auth.KnowledgeWrite, fromProject}, handleCreateCorpus(d),
			doc("Create a corpus").takes(corpusInput{}).ok(201, retrieval.Corpus{}).fail(errs.Conflict)},
		{"GET", "/corpora/:corpus", rule{auth.ProjectRead, fromCorpus}, handleGetCorpus(d),
			doc("A corpus with its embedders and stale gold marks").ok(200, corpusDetail{})},
		{"GET", "/corpora/:corpus/documents", rule{auth.ProjectRead, fromCorpus}, handleListDocuments(d),
			doc("A page of a corpus's documents, most recently changed first").param("limit", 0, "at most this many (100)").param("offset", 0, "skip this many").ok(200, documentList{})},
		{"POST", "/corpora/:corpus/documents", rule{auth.KnowledgeWrite, fromCorpus}, handleImportDocuments(d),
			doc("Import documents: a multipart upload of files").about("Each file's outcome is in the answer; a file that fails does not undo the others. JSONL and CSV files are read with the field names given as query parameters.").takesFiles().param("slug_field", "", "JSONL/CSV: the field holding each document's slug").param("title_field", "", "JSONL/CSV: the title field").param("body_field", "", "JSONL/CSV: the body field").param("lang_field", "", "JSONL/CSV: the language field").param("tags_field", "", "JSONL/CSV: the tags field").ok(200, importReport{})},
		{"POST", "/corpora/:corpus/evaluate", rule{auth.ProjectRead, fromCorpus}, handleEvaluate(d),
			doc("Compare retrieval configurations on the corpus's labelled passages").takes(evaluateInput{}).ok(200, evaluation{})},
		{"GET", "/search", rule{auth.ProjectRead, fromCorpusQuery}, handleSearch(d),
			doc("Search one corpus, with each passage's score parts").param("corpus", int64(0), "the corpus id").param("q", "", "the query").param("k", 0, "how many passages (10)").param("rrf_k", 0, "reciprocal rank fusion's k").param("vector_weight", 0.0, "the vector ranking's weight").param("text_weight", 0.0, "the full-text ranking's weight").param("document", []int64{}, "only these documents").param("tag", []string{}, "only documents with these tags").ok(200, searchResult{})},

		// Live training sessions: generate, cancel and resume on the websocket; judgments by REST.
		{"GET", "/ws", rule{auth.SignedIn, noProject}, handleWebsocket(d),
			doc("The live training websocket: generate, cancel and resume").about("Messages are JSON objects with a type; see docs/ for the protocol.").switches("the connection is now a websocket").fail(errs.Invalid)},
		{"GET", "/conversations/:conversation", rule{auth.ProjectRead, fromConversation}, handleGetConversation(d),
			doc("A conversation's whole tree, for navigating its branches").ok(200, conversationTree{})},
		{"GET", "/turns/:turn", rule{auth.ProjectRead, fromTurn}, handleGetTurn(d),
			doc("A turn with its candidates, your judgments and its passages").ok(200, turnDetail{})},
		{"POST", "/turns/:turn/judgments", rule{auth.Judge, fromJudgedTurn}, handleSubmitJudgment(d),
			doc("Submit a judgment of a turn").about("A retry with the same idempotency key answers the stored result with 200; a new judgment answers 201. A campaign item's turn is refused with 409: judge it from My work, through POST /claims/:claim/judgment (issue 13).").takes(rlhf.Submission{}).ok(201, rlhf.Submitted{}).ok(200, rlhf.Submitted{}).fail(errs.Conflict)},
		{"PUT", "/turns/:turn/passages/:chunk/mark", rule{auth.Judge, fromTurn}, handleMarkPassage(d),
			doc("Grade a passage shown with a turn").takes(gradeInput{}).ok(200, retrieval.Mark{})},
		{"POST", "/diff", rule{auth.Account, noProject}, handleEditDiff(),
			doc("The diff of an edit, as the judgment will store it").takes(editDiffInput{}).ok(200, editDiff{})}, // a helper for the browser's editor

		// Datasets: creating an export (a POST: it records a snapshot and an audit event),
		// streaming a recorded one, the export page's row-count preview, and the formats.
		{"POST", "/projects/:project/exports", rule{auth.Export, fromProject}, handleCreateExport(d),
			doc("Export a dataset: record a snapshot to download").takes(exportRequest{}).ok(201, exportCreated{})},
		{"GET", "/projects/:project/exports/:snapshot/download", rule{auth.Export, fromProject}, handleDownloadExport(d),
			doc("Download a recorded export snapshot").param("split", "", "train or test: that split's file").okAs(200, "application/octet-stream", "the file: JSONL, gzipped JSONL or Parquet", map[string]string{"X-Mentor-Snapshot": "the snapshot id", "X-Mentor-As-Of": "the moment the data was read", "X-Mentor-Rows": "a trailer: rows sent", "X-Mentor-SHA256": "a trailer: the SHA-256 of what was sent"})},
		{"GET", "/projects/:project/exports/count", rule{auth.Export, fromProject}, handleExportCount(d),
			doc("How many rows an export would have").params(exportRequest{}).ok(200, exportCount{})},
		{"GET", "/exports/formats", rule{auth.SignedIn, noProject}, handleExportFormats(),
			doc("The export formats, their kinds and columns").ok(200, exportFormats{})},

		// Webhooks (issue 16): a project's endpoints, their delivery log, resuming a paused one.
		{"GET", "/projects/:project/webhooks", rule{auth.ProjectManage, fromProject}, handleListWebhooks(d),
			doc("A project's webhook endpoints and the events they may subscribe to").ok(200, webhookList{})},
		{"POST", "/projects/:project/webhooks", rule{auth.ProjectManage, fromProject}, handleCreateWebhook(d),
			doc("Add a webhook endpoint; its signing secret is shown only in this answer").takes(webhook.NewWebhook{}).ok(201, webhook.Created{})},
		{"DELETE", "/projects/:project/webhooks/:webhook", rule{auth.ProjectManage, fromProject}, handleDeleteWebhook(d),
			doc("Delete a webhook endpoint").ok(204, nil)},
		{"POST", "/projects/:project/webhooks/:webhook/resume", rule{auth.ProjectManage, fromProject}, handleResumeWebhook(d),
			doc("Resume a paused endpoint and queue again what it held back").ok(200, webhookResumed{})},
		{"GET", "/projects/:project/webhooks/:webhook/deliveries", rule{auth.ProjectManage, fromProject}, handleWebhookDeliveries(d),
			doc("An endpoint's latest deliveries with every attempt's status code").ok(200, deliveryList{})},

		// Models.
		{"GET", "/models", rule{auth.SignedIn, noProject}, handleListModels(d),
			doc("The configured models").ok(200, modelList{})},
		{"GET", "/models/health", rule{auth.SignedIn, noProject}, handleModelHealth(d),
			doc("Each model endpoint's health").ok(200, modelHealth{})},

		// Campaigns (api_campaigns.go): the admin's set-up, the trainer's work (next, heartbeat,
		// skip, submit through a claim), and bases with their people and the lead's view.
		{"GET", "/projects/:project/campaigns", rule{auth.ProjectRead, fromProject}, handleListCampaigns(d),
			doc("A project's campaigns").ok(200, campaignList{})},
		{"POST", "/projects/:project/campaigns", rule{auth.ProjectManage, fromProject}, handleCreateCampaign(d),
			doc("Create a campaign (a draft) with its plan, task kind, overlap k, bases and guidelines").about("Warnings (k over the trainers who can work on it) come back in the reader's language; they do not stop the draft.").takes(campaign.Input{}).ok(201, campaignCreated{}).fail(errs.Conflict)},
		{"GET", "/campaigns/:campaign", rule{auth.ProjectRead, fromCampaign}, handleGetCampaign(d),
			doc("A campaign with its generation progress").ok(200, campaignDetail{})},
		{"PUT", "/campaigns/:campaign/state", rule{auth.ProjectManage, fromCampaign}, handleSetCampaignState(d),
			doc("Open, pause or close a campaign").takes(stateInput{}).ok(200, campaignBody{})},
		{"PUT", "/campaigns/:campaign/guidelines", rule{auth.ProjectManage, fromCampaign}, handleSetGuidelines(d),
			doc("Replace a campaign's guidelines, which gives them a new version").takes(guidelinesInput{}).ok(200, campaignBody{})},
		{"POST", "/campaigns/:campaign/items", rule{auth.ProjectManage, fromCampaign}, handleImportItems(d),
			doc("Import a campaign's items from JSONL, CSV or XLSX").about("One file, in the multipart field file (or files). Good lines go in; bad lines and duplicates are reported by line with a 200. A file that cannot be read at all is an error.").takesFiles().param("format", "", "jsonl, csv or xlsx; the file name's extension when absent").ok(200, itemsImported{}).fail(errs.Unprocessable)},
		{"POST", "/campaigns/:campaign/turns", rule{auth.ProjectManage, fromCampaign}, handleAddTurns(d),
			doc("Make items of existing turns that have no judgments").about("Each turn that cannot be an item is in errors with why; the others are added.").takes(turnsInput{}).ok(200, turnsAdded{})},
		{"GET", "/campaigns/:campaign/failed", rule{auth.ProjectManage, fromCampaign}, handleFailedItems(d),
			doc("Items whose candidates could not be generated, with the errors").ok(200, failedList{})},
		{"POST", "/campaigns/:campaign/regenerate", rule{auth.ProjectManage, fromCampaign}, handleRegenerate(d),
			doc("Generate the failed items' candidates again").ok(200, regenerating{})},
		{"GET", "/work", rule{auth.SignedIn, noProject}, handleMyWork(d),
			doc("The campaigns open to me, with my counts and quota, and the bases I lead").ok(200, myWork{})},
		{"POST", "/campaigns/:campaign/next", rule{auth.Judge, fromCampaign}, handleNext(d),
			doc("Claim the next item of a campaign").about("404 when no item is ready for you; 422 when the campaign is not open, your base's quota is used or you hold the most open claims allowed; 403 when the campaign is given to other bases.").ok(201, claimBody{}).fail(errs.Unprocessable)},
		{"GET", "/campaigns/:campaign/claims", rule{auth.Judge, fromCampaign}, handleOpenClaims(d),
			doc("My open claims in a campaign").ok(200, claimList{})},
		{"PUT", "/claims/:claim/lease", rule{auth.Judge, fromClaim}, handleHeartbeat(d),
			doc("Renew a claim's lease").ok(200, claimBody{}).fail(errs.Conflict)},
		{"POST", "/claims/:claim/skip", rule{auth.Judge, fromClaim}, handleSkip(d),
			doc("Skip a claimed item, with a reason").takes(skipInput{}).ok(204, nil).fail(errs.Conflict)},
		{"POST", "/claims/:claim/judgment", rule{auth.Judge, fromClaim}, handleSubmitClaim(d),
			doc("Judge a claimed item").about("The body is the one POST /turns/{turn}/judgments takes; the claim completes in the same transaction. A lapsed lease is a 409 and nothing is stored. A retry with the same idempotency key answers 200.").takes(rlhf.Submission{}).ok(201, claimSubmitted{}).ok(200, claimSubmitted{}).fail(errs.Conflict)},
		// Live generation for campaigns (issue 13, api_campaign_live.go).
		{"GET", "/claims/:claim/stream", rule{auth.Judge, fromClaim}, handleClaimStream(d),
			doc("Follow a live item's candidates as they stream").about("For a claim of a live campaign's item: the events of the live session's websocket (start, passages, delta, reasoning, done; snapshot for what is stored), each a data line numbered per candidate, then an end event once every candidate is finished. Opening it starts the item's turn when no claim has yet, and streams again the failed candidates of a turn nobody can judge. An item generated ahead is a 409; errors before the stream are ordinary JSON errors.").param("after", "", "per candidate id, the last event number the client has, as a JSON object ({\"51\": 7}); resuming sends only what follows").okAs(200, "text/event-stream", "server-sent events: start, passages, delta…, done, snapshot; then end", nil).fail(errs.Conflict)},
		{"GET", "/bases", rule{auth.InstanceAdmin, noProject}, handleListBases(d),
			doc("The labelling bases").ok(200, baseList{})},
		{"POST", "/bases", rule{auth.InstanceAdmin, noProject}, handleCreateBase(d),
			doc("Create a labelling base").takes(baseInput{}).ok(201, baseBody{}).fail(errs.Conflict)},
		{"GET", "/projects/:project/bases", rule{auth.ProjectManage, fromProject}, handleProjectBases(d),
			doc("Every base, each saying whether the project admits it").ok(200, projectBaseList{})},
		{"PUT", "/projects/:project/bases/:base", rule{auth.ProjectManage, fromProject}, handleAdmitBase(d),
			doc("Admit a base to a project").ok(204, nil)},
		{"POST", "/projects/:project/people", rule{auth.ProjectManage, fromProject}, handleImportPeople(d),
			doc("Import people from CSV: login, name, base, role").about("One CSV file (UTF-8 or GB18030) in the multipart field file (or files), with a header: login, name, base, role and optionally lead. Good rows go in, bad ones are reported by line; a new account's first password is in this answer only.").takesFiles().ok(200, peopleImported{})},
		{"GET", "/bases/:base/people", rule{auth.SignedIn, noProject}, handleBaseView(d),
			doc("A base's people and their work today (for its leads)").ok(200, baseView{})}, // leads of the base and instance admins

		// Quality control, part A (issue 14; api_review.go): the review stream, rework and
		// appeals, batches with GB/T 2828.1 acceptance sampling, and the QC figures. Leads are
		// usually trainers of the project, so most routes need judge and the review and
		// acceptance packages decide who reviews what (the project's reviewers and admins
		// everything, a base's leads their base).
		{"POST", "/campaigns/:campaign/review/next", rule{auth.Judge, fromCampaign}, handleReviewNext(d),
			doc("Take the next judgment waiting for review").about("The oldest submitted, unreviewed judgment of the campaign (of your base, for a lead; of one batch with ?batch=), kept for you for five minutes, with its candidates and passages. 404 when nothing is waiting; 403 for someone who neither reviews the project nor leads a base of the campaign.").param("batch", int64(0), "only this batch's judgments: a rejected batch's 100% re-inspection").ok(200, reviewItem{}).fail(errs.NotFound)},
		{"POST", "/campaigns/:campaign/reviews", rule{auth.Judge, fromCampaign}, handleReview(d),
			doc("Accept, reject or fix a judgment").about("A rejection needs one of the project's reason codes and goes back to its trainer as rework; a fix is stored as the reviewer's own revision of the judgment and accepted. A judgment of another project or campaign is refused naming judgment_id; one reviewed already is a 409.").takes(review.Decision{}).ok(201, review.Decided{}).fail(errs.Conflict)},
		{"GET", "/projects/:project/review-reasons", rule{auth.ProjectRead, fromProject}, handleReviewReasons(d),
			doc("The project's reasons for rejecting a judgment, in English and Chinese").ok(200, reasonList{})},
		{"PUT", "/projects/:project/review-reasons", rule{auth.ProjectManage, fromProject}, handleSetReviewReasons(d),
			doc("Replace the project's rejection reasons").takes(reasonList{}).ok(200, reasonList{})},
		{"GET", "/reworks", rule{auth.SignedIn, noProject}, handleMyReworks(d),
			doc("My rejected judgments to rework, with the reason and the reviewer's comment").ok(200, reworkList{})},
		{"GET", "/reworks/:review", rule{auth.Judge, fromReview}, handleGetRework(d),
			doc("One of my reworks with the judgment it sends back").ok(200, reworkDetail{})},
		{"POST", "/reworks/:review/judgment", rule{auth.Judge, fromReview}, handleResubmit(d),
			doc("Resubmit a rejected judgment").about("The body is the one POST /turns/{turn}/judgments takes. It is stored as a new revision (the rejected one is kept) and goes back to review. A retry with the same idempotency key answers 200.").takes(rlhf.Submission{}).ok(201, rlhf.Submitted{}).ok(200, rlhf.Submitted{}).fail(errs.Conflict)},
		{"POST", "/reworks/:review/appeal", rule{auth.Judge, fromReview}, handleAppeal(d),
			doc("Appeal a rejection, once").about("A second appeal of the same rejection is refused naming review_id. The appeal is recorded in the audit log.").takes(appealInput{}).ok(201, review.Appeal{})},
		{"GET", "/campaigns/:campaign/appeals", rule{auth.Judge, fromCampaign}, handleListAppeals(d),
			doc("A campaign's appeals waiting for a decision (a lead's: their base's)").ok(200, appealList{})},
		{"PUT", "/appeals/:review", rule{auth.Judge, fromReview}, handleDecideAppeal(d),
			doc("Decide an appeal: uphold the rejection or overturn it").about("Leads of the trainer's base and the project's admins decide, never the reviewer who rejected. Overturned, the judgment is accepted. The decision is recorded in the audit log.").takes(appealDecision{}).ok(200, review.Appeal{}).fail(errs.Conflict)},
		{"GET", "/campaigns/:campaign/qc/settings", rule{auth.ProjectRead, fromCampaign}, handleQCSettings(d),
			doc("A campaign's acceptance settings: its AQL and batch size").ok(200, acceptance.Settings{})},
		{"PUT", "/campaigns/:campaign/qc/settings", rule{auth.ProjectManage, fromCampaign}, handleSetQCSettings(d),
			doc("Set a campaign's AQL (GB/T 2828.1's series, 0.010 to 10) and batch size").takes(acceptance.Settings{}).ok(200, acceptance.Settings{})},
		{"POST", "/campaigns/:campaign/batches", rule{auth.Judge, fromCampaign}, handleCloseBatch(d),
			doc("Close a base's batch and draw its sample").about("The base's judgments of the campaign not in a batch yet, from a period or the oldest N. The plan (sample size, Ac, Re) follows GB/T 2828.1 at level II from the lot size, the campaign's AQL and the switching rules; the sample's seed is recorded. Leads of the base and the project's admins close batches; an empty batch is refused.").takes(acceptance.CloseInput{}).ok(201, acceptance.Batch{})},
		{"GET", "/campaigns/:campaign/batches", rule{auth.ProjectRead, fromCampaign}, handleListBatches(d),
			doc("A campaign's batches and their inspection").param("base", int64(0), "only this base's").ok(200, batchList{})},
		{"GET", "/batches/:batch", rule{auth.ProjectRead, fromBatch}, handleGetBatch(d),
			doc("A batch with its sample in draw order and each tier's verdicts").ok(200, batchDetail{})},
		{"POST", "/batches/:batch/next", rule{auth.Judge, fromBatch}, handleBatchNext(d),
			doc("The next judgment of a batch's sample to inspect").param("tier", "", "base (the base's own check, by its leads) or centre (the centre's acceptance, by the project's reviewers)").ok(200, reviewItem{}).fail(errs.NotFound)},
		{"POST", "/batches/:batch/inspections", rule{auth.Judge, fromBatch}, handleInspect(d),
			doc("Inspect a sampled judgment for one tier").about("A review decision like POST /campaigns/{campaign}/reviews, counted for the tier: Re defects reject the batch, a whole sample with at most Ac accepts it. The centre's acceptance accepts every judgment of the batch not rejected.").takes(inspectionInput{}).ok(201, acceptance.Inspected{}).fail(errs.Conflict)},
		{"GET", "/campaigns/:campaign/qc", rule{auth.ProjectRead, fromCampaign}, handleQCDashboard(d),
			doc("A campaign's QC figures: batches, defects by reason, and each base's own check against the centre's acceptance").param("base", int64(0), "only this base's").ok(200, acceptance.Dashboard{})},
		// Quality control screens (issue 14; api_review_screens.go): reads the QC pages need to
		// offer what the caller may do: an appeal with its judgment, and the bases to close a
		// batch for.
		{"GET", "/campaigns/:campaign/appeals/:review", rule{auth.Judge, fromCampaign}, handleAppealDetail(d),
			doc("A waiting appeal with the judgment it is about").about("For the project's reviewers and admins, and a lead for their base's trainers. can_decide says whether you may decide it: the project's admins and the trainer's leads may, the reviewer who rejected may not.").ok(200, appealDetail{}).fail(errs.NotFound)},
		{"GET", "/campaigns/:campaign/batch-bases", rule{auth.Judge, fromCampaign}, handleBatchBases(d),
			doc("The bases you may close a batch of this campaign for").about("The campaign's bases (the project's admitted bases when it names none): all of them for the project's admins, the ones you lead for anyone else.").ok(200, batchBases{})},
		// Reduced inspection and discontinuation (issue 14): GB/T 2828.1's switching rules read
		// the batches; the project's admins record what the batches cannot show.
		{"POST", "/campaigns/:campaign/qc/switching-notes", rule{auth.ProjectManage, fromCampaign}, handleInspectionNote(d),
			doc("Record that a base's production became irregular, or resume its discontinued inspection").about("kind irregular returns a base on reduced inspection to normal and restarts the switching score on normal inspection; kind resumed restarts a discontinued inspection (5 batches rejected on tightened inspection) on tightened inspection. The answer is where the base then stands under the switching rules.").takes(acceptance.NoteInput{}).ok(201, acceptance.Switching{})},
		// A judgment's revisions (issue 14; api_revisions.go): readable after the fact by its
		// trainer, its reviewers and their base's leads. Who may read whose is decided from the
		// data in the handler, so the rule only needs a signed-in caller.
		{"GET", "/judgments/:judgment/revisions", rule{auth.SignedIn, noProject}, handleJudgmentRevisions(d),
			doc("Every revision of a trainer's judgment of a turn, with the reviewers' fixes, decisions and appeals").about("Give any of the trainer's revisions or a reviewer's fix of one: the answer is the same chain, oldest first, each revision attributed to its author (trainer or reviewer) with the review decisions about it (reason in English and Chinese, comment, appeal and its decision). The trainer, the project's reviewers and admins, and leads of the trainer's base may read it; for anyone else, as for an id that names no judgment, it is a 404. An id that is not a number is refused naming judgment.").ok(200, judgmentRevisions{}).fail(errs.Invalid, errs.NotFound)},
		{"GET", "/fixes", rule{auth.SignedIn, noProject}, handleMyFixes(d),
			doc("My judgments that a reviewer fixed and accepted, newest first (the last 50)").ok(200, fixList{})},
		// Leaderboards (issue 15, api_leaderboard.go): Bradley–Terry boards from votes, version
		// against version, and the voter check (which names trainers: managers only).
		{"GET", "/projects/:project/leaderboard", rule{auth.ProjectRead, fromProject}, handleLeaderboard(d),
			doc("A leaderboard fitted from votes: Bradley–Terry scores with 95% bootstrap intervals").about("Votes come from blind pairwise campaigns (source=all adds open judgments) and, by default, only judgments quality control passed (counted=submitted takes all). style=control fits length and markdown differences as covariates and lists their coefficients per part. A dimension not in the rubric is a 422 naming the valid ones. Fewer than 2 entries, or a comparison graph in parts, is said in notices.").params(boardQuery{}).ok(200, boardView{}).fail(errs.Unprocessable)},
		{"GET", "/projects/:project/leaderboard/compare", rule{auth.ProjectRead, fromProject}, handleCompareVersions(d),
			doc("Version B of a persona against version A: win rate, score difference and a verdict per dimension").about("When the two were never compared, or too little, campaign holds a blind pairwise campaign over them to create. Cached and refitted as boards are: a big project's comparison is fitted in the background (notices: refreshing; stale once votes came in since).").params(compareQuery{}).ok(200, leaderboard.Comparison{}).fail(errs.Unprocessable)},
		{"GET", "/projects/:project/leaderboard/voters", rule{auth.ProjectManage, fromProject}, handleLeaderboardVoters(d),
			doc("The voter check: trainers whose votes are improbable against the fitted board, and how often each put the first-shown candidate on top").about("Cached and refitted as boards are; it uses the board's scores, not its bootstrap, so rounds and seed do not change it.").params(boardQuery{}).ok(200, leaderboard.VoterCheck{}).fail(errs.Unprocessable)},
		// Quality control, part B (issue 14; api_quality.go): checks, gold items (experts and
		// admins: knowledge.write), pauses, agreement and per-trainer statistics. Who sees whose
		// figures (self, their base, all) is decided in the handlers, as for a base's view.
		{"PUT", "/campaigns/:campaign/checks", rule{auth.ProjectManage, fromCampaign}, handleSetChecks(d),
			doc("Change a campaign's quality checks: honeypot rate, pause threshold, speed floor, agreement floor, extra-judgment budget").about("Absent fields keep their value. A honeypot rate outside 0–0.5 is refused naming checks.honeypot_rate.").takes(campaign.ChecksInput{}).ok(200, campaignBody{})},
		{"GET", "/campaigns/:campaign/gold", rule{auth.KnowledgeWrite, fromCampaign}, handleListGold(d),
			doc("A campaign's gold items and the unanimous items that could become one").ok(200, goldList{})},
		{"POST", "/campaigns/:campaign/gold", rule{auth.KnowledgeWrite, fromCampaign}, handleSetGold(d),
			doc("Make an item a gold item with a known answer").about("The answer is a best candidate, an ordering of every candidate, or a candidate with a flag it must get; one that does not fit the item's candidates is refused naming the field.").takes(campaign.GoldInput{}).ok(201, goldBody{})},
		{"POST", "/campaigns/:campaign/gold/promote", rule{auth.KnowledgeWrite, fromCampaign}, handlePromoteGold(d),
			doc("Promote an item at least 3 trainers ranked alike to a gold item").takes(promoteInput{}).ok(201, goldBody{})},
		{"GET", "/campaigns/:campaign/gold/:item", rule{auth.KnowledgeWrite, fromCampaign}, handleGoldDraft(d),
			doc("An item with its candidates, for setting its known answer").ok(200, goldDraftBody{})},
		{"DELETE", "/campaigns/:campaign/gold/:item", rule{auth.KnowledgeWrite, fromCampaign}, handleRemoveGold(d),
			doc("Return a gold item to the ordinary queue").ok(204, nil)},
		{"GET", "/campaigns/:campaign/pauses", rule{auth.ProjectRead, fromCampaign}, handleListPauses(d),
			doc("Trainers paused in a campaign by their honeypot accuracy").about("Admins and reviewers see all; a lead their base's; a trainer their own.").ok(200, pauseList{})},
		{"DELETE", "/campaigns/:campaign/pauses/:trainer", rule{auth.ProjectRead, fromCampaign}, handleLiftPause(d),
			doc("Lift a trainer's pause").about("Admins, reviewers and leads of the trainer's base; their held work stays held until reviewed.").ok(204, nil).fail(errs.Forbidden)},
		{"GET", "/campaigns/:campaign/agreement", rule{auth.ProjectRead, fromCampaign}, handleAgreement(d),
			doc("A campaign's agreement: Krippendorff's α, Kendall's W, per base and per trainer, and α over time").ok(200, agreementBody{})},
		{"GET", "/campaigns/:campaign/trainer-stats", rule{auth.ProjectRead, fromCampaign}, handleTrainerStats(d),
			doc("Per-trainer statistics: items per hour, acceptance, honeypot accuracy, agreement, rework").about("Admins and reviewers see every trainer; a lead their base; a trainer themselves.").ok(200, trainerStatsBody{})},
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
			handlers = append(handlers, access(d, rt.rule))
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
	names := map[target]string{noProject: "", fromProject: "project", fromPersona: "persona", fromCorpus: "corpus", fromTurn: "turn", fromJudgedTurn: "turn", fromConversation: "conversation", fromCorpusQuery: "corpus (?corpus=)",
		fromCampaign: "campaign", fromClaim: "claim",
		fromReview: "review", fromBatch: "batch"} // quality control (issue 14)
	var out []RouteRule
	for _, rt := range apiRoutes(Deps{}) {
		out = append(out, RouteRule{Method: rt.method, Path: "/api/v1" + rt.path, Permission: rt.rule.perm, Target: names[rt.rule.target]})
	}
	return out
}
