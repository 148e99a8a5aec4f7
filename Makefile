# earshot — `make run` runs the main job, `make test` runs every check.
# whisper.cpp is built once into ${XDG_CACHE_HOME:-~/.cache}/earshot/whisper/<key>/
# by scripts/whisper-lib.sh; every Go command below gets its cgo flags from it.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
BIN := bin/earshot
# CUDA=1 builds whisper.cpp with ggml-cuda (needs nvcc); the cache key changes with it.
export EARSHOT_CUDA := $(if $(filter 1,$(CUDA)),1,0)

CGO_ENV = eval "$$(scripts/whisper-lib.sh --env)"
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all build lib deps test-deps run install install-bin test check unit fuzz examples bench loadtest loadtest-smoke eval train clean help
all: build

help:
	@echo "make run    build earshot and start the HTTP API on 127.0.0.1:8080 (pulls the default model; EARSHOT_MODEL, EARSHOT_API_KEY)"
	@echo "make test   gofmt, go vet, staticcheck, go mod tidy check, race tests, fuzzing, examples"
	@echo "make bench  benchmark table against whisper-cli on a synthetic tiny model"
	@echo "make loadtest  64 clients for 2 minutes against earshot serve (LOADTEST_DURATION=30s shortens it)"
	@echo "make eval   agent mode on Disfl-QA and SNIPS, and its speed, next to baselines"
	@echo "make train  retrain agent mode's self-repair model (agentmode/repair/weights.txt.gz)"
	@echo "make install  put earshot in PREFIX/bin (PREFIX: /usr/local as root, else ~/.local)"
	@echo "make build  build $(BIN)    make lib  build whisper.cpp only"
	@echo "CUDA=1      build whisper.cpp with CUDA"

lib:
	@scripts/whisper-lib.sh >/dev/null

# System tools: installed when running as root with apt, else the command is named.
deps:
	@scripts/system-deps.sh run
test-deps:
	@scripts/system-deps.sh test

# The binary, then the Silero VAD model it finds offline: scripts/silero-vad.sh
# fetches the pinned ONNX weights once (npm, integrity checked, cached) and
# `earshot models vad --onnx` converts them into $EARSHOT_HOME/models. Without
# them earshot still runs, on its energy VAD, and says so.
build: lib
	@$(CGO_ENV); $(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/earshot
	@if onnx="$$(scripts/silero-vad.sh)"; then $(BIN) models vad --onnx "$$onnx" >/dev/null; \
		else echo "earshot: no Silero VAD weights; earshot will use its energy VAD" >&2; fi

# `make run` starts the HTTP API with EARSHOT_MODEL (a file or a model name),
# else the default model, downloaded on first use. The API key is
# EARSHOT_API_KEY, or a key made for this run. `earshot serve` itself prints
# how to try it (the address, the key to export, a curl line) once it is
# ready, and what to do when the model cannot be had.
ADDR ?= 127.0.0.1:8080
run: build deps
	@keyflag=""; [ -n "$${EARSHOT_API_KEY:-}" ] || keyflag="--session-key"; \
	exec $(BIN) serve --addr $(ADDR) $$keyflag

# `make install` copies earshot to $(PREFIX)/bin: /usr/local when run as
# root, else ~/.local (no sudo, ever: a directory it cannot write is an
# error that says what to do). DESTDIR is prepended for packaging.
PREFIX ?= $(if $(filter 0,$(shell id -u)),/usr/local,$(HOME)/.local)
install: build
	@$(MAKE) --no-print-directory install-bin
# install-bin installs $(BIN) as it is (the tests run it on their own binary).
install-bin:
	@dir="$(DESTDIR)$(PREFIX)/bin"; \
	if ! mkdir -p "$$dir" 2>/dev/null || [ ! -w "$$dir" ]; then \
		echo "earshot: cannot write to $$dir; pick a directory you can write, such as 'make install PREFIX=$$HOME/.local' (earshot never calls sudo)" >&2; exit 1; fi; \
	install -m 0755 $(BIN) "$$dir/earshot.new" && mv -f "$$dir/earshot.new" "$$dir/earshot"; \
	echo "earshot: installed $$dir/earshot"; \
	case ":$$PATH:" in *":$(PREFIX)/bin:"*|*":$(PREFIX)/bin/:"*) ;; \
	*) echo "earshot: $(PREFIX)/bin is not on your PATH; add it (then open a new shell): echo 'export PATH=\"$(PREFIX)/bin:\$$PATH\"' >> ~/.profile";; esac

test: test-deps check unit fuzz examples loadtest-smoke

check: lib
	@echo "== gofmt"; out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@echo "== go mod tidy"; cp go.mod /tmp/earshot-go.mod.$$$$; cp go.sum /tmp/earshot-go.sum.$$$$; \
		$(GO) mod tidy; if ! diff -q go.mod /tmp/earshot-go.mod.$$$$ >/dev/null || ! diff -q go.sum /tmp/earshot-go.sum.$$$$ >/dev/null; then \
		echo "go.mod/go.sum were not tidy (fixed now; commit them)"; rm -f /tmp/earshot-go.*.$$$$; exit 1; fi; rm -f /tmp/earshot-go.*.$$$$
	@echo "== go vet"; $(CGO_ENV); $(GO) vet ./...
	@echo "== staticcheck"; $(CGO_ENV); $(GO) run $(STATICCHECK) ./...
	@echo "== pure-Go build (CGO_ENABLED=0)"; CGO_ENABLED=0 $(GO) build ./... && CGO_ENABLED=0 $(GO) vet ./transcribe ./transcribe/audio ./transcribe/whisper/ggml

# The store's PostgreSQL tests run against EARSHOT_TEST_POSTGRES (a
# postgres:// URL; .ci/run starts a server and sets it); without it they skip,
# or fail under CI=true.
unit: lib
	@if [ -z "$${EARSHOT_TEST_POSTGRES:-}" ]; then echo "== note: EARSHOT_TEST_POSTGRES is not set: the store's PostgreSQL tests skip"; \
		else echo "== store tests also on PostgreSQL (…@$${EARSHOT_TEST_POSTGRES#*@})"; fi
	@echo "== go test -race"; $(CGO_ENV); $(GO) test -race -count=1 -timeout 30m ./...
	@echo "== agent mode property sweeps (every budget 50..400, 1500 random transcripts; 20,000 read twice)"; \
		$(GO) test -count=1 -run 'TestProperties|TestBudgets|TestIdempotentSweep' ./agentmode

# Each fuzz target runs briefly; `go test -fuzz=X -fuzztime=10m` runs one longer.
# The budget is a count of inputs, not a duration: a time budget that ends
# while a worker is still busy fails the run ("context deadline exceeded"),
# which made CI flaky. Minimizing a new input is capped at 1 s as well.
FUZZTIME ?= 20000x
fuzz: lib
	@$(CGO_ENV); for t in $$(grep -rho --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . | sed 's/func //' | sort -u); do \
		pkg=$$(grep -rl --include='*_test.go' "^func $$t(" . | head -1 | xargs dirname); \
		echo "== fuzz $$t ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1s "$$pkg"; \
	done

# The Python (httpx), Node (openai SDK) and curl examples against a real server.
examples: build
	@echo "== examples"; examples/run.sh $(BIN)

bench: build
	@$(CGO_ENV); $(GO) run ./cmd/earshot-bench -whisper "$$(scripts/whisper-lib.sh)" -earshot $(BIN) -vad "$$($(BIN) models vad 2>/dev/null || true)" $(BENCHFLAGS)

# 64 concurrent clients for LOADTEST_DURATION against `earshot serve` on
# loopback (a synthetic model, a SQLite key store of its own): fails on any
# 5xx, any refusal that is not a 429 with Retry-After, or usage that does not
# count exactly the accepted requests; prints p50/p99 and the server's RSS
# and goroutines at the start, middle and end. `make test` runs it for
# 10 s with 16 clients (loadtest-smoke, about 20 s): the same failures fail
# the build.
LOADTEST_DURATION ?= 2m
loadtest: build
	@$(CGO_ENV); $(GO) run ./cmd/earshot-loadtest -earshot $(BIN) -duration $(LOADTEST_DURATION)

loadtest-smoke: build
	@echo "== loadtest (smoke: 10 s, 16 clients)"; $(CGO_ENV); $(GO) run ./cmd/earshot-loadtest -earshot $(BIN) -duration 10s -clients 16

# Agent mode's evaluation: Disfl-QA dev, SNIPS commands joined into
# multi-intent utterances, and speed on one core (pure Go, no whisper.cpp).
eval:
	@$(GO) run ./cmd/earshot-eval

# Retrain agent mode's repair and boundary models (Disfl-QA, SNIPS train); deterministic.
train:
	@$(GO) run ./cmd/earshot-train

clean:
	rm -rf bin
