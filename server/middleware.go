package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/mentor-ai/mentor/errs"
)

// contentSecurityPolicy allows only our own scripts and styles: model output is untrusted
// text shown in the page, so no inline script may ever run.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func securityHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		c.Next()
	}
}

// requestLog logs one line per request through slog. Probes and scrapes log at debug level
// so they do not drown the requests people make.
func requestLog(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		level := slog.LevelInfo
		switch p := c.Request.URL.Path; {
		case p == "/healthz" || p == "/readyz" || p == "/metrics":
			level = slog.LevelDebug
		case c.Writer.Status() >= 500:
			level = slog.LevelError
		}
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		logger.Log(c.Request.Context(), level, "request",
			"method", c.Request.Method, "path", c.Request.URL.Path, "route", route,
			"status", c.Writer.Status(), "bytes", c.Writer.Size(),
			"duration_ms", float64(time.Since(start).Microseconds())/1000, "client", c.ClientIP())
	}
}

// recoverer turns a panic in a handler into a logged 500 instead of a dropped connection.
func recoverer(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				writeError(c, logger, &errs.Error{Kind: errs.Internal, Err: fmt.Errorf("panic: %v", v)})
			}
		}()
		c.Next()
	}
}
