# Mentor. `make run` and `make test` each take a fresh clone all the way: they install and
# start what they need (PostgreSQL + pgvector in a private cluster, Chromium for the
# browser tests, the Go modules) through scripts/setup.sh, which is quick once everything
# is in place. The terminal shows one line per setup step; what the steps print (package
# installs, the pgvector build) goes to logs in .mentor/, shown only when a step fails.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Load the private cluster's settings (or the DATABASE_URL you gave) into a recipe's shell.
WITH_DB := set -a; source .mentor/env; set +a;

.PHONY: build run test bench lint clean-db setup

build:
	$(GO) build -o bin/mentor ./cmd/mentor

setup:
	@GO="$(GO)" scripts/setup.sh db pdf modules

# A development key for webhook secrets, made once and kept beside the cluster: a new key
# every run would make the secrets already stored unreadable.
run: setup build
	@test -s .mentor/webhook-key || (umask 077; head -c 32 /dev/urandom | base64 > .mentor/webhook-key)
	@$(WITH_DB) MENTOR_WEBHOOK_KEY="$${MENTOR_WEBHOOK_KEY:-$$(cat .mentor/webhook-key)}" ./bin/mentor serve --env development --dev --addr "$${MENTOR_ADDR:-127.0.0.1:8080}"

test:
	@GO="$(GO)" scripts/setup.sh db browser pdf modules
	@mkdir -p .mentor/test-output
	@echo "test: go test -race ./... (a first run spends a few minutes compiling with the race detector; artifacts go to .mentor/test-output)"
	@$(WITH_DB) $(GO) test -race -count=1 -timeout 30m -artifacts -outputdir="$(CURDIR)/.mentor/test-output" ./...

# Every Benchmark in the module (a new one is picked up with no change here: see
# internal/benchreport's doc comment), one package at a time: two packages' benchmarks at
# once would measure each other on 2 cores. -json lets benchreport time each benchmark and
# name a package that failed or ran out of time; it echoes the output as it comes, keeps it
# in .mentor/bench.json and writes docs/benchmarks.md even when a package failed, and then
# the recipe fails. Budget (issue 17): 25 minutes in all on the 2-core machine.
# BENCH=Search picks benchmarks by name, BENCHPKG=./server packages; BENCHCOUNT=3 repeats
# each (figures folded into medians; loadgen.Profile and the recall builds take three
# already); BENCH_PKG_TIMEOUT bounds each package.
bench: setup
	@mkdir -p docs .mentor
	@$(WITH_DB) MENTOR_BENCH_CHUNKS="$${SEARCH_CHUNKS:-100000}" $(GO) test -json -p 1 -run '^$$' -bench "$${BENCH:-.}" -benchmem \
		-benchtime "$${BENCHTIME:-2s}" -count "$${BENCHCOUNT:-1}" -timeout "$${BENCH_PKG_TIMEOUT:-15m}" $${BENCHPKG:-./...} \
		| $(GO) run ./internal/benchreport -echo -save .mentor/bench.json -out docs/benchmarks.md

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

clean-db:
	@scripts/setup.sh clean
