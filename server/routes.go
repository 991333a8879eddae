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

	// API.
	api := r.Group("/api/v1")
	api.GET("/version", handleVersion(d.Version))

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
