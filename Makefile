# Weft. Every target runs on the project's pinned Node.js (installed into a cache outside the work
# tree when the machine's node is older). See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

NODE_BIN := $(shell ./scripts/ensure-node.sh)
ifeq ($(NODE_BIN),)
$(error could not install the pinned Node.js; see scripts/ensure-node.sh)
endif
export PATH := $(NODE_BIN):$(PATH)
# Native addons build against the pinned Node's headers, not the machine's.
export npm_config_nodedir := $(abspath $(NODE_BIN)/..)
export NODE_OPTIONS := --experimental-vm-modules --no-warnings=ExperimentalWarning
JEST := node node_modules/jest/bin/jest.js
CLUSTER := test/cluster

.PHONY: help
help: ## list targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

node_modules/.installed: package.json package-lock.json
	@# npm ci rejects a lockfile without every platform's optional binaries, which this registry does not serve.
	npm install --no-save --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: deps node-version
deps: node_modules/.installed ## install npm dependencies from the committed lockfile
node-version: ## print the Node.js version the project runs on
	@node --version

.PHONY: lint format typecheck unit integration e2e test native
lint: deps ## biome lint + format check
	node_modules/.bin/biome check .
format: deps ## format in place
	node_modules/.bin/biome check --write .
typecheck: deps ## tsc, strict, no emit
	node_modules/.bin/tsc -p tsconfig.json
REPORT = --json --outputFile=$(shell mkdir -p dist/test-results && echo dist/test-results)/$(1).json
unit: deps ## pure unit tests (seconds)
	$(JEST) --selectProjects unit $(call REPORT,unit)
native: ## the proxy's N-API addon (SO_ORIGINAL_DST, release of start-up pages)
	proxy-image/native/build.sh
integration: deps native ## real sockets on loopback and in network namespaces (installs iptables, lua5.1 and friends if missing)
	$(CLUSTER)/host-deps.sh iptables iproute2 curl openssl lua5.1
	$(JEST) --selectProjects integration $(call REPORT,integration)
e2e: deps ## end-to-end on the local cluster (brings it up; WEFT_REUSE_CLUSTER=1 keeps a running one)
	test/e2e/run.sh $(call REPORT,e2e)
test: ## everything CI runs: lint, typecheck, unit, integration, end-to-end; one summary line at the end
	@rm -rf dist/test-results
	@rc=0; $(MAKE) -k --no-print-directory lint typecheck unit integration e2e || rc=1; \
	  node scripts/test-summary.ts unit integration e2e || rc=1; exit $$rc

.PHONY: crds bench-webhooks
crds: deps ## regenerate the SMI CRD manifests and Argo CD health checks
	node crds/generate.ts && node crds/argocd/generate.ts
bench-webhooks: deps ## SMI conversion/validation latency and throughput (webhooks/bench/results.md)
	node webhooks/bench/run.ts

.PHONY: manifests
manifests: deps ## render the install manifests (kustomize base) into deploy/base
	node scripts/manifests.ts

.PHONY: install uninstall
install: deps ## install Weft into the cluster KUBECONFIG points to (local cluster: builds and loads images first)
	deploy/install.sh
uninstall: ## remove Weft (webhooks first; KEEP_CRDS=1 keeps the SMI CRDs and objects)
	deploy/uninstall.sh

.PHONY: bundle images
bundle: deps ## bundle runnable entrypoints into dist/
	node scripts/bundle.ts
images: deps ## build the local OCI images (no Docker)
	test/images/build.sh pause node-base testapp proxy

.PHONY: cluster-build cluster-up cluster-down cluster-env cluster-status
cluster-build: ## build the cluster's components from their Go modules (cached by version)
	$(CLUSTER)/build.sh
cluster-up: deps ## start the local single-node Kubernetes; last line is the kubeconfig path
	$(CLUSTER)/up.sh
cluster-down: ## stop the local cluster and remove everything it created
	$(CLUSTER)/down.sh
cluster-env: ## print export KUBECONFIG=... for the local cluster
	@$(CLUSTER)/env.sh
cluster-status: ## health of the local cluster
	$(CLUSTER)/health.sh && echo healthy

.PHONY: demo
demo: deps ## the main job: local cluster, sample app, traffic visible
	test/demo/run.sh

.PHONY: bench bench-proxy bench-control-plane
bench: bench-proxy bench-webhooks bench-control-plane ## every benchmark; results in bench/results/ and BENCHMARKS.md
	node scripts/benchmarks.ts
bench-proxy: deps native ## proxy throughput/latency/CPU/RSS vs direct, nginx and haproxy (pinned; BENCH_SECONDS=5 BENCH_ROUNDS=3, medians over interleaved rounds)
	node bench/proxy/run.ts
bench-control-plane: deps ## operator: propagation at 1,000/5,000 proxies through the apiserver, resync, CSR/s, RSS (needs the cluster)
	node operator/bench/control-plane.ts
