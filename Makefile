# blockhost — see README.md. `make run` serves the example blocks with every
# CP2 feature on; `make test` is what CI runs.

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
PLUGINS := build/plugins

.PHONY: all build examples run test test-race test-e2e bench vet fmt fixtures clean

all: build

# bin/blockhost, the binary.
build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/blockhost ./cmd/host

# The example blocks: build/plugins/NAME.wasm and NAME.yaml.
examples:
	GO=$(GO) scripts/build-blocks.sh $(PLUGINS)

# Serve the example blocks on 127.0.0.1:8080 with examples/host.yaml.
run: build examples
	bin/blockhost serve --config examples/host.yaml

# Unit and concurrency tests under -race, then the end-to-end tests (which
# start binaries and compile many blocks) without it.
test: vet
	$(GO) test -race -count=1 -timeout 8m ./...
	$(GO) test -count=1 -timeout 8m -tags e2e ./tests/...

test-race:
	$(GO) test -race -count=1 -timeout 8m ./...

test-e2e:
	$(GO) test -count=1 -timeout 8m -tags e2e ./tests/...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./host/...

vet:
	$(GO) vet ./...

fmt:
	gofmt -s -w $$(find . -name '*.go' -not -path './build/*' -not -path './.git/*')

# Compile the .wat fixtures of tests/fixtures with wabt's wat2wasm.
fixtures:
	scripts/install-wabt.sh && for f in tests/fixtures/*.wat; do wat2wasm "$$f" -o "$${f%.wat}.wasm"; done

clean:
	rm -rf bin build
