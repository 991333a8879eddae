package server

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/ui"
)

// addRoutes lists every route Mentor serves. Read this file to learn the whole API.
func addRoutes(r *gin.Engine, d Deps) {
	// Operations.
	r.GET("/healthz", handleHealthz())
	r.GET("/readyz", handleReadyz(d.Pool))
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{Registry: d.Registry})))

	// API. Writes must be JSON from our own origin (see sameOriginWrites).
	v1 := r.Group("/api/v1", sameOriginWrites())
	v1.GET("/version", handleVersion(d.Version))

	// Projects, personas, rubrics and prompt versions.
	v1.GET("/projects", api(d.Logger, handleListProjects(d.Prompts)))
	v1.POST("/projects", api(d.Logger, handleCreateProject(d.Prompts)))
	v1.GET("/projects/:project", api(d.Logger, handleGetProject(d.Prompts)))
	v1.PUT("/projects/:project", api(d.Logger, handleUpdateProject(d.Prompts)))
	v1.GET("/projects/:project/personas", api(d.Logger, handleListPersonas(d.Prompts)))
	v1.POST("/projects/:project/personas", api(d.Logger, handleCreatePersona(d.Prompts)))
	v1.GET("/projects/:project/corpora", api(d.Logger, handleListCorpora(d.Prompts, d.Retrieval)))
	v1.GET("/personas/:persona", api(d.Logger, handleGetPersona(d.Prompts)))
	v1.PUT("/personas/:persona", api(d.Logger, handleUpdatePersona(d.Prompts)))
	v1.PUT("/personas/:persona/rubric", api(d.Logger, handlePutRubric(d.Prompts)))
	v1.POST("/personas/:persona/versions", api(d.Logger, handlePublishVersion(d.Prompts, d.Models)))
	v1.GET("/personas/:persona/versions/:version", api(d.Logger, handleGetVersion(d.Prompts)))
	v1.POST("/personas/:persona/versions/:version/try", api(d.Logger, handleTry(d.Prompts, d.Generator)))
	v1.GET("/personas/:persona/diff", api(d.Logger, handleDiff(d.Prompts)))
	v1.POST("/personas/:persona/preview", api(d.Logger, handlePreview(d.Prompts)))

	// Knowledge.
	v1.GET("/corpora/:corpus/documents", api(d.Logger, handleListDocuments(d.Retrieval)))

	// Models.
	v1.GET("/models", api(d.Logger, handleListModels(d.Models)))
	v1.GET("/models/health", api(d.Logger, handleModelHealth(d.Models)))

	// The web UI: embedded static files, no build step.
	static := ui.Handler()
	r.GET("/", gin.WrapH(static))
	r.GET("/static/*path", gin.WrapH(static))

	r.NoRoute(func(c *gin.Context) {
		writeError(c, d.Logger, errs.E(errs.NotFound, "no route %s %s", c.Request.Method, c.Request.URL.Path))
	})
	r.NoMethod(func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusMethodNotAllowed, errorBody{Error: errorDetail{
			Code: "method_not_allowed", Message: c.Request.Method + " is not allowed on " + c.Request.URL.Path}})
	})
}
