package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mentor-ai/mentor/acceptance"
	"github.com/mentor-ai/mentor/agreement"
	"github.com/mentor-ai/mentor/audit"
	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/base"
	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/generation"
	"github.com/mentor-ai/mentor/jobs"
	"github.com/mentor-ai/mentor/leaderboard"
	"github.com/mentor-ai/mentor/live"
	"github.com/mentor-ai/mentor/llm"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/prompts/demo"
	"github.com/mentor-ai/mentor/render"
	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/review"
	"github.com/mentor-ai/mentor/rlhf"
	"github.com/mentor-ai/mentor/server"
	"github.com/mentor-ai/mentor/webhook"
)

type serveConfig struct {
	addr            string
	databaseURL     string
	logFormat       string
	logLevel        string
	migrate         bool
	shutdownTimeout time.Duration
	startTimeout    time.Duration
	modelsFile      string
	baselineRate    float64
	env             string
	dev             bool
	devCredentials  string
	sessionIdle     time.Duration
	sessionAbsolute time.Duration
	trustedProxies  string
	allowedOrigins  string
	genConcurrent   int
	genPerHour      int
	campaignWorkers int
	embeddings      embeddingsConfig
	// Live streams on several replicas (issue 12).
	replicaID   string
	streamLease time.Duration
	leaseSweep  time.Duration
	webhooks    webhooksConfig
	// Quality control (issue 14): how often agreement is refreshed.
	agreementEvery time.Duration
	// Recall (issue 17): how often every vector index's recall is measured and repaired.
	vectorIndexEvery time.Duration
}

// webhooksConfig is issue 16's share of the flags: the key that seals webhook secrets, and
// the administrator's permission to deliver to private addresses.
type webhooksConfig struct {
	key          string
	allowPrivate bool
}

func (w *webhooksConfig) register(f *flagSet) {
	f.StringVar(&w.key, "webhook-key", "", "base64 of 32 random bytes (openssl rand -base64 32) that encrypts webhook secrets; without it no webhook can be registered")
	f.env("webhook-key", "MENTOR_WEBHOOK_KEY")
	f.BoolVar(&w.allowPrivate, "webhooks-allow-private", false, "allow webhook deliveries to loopback, private and link-local addresses (a receiver on this host or LAN)")
	f.env("webhooks-allow-private", "MENTOR_WEBHOOKS_ALLOW_PRIVATE")
}

// sealer returns the webhook secrets' sealer, or nil when no key is set.
func (w webhooksConfig) sealer(f *flagSet) (*webhook.Sealer, error) {
	if w.key == "" {
		return nil, nil
	}
	key, err := webhook.ParseKey(w.key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.source("webhook-key"), err)
	}
	return webhook.NewSealer(key)
}

func parseServeConfig(args []string, getenv func(string) string, stderr io.Writer) (serveConfig, *flagSet, error) {
	var c serveConfig
	f := newFlagSet("mentor serve", "", "Serves the web UI and the API. Applies pending migrations first unless --migrate=false.", stderr)
	f.StringVar(&c.addr, "addr", "127.0.0.1:8080", "host:port to listen on (:0 picks a free port)")
	f.env("addr", "MENTOR_ADDR")
	f.StringVar(&c.databaseURL, "database-url", "", "PostgreSQL URL; the database needs the pgvector extension available")
	f.env("database-url", "DATABASE_URL")
	f.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	f.env("log-format", "MENTOR_LOG_FORMAT")
	f.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.env("log-level", "MENTOR_LOG_LEVEL")
	f.BoolVar(&c.migrate, "migrate", true, "apply pending migrations before serving")
	f.env("migrate", "MENTOR_MIGRATE")
	f.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 15*time.Second, "how long to let requests finish on SIGINT/SIGTERM")
	f.env("shutdown-timeout", "MENTOR_SHUTDOWN_TIMEOUT")
	f.DurationVar(&c.startTimeout, "start-timeout", 10*time.Second, "how long to wait for the database at start-up")
	f.env("start-timeout", "MENTOR_START_TIMEOUT")
	f.StringVar(&c.modelsFile, "models-file", "", "YAML file listing model endpoints (see README); OPENAI_BASE_URL, OPENAI_API_KEY and MENTOR_OPENAI_MODELS add one more")
	f.env("models-file", "MENTOR_MODELS_FILE")
	f.Float64Var(&c.baselineRate, "baseline-rate", 40, "pieces per second the offline baseline streams at (0: all at once)")
	f.env("baseline-rate", "MENTOR_BASELINE_RATE")
	f.StringVar(&c.env, "env", "production", "development or production; production refuses development flags")
	f.env("env", "MENTOR_ENV")
	f.BoolVar(&c.dev, "dev", false, "development flag: load the demo project and demo accounts at start")
	f.env("dev", "MENTOR_DEV")
	f.StringVar(&c.devCredentials, "dev-credentials", ".mentor/dev-credentials.json", "development flag: where the demo accounts' generated passwords are kept")
	f.env("dev-credentials", "MENTOR_DEV_CREDENTIALS")
	f.DurationVar(&c.sessionIdle, "session-idle", 8*time.Hour, "a session ends after this long without a request")
	f.env("session-idle", "MENTOR_SESSION_IDLE")
	f.DurationVar(&c.sessionAbsolute, "session-absolute", 7*24*time.Hour, "a session ends this long after sign-in")
	f.env("session-absolute", "MENTOR_SESSION_ABSOLUTE")
	f.StringVar(&c.trustedProxies, "trusted-proxies", "", "comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For/-Proto to believe")
	f.env("trusted-proxies", "MENTOR_TRUSTED_PROXIES")
	f.StringVar(&c.allowedOrigins, "allowed-origins", "", "comma-separated origins (https://host:port) allowed to open websockets besides our own")
	f.env("allowed-origins", "MENTOR_ALLOWED_ORIGINS")
	f.IntVar(&c.genConcurrent, "generation-concurrency", 8, "generations one user may run at once (0: no limit)")
	f.env("generation-concurrency", "MENTOR_GENERATION_CONCURRENCY")
	f.IntVar(&c.genPerHour, "generations-per-hour", 600, "generations one user may start per hour (0: no limit)")
	f.env("generations-per-hour", "MENTOR_GENERATIONS_PER_HOUR")
	f.IntVar(&c.campaignWorkers, "campaign-generation-workers", 8, "campaign items generated at once by this process (each endpoint's own limits still apply)")
	f.env("campaign-generation-workers", "MENTOR_CAMPAIGN_GENERATION_WORKERS")
	c.embeddings.register(f)
	c.webhooks.register(f)
	// Live streams on several replicas (issue 12): who owns a stream, and for how long.
	f.StringVar(&c.replicaID, "replica-id", "", "this replica's id, recorded as the owner of the candidates it streams (default: host name, process id and a random suffix)")
	f.env("replica-id", "MENTOR_REPLICA_ID")
	f.DurationVar(&c.streamLease, "stream-lease", 15*time.Second, "how long a replica's claim on a streaming candidate holds without a renewal (renewed every second); at least 3s")
	f.env("stream-lease", "MENTOR_STREAM_LEASE")
	f.DurationVar(&c.leaseSweep, "lease-sweep", 5*time.Second, "how often candidates whose stream's lease ran out are marked interrupted")
	f.env("lease-sweep", "MENTOR_LEASE_SWEEP")
	// Quality control (issue 14).
	f.DurationVar(&c.agreementEvery, "agreement-refresh", agreement.Every, "how often agreement (α, W, leave-one-out) is recomputed for campaigns with new judgments; at most 60s")
	f.env("agreement-refresh", "MENTOR_AGREEMENT_REFRESH")
	// Recall (issue 17).
	f.DurationVar(&c.vectorIndexEvery, "vector-index-check", retrieval.VectorIndexEvery, "how often each vector index's recall@10 is measured on the latest trainers' questions, and the index rebuilt if below 0.95 (also once at start); at least 1m")
	f.env("vector-index-check", "MENTOR_VECTOR_INDEX_CHECK")
	if err := f.parse(args, getenv); err != nil {
		return c, f, err
	}
	if c.agreementEvery < time.Second || c.agreementEvery > time.Minute {
		return c, f, fmt.Errorf("%s: must be between 1s and 60s, got %s", f.source("agreement-refresh"), c.agreementEvery)
	}
	if c.vectorIndexEvery < time.Minute {
		return c, f, fmt.Errorf("%s: must be at least 1m, got %s", f.source("vector-index-check"), c.vectorIndexEvery)
	}
	if _, err := c.webhooks.sealer(f); err != nil {
		return c, f, err
	}
	if c.streamLease < live.MinLease {
		return c, f, fmt.Errorf("%s: must be at least %s, got %s", f.source("stream-lease"), live.MinLease, c.streamLease)
	}
	if c.leaseSweep <= 0 {
		return c, f, fmt.Errorf("%s: must be positive, got %s", f.source("lease-sweep"), c.leaseSweep)
	}
	if err := oneOf(f.source("env"), c.env, "development", "production"); err != nil {
		return c, f, err
	}
	if c.env == "production" && c.dev {
		return c, f, fmt.Errorf("%s is a development flag: refusing to start with %s=production", f.source("dev"), f.source("env"))
	}
	if c.sessionIdle <= 0 || c.sessionAbsolute <= 0 {
		return c, f, fmt.Errorf("%s and %s must be positive", f.source("session-idle"), f.source("session-absolute"))
	}
	if c.campaignWorkers < 1 || c.campaignWorkers > 256 {
		return c, f, fmt.Errorf("%s: must be between 1 and 256, got %d", f.source("campaign-generation-workers"), c.campaignWorkers)
	}
	if c.genConcurrent < 0 || c.genPerHour < 0 {
		return c, f, fmt.Errorf("%s and %s must not be negative", f.source("generation-concurrency"), f.source("generations-per-hour"))
	}
	for _, p := range splitList(c.trustedProxies) {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			return c, f, fmt.Errorf("%s: %q is neither an IP nor a CIDR", f.source("trusted-proxies"), p)
		}
	}
	if c.baselineRate < 0 || c.baselineRate > 10000 {
		return c, f, fmt.Errorf("%s: must be between 0 and 10000, got %g", f.source("baseline-rate"), c.baselineRate)
	}
	if f.NArg() > 0 {
		return c, f, fmt.Errorf("mentor serve takes no arguments, got %q", f.Args())
	}
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		return c, f, fmt.Errorf("%s: %q is not host:port: %w", f.source("addr"), c.addr, err)
	}
	if err := checkDatabaseURL(f, c.databaseURL); err != nil {
		return c, f, err
	}
	if err := oneOf(f.source("log-format"), c.logFormat, "text", "json"); err != nil {
		return c, f, err
	}
	if c.shutdownTimeout <= 0 || c.startTimeout <= 0 {
		return c, f, fmt.Errorf("%s and %s must be positive", f.source("shutdown-timeout"), f.source("start-timeout"))
	}
	return c, f, nil
}

func checkDatabaseURL(f *flagSet, u string) error {
	if u == "" {
		return fmt.Errorf("DATABASE_URL is not set (or pass --database-url): `make run` sets it for its own private cluster")
	}
	if _, err := db.ParseConfig(u); err != nil {
		return fmt.Errorf("%s: %w", f.source("database-url"), err)
	}
	return nil
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, flags, err := parseServeConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger, err := newLogger(cfg.logFormat, cfg.logLevel, stderr)
	if err != nil {
		return fmt.Errorf("%s: %w", flags.source("log-level"), err)
	}

	var baselineInterval time.Duration
	if cfg.baselineRate > 0 {
		baselineInterval = time.Duration(float64(time.Second) / cfg.baselineRate)
	}
	models, err := llm.NewRegistry(ctx, llm.RegistryConfig{ModelsFile: cfg.modelsFile, Getenv: getenv,
		BaselineInterval: baselineInterval, Logger: logger})
	if err != nil {
		return err
	}

	// Listen before touching the database, so a busy port fails at once and by name.
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("port in use: cannot listen on %s (%s): another process holds it; stop it or choose another address", cfg.addr, flags.source("addr"))
		}
		return fmt.Errorf("listen on %s (%s): %w", cfg.addr, flags.source("addr"), err)
	}
	defer ln.Close()

	startCtx, cancel := context.WithTimeout(ctx, cfg.startTimeout)
	defer cancel()
	if cfg.migrate {
		if err := migrateUp(startCtx, cfg.databaseURL, logger); err != nil {
			return fmt.Errorf("%s: %w", flags.source("database-url"), err)
		}
	}
	pool, err := db.Connect(startCtx, cfg.databaseURL)
	if err != nil {
		return fmt.Errorf("%s: %w", flags.source("database-url"), err)
	}
	defer pool.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := db.RegisterPoolMetrics(reg, pool); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}

	embedders, err := cfg.embeddings.embedders(flags, getenv)
	if err != nil {
		return err
	}
	queue, err := jobs.NewInserter(pool)
	if err != nil {
		return err
	}
	promptStore, retrievalStore := prompts.NewStore(pool), retrieval.NewStore(pool, embedders, queue)
	// Webhooks (issue 16): the endpoints' store for the API, the deliverer for the jobs.
	sealer, err := cfg.webhooks.sealer(flags)
	if err != nil {
		return err
	}
	if sealer == nil {
		logger.Warn("webhooks are off: set MENTOR_WEBHOOK_KEY (or --webhook-key) to let projects register them")
	}
	guard := webhook.Guard{AllowPrivate: cfg.webhooks.allowPrivate}
	webhooks := webhook.NewStore(pool, sealer, guard)
	deliverer := webhook.NewDeliverer(pool, sealer, guard, nil, logger)
	generator := generation.New(retrievalStore, models, nil)
	// Campaigns: the store deals work; its generation worker fills items' candidates ahead.
	// Events is where webhooks for "item completed" and "campaign closed" will be hooked in.
	auditLog := audit.New(pool)
	campaignStore := campaign.NewStore(pool, models, queue, campaign.Options{Logger: logger, Events: campaign.Events{
		// Quality control (issue 14): a pause is told to the project's leads through the audit
		// log (the trainer.paused webhook is queued in the judgment's own transaction).
		TrainerPaused: func(ctx context.Context, p campaign.Pause) {
			if err := auditLog.Record(ctx, audit.Event{Action: audit.TrainerPaused, ProjectID: &p.ProjectID, Target: p.Login,
				Details: map[string]any{"campaign_id": p.CampaignID, "accuracy": p.Accuracy, "gold_items": p.GoldItems}}); err != nil {
				logger.Warn("record a trainer's pause", "err", err)
			}
		},
	}})
	// Agreement (issue 14): the periodic refresh, and the reader the API uses.
	agreements := agreement.NewRefresher(pool, time.Now, logger)
	// Leaderboards (issue 15): boards are cached; big ones are refitted by a job.
	leaderboards := leaderboard.NewStore(pool, queue, leaderboard.StoreOptions{})
	// Every package with background work adds its registration here.
	runner, err := jobs.NewRunner(pool, jobsLogger(logger),
		retrieval.Jobs(retrievalStore),
		webhook.Jobs(deliverer),
		campaign.Jobs(campaign.NewGenerateWorker(campaignStore, promptStore, generator, models), cfg.campaignWorkers),
		leaderboard.Jobs(leaderboard.NewRefreshWorker(leaderboards)),
		agreement.Jobs(agreement.NewRefreshWorker(agreements), cfg.agreementEvery),
		retrieval.VectorIndexJobs(retrieval.NewVectorIndexWorker(retrievalStore), cfg.vectorIndexEvery),
	)
	if err != nil {
		return err
	}
	if err := runner.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start background jobs: %w", err)
	}
	defer func() {
		// Jobs interrupted here are picked up again by the next start: River rescues them.
		stopCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
		defer cancel()
		if err := runner.Stop(stopCtx); err != nil {
			logger.Warn("background jobs did not stop cleanly", "err", err)
		}
	}()
	authStore, liveStore := auth.NewStore(pool, nil), rlhf.NewStore(pool)
	reviews := review.NewStore(pool, liveStore, time.Now) // quality control, part A (issue 14)
	bases := base.NewStore(pool, authStore)
	// Candidates whose replica died can never finish now: say so before anything else runs.
	// Only those whose lease ran out: other replicas' live streams go on.
	if n, err := liveStore.Sweep(startCtx); err != nil {
		return err
	} else if n > 0 {
		logger.Warn("candidates whose stream's lease ran out are marked interrupted", "count", n)
	}
	var accounts []demo.Account
	if cfg.dev {
		// The demo is work, not waiting: --start-timeout bounds how long the database may take
		// to answer, and on a loaded two-core machine embedding the demo corpus alone can take
		// longer than that. Ctrl-C still stops it.
		sum, err := demo.Load(ctx, promptStore, retrievalStore, models.Has)
		if err != nil {
			return fmt.Errorf("load the demo project: %w", err)
		}
		logger.Info("demo project ready", "project", sum.Project.Slug, "personas", sum.Personas,
			"versions_published", sum.Versions, "documents", sum.Documents)
		if accounts, err = demo.Accounts(ctx, authStore, sum.Project.ID, cfg.devCredentials); err != nil {
			return fmt.Errorf("demo accounts: %w", err)
		}
		// Quality control (issue 14): the demo trainer works in a demo base, so their
		// judgments reach the demo reviewer's stream with a base, and form batches the
		// centre samples. Before the demo campaign, which is given the project's bases. Safe
		// at every start: the person and the base are kept as they are.
		if _, err := bases.ImportPeople(ctx, sum.Project.ID, []base.PersonRow{{Line: 1, Login: "trainer", Name: "训练师 Trainer",
			Base: review.DemoBase, Role: auth.RoleTrainer}}); err != nil {
			return fmt.Errorf("demo base: %w", err)
		}
		// Campaigns: a demo campaign, so My work has something to start on.
		if admin, err := authStore.UserByLogin(ctx, "admin"); err == nil {
			if err := campaignStore.LoadDemo(ctx, promptStore, sum.Project.ID, admin.ID); err != nil {
				return err
			}
		}
		// Leaderboards (issue 15): simulated blind votes, marked as demo data, so the demo
		// project's board is not empty.
		var voters []int64
		for _, login := range []string{"trainer", "reviewer", "admin"} {
			if u, err := authStore.UserByLogin(ctx, login); err == nil {
				voters = append(voters, u.ID)
			}
		}
		if len(voters) > 0 {
			if err := leaderboard.LoadDemo(ctx, pool, sum.Project.ID, voters[len(voters)-1], voters); err != nil {
				return err
			}
		}
	}
	sessions := auth.SessionLimits{Idle: cfg.sessionIdle, Absolute: cfg.sessionAbsolute}
	replica := cfg.replicaID
	if replica == "" {
		replica = newReplicaID()
	}
	logger.Info("replica", "id", replica, "stream_lease", cfg.streamLease)
	// The live engine (issue 12): live sessions, leases on their streams, the generation gate.
	hub, err := live.New(live.Deps{Logger: logger, Pool: pool, Auth: authStore, Store: liveStore, Prompts: promptStore, Models: models,
		Generator: generator, Renderer: render.New(), Decode: server.DecodeCommand, CheckNUL: server.CheckNUL},
		live.Config{Replica: replica, Lease: cfg.streamLease, Sweep: cfg.leaseSweep, Check: 30 * time.Second, Now: time.Now, Sessions: sessions,
			Limits: live.Limits{Concurrent: cfg.genConcurrent, PerHour: cfg.genPerHour}})
	if err != nil {
		return err
	}
	hubCtx, stopHub := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	go func() { defer close(hubDone); hub.Run(hubCtx) }()
	defer func() { stopHub(); <-hubDone }()
	for _, m := range models.Models() {
		if !m.Available {
			logger.Warn("model unavailable", "model", m.Name, "reason", m.Reason)
		}
	}

	handler, err := server.New(server.Deps{
		Logger: logger, Pool: pool, Registry: reg, Version: buildVersion(),
		Prompts: promptStore, Retrieval: retrievalStore, Models: models,
		Generator: generator,
		Live:      liveStore, Auth: authStore, Audit: auditLog, Sessions: sessions, Engine: hub,
		TrustedProxies: splitList(cfg.trustedProxies), AllowedOrigins: splitList(cfg.allowedOrigins),
		Webhooks: webhooks,
		// Campaigns.
		Campaigns: campaignStore, Bases: bases,
		// Quality control (issue 14): review and acceptance (part A), agreement (part B).
		Reviews: reviews, Acceptance: acceptance.NewStore(pool, reviews, time.Now, nil),
		Agreement: agreements,
		// Leaderboards (issue 15).
		Leaderboards: leaderboards,
	})
	if err != nil {
		return err
	}
	requestCtx, cancelRequests := context.WithCancel(context.Background())
	defer cancelRequests()
	srv := &http.Server{
		Handler: handler,
		// Requests see this context end when shutdown begins, so live streams stop and record
		// how far they got instead of holding the shutdown open.
		BaseContext:       func(net.Listener) context.Context { return requestCtx },
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slogErrorLog(logger),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	url := "http://" + displayAddr(ln.Addr())
	logger.Info("serving", "url", url, "version", buildVersion(), "env", cfg.env)
	fmt.Fprintf(stdout, "Mentor is ready at %s\n", url)
	if len(accounts) > 0 {
		fmt.Fprintln(stdout, "Demo accounts (development mode only; passwords kept in "+cfg.devCredentials+"):")
		for _, a := range accounts {
			fmt.Fprintf(stdout, "  %-9s %s   %s\n", a.Login, a.Password, a.Role)
		}
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", cfg.shutdownTimeout)
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancelShutdown()
	cancelRequests()
	stopHub() // closes the websockets, which http.Server.Shutdown does not
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// newReplicaID names this process among the replicas sharing the database: readable in a
// candidate row (which host), and unique even for two processes of one host started in the
// same instant.
func newReplicaID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "mentor"
	}
	return fmt.Sprintf("%s-%d-%08x", host, os.Getpid(), rand.Uint32())
}

// displayAddr turns a listener address into one a person can click: a wildcard host
// becomes localhost.
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
