#!/usr/bin/env bash
# Measures the hook and writes the figures to BENCHMARKS.md:
#   - go test -bench: the pure core, one whole sync (decode, core, encode),
#     and the JSON floor (decoding the same request and encoding the same
#     answer as generic JSON), with allocations;
#   - the load test: 500 DittoServers, 64 syncs at a time, one hook (the real
#     binary) and one real DittoFS.
# Usage: test/bench.sh   (PARENTS=… CONCURRENCY=… to change the fleet)
set -euo pipefail
cd "$(dirname "$0")/.."
parents=${PARENTS:-500}
concurrency=${CONCURRENCY:-64}
out=BENCHMARKS.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

test/tools/build.sh dfs >/dev/null
echo "== go test -bench (5 runs each)"
go test ./hook -run '^$' -bench 'BenchmarkSync|BenchmarkCore|BenchmarkJSONFloor' -benchmem -count 5 -benchtime 2s | tee "$tmp/bench.txt"
echo "== load test: $parents DittoServers, $concurrency at a time"
DITTOFS_HOOK_LOAD_PARENTS=$parents DITTOFS_HOOK_LOAD_CONCURRENCY=$concurrency \
  go test ./test -run '^TestLoad$' -count 1 -v -timeout 30m | tee "$tmp/load.txt"
grep -q -- '--- PASS: TestLoad' "$tmp/load.txt"

median() { # benchmark name → median ns/op
  grep "^$1-" "$tmp/bench.txt" | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
core=$(median BenchmarkCore)
floor=$(median BenchmarkJSONFloor)
sync=$(median BenchmarkSync)
ratio=$(awk -v c="$core" -v f="$floor" 'BEGIN {printf "%.2f", c/f}')
cpu=$(grep -m1 '^cpu:' "$tmp/bench.txt" | cut -d' ' -f2-)

{
  echo "# Benchmarks"
  echo
  echo "Written by \`test/bench.sh\` on $(date -u +%Y-%m-%d) on $(uname -sm), $cpu, $(nproc) CPUs, $(go version | cut -d' ' -f3)."
  echo "Rerun it to measure your machine; the figures below are this machine's."
  echo
  echo "## The pure core against the JSON floor"
  echo
  echo "A typical request: a ready server with both adapters and every child observed (\`test/testdata/sync/steady\`, 44 KB), and a successful poll."
  echo
  echo "| benchmark | median ns/op |"
  echo "| --- | --- |"
  echo "| \`BenchmarkCore\`: Prepare + Desired (the pure core) | $core |"
  echo "| \`BenchmarkJSONFloor\`: decode the request and encode the answer as generic JSON | $floor |"
  echo "| \`BenchmarkSync\`: a whole sync without DittoFS (decode, core, encode) | $sync |"
  echo
  echo "**The core costs $ratio× the JSON floor** that any hook pays for the same request (the target is at most 2×)."
  echo
  echo '```'
  grep -E '^(Benchmark|goos|goarch|pkg|cpu)' "$tmp/bench.txt"
  echo '```'
  echo
  echo "## Load: $parents DittoServers, $concurrency syncs at a time"
  echo
  echo "One hook (the real binary), one real DittoFS v0.29.0, on this machine's loopback; the client, the hook and DittoFS share its CPUs."
  echo "All DittoServers share that one DittoFS and its one k8s-operator account, so the cold round's logins and account repairs contend"
  echo "on it (DittoFS hashes each password with bcrypt); in a cluster each DittoServer has a DittoFS of its own."
  echo
  grep -o 'load: .*' "$tmp/load.txt" | sed 's/^load: /- /'
} >"$out"
echo "== wrote $out"
