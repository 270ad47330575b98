#!/usr/bin/env bash
# The project's test command (README "Quickstart"): everything CI runs.
#
#   test/run.sh            all tiers
#   test/run.sh unit       fixture, unit, real-DittoFS, Helm, demo tests and fuzzing
#   test/run.sh e2e        the end-to-end suite only
#
# It builds the real components it needs from the Go module proxy first
# (cached by version under ${XDG_CACHE_HOME:-~/.cache}/dittofs-hook).
set -euo pipefail
cd "$(dirname "$0")/.."
tier=${1:-all}
step() { printf '\n== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

step "building real components: DittoFS, controller-gen, etcd, kube-apiserver, kube-controller-manager, kubectl, helm (first run ~8 min, then cached)"
test/tools/build.sh all >/dev/null

step "gofmt and go vet"
unformatted=$(gofmt -l cmd dittofs hook test)
if [[ -n $unformatted ]]; then echo "gofmt would change: $unformatted"; exit 1; fi
go vet ./...

summarize() { grep -E '^(--- (FAIL|SKIP)|    --- (FAIL|SKIP)|ok |FAIL|panic:)|e2e:|load:|bench:' || true; }

case $tier in
all | unit)
  step "go test: unit, fixtures, real DittoFS"
  log=$(mktemp)
  if ! go test -count=1 -timeout 30m -v $(go list ./... | grep -v /test/e2e) >"$log" 2>&1; then
    grep -E -B2 -A30 -- '--- FAIL' "$log" | head -200; summarize <"$log"; exit 1
  fi
  summarize <"$log"
  echo "tests run: $(grep -c -- '--- PASS' "$log") passed, $(grep -c -- '--- SKIP' "$log") skipped"
  ;;&
all | unit)
  step "fuzzing: each target for 20 s"
  for target in FuzzDecodeSyncRequest FuzzCore; do
    flog=$(mktemp)
    if ! go test ./hook -run '^$' -fuzz "^$target\$" -fuzztime 20s -fuzzminimizetime 2s >"$flog" 2>&1; then
      tail -n 40 "$flog"; echo "fuzzing $target failed (the failing input is under hook/testdata/fuzz/$target)"; exit 1
    fi
    echo "$target: $(grep -E '^fuzz: elapsed' "$flog" | tail -n 1)"
  done
  ;;&
all | e2e)
  if [[ -d test/e2e ]]; then
    step "end-to-end: real etcd, kube-apiserver, kube-controller-manager, DittoFS and hook"
    set +e
    go test -count=1 -timeout 40m -v ./test/e2e/ 2>&1 | tee "${TMPDIR:-/tmp}/dittofs-hook-e2e.log" | grep -E '^(--- |    --- |ok |FAIL|panic:)|e2e:'
    rc=${PIPESTATUS[0]}
    set -e
    if [[ $rc -ne 0 ]]; then
      echo "end-to-end suite failed; full output: ${TMPDIR:-/tmp}/dittofs-hook-e2e.log"
      exit "$rc"
    fi
  fi
  ;;
esac
step "done"
