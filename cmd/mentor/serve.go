package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/generation"
	"github.com/mentor-ai/mentor/llm"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/prompts/demo"
	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/server"
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
	dev             bool
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
	f.BoolVar(&c.dev, "dev", false, "development mode: load the demo project at start (never in production)")
	f.env("dev", "MENTOR_DEV")
	if err := f.parse(args, getenv); err != nil {
		return c, f, err
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

	promptStore, retrievalStore := prompts.NewStore(pool), retrieval.NewStore(pool)
	if cfg.dev {
		sum, err := demo.Load(startCtx, promptStore, retrievalStore, models.Has)
		if err != nil {
			return fmt.Errorf("load the demo project: %w", err)
		}
		logger.Info("demo project ready", "project", sum.Project.Slug, "personas", sum.Personas,
			"versions_published", sum.Versions, "documents", sum.Documents)
	}
	for _, m := range models.Models() {
		if !m.Available {
			logger.Warn("model unavailable", "model", m.Name, "reason", m.Reason)
		}
	}

	srv := &http.Server{
		Handler: server.New(server.Deps{
			Logger: logger, Pool: pool, Registry: reg, Version: buildVersion(),
			Prompts: promptStore, Retrieval: retrievalStore, Models: models,
			Generator: generation.New(retrievalStore, models, nil),
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slogErrorLog(logger),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	url := "http://" + displayAddr(ln.Addr())
	logger.Info("serving", "url", url, "version", buildVersion())
	fmt.Fprintf(stdout, "Mentor is ready at %s\n", url)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", cfg.shutdownTimeout)
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancelShutdown()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
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
