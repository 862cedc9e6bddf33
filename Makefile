# das — make targets. `make demo` and `make test` are the two a new user needs.
GO       ?= go
BIN      := bin/das
OUT      := out
PKGS     := ./...
# Engine packages, and the other packages that run goroutines, run with the race detector.
RACE_PKGS := ./stream/... ./operators/... ./state/... ./windows/... ./jobs/... ./internal/sketch/... ./models/... ./internal/agent/... ./sharding/...

.PHONY: all build demo test test-race lint bench fuzz clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/das

# Runs the sqlagg job end to end on embedded defaults: an in-process Kafka
# (kfake), a generated workload with late events and an incident, Parquet out.
demo: build
	./$(BIN) demo --out $(OUT)/demo

# The whole suite, with -race on the engine packages. CI runs exactly this.
test:
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 20m $(PKGS)
	$(GO) test -count=1 -race -timeout 20m $(RACE_PKGS)

lint:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt needed" && exit 1)
	$(GO) vet $(PKGS)
	$(GO) mod tidy -diff

# Benchmarks recorded in docs/performance.md, measured side by side in one
# run on the same generated files, each process pinned to one core
# (scripts/bench.sh; its header lists the knobs, e.g. BENCH_BIG=0 skips the
# 20 M-key RSS run, BENCH_MICRO=1 adds the packages' micro-benchmarks).
# Not part of CI: it takes about ten minutes and writes ~15 GB under $(OUT).
bench:
	GO=$(GO) OUT=$(OUT) ./scripts/bench.sh

# Every fuzz target (decoders, fingerprinter, codecs), FUZZTIME each.
fuzz:
	./scripts/fuzz.sh

clean:
	rm -rf bin $(OUT)
