# Strata: make help lists the targets.

SHELL := /bin/bash
MODULES := pkg services/controller services/broker cmd/strata tests
GO_PACKAGES := github.com/strata-log/strata/...
BIN := $(CURDIR)/bin
TOOLS := $(CURDIR)/.bin
export PATH := $(TOOLS):$(PATH)
FUZZTIME ?= 15s
# make bench-go BENCH='ProduceVsBadger|Fetch$$' BENCH_PKG=./tests/cluster runs some Go benchmarks only.
BENCH ?= .
BENCH_PKG ?=
TEST_FLAGS ?= -race -count=1 -timeout=15m

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: tools
tools: $(TOOLS)/buf $(TOOLS)/golangci-lint $(TOOLS)/benchstat ## build the pinned tools into .bin/

$(TOOLS)/buf: tools/buf/go.mod tools/buf/go.sum
	cd tools/buf && GOWORK=off go build -o $(TOOLS)/ github.com/bufbuild/buf/cmd/buf \
		google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc

$(TOOLS)/golangci-lint: tools/lint/go.mod tools/lint/go.sum
	cd tools/lint && GOWORK=off go build -o $(TOOLS)/ github.com/golangci/golangci-lint/v2/cmd/golangci-lint

$(TOOLS)/benchstat: tools/bench/go.mod tools/bench/go.sum
	cd tools/bench && GOWORK=off go build -o $(TOOLS)/ golang.org/x/perf/cmd/benchstat

.PHONY: generate
generate: $(TOOLS)/buf ## regenerate pkg/api/stratav1 from proto/
	rm -f pkg/api/stratav1/*.pb.go
	buf generate

.PHONY: checkgenerate
checkgenerate: generate ## fail when the generated code differs from what is committed
	@test -z "$$(git status --porcelain -- pkg/api)" || { git status --porcelain -- pkg/api; git diff --stat -- pkg/api; echo "generated code is stale: run make generate and commit"; exit 1; }

.PHONY: fmt
fmt: $(TOOLS)/golangci-lint ## format Go and proto sources
	buf format -w
	for m in $(MODULES); do (cd $$m && golangci-lint fmt ./...) || exit 1; done

.PHONY: lint
lint: $(TOOLS)/buf $(TOOLS)/golangci-lint ## buf lint, buf format, gofmt, go vet and golangci-lint on every module
	buf lint
	buf format -d --exit-code
	@test -z "$$(gofmt -l $(MODULES))" || { gofmt -l $(MODULES); echo "gofmt would change these files"; exit 1; }
	go vet $(GO_PACKAGES)
	for m in $(MODULES); do (cd $$m && golangci-lint run ./...) || exit 1; done

.PHONY: build
build: ## build bin/strata-controller, bin/strata-broker and bin/strata
	go build -o $(BIN)/strata-controller ./services/controller
	go build -o $(BIN)/strata-broker ./services/broker
	go build -o $(BIN)/strata ./cmd/strata

.PHONY: test
test: ## run every module's tests with the race detector
	go test $(TEST_FLAGS) $(GO_PACKAGES)

.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (default 15s)
	scripts/fuzz.sh $(FUZZTIME)

.PHONY: bench
bench: $(TOOLS)/benchstat build ## bench-go (3 runs each), then bench-cluster: BENCHMARKS.md gets both
	@set -e; load="$$(cut -d' ' -f1-3 /proc/loadavg)"; raw="$$(mktemp)"; medians="$$(mktemp)"; trap 'rm -f "$$raw" "$$medians"' EXIT; \
	BENCH='$(BENCH)' BENCH_COUNT="$${BENCH_COUNT:-3}" BENCH_OUT="$$raw" scripts/bench.sh $(BENCH_PKG); \
	{ grep -- '^--- FAIL: Benchmark' "$$raw" | sed 's/^--- FAIL: /failed (left out of the medians): /' || true; benchstat "median=$$raw"; } >"$$medians"; \
	BENCH_GO="$$medians" BENCH_LOAD_BEFORE="$$load" scripts/bench-cluster.sh

.PHONY: bench-go
bench-go: $(TOOLS)/benchstat ## run the Go benchmarks (medians of BENCH_COUNT runs via benchstat; BENCH, BENCH_PKG select)
	BENCH='$(BENCH)' scripts/bench.sh $(BENCH_PKG)

.PHONY: bench-cluster
bench-cluster: build ## run the strata bench scenarios on a fresh dev cluster; writes BENCHMARKS.md (BENCH_SCALE scales)
	scripts/bench-cluster.sh

.PHONY: run
run: build ## run a local development cluster
	$(BIN)/strata dev
