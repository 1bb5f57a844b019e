# backfill: build, try, test and measure.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/backfill
DEMO  := .demo
# staticcheck, pinned: make vet fetches it through the Go module proxy.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Azurite, Azure's blob emulator, for the tests of azblob:// sources: pinned
# (later versions need a newer Node.js), installed by make test from npm.
AZURITE := .cache/azurite/node_modules/.bin/azurite-blob

.PHONY: build demo test crash vet fmt bench clean

build:
	$(GO) build -o $(BIN) ./cmd/backfill

# VERSION is stamped into release binaries and images for a build whose own
# information has none (outside a checkout, as in a container build); a
# build that records a version (go install …@v1.2.3, a checkout) keeps it.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
# STATIC_BUILD builds a static binary (no cgo: it runs on any Linux, a
# distroless or scratch image included), without the builder's paths; the
# image's build in deploy/Dockerfile uses the same flags.
STATIC_BUILD = CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w -X github.com/backfillhq/backfill/internal/version.stamp=$(VERSION)'
# RELEASE_TARGETS are the platforms of make release, as GOOS/GOARCH.
RELEASE_TARGETS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
RELEASE := bin/release
# DOCKER builds the image (podman works too: make image DOCKER=podman).
DOCKER ?= docker
IMAGE  ?= backfill:$(or $(VERSION),dev)

.PHONY: static release release-targets release-check image

## static: the static binary of one platform (GOOS, GOARCH; default this
## machine's) to OUT (default bin/backfill), as releases and the image build it.
OUT ?= $(BIN)
static:
	$(STATIC_BUILD) -o $(OUT) ./cmd/backfill

## release: static binaries for each of RELEASE_TARGETS in bin/release/
## (backfill-GOOS-GOARCH, .exe on windows) and their SHA256SUMS.
release:
	@rm -rf $(RELEASE) && mkdir -p $(RELEASE)
	@set -e; for t in $(RELEASE_TARGETS); do \
		os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		echo "$(RELEASE)/backfill-$$os-$$arch$$ext"; \
		GOOS=$$os GOARCH=$$arch $(MAKE) -s static OUT=$(RELEASE)/backfill-$$os-$$arch$$ext; \
	done
	@cd $(RELEASE) && if command -v sha256sum >/dev/null; then sha256sum backfill-*; else shasum -a 256 backfill-*; fi >SHA256SUMS
	@echo "$(RELEASE)/SHA256SUMS"

release-targets:
	@echo $(RELEASE_TARGETS)

## release-check: build each release target for real and check what it is
## (make test type-checks each target instead: a cold build of six takes minutes).
release-check:
	BACKFILL_RELEASE_BUILDS=1 $(GO) test -count=1 -run 'TestReleaseCrossCompiles' ./deploy/

## image: the container image (deploy/Dockerfile, built from the repository's
## root), tagged IMAGE; it needs docker (or DOCKER=podman) and its daemon.
image:
	@command -v $(DOCKER) >/dev/null 2>&1 || { echo "make image: $(DOCKER) is not installed: the image needs a container runtime (DOCKER=podman for podman); make release builds the binaries without one" >&2; exit 1; }
	@$(DOCKER) info >/dev/null 2>&1 || { echo "make image: $(DOCKER) cannot reach its daemon (is it running?); make release builds the binaries without one" >&2; exit 1; }
	$(DOCKER) build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) -t $(IMAGE) .

## demo: import the bundled samples into a local receiver, with progress and report.
demo: build
	@rm -rf $(DEMO) && mkdir -p $(DEMO)
	@export SEGMENT_WRITE_KEY=demo-write-key; \
	$(BIN) serve --addr 127.0.0.1:0 --out $(DEMO)/received.ndjson --url-file $(DEMO)/url >$(DEMO)/serve.log 2>&1 & \
	pid=$$!; trap 'kill $$pid 2>/dev/null; wait $$pid 2>/dev/null' EXIT; \
	for i in $$(seq 100); do [ -s $(DEMO)/url ] && break; sleep 0.1; done; \
	[ -s $(DEMO)/url ] || { echo "demo: the receiver did not start:"; cat $(DEMO)/serve.log; exit 1; }; \
	url=$$(cat $(DEMO)/url); echo "== receiver listening on $$url"; \
	echo "== 1/2: CSV with a mapping (testdata/demo/events.csv, events.yaml)"; \
	$(BIN) import --progress always --endpoint $$url --mapping testdata/demo/events.yaml \
		--checkpoint $(DEMO)/checkpoint-csv.json --rejects $(DEMO)/rejects-csv.ndjson --report $(DEMO)/report-csv.json testdata/demo/events.csv; \
	rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 2 ] || exit $$rc; \
	echo "== 2/2: Segment messages, gzip NDJSON (testdata/demo/segment-archive.ndjson.gz)"; \
	$(BIN) import --progress always --endpoint $$url \
		--checkpoint $(DEMO)/checkpoint-ndjson.json --rejects $(DEMO)/rejects-ndjson.ndjson --report $(DEMO)/report-ndjson.json testdata/demo/segment-archive.ndjson.gz; \
	rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 2 ] || exit $$rc; \
	kill -INT $$pid; wait $$pid; cat $(DEMO)/serve.log | tail -1; \
	echo "== the receiver wrote $$(wc -l <$(DEMO)/received.ndjson) messages to $(DEMO)/received.ndjson"; \
	echo "== rejected rows, with file, line and reason, are in $(DEMO)/rejects-csv.ndjson and $(DEMO)/rejects-ndjson.ndjson:"; \
	$(BIN) rejects $(DEMO)/rejects-csv.ndjson | cut -c1-160; \
	$(BIN) rejects $(DEMO)/rejects-ndjson.ndjson | cut -c1-160

# The deploy checks run last: their static build then reuses the packages
# that cmd/backfill's tests compiled with the same flags.
test: vet $(AZURITE)
	BACKFILL_AZURITE_BLOB=$(CURDIR)/$(AZURITE) $(GO) test -race -count=1 $$($(GO) list ./... | grep -v '/deploy$$')
	$(GO) test -race -count=1 ./deploy/

$(AZURITE):
	npm install --no-save --no-audit --no-fund --prefix .cache/azurite azurite@3.35.0

## crash: kill and interrupt an import of 200,000 rows at random moments, then
## resume it and check every row (timing-based, so kept out of make test, which
## stops an import at each crash point deterministically).
crash:
	BACKFILL_RANDOM_KILLS=1 $(GO) test -count=1 -v -run 'TestRandomKills' ./cmd/backfill/

vet:
	$(GO) vet ./...
	$(GO) vet -tags crashpoints ./cmd/backfill/ ./importer/
	$(GO) run $(STATICCHECK) ./...
	$(GO) run $(STATICCHECK) -tags crashpoints ./cmd/backfill/ ./importer/
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

fmt:
	gofmt -w $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')

## bench: Go benchmarks of the stages, then the built binary's throughput, floors and
## memory against the targets (BENCHFLAGS: e.g. -memory, -rows N, -dir .bench to keep
## the inputs, -profile DIR, -baseline OLD_BIN to compare with an older binary;
## see go run ./cmd/backfill-bench -h).
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./cmd/backfill-bench -bin $(BIN) $(BENCHFLAGS)

clean:
	rm -rf bin $(DEMO)
