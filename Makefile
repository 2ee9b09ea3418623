# fusioncast — `make` prints this help.
GO          ?= go
BIN         := bin/fusioncast
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
HLSJS_VERSION ?= 1.7.4
# The tests we wrote for our changes to pion/dtls and pion/sctp.
PION_PATCH_TESTS := ^(TestDirectWrites|TestAppendToMatchesMarshal|TestRetransmitHint|TestTraceOnFollowsLogger)$$

.DEFAULT_GOAL := help

.PHONY: help
help: ## show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/fusioncast
	$(GO) build -o $(BIN) ./cmd/fusioncast

.PHONY: run
run: build ## run the demo on http://127.0.0.1:8080/ (origin, demo stream, player page)
	./$(BIN) demo

.PHONY: deps
deps: ## install what the test suites need (Debian, as root: chromium, ffmpeg, nftables, nginx, wrk, nodejs, npm)
	./scripts/setup-deps.sh

.PHONY: test
test: deps ## run every test with the race detector (browser and namespace suites need root)
	# One package at a time (-p 1): on two cores the browser, namespace and
	# WebRTC suites starve each other when they run side by side.
	$(GO) test -race -count=1 -p 1 -timeout 20m ./...
	# Our tests of our changes to pion (their whole suites: make test-third-party).
	cd internal/third_party/pion/sctp && $(GO) test -race -count=1 -run '$(PION_PATCH_TESTS)' .
	cd internal/third_party/pion/dtls && $(GO) test -race -count=1 -run '$(PION_PATCH_TESTS)' .

.PHONY: test-third-party
test-third-party: ## the test suites of our patched pion/dtls and pion/sctp (internal/third_party/pion, ~2 min)
	cd internal/third_party/pion/sctp && $(GO) test -count=1 ./...
	cd internal/third_party/pion/dtls && $(GO) test -count=1 ./...

.PHONY: lint
lint: ## gofmt, go vet, staticcheck, go mod tidy -diff
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) mod tidy -diff

.PHONY: bench
bench: build ## Go benchmarks, origin egress vs viewers, serving speed against nginx, tracker against bittorrent-tracker
	$(GO) test -run '^$$' -bench . -skip BrowserTabs -benchmem ./...
	./$(BIN) benchegress
	./$(BIN) benchserve
	./$(BIN) benchtracker

# BenchmarkBrowserTabs is minutes of Chromium per sub-benchmark: not part of
# make bench. -v streams each tab's line as it comes, and keeps the testing
# package from cutting a benchmark's log to its first 10 lines.
.PHONY: bench-browser
bench-browser: ## 4 and 6 Chromium tabs, plain HTTP against peer-to-peer: origin copies per segment, stalls, latency (root, ~7 min)
	$(GO) test -v -run '^$$' -bench BrowserTabs -benchtime 1x -timeout 30m ./internal/e2e/

.PHONY: fuzz
fuzz: ## fuzz the parsers (playlist, tracker messages, websocket frames, peer protocol) for a minute each
	$(GO) test -run '^$$' -fuzz FuzzParseMedia -fuzztime 60s ./internal/hls
	$(GO) test -run '^$$' -fuzz FuzzParseRequest -fuzztime 60s ./tracker/wire
	$(GO) test -run '^$$' -fuzz FuzzParseResponse -fuzztime 60s ./tracker/wire
	$(GO) test -run '^$$' -fuzz FuzzParseFrame -fuzztime 60s ./tracker
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s -fuzzminimizetime 2s ./peer/proto

.PHONY: demo-media
demo-media: ## regenerate the demo clip with ffmpeg (internal/demomedia/media)
	./scripts/make-demo-media.sh

.PHONY: vendor-hlsjs
vendor-hlsjs: ## refresh the vendored hls.js (HLSJS_VERSION=1.7.4) from npm
	VERSION=$(HLSJS_VERSION) ./scripts/vendor-hlsjs.sh

.PHONY: vendor-trackercompat
vendor-trackercompat: ## rebuild the vendored bittorrent-tracker client bundle for the compatibility tests (npm)
	./scripts/trackercompat/build.sh

.PHONY: clean
clean: ## remove build output
	rm -rf bin
