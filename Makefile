# chassisd — every target bootstraps what it needs; nothing is installed by hand.
#   make demo        simulated chassis + one standalone sync + power control
#   make test        lint, types, layers, the whole test suite (real peers included)
#   make testenv     build or find kube-apiserver + etcd; last line KUBEBUILDER_ASSETS=<dir>
#   make dev-cluster a local control plane in the foreground (kubeconfig in .cache/dev-cluster)
#   make helm        build or find helm (tools/helm/go.mod); last line is its path
#   make toxiproxy   build or find toxiproxy-server (tools/toxiproxy/go.mod); last line is its path
#   make manifests   copy crds/ into the chart and regenerate deploy/manifests
#   make bench       the fleet benchmark (200 simulated chassis; BENCH_ARGS="--chassis 1000")
#   make image       the container image with buildah (localhost/chassisd:<version>, SBOM in
#                    build/image/); bootstraps a Debian base when python:3.11-slim cannot be pulled
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all demo test lint typecheck unit testenv dev-cluster deps-debian clean helm toxiproxy manifests bench image

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# Debian packages the tests use: OpenSSH's client (an independent SSH client for the simulator),
# OpenIPMI's ipmi_sim (a real BMC) and ipmitool (an independent IPMI client); for the image:
# buildah (builds and runs it without a daemon), mmdebstrap (bootstraps its Debian base) and
# util-linux (unshare, mount: the image test's read-only root filesystem); for the DHCP end to
# end test (tests/dhcp, root): dnsmasq-base (the real dnsmasq), busybox (its udhcpc client) and
# iproute2 (ip netns, the veth pair).
DEBIAN_PACKAGES := openssh-client openipmi ipmitool buildah mmdebstrap util-linux \
  dnsmasq-base busybox iproute2
deps-debian:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

testenv:
	@bash tools/testenv/testenv.sh

helm:
	@bash tools/helm/helm.sh

toxiproxy:
	@bash tools/toxiproxy/toxiproxy.sh

# The image, then its name and storage; `make image` again reuses the cached base and layers.
image: deps-debian
	@bash tools/image/build.sh

manifests:
	cp crds/*.yaml deploy/helm/chassisd/crds/
	bash deploy/manifests/generate.sh

# The Go-built peers and the image are built before pytest so its per-test time limit does not
# cover them (tests marked `image` run that image).
test: $(STAMP) deps-debian lint typecheck
	@set -o pipefail; assets=$$(bash tools/testenv/testenv.sh | tail -n 1) && export "$$assets" && \
	  helm=$$(bash tools/helm/helm.sh | tail -n 1) && export HELM="$$helm" && \
	  kb=$$(bash tools/helm/helm.sh kustomize | tail -n 1) && export KUSTOMIZE_BUILD="$$kb" && \
	  tp=$$(bash tools/toxiproxy/toxiproxy.sh | tail -n 1) && export TOXIPROXY_SERVER="$$tp" && \
	  image=$$(bash tools/image/build.sh | tail -n 2) && export $$image && \
	  $(BIN)/python -m pytest -q

bench: $(STAMP)
	@set -o pipefail; assets=$$(bash tools/testenv/testenv.sh | tail -n 1) && export "$$assets" && \
	  $(BIN)/python -m bench $(BENCH_ARGS)

demo: $(STAMP)
	$(BIN)/python -m chassisd.demo

dev-cluster: $(STAMP)
	@set -o pipefail; assets=$$(bash tools/testenv/testenv.sh | tail -n 1) && export "$$assets" && \
	  $(BIN)/python -m chassisd.testing.controlplane --kubeconfig .cache/dev-cluster/kubeconfig

clean:
	rm -rf $(VENV) .cache/demo .mypy_cache .ruff_cache .pytest_cache
