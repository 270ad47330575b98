# Conveniences; each target is one command that works without make too.
.PHONY: test e2e node demo bench run crd docs image push

# The image: VERSION follows the chart's appVersion (semantic versioning,
# no "v"); IMAGE is your registry's repository.
VERSION   ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p' charts/dittofs-hook/Chart.yaml)
IMAGE     ?= ghcr.io/dittofs-hook/dittofs-hook
PLATFORMS ?= linux/amd64,linux/arm64

test:  ## everything CI runs
	test/run.sh
e2e:   ## the end-to-end suite on a real control plane
	test/run.sh e2e
node:  ## the real-node tier and the demo (root)
	test/run.sh node
demo:  ## the whole product on this machine, until Ctrl-C
	go run ./test/demo
bench: ## benchmarks and the load test → BENCHMARKS.md
	test/bench.sh
run:   ## the hook on 127.0.0.1:8080
	go run ./cmd/hook serve --listen 127.0.0.1:8080 --log-format text
crd:   ## regenerate the CRD from hook/dittoserver_types.go
	$$(test/tools/build.sh controller-gen) crd:crdVersions=v1,maxDescLen=400 paths=./hook/... output:crd:artifacts:config=manifests/crd/bases
	cp manifests/crd/bases/dittofs.dittofs.com_dittoservers.yaml charts/dittofs-hook/crds/
	go run ./test/docgen
docs:  ## regenerate docs/api.md (from the CRD) and docs/helm-values.md (from the chart's values)
	go run ./test/docgen
image: ## build the image for this machine's platform: $(IMAGE):$(VERSION)
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE):$(VERSION) .
push:  ## build for $(PLATFORMS) and push $(IMAGE):$(VERSION) (docker buildx, logged in to the registry)
	docker buildx build --platform $(PLATFORMS) --build-arg VERSION=$(VERSION) -t $(IMAGE):$(VERSION) --push .
