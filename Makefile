# accountd — run `make help` for the targets.

GO       ?= go
BIN      ?= bin
ARGS     ?=
FUZZTIME ?= 30s

.DEFAULT_GOAL := help

.PHONY: help build run client test race bench fuzz lint verify clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build accountd and account into ./bin
	$(GO) build -trimpath -o $(BIN)/ ./cmd/...

run: build ## build and start the server (the first run sets it up); ARGS="..." adds flags
	$(BIN)/accountd $(ARGS)

client: build ## build and run the terminal client; ARGS="..." gives the command
	$(BIN)/account $(ARGS)

test: ## the whole suite (MariaDB tests skip when it is unreachable, unless CI is set)
	$(GO) vet ./...
	$(GO) test -count=1 ./...

race: ## the whole suite with the race detector
	$(GO) test -race -count=1 ./...

bench: ## Go benchmarks of the hot paths
	$(GO) test -run '^$$' -bench . -benchmem ./...

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

lint: ## go vet, staticcheck and govulncheck at pinned versions
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@2025.1.1 ./...
	$(GO) run golang.org/x/vuln/cmd/govulncheck@v1.1.4 ./...

verify: ## gofmt and go mod tidy leave no diff
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt needed"; exit 1; }
	$(GO) mod tidy
	git diff --exit-code go.mod go.sum

clean: ## remove ./bin
	rm -rf $(BIN)
