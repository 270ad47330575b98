#!/usr/bin/env bash
# Measures the hook and writes the figures to BENCHMARKS.md:
#   - go test -bench: the pure core, one whole sync (decode, core, encode),
#     and the JSON floor (decoding the same request and encoding the same
#     answer as generic JSON), with allocations;
#   - the load test: 500 DittoServers, 64 syncs at a time, one hook (the real
#     binary) and one real DittoFS;
#   - memory: 20 concurrent syncs of 6 MiB (peak RSS, /healthz under load)
#     and 10,000 idle keep-alive connections, against the real binary;
#   - node (root, the node tier's packages): on the real one-node cluster, a
#     fleet of 50 DittoServers, each a DittoFS pod, under the hook's 2
#     replicas, then the fault soak (10 DittoServers, 5 minutes of faults).
# Each figure with a goal in BENCHMARKS.md's goals table is compared with it;
# the script exits non-zero when one misses it.
# Usage: test/bench.sh [all|memory|node]   (PARENTS=… CONCURRENCY=… to change
# the load test; FLEET=… for the fleet, SOAK_SERVERS=… SOAK_DURATION=…
# SOAK_SEED=… for the soak; `memory` and `node` measure and rewrite only
# their section)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
parents=${PARENTS:-500}
concurrency=${CONCURRENCY:-64}
out=BENCHMARKS.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# memory_section measures memory and prints the BENCHMARKS.md section.
memory_section() {
  local clients=20 rounds=5 idle=10000
  echo "== memory: $clients concurrent syncs of 6 MiB, $rounds each; $idle idle connections" >&2
  DITTOFS_HOOK_MEMORY_CLIENTS=$clients DITTOFS_HOOK_MEMORY_ROUNDS=$rounds DITTOFS_HOOK_IDLE_CONNECTIONS=$idle \
    go test ./test/dittofs -run '^(TestMemoryUnderLoad|TestIdleConnections)$' -count 1 -v -timeout 20m >"$tmp/memory.txt" 2>&1 || {
    cat "$tmp/memory.txt" >&2
    return 1
  }
  echo "<!-- memory:start -->"
  echo "## Memory: $clients concurrent syncs of 6 MiB"
  echo
  echo "Measured on $(date -u +%Y-%m-%d) by \`test/bench.sh memory\`, which runs"
  echo "\`DITTOFS_HOOK_MEMORY_CLIENTS=$clients DITTOFS_HOOK_MEMORY_ROUNDS=$rounds DITTOFS_HOOK_IDLE_CONNECTIONS=$idle go test ./test/dittofs -run '^(TestMemoryUnderLoad|TestIdleConnections)\$' -v\`"
  echo "(CI runs the same tests with 1 round and 2,000 connections). The hook is the real binary with the manifests' bounds (its defaults) and"
  echo "its 256 MiB container limit passed as \`DITTOFS_HOOK_MEMORY_LIMIT\` (soft limit 90 %); DittoFS hangs past the hook's 1 s timeout,"
  echo "so every sync holds its memory as long as it can. Goal: peak RSS at most 200 MiB while \`/healthz\` keeps answering."
  echo "Before issue 11's bounds (\`--max-concurrent-syncs\`, \`--max-sync-bytes\`, \`--max-connections\`, 2026-11-27) the same test measured a peak RSS of"
  echo "524.7 MiB for one round, with 9 of 80 \`/healthz\` probes failing or slower than 1 s, and 2,000 idle connections held 2,010 goroutines."
  echo
  grep -o 'memory: .*' "$tmp/memory.txt" | sed 's/^memory: /- /'
  echo "<!-- memory:end -->"
}

# node_section runs the fleet and the soak on the real node and prints the
# BENCHMARKS.md section. Each brings up a node of its own (one at a time per
# machine).
node_section() {
  local fleet=${FLEET:-50} servers=${SOAK_SERVERS:-10} duration=${SOAK_DURATION:-5m} seed=${SOAK_SEED:-$((RANDOM * 32768 + RANDOM))}
  local fleet_cmd="DITTOFS_HOOK_SOAK_SERVERS=$fleet DITTOFS_HOOK_SOAK_DURATION=0 DITTOFS_HOOK_SOAK_SERVICE_TYPE=NodePort go test ./test/soak -run TestSoak -v -timeout 60m"
  local soak_cmd="DITTOFS_HOOK_SOAK_SERVERS=$servers DITTOFS_HOOK_SOAK_DURATION=$duration DITTOFS_HOOK_SOAK_SEED=$seed go test ./test/soak -run TestSoak -v -timeout 120m"
  echo "== fleet: $fleet DittoServers on the node: $fleet_cmd (its output: ${TMPDIR:-/tmp}/dittofs-hook-fleet.log)" >&2
  local rc=0
  env DITTOFS_HOOK_SOAK_SERVERS="$fleet" DITTOFS_HOOK_SOAK_DURATION=0 DITTOFS_HOOK_SOAK_SERVICE_TYPE=NodePort \
    go test ./test/soak -run TestSoak -count 1 -v -timeout 60m >"$tmp/fleet.txt" 2>&1 || rc=$?
  cp "$tmp/fleet.txt" "${TMPDIR:-/tmp}/dittofs-hook-fleet.log"
  if ! grep -q 'fleet: time from apply' "$tmp/fleet.txt"; then
    grep -E -- '--- FAIL|fleet:|Error|error' "$tmp/fleet.txt" | tail -40 >&2
    return 1
  fi
  echo "== soak: $servers DittoServers, $duration of faults: $soak_cmd (its output: ${TMPDIR:-/tmp}/dittofs-hook-soak.log)" >&2
  env DITTOFS_HOOK_SOAK_SERVERS="$servers" DITTOFS_HOOK_SOAK_DURATION="$duration" DITTOFS_HOOK_SOAK_SEED="$seed" \
    go test ./test/soak -run TestSoak -count 1 -v -timeout 120m >"$tmp/soak.txt" 2>&1 || rc=$?
  cp "$tmp/soak.txt" "${TMPDIR:-/tmp}/dittofs-hook-soak.log"
  if ! grep -q 'soak-table: | \*\*all' "$tmp/soak.txt"; then
    grep -E -- '--- FAIL|soak:|Error|error' "$tmp/soak.txt" | tail -40 >&2
    return 1
  fi
  echo "<!-- node:start -->"
  echo "## On the real node: a fleet of $fleet DittoServers"
  echo
  echo "Measured on $(date -u +%Y-%m-%d) by \`test/bench.sh node\`, which runs \`$fleet_cmd\`."
  echo "A one-node cluster of real components on this machine (\`node.Start\`: kubelet, containerd, kube-proxy, kube-router, CoreDNS,"
  local mcflags="--workers=10 --client-go-qps=50 --client-go-burst=100 (manifests/metacontroller/components/fleet-50) ${DITTOFS_HOOK_METACONTROLLER_ARGS:-}"
  if [[ ${DITTOFS_HOOK_SOAK_METACONTROLLER:-fleet} == upstream ]]; then mcflags="upstream's defaults ${DITTOFS_HOOK_METACONTROLLER_ARGS:-}"; fi
  echo "local-path claims); Metacontroller v4.17.2 in its pod from \`manifests/metacontroller\` over upstream's \`manifests/production\` (flags: ${mcflags% }), calling"
  echo "the hook (\`kubectl apply -k manifests\`, 2 replicas) through the soak's recording proxy on the host; each DittoServer a real DittoFS v0.29.0 pod with two claims and NodePort adapter"
  echo "Services, polled every 5 s (the CRD's minimum), spread over 5 namespaces. CPU and memory come from each container's cgroup (cgroup v1) and /proc."
  if [[ $rc -ne 0 ]]; then echo; echo "**The run failed** (see the lines below and the test's output)."; fi
  echo
  grep -o 'fleet: [a-zA-Z].*' "$tmp/fleet.txt" | grep -v -e 'fleet: applying' -e 'fleet: after ' | sed 's/^fleet: /- /'
  echo
  echo "## On the real node: the fault soak"
  echo
  echo "Measured on $(date -u +%Y-%m-%d) by \`test/bench.sh node\`, which runs \`$soak_cmd\`"
  echo "(CI runs it with 10 DittoServers for 5 minutes under a seed of the clock; any seed reproduces its schedule)."
  echo "Each fault holds for 2 s to two polling intervals (the hook unreachable: 16–25 s, past the webhook timeout; a child type undeclared: two intervals and more), then the soak waits until every DittoServer is Ready again (the recovery time) and"
  echo "pauses up to one interval. Invariants, checked every second against the API server and in every hook answer: no child deleted or"
  echo "replaced unless it is an adapter's and the schedule disabled that adapter; no adapter NetworkPolicy gone while its Service exists; every kept Service keeps its UID, cluster IP, node ports and"
  echo "load balancer address; no generated Secret's value changes; no 200 answer omits a child that exists (unless a successful poll found"
  echo "its adapter disabled). After the faults: every DittoServer Ready within two polling intervals, and 0 writes at steady state."
  echo
  grep -o 'soak-table: .*' "$tmp/soak.txt" | sed 's/^soak-table: //'
  echo
  grep -o -e 'soak: after the faults.*' -e 'soak: steady state after.*' -e 'soak: invariants:.*' "$tmp/soak.txt" | sed 's/^soak: /- /'
  echo
  echo "<details><summary>The schedule (seed $seed)</summary>"
  echo
  echo '```'
  grep -E -o 'soak: +[0-9]+ +\+.*' "$tmp/soak.txt" | sed 's/^soak: //'
  echo '```'
  echo "</details>"
  echo "<!-- node:end -->"
  return "$rc"
}

# check_goals PREFIX... compares the figures this run measured (the raw
# outputs in $tmp) with the goals table of BENCHMARKS.md, for the goals
# whose key starts with one of the prefixes, and fails when one is missed
# or has no figure. CORE_RATIO carries the core's ratio.
check_goals() {
  CORE_RATIO=${ratio:-} python3 - "$out" "$tmp" "$@" <<'PY'
import os, re, sys
doc, tmp, prefixes = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3:]
start, end = doc.find("<!-- goals:start -->"), doc.find("<!-- goals:end -->")
if not 0 <= start < end:
    sys.exit("BENCHMARKS.md has no goals table (<!-- goals:start --> … <!-- goals:end -->)")
goals = {}
for line in doc[start:end].splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    m = len(cells) >= 3 and re.fullmatch(r"(≤|≥)\s*([0-9.]+)", cells[2])
    if m:
        goals[cells[0]] = (m.group(1), float(m.group(2)), cells[1])

def read(name):
    path = os.path.join(tmp, name)
    return open(path).read() if os.path.exists(path) else ""

def seconds(d):  # a Go duration as printed: 217.404ms, 2.236s, 1m13.5s, 850µs
    total = 0.0
    for n, u in re.findall(r"([0-9.]+)(h|ms|µs|us|ns|m|s)", d):
        total += float(n) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9}[u]
    return total

def find(text, pattern, conv=float):
    m = re.search(pattern, text)
    return conv(m.group(1)) if m else None

figures = {}
if os.environ.get("CORE_RATIO"):
    figures["core-ratio"] = float(os.environ["CORE_RATIO"])
load = read("load.txt")
if load:
    figures["load-throughput"] = find(load, r"steady rounds: \d+ syncs in \S+ = ([0-9.]+) syncs/s")
    figures["load-p99"] = find(load, r"steady rounds: \d+ syncs in .*?, p99 (\S+),", seconds)
    m = re.search(r"steady rounds: (\d+) of (\d+) polls succeeded", load)
    figures["load-failed-polls"] = int(m.group(2)) - int(m.group(1)) if m else None
mem = read("memory.txt")
if mem:
    figures["memory-peak-rss"] = find(mem, r"hook peak RSS ([0-9.]+) MiB")
    figures["memory-probes-in-a-row"] = find(mem, r"/healthz probed \d+ times on both listeners, \d+ failed or took over 1 s \(at most (\d+) in a row\)")
    figures["idle-rss"] = find(mem, r"idle keep-alive connections .*?RSS ([0-9.]+) MiB")
fleet = read("fleet.txt")
if fleet:
    figures["fleet-ready"] = find(fleet, r"time from apply to all Ready: ([0-9.]+) s")
    figures["fleet-writes"] = find(fleet, r"API writes per minute at steady state \(goal 0\): ([0-9.]+)")
    figures["fleet-disable-p99"] = find(fleet, r"its Service gone: p50 \S+ s, p99 ([0-9.]+) s")
    m = re.search(r"logins as k8s-operator \(goal = DittoServers\): (\d+) for (\d+) DittoServers", fleet)
    figures["fleet-extra-logins"] = int(m.group(1)) - int(m.group(2)) if m else None
    m = re.search(r"hook CPU ([0-9.]+) s over the (\S+) window", fleet)
    figures["fleet-hook-cpu"] = float(m.group(1)) / seconds(m.group(2)) if m else None
    rss = [float(x) for x in re.findall(r"peak RSS ([0-9.]+) MiB \(VmHWM", "\n".join(l for l in fleet.splitlines() if "hook replicas" in l))]
    figures["fleet-hook-rss"] = max(rss) if rss else None
    figures["fleet-node-memory"] = find(fleet, r"node memory per DittoServer: ([0-9.]+) MiB")
soak = read("soak.txt")
if soak:
    figures["soak-violations"] = find(soak, r"soak-table: \| \*\*all\*\* \| \d+ \| (\d+) \|")

missed = 0
for key, (op, goal, what) in goals.items():
    if not any(key.startswith(p) for p in prefixes):
        continue
    got = figures.get(key)
    if got is None:
        print(f"goal {key}: no figure in this run's output ({what}): MISSED")
        missed += 1
        continue
    ok = got <= goal if op == "≤" else got >= goal
    print(f"goal {key}: {got:g} (goal {op} {goal:g}, {what}){'' if ok else ': MISSED'}")
    missed += not ok
if missed:
    sys.exit(f"{missed} goal(s) missed: see above and BENCHMARKS.md's goals table")
PY
}

# splice replaces the section between <!-- name:start --> and
# <!-- name:end --> of BENCHMARKS.md with a file's content (or appends it).
splice() {
  python3 - "$out" "$1" "$2" <<'PY'
import sys
path, name, section = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
doc = open(path).read() if __import__("os").path.exists(path) else ""
start, end = doc.find(f"<!-- {name}:start -->"), doc.find(f"<!-- {name}:end -->")
if start < 0 or end < start:
    doc = doc.rstrip("\n") + "\n\n" + section
else:
    doc = doc[:start] + section + doc[end + len(f"<!-- {name}:end -->\n"):]
open(path, "w").write(doc)
PY
}

if [[ $what == memory ]]; then
  test/tools/build.sh dfs >/dev/null
  memory_section >"$tmp/section.md"
  splice memory "$tmp/section.md"
  echo "== wrote the memory section of $out"
  check_goals memory- idle-
  exit 0
fi
if [[ $what == node ]]; then
  test/tools/build.sh all >/dev/null
  rc=0
  node_section >"$tmp/section.md" || rc=$?
  if grep -q 'node:end' "$tmp/section.md"; then
    splice node "$tmp/section.md"
    echo "== wrote the node section of $out"
  fi
  go run ./test/harness/node/nodeclean
  [[ $rc -ne 0 ]] || check_goals fleet- soak- || rc=$?
  exit "$rc"
fi

test/tools/build.sh dfs >/dev/null
# `all` rewrites the file; the node section (test/bench.sh node) is kept.
section() { # NAME: the section of BENCHMARKS.md between its markers
  python3 - "$out" "$1" <<'PY'
import sys
doc, name = open(sys.argv[1]).read(), sys.argv[2]
start, end = doc.find(f"<!-- {name}:start -->"), doc.find(f"<!-- {name}:end -->")
if 0 <= start < end:
    print(doc[start:end + len(f"<!-- {name}:end -->")])
PY
}
section node >"$tmp/node-section.md"
section goals >"$tmp/goals-section.md"
[[ -s $tmp/goals-section.md ]] || { echo "BENCHMARKS.md has no goals table"; exit 1; }
echo "== go test -bench (5 runs each)"
go test ./hook -run '^$' -bench 'BenchmarkSync|BenchmarkCore|BenchmarkJSONFloor' -benchmem -count 5 -benchtime 2s | tee "$tmp/bench.txt"
echo "== load test: $parents DittoServers, $concurrency at a time"
DITTOFS_HOOK_LOAD_PARENTS=$parents DITTOFS_HOOK_LOAD_CONCURRENCY=$concurrency \
  go test ./test/dittofs -run '^TestLoad$' -count 1 -v -timeout 30m | tee "$tmp/load.txt"
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
  cat "$tmp/goals-section.md"
  echo
  echo "## The pure core against the JSON floor"
  echo
  echo "A typical request: a ready server with both adapters and every child observed (\`hooktest.Steady()\` in \`hook/hooktest\`, 44 KB), and a successful poll."
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
  echo
  memory_section
  if [[ -s $tmp/node-section.md ]]; then echo; cat "$tmp/node-section.md"; fi
} >"$out"
echo "== wrote $out"
check_goals core- load- memory- idle-
