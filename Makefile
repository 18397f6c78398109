# mlflow-descope-auth — build, run and test.
#   make build   bin/mlflow-descope-auth and bin/descope-sim
#   make run     the gateway + MLflow on 127.0.0.1:5000 (needs DESCOPE_PROJECT_ID)
#   make demo    the same, fully offline, against descope-sim
#   make test    every test (Go, Python plugin, contract, end to end, a short soak)
#   make soak    200 clients for 60 s while things fail; writes docs/reliability.md

GO      ?= go
PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/mlflow-descope-auth/mlflow-descope-auth/internal/cli.version=$(VERSION)
STATICCHECK_VERSION := v0.8.2
HELM_VERSION := v3.22.0
IMAGE ?= localhost/mlflow-descope-auth:$(VERSION)

.PHONY: build run demo test test-go test-python lint fuzz bench soak venv clean image helm

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/mlflow-descope-auth ./cmd/descope-sim

# The virtual environment holds the pinned MLflow (python/requirements.txt is
# the one place its version is stated) and our plugin.
venv: $(VENV)/.installed
$(VENV)/.installed: python/requirements.txt python/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r python/requirements.txt
	$(PY) -m pip install -q -e ./python
	touch $@

run: build venv
	bin/mlflow-descope-auth serve

demo: build venv
	scripts/demo.sh

test: build venv
	scripts/test.sh

test-go:
	$(GO) test -race -count=1 ./...

test-python: venv
	$(PY) -m pytest -q python/tests

lint:
	test -z "$$(gofmt -l cmd internal)" || (gofmt -l cmd internal; exit 1)
	$(GO) vet ./...
	$(GO) mod tidy -diff
	GOBIN=$(CURDIR)/bin/tools $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	bin/tools/staticcheck ./...

# Bounded fuzzing of every parser of untrusted input: FUZZTIME is a
# duration (20s) or a count of executions (50000x).
FUZZTIME ?= 20s
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

# The gateway image (deploy/gateway.Containerfile): bin/ and the host's CA
# bundle on an empty base, so nothing is pulled from a registry.
image: build
	@command -v buildah >/dev/null 2>&1 || { echo "make image needs buildah (apt-get install buildah); or run: docker build -f deploy/gateway.Containerfile ." >&2; exit 1; }
	cp /etc/ssl/certs/ca-certificates.crt bin/ca-certificates.crt
	buildah bud --quiet --layers=false -f deploy/gateway.Containerfile -t $(IMAGE) . >/dev/null
	@echo "built $(IMAGE)"

# helm for the chart tests (tests/deploy), built from its Go module: no helm
# package is on the registries this project uses.
helm: bin/tools/.helm-$(HELM_VERSION)
bin/tools/.helm-$(HELM_VERSION):
	GOBIN=$(CURDIR)/bin/tools $(GO) install -trimpath helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	touch $@

# make bench PEERS=1 also installs and runs mlflow-oidc-auth and oauth2-proxy.
PEERS ?=
bench: build venv
	PEERS=$(PEERS) scripts/bench.sh

# Not part of make test (which runs scripts/soak.sh's short version).
soak: build venv
	scripts/soak.sh $(SOAK_FLAGS)

clean:
	rm -rf bin .mlflow-descope-auth test-artifacts
