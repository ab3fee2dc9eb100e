# drover: build, test, demo, bench. Needs Go and a Docker engine; nothing is
# pulled from a registry.
export PATH := $(PATH):/usr/local/go/bin
# Static: the front proxy runs drover's own binary in an empty image.
export CGO_ENABLED := 0
GO ?= go
BIN := bin/drover

.PHONY: build install release docs images test unit e2e fuzz faults demo bench lint clean

# The version (the v-tag at HEAD, else the version drover labels
# containers with), the commit (-dirty with uncommitted changes) and the
# commit's date, stamped in; drover version prints them.
VERSION ?= $(or $(shell git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null | sed 's/^v//'),$(shell sed -n 's/^const Version = "\(.*\)"/\1/p' reconcile/containerspec.go))
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
DATE ?= $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null)
STAMP := -X github.com/drover/drover/buildinfo.version=$(VERSION) -X github.com/drover/drover/buildinfo.commit=$(COMMIT) -X github.com/drover/drover/buildinfo.date=$(DATE)

build:
	$(GO) build -ldflags '$(STAMP)' -o $(BIN) ./cmd/drover

# Static binaries for each platform in dist/, named drover-OS-ARCH (the
# front proxy of an engine of another platform runs the one for it, found
# beside drover), and their SHA-256 sums.
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
release:
	rm -rf dist && mkdir -p dist
	for p in $(PLATFORMS); do \
		GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -ldflags '-s -w $(STAMP)' -o dist/drover-$${p%/*}-$${p#*/} ./cmd/drover || exit 1; \
	done
	cd dist && sha256sum drover-* > SHA256SUMS

# drover in $(PREFIX)/bin, and the same binary as the Docker CLI plugin
# (docker drover ...): a link named docker-drover in the CLI's plugin
# directory, $(DOCKER_CONFIG)/cli-plugins (PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
# for every user). DESTDIR stages a package.
PREFIX ?= /usr/local
DOCKER_CONFIG ?= $(HOME)/.docker
PLUGIN_DIR ?= $(DOCKER_CONFIG)/cli-plugins
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PLUGIN_DIR)
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/drover
	ln -sf $(PREFIX)/bin/drover $(DESTDIR)$(PLUGIN_DIR)/docker-drover

# The command reference (docs/reference), the man pages (docs/man) and the
# README's list of commands, generated from the command definitions by
# cobra's doc generator; a unit test fails when they are out of date.
docs:
	$(GO) test ./cmd/drover -run '^TestDocsInSync$$' -count=1 -update-docs

# drover-hello:v1, :v2 and :broken, FROM scratch, built locally.
images:
	examples/hello/build-images.sh drover-hello

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

# The whole suite: unit tests of the loader and planner, then the end-to-end
# tests in tests/ against the real engine (they build their own images).
# The long end-to-end tests run beside each other, 3 at a time, once the
# others have run one at a time: with every test in parallel (4 at a time)
# the suite took 430-470 s instead of about 700 s here, but in 1 of 6 full
# runs the engine (Docker 20.10) deadlocked in libnetwork, container
# creates and network lists hanging for good, and a swarm init or leave
# beside them left container names unresolvable in its DNS. The timeout
# guards against a hang, not a speed.
test: lint
	$(GO) test -count=1 -timeout 30m -parallel 3 ./...

unit:
	$(GO) test -count=1 ./compose/... ./reconcile/... ./history/...

e2e:
	$(GO) test -count=1 -timeout 30m -parallel 3 -v ./tests/...

# A short run of each fuzz target (FUZZTIME=5m for a longer one).
FUZZTIME ?= 20s
fuzz:
	$(GO) test ./compose -run '^$$' -fuzz FuzzParseRancher -fuzztime $(FUZZTIME)
	$(GO) test ./compose -run '^$$' -fuzz FuzzConvertV1 -fuzztime $(FUZZTIME)
	$(GO) test ./compose -run '^$$' -fuzz FuzzComposeErrors -fuzztime $(FUZZTIME)
	$(GO) test ./compose -run '^$$' -fuzz FuzzCatalogLoad -fuzztime $(FUZZTIME)
	$(GO) test ./reconcile -run '^$$' -fuzz FuzzLabels -fuzztime $(FUZZTIME)
	$(GO) test ./history -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME)
	$(GO) test ./proxy -run '^$$' -fuzz FuzzParseRequest -fuzztime $(FUZZTIME)
	$(GO) test ./proxy -run '^$$' -fuzz FuzzCopyChunked -fuzztime $(FUZZTIME)

# The full fault tables of tests/faults_test.go (the normal suite runs a
# fast subset): every step x signal x mode x image, and every engine request
# x fault, each repaired both ways with nothing lost. Prints the tables.
faults:
	DROVER_FAULTS=full $(GO) test -count=1 -timeout 180m -v -run '^(TestCrashAtEveryStep|TestEngineFaultAtEveryRequest)$$' ./tests/

demo: build images
	$(GO) build -o bin/loadgen ./examples/loadgen
	examples/static-site/demo.sh $(BIN) bin/loadgen

bench: build images
	$(GO) test -run '^$$' -bench . -benchmem ./reconcile/ ./compose/ ./proxy/
	bench/compare.sh $(BIN)
	bench/scale.sh $(BIN)
	bench/proxy.sh $(BIN)
	bench/pull.sh $(BIN)
	bench/swarm.sh $(BIN)

clean:
	rm -rf bin dist
