// Package server is Mentor's HTTP face: the gin engine, every route (routes.go), the
// middleware, and the mapping from domain errors to HTTP responses (errors.go).
//
// Handlers are built by functions that take their dependencies and return a gin.HandlerFunc;
// they pass c.Request.Context() (never the *gin.Context) to the domain packages.
package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mentor-ai/mentor/acceptance"
	"github.com/mentor-ai/mentor/agreement"
	"github.com/mentor-ai/mentor/audit"
	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/base"
	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/export"
	"github.com/mentor-ai/mentor/generation"
	"github.com/mentor-ai/mentor/leaderboard"
	"github.com/mentor-ai/mentor/live"
	"github.com/mentor-ai/mentor/llm"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/render"
	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/review"
	"github.com/mentor-ai/mentor/rlhf"
	"github.com/mentor-ai/mentor/webhook"
)

// Deps is what the server needs from run. Every field is required unless it is tagged
// `optional`: New refuses to build a server with a required field left unset, naming it, so
// a wiring mistake stops `mentor serve` at start-up instead of panicking at a trainer's first
// question (which is what shipped once, with Live missing).
type Deps struct {
	Logger   *slog.Logger
	Pool     *pgxpool.Pool
	Registry *prometheus.Registry // the process's own registry, never the global default
	Version  string               `optional:"true"`
	Now      func() time.Time     `optional:"true"` // time.Now

	Prompts   *prompts.Store
	Retrieval *retrieval.Store
	Models    *llm.Registry
	Generator *generation.Generator

	Live     *rlhf.Store // conversations, turns and candidates
	Auth     *auth.Store
	Audit    *audit.Log
	Sessions auth.SessionLimits
	// TrustedProxies are the addresses (IPs or CIDRs) whose X-Forwarded-For and
	// X-Forwarded-Proto headers are believed. Empty: none, so a client cannot choose the
	// address that sign-in throttling counts against.
	TrustedProxies []string `optional:"true"`
	// AllowedOrigins may open websockets besides the server's own origin (scheme://host:port).
	AllowedOrigins []string `optional:"true"`
	// Engine runs live sessions on the websocket, and gates every generation per user.
	Engine *live.Engine
	// Exports writes datasets; export.New(Pool, Now) when unset.
	Exports *export.Exporter `optional:"true"`
	// Webhooks keeps the projects' webhook endpoints and delivery log (issue 16).
	Webhooks *webhook.Store

	// Campaigns: work dealt to trainers, and the bases they work in.
	Campaigns *campaign.Store
	Bases     *base.Store
	// Agreement reads what the periodic agreement refresh found (issue 14).
	Agreement *agreement.Refresher

	// Quality control, part A (issue 14): review, rework and appeals; batches and their
	// acceptance sampling.
	Reviews    *review.Store
	Acceptance *acceptance.Store
	// Leaderboards fits boards from votes (issue 15).
	Leaderboards *leaderboard.Store

	renderer *render.Renderer
}

// ginReleaseMode is gin's one package-level switch; release mode keeps gin from printing
// every route at start-up. Setting it once keeps parallel tests race-free.
var ginReleaseMode sync.Once

// New returns the whole HTTP handler, or an error naming every required dependency that
// deps lacks.
func New(deps Deps) (http.Handler, error) {
	if missing := deps.missing(); len(missing) > 0 {
		return nil, fmt.Errorf("server: missing dependencies: %s", strings.Join(missing, ", "))
	}
	ginReleaseMode.Do(func() { gin.SetMode(gin.ReleaseMode) })
	if deps.Now == nil {
		deps.Now = time.Now
	}
	r := gin.New()
	r.ContextWithFallback = true
	r.HandleMethodNotAllowed = true
	if err := r.SetTrustedProxies(deps.TrustedProxies); err != nil {
		return nil, fmt.Errorf("server: trusted proxies: %w", err)
	}
	if deps.Exports == nil {
		deps.Exports = export.New(deps.Pool, deps.Now)
	}
	deps.renderer = render.New()
	metrics := newHTTPMetrics(deps.Registry)
	r.Use(recoverer(deps.Logger), securityHeaders(), requestLog(deps.Logger), metrics.middleware())
	addRoutes(r, deps)
	return r, nil
}

// missing names the required fields of d that are unset. Reflection keeps this list from
// drifting from the struct: a field added to Deps is required until someone says otherwise.
func (d Deps) missing() []string {
	var out []string
	v, t := reflect.ValueOf(d), reflect.TypeOf(d)
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Tag.Get("optional") == "true" {
			continue
		}
		if v.Field(i).IsZero() {
			out = append(out, f.Name)
		}
	}
	return out
}
