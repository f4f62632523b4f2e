# Strata. `make run` starts a server on 127.0.0.1:8080 with data in
# ./strata_data; `make test` runs every test.

GO       ?= go
BIN      := bin/strata
FUZZTIME ?= 10s

.PHONY: all build run test test-race fuzz bench lint fmt vet clean hooks toolchains openapi-tools eventsource-client standardwebhooks ui-browser chromium postgres

all: build

build:
	$(GO) build -o $(BIN) ./cmd/strata

# A development server. Unless STRATA_ADMIN_KEY is set it gets a fixed,
# well-known administrator key: fine on a laptop, never in production.
DEV_ADMIN_KEY ?= dev-admin-key-change-me
run:
	STRATA_ADMIN_KEY="$${STRATA_ADMIN_KEY:-$(DEV_ADMIN_KEY)}" $(GO) run ./cmd/strata serve

# Every test under the race detector, then each fuzz target briefly. The
# tests run the example hooks, so they are built first, and the
# third-party OpenAPI tools, so they are installed first.
test: vet hooks openapi-tools eventsource-client standardwebhooks ui-browser postgres test-race fuzz

# The example hook in every language: examples/wasm-hooks/build/*.wasm.
# The toolchains (Debian packages and AssemblyScript from npm) are
# installed first where missing; the script is quick when they are there.
hooks: toolchains
	$(MAKE) -C examples/wasm-hooks

toolchains:
	bash examples/wasm-hooks/install-toolchains.sh

# The tools server/openapi's TestThirdPartyTools runs on the served
# document (Redocly's linter, an OpenAPI validator, openapi-typescript and
# tsc), pinned by their lockfile. npm ci runs when they are missing or the
# lockfile changed; it needs node and npm (toolchains installs them).
OPENAPI_TOOLS := server/openapi/testdata/toolcheck
openapi-tools: $(OPENAPI_TOOLS)/node_modules/.installed

$(OPENAPI_TOOLS)/node_modules/.installed: $(OPENAPI_TOOLS)/package.json $(OPENAPI_TOOLS)/package-lock.json
	cd $(OPENAPI_TOOLS) && npm ci --no-audit --no-fund
	touch $@

# The EventSource client (npm `eventsource`) that server's
# TestEventSourceClient drives against /api/events.
EVENTSOURCE_CLIENT := server/testdata/eventsource
eventsource-client: $(EVENTSOURCE_CLIENT)/node_modules/.installed

$(EVENTSOURCE_CLIENT)/node_modules/.installed: $(EVENTSOURCE_CLIENT)/package.json $(EVENTSOURCE_CLIENT)/package-lock.json
	cd $(EVENTSOURCE_CLIENT) && npm ci --no-audit --no-fund
	touch $@

# The reference Standard Webhooks verifier (npm `standardwebhooks`) that
# server's TestWebhookSignatureStandardWebhooks runs on real deliveries.
STANDARDWEBHOOKS := server/testdata/standardwebhooks
standardwebhooks: $(STANDARDWEBHOOKS)/node_modules/.installed

$(STANDARDWEBHOOKS)/node_modules/.installed: $(STANDARDWEBHOOKS)/package.json $(STANDARDWEBHOOKS)/package-lock.json
	cd $(STANDARDWEBHOOKS) && npm ci --no-audit --no-fund
	touch $@

# The admin UI's browser test (server's TestAdminUIBrowser): Debian's
# Chromium, installed where missing, driven by playwright-core from npm,
# pinned by its lockfile. Playwright's own browser download is never used.
UI_BROWSER_TEST := server/testdata/ui
ui-browser: chromium $(UI_BROWSER_TEST)/node_modules/.installed

chromium:
	@test -x /usr/bin/chromium || { sudo=$$(test "$$(id -u)" = 0 || echo sudo); \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium; }

$(UI_BROWSER_TEST)/node_modules/.installed: $(UI_BROWSER_TEST)/package.json $(UI_BROWSER_TEST)/package-lock.json
	cd $(UI_BROWSER_TEST) && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	touch $@

# The PostgreSQL server of the storage backend's tests (127.0.0.1:5432,
# user postgres, trust), installed and started where missing. Each test
# creates and drops a database of its own.
postgres:
	bash .ci/postgres.sh

test-race:
	$(GO) test -race -count=1 -timeout 20m ./...

# Fuzz targets: package and name. Each runs for FUZZTIME.
FUZZ_TARGETS := \
	./core:FuzzPatch \
	./core:FuzzCreate \
	./core:FuzzRecordCodec \
	./server:FuzzRequests \
	./server:FuzzFramingConn \
	./server/openapi:FuzzOrderedRoundTrip \
	./hooks:FuzzAppendString \
	./hooks:FuzzDecodeOutput \
	./hooks/internal/wasmbin:FuzzInstrument \
	./sdk/hookguest:FuzzDecode \
	./examples/wasm-hooks:FuzzTitle \
	./index/filter:FuzzParse \
	./index:FuzzLongLike \
	./core:FuzzExpand \
	./core:FuzzDecodeState \
	./core:FuzzDecodePastCursor \
	./core:FuzzRecordScan \
	./server:FuzzParseFacets \
	./internal/jsonnum:FuzzCanonical

# The whole HTTP surface (methods, paths, headers, credentials, bodies) is
# fuzzed longer: it is where hostile input arrives.
SURFACE_FUZZTIME ?= 2m

#
# Go 1.26's fuzz coordinator can fail a target with a bare "context
# deadline exceeded" when -fuzztime ends while a worker is mid-call
# (go.dev/issue/75804, fixed in Go 1.27): no input failed and none is
# written. That one outcome is reported and passed over; any other
# failure, or a failing input written to testdata/fuzz, fails the run.
fuzz:
	@set -e; out=$$(mktemp); trap 'rm -f "$$out"' EXIT; \
	for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; time=$(FUZZTIME); \
		if [ "$$name" = FuzzRequests ]; then time=$(SURFACE_FUZZTIME); fi; \
		echo "fuzz $$pkg $$name for $$time"; \
		if $(GO) test $$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $$time -fuzzminimizetime 1s >"$$out" 2>&1; then \
			cat "$$out"; continue; \
		fi; \
		cat "$$out"; \
		if grep -q 'Failing input written' "$$out" || ! grep -qx '    context deadline exceeded' "$$out" || \
			[ "$$(grep -c -e '^--- FAIL' -e '^panic:' "$$out")" != 1 ]; then exit 1; fi; \
		echo "fuzz $$name: stopped by Go's fuzz coordinator deadline race (go.dev/issue/75804); no input failed"; \
	done

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

BENCHFLAGS ?=
bench: build hooks
	$(GO) run ./cmd/strata-bench -strata $(BIN) $(BENCHFLAGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
