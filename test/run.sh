#!/usr/bin/env bash
# The project's test command (README "Quickstart"): everything CI runs.
#
#   test/run.sh            all tiers
#   test/run.sh unit       the linters (golangci-lint, shellcheck, govulncheck), then the
#                          tiers without a cluster: core, binary, controller-gen,
#                          DittoFS, Helm, README, and fuzzing
#   test/run.sh e2e        the end-to-end suite only
#   test/run.sh node       the real-node tier, the fleet and fault soak, and the demo
#                          (root; installs Debian packages)
#   test/run.sh mutate     the mutation check: each rule the README promises,
#                          broken in a scratch copy, turns the offline tests red
#
# It builds the real components it needs from the Go module proxy first
# (cached by version under ${XDG_CACHE_HOME:-~/.cache}/dittofs-hook).
# With CI=true (as .ci/run sets it) a skipped test fails the run: a skip
# would hide what the test should have checked.
set -euo pipefail
cd "$(dirname "$0")/.."
tier=${1:-all}
case $tier in all | unit | e2e | node | mutate) ;; *) echo "usage: test/run.sh [all|unit|e2e|node|mutate]"; exit 2 ;; esac
ci=${CI:-false}
# step starts a phase, after saying how long the previous one took.
phase="" phase_started=$SECONDS
step() {
  if [[ -n $phase ]]; then echo "-- $phase: $((SECONDS - phase_started)) s"; fi
  phase=${1%%:*} phase_started=$SECONDS
  printf '\n== %s (%s)\n' "$1" "$(date +%H:%M:%S)"
}
started=$SECONDS

# Debian packages the tests need: make for the README's make commands (all
# tiers); shellcheck for the unit tier's linters; PostgreSQL for the DittoFS
# tier (dittofstest.StartPostgres); the node's pieces, the NFS/SMB clients and
# PostgreSQL for the node tier (node.NodePackages; the README's Quickstart
# names the same list).
packages=(make)
node_packages=(runc containernetworking-plugins iptables conntrack ipset smbclient libnfs-utils busybox-static postgresql)
if [[ $tier == all || $tier == unit ]]; then packages+=(shellcheck postgresql); fi
if [[ $tier == all || $tier == node ]]; then packages+=("${node_packages[@]}"); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]]; then
    step "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "the tests need these Debian packages (and the node tier needs root):"
    echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}"
    exit 1
  fi
fi

if [[ $tier == mutate ]]; then
  : # offline: no real component
elif [[ $tier == all || $tier == node ]]; then
  step "building real components: DittoFS, controller-gen, etcd, kube-apiserver, kube-controller-manager, kubectl, helm, Metacontroller, kubelet, kube-proxy, kube-scheduler, containerd, kube-router, CoreDNS, local-path-provisioner (first run ~28 min on 2 cores, then cached)"
  test/tools/build.sh all >/dev/null
else
  step "building real components: DittoFS, controller-gen, etcd, kube-apiserver, kube-controller-manager, kubectl, helm, Metacontroller (first run ~11 min, then cached)"
  test/tools/build.sh base >/dev/null
fi
if [[ $tier == all || $tier == unit ]]; then
  step "building the linters: golangci-lint with kube-api-linter, govulncheck and its database, promtool (first run up to 30 min on a busy machine, about 12 min of CPU, then cached)"
  test/tools/build.sh lint >/dev/null
fi
echo "components ready after $((SECONDS - started)) s"

step "gofmt and go vet"
unformatted=$(gofmt -l cmd dittofs hook test)
if [[ -n $unformatted ]]; then echo "gofmt would change: $unformatted"; exit 1; fi
go vet ./...
# test/scale is behind a build tag (no tier runs it): vetted so that it keeps compiling.
go vet -tags scale ./test/scale

if [[ $tier == all || $tier == unit ]]; then
  # .golangci.yml says which linters run and why each rule left out is.
  step "golangci-lint: the standard linters, depguard (the pure core), sloglint, revive, kube-api-linter"
  "$(test/tools/build.sh golangci-lint)" run ./...
  step "shellcheck: every script CI runs"
  mapfile -t scripts < <(find . -name '*.sh' -not -path './.git/*' | sort)
  shellcheck .ci/run "${scripts[@]}"
  echo "shellcheck: ${#scripts[@]} scripts and .ci/run clean"
  # The database is built from the Go module proxy (test/tools/build.sh
  # vulndb); nothing asks vuln.go.dev. A vulnerability the code calls in a
  # required module fails (its fix is a go.mod change); one in the standard
  # library is a warning (its fix is a newer Go toolchain: the image builds
  # with the newest patch release of its Go line).
  step "govulncheck: the hook's module against the Go vulnerability database of $(sed -n 's/^VULNDB_VERSION=v0.0.0-\([0-9]\{8\}\).*/\1/p' test/tools/build.sh)"
  "$(test/tools/build.sh govulncheck)" -db "file://$(test/tools/build.sh vulndb)" -format json ./... | "$(test/tools/build.sh vulnsummary)"
fi

summarize() { grep -E '^(--- (FAIL|SKIP)|    --- (FAIL|SKIP)|ok |FAIL|panic:)|e2e:|load:|bench:' || true; }
# no_skips LOG WHAT: under CI=true, a test that skipped fails the run.
no_skips() {
  local n
  n=$(grep -c -E -- '--- SKIP' "$1" || true)
  if [[ $n -gt 0 && $ci == true ]]; then
    echo "$2: $n tests skipped, and CI=true runs every test (a skip hides what it should have checked):"
    grep -E -A3 -- '--- SKIP' "$1" | head -60
    exit 1
  fi
}

case $tier in
all | unit)
  # Each tier is a folder named after the real components it needs; every
  # package outside e2e, node and demo is in one.
  tiers=(
    "core: the pure core, its HTTP service and the DittoFS client, offline|./hook/... ./dittofs/"
    "binary: hook render and serve, flags, the image's build|./cmd/..."
    "controller-gen: the CRD is what the Go types say|./test/controllergen/"
    "DittoFS: the hook and its client against the real DittoFS v0.29.0|./test/dittofs/ ./test/harness/..."
    "Helm: the chart against the kustomize install|./test/helm/"
    "README and docs: reasons, commands, links, tables, generated pages|./test/readme/ ./test/docgen/"
    "mutation list: each mutation still applies to the code|./test/mutate/"
  )
  # shellcheck disable=SC2046 # the package lists split on purpose
  unlisted=$(comm -13 <(go list $(for t in "${tiers[@]}"; do echo "${t#*|}"; done) | sort) \
    <(go list ./... | grep -v -e /test/e2e -e /test/node -e /test/soak -e /test/demo | sort))
  if [[ -n $unlisted ]]; then echo "packages in no tier of test/run.sh: $unlisted"; exit 1; fi
  for tier_pkgs in "${tiers[@]}"; do
    step "go test, ${tier_pkgs%%|*}"
    log=$(mktemp)
    # shellcheck disable=SC2086 # the package list splits on purpose
    if ! go test -count=1 -timeout 30m -v ${tier_pkgs#*|} >"$log" 2>&1; then
      grep -E -B2 -A30 -- '--- FAIL' "$log" | head -200; summarize <"$log"; exit 1
    fi
    summarize <"$log"
    echo "tests run: $(grep -c -- '--- PASS' "$log") passed, $(grep -c -- '--- SKIP' "$log") skipped"
    no_skips "$log" "${tier_pkgs%%|*}"
  done
  # The benchmarks run once each, so that they cannot rot between
  # test/bench.sh runs (which measure, and compare with the goals).
  step "benchmarks: each once (-benchtime 1x); test/bench.sh measures them"
  log=$(mktemp)
  if ! go test -count=1 -run '^$' -bench . -benchtime 1x -benchmem ./hook/... ./dittofs/ >"$log" 2>&1; then
    cat "$log"; exit 1
  fi
  grep -E '^Benchmark' "$log" || true
  echo "benchmarks run: $(grep -c -E '^Benchmark' "$log")"
  no_skips "$log" "benchmarks"
  ;;&
all | unit)
  step "fuzzing: each target for 20 s (DittoFS's adapter list, a DittoServer's spec, Metacontroller's request, a Postgres connection string)"
  # fuzz runs one target for 20 s (-fuzzminimizetime 0: the 20 s go to new
  # inputs, not to minimizing the interesting ones; a crasher is kept as
  # found) and says whether it wrote a failing input.
  fuzz() {
    local before
    before=$(find "hook/testdata/fuzz/$1" -type f 2>/dev/null | wc -l)
    go test ./hook -run '^$' -fuzz "^$1\$" -fuzztime 20s -fuzzminimizetime 0 >"$flog" 2>&1 && return 0
    [[ $(find "hook/testdata/fuzz/$1" -type f 2>/dev/null | wc -l) -gt $before ]] && return 1
    return 2
  }
  for target in FuzzAdapterList FuzzSpec FuzzSyncRequest FuzzDSN; do
    flog=$(mktemp)
    rc=0
    fuzz "$target" || rc=$?
    # Go 1.26's fuzzing coordinator can fail a target at the -fuzztime
    # deadline having found nothing ("context deadline exceeded", no input
    # written: golang/go#75804, fixed in Go 1.27). Such a run is repeated
    # once; a written input, or the same failure twice, fails the tier.
    if [[ $rc -eq 2 ]] && grep -q 'context deadline exceeded' "$flog"; then
      echo "$target: Go's fuzzing coordinator failed it at its deadline with no failing input (golang/go#75804); once more"
      rc=0
      fuzz "$target" || rc=$?
    fi
    if [[ $rc -ne 0 ]]; then
      tail -n 40 "$flog"
      echo "fuzzing $target failed: a failing input is under hook/testdata/fuzz/$target if one was written (go test ./hook -run $target replays it)"
      exit 1
    fi
    read -r secs execs < <(grep -E '^fuzz: elapsed: [0-9]+s, execs: [0-9]+' "$flog" | tail -n 1 | sed -E 's/^fuzz: elapsed: ([0-9]+)s, execs: ([0-9]+).*/\1 \2/')
    echo "$target: $execs executions in $secs s: $((execs / (secs > 0 ? secs : 1))) per second"
  done
  ;;&
all | e2e)
  if [[ -d test/e2e ]]; then
    step "end-to-end: real etcd, kube-apiserver, kube-controller-manager, Metacontroller (dynamic-apply and server-side-apply), DittoFS and hook"
    set +e
    go test -count=1 -timeout 40m -v ./test/e2e/ 2>&1 | tee "${TMPDIR:-/tmp}/dittofs-hook-e2e.log" | grep -E '^(--- |    --- |ok |FAIL|panic:)|e2e:'
    rc=${PIPESTATUS[0]}
    set -e
    if [[ $rc -ne 0 ]]; then
      echo "end-to-end suite failed; full output: ${TMPDIR:-/tmp}/dittofs-hook-e2e.log"
      exit "$rc"
    fi
    no_skips "${TMPDIR:-/tmp}/dittofs-hook-e2e.log" "end-to-end"
  fi
  ;;&
all | node)
  step "real node: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, containerd + runc, bridge CNI, kube-proxy, kube-router, CoreDNS, local-path-provisioner; Metacontroller and the hook in the cluster, DittoFS in a pod, smbclient and libnfs clients; a fault soak of 10 DittoServers for 5 minutes; the demo"
  log=${TMPDIR:-/tmp}/dittofs-hook-node.log
  set +e
  # -p 1: the node tier, the soak and the demo each bring up the node (one
  # at a time per machine, under a host-wide lock). The soak runs at its CI
  # size: 10 DittoServers, 5 minutes of faults, a seed from the clock
  # (printed; DITTOFS_HOOK_SOAK_SEED=… reproduces a run).
  go test -count=1 -p 1 -timeout 60m -v ./test/node/ ./test/soak/ ./test/demo/ 2>&1 | tee "$log" | grep -v -E '^=== (RUN|PAUSE|CONT)'
  rc=${PIPESTATUS[0]}
  set -e
  # A run killed by go test's -timeout skips its teardown: restore the host.
  go run ./test/harness/node/nodeclean
  if [[ $rc -ne 0 ]]; then
    echo "node tier failed; full output: $log (the logs of every component are in the folder it names)"
    exit "$rc"
  fi
  echo "node: $(grep -c -- '--- PASS' "$log") passed, $(grep -c -- '--- FAIL' "$log") failed"
  no_skips "$log" "node"
  ;;&
all | mutate)
  step "mutation check: each rule the README promises broken alone in a scratch copy (test/mutate); the offline tests must fail"
  go run ./test/mutate
  ;;
esac
step "done: $((SECONDS - started)) s in all"
