#!/usr/bin/env bash
# Builds the real components the tests run, from the Go module proxy, and caches
# each binary by version outside the repository. Prints the binary's path.
#
#   test/tools/build.sh COMPONENT     one of the names below
#   test/tools/build.sh base          what the unit and e2e tiers need (Metacontroller included:
#                                     see metacontroller_source() for where its source comes from,
#                                     and metacontroller-manifests, its release manifests)
#   test/tools/build.sh node          what the node tier needs besides (kubelet, kube-proxy,
#                                     kube-scheduler, containerd, kube-router, CoreDNS,
#                                     local-path-provisioner)
#   test/tools/build.sh all           both
#   test/tools/build.sh lint          the unit tier's linters and their helpers (golangci-lint,
#                                     govulncheck and its database, promtool, promql-series)
#
# A warm cache answers in milliseconds; a cold one builds (DittoFS ≈ 90 s, etcd ≈ 30 s,
# the three Kubernetes control-plane binaries ≈ 7 min on 2 cores, then kubelet ≈ 65 s,
# kube-proxy ≈ 33 s, kube-scheduler ≈ 27 s, containerd ≈ 3 min, kube-router ≈ 3.5 min,
# CoreDNS ≈ 4 min, local-path-provisioner ≈ 2.5 min, Metacontroller ≈ 3 min; the linters, measured on
# 2 cores shared with other builds: golangci-lint 4 min (1.75 min of CPU), promtool 25 min (9 min
# of CPU), indexdb 1.5 min and the vulnerability database 10 s, govulncheck, promql-series and
# vulnsummary seconds on the Go build cache the others leave). Concurrent callers (Go runs test
# packages in parallel) are serialised with flock so each binary is built once. Each
# component lives in its own small tools module, so the hook's go.mod stays lean.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${DITTOFS_HOOK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dittofs-hook}/bin

DFS_VERSION=v0.29.0
ETCD_VERSION=v3.7.3
KUBE_VERSION=v1.37.2
HELM_VERSION=v4.3.1
CONTROLLER_GEN_VERSION=v0.23.0
CONTAINERD_VERSION=v2.4.2
KUBE_ROUTER_VERSION=v2.1.0
COREDNS_VERSION=v1.15.0
LOCAL_PATH_VERSION=v0.0.30
METACONTROLLER_VERSION=v4.17.2
# The linters of the unit tier (test/tools/golangci-lint: golangci-lint with
# kube-api-linter compiled in; kube-api-linter has no releases, so its
# pseudo-version is part of the cached binary's name).
GOLANGCI_LINT_VERSION=v2.15.0
KUBE_API_LINTER_VERSION=v0.0.0-20260716143926-092fe0c72997
# promtool unit-tests the alert rules; promql-series (test/tools/promtool/promql-series,
# the project's own, cached by its source's hash) lists the series a query reads.
PROMETHEUS_VERSION=v0.316.0
# govulncheck, and indexdb, which writes the vulnerability database from the
# OSV files in golang.org/x/vulndb's module zip (the database's date is that version's).
VULN_VERSION=v1.9.0
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
# The release archive of Metacontroller's source beside the project (no module
# registry serves it: its go.mod names the module "metacontroller") and its sha256.
METACONTROLLER_ARCHIVE_SHA256=5bc4f9b104e4d2a82a5daefffdd133d699fc8b0f890e155792d283ff8abf5d3a
METACONTROLLER_REPO=https://github.com/metacontroller/metacontroller

log() { echo "build.sh: $*" >&2; }

# build NAME VERSION MODULE_DIR PACKAGE [LDFLAGS [CGO_ENABLED]]
build() {
  local name=$1 version=$2 dir=$3 pkg=$4 ldflags=${5:-} cgo=${6:-}
  local out="$cache/$name-$version"
  if [[ ! -x $out ]]; then
    mkdir -p "$cache"
    exec 9>"$cache/.$name.lock"
    flock 9
    if [[ ! -x $out ]]; then
      log "building $name $version from the Go module proxy (first time only)…"
      local start=$SECONDS
      (cd "$here/$dir" && CGO_ENABLED=${cgo:-$(go env CGO_ENABLED)} go build -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg")
      mv "$out.tmp" "$out"
      log "built $name $version in $((SECONDS - start)) s → $out"
    fi
    exec 9>&-
  fi
  echo "$out"
}

# metacontroller_source extracts (or finds) Metacontroller's release source
# into the folder $1 and prints the source folder. The source, in this order:
# METACONTROLLER_SRC (a source folder or a .tar.gz of one), the archive in
# ../shared/third_party/metacontroller/ beside the checkout (its sha256
# checked), else a shallow clone of the release tag (a machine with internet
# access). Fails loudly when none works.
metacontroller_source() {
  local work=$1 src=""
  if [[ -n ${METACONTROLLER_SRC:-} ]]; then
    if [[ -d $METACONTROLLER_SRC ]]; then
      src=$METACONTROLLER_SRC
    elif [[ -f $METACONTROLLER_SRC ]]; then
      tar -xzf "$METACONTROLLER_SRC" -C "$work"
      src=$(dirname "$(find "$work" -maxdepth 3 -name go.mod -path '*metacontroller*' | head -n 1)")
    else
      log "METACONTROLLER_SRC=$METACONTROLLER_SRC is neither a folder nor an archive"; exit 1
    fi
    log "Metacontroller's source from METACONTROLLER_SRC=$METACONTROLLER_SRC"
  else
    local archive="" a
    for a in "$here/../../../shared/third_party/metacontroller/metacontroller-$METACONTROLLER_VERSION.tar.gz" \
      "/work/shared/third_party/metacontroller/metacontroller-$METACONTROLLER_VERSION.tar.gz"; do
      if [[ -f $a ]]; then archive=$a; break; fi
    done
    if [[ -n $archive ]]; then
      local sum
      sum=$(sha256sum "$archive" | cut -d' ' -f1)
      if [[ $sum != "$METACONTROLLER_ARCHIVE_SHA256" ]]; then
        log "$archive has sha256 $sum, not $METACONTROLLER_ARCHIVE_SHA256: refusing it"; exit 1
      fi
      tar -xzf "$archive" -C "$work"
      src=$work/metacontroller-$METACONTROLLER_VERSION
      log "Metacontroller $METACONTROLLER_VERSION's source from $archive (sha256 checked)"
    elif git clone -q --depth 1 --branch "$METACONTROLLER_VERSION" "$METACONTROLLER_REPO" "$work/src" 2>/dev/null; then
      src=$work/src
      log "Metacontroller $METACONTROLLER_VERSION's source from a clone of $METACONTROLLER_REPO"
    else
      log "no Metacontroller source: set METACONTROLLER_BIN (a binary) or METACONTROLLER_SRC (a folder or archive of $METACONTROLLER_REPO at $METACONTROLLER_VERSION), or put its release archive in ../shared/third_party/metacontroller/"
      exit 1
    fi
  fi
  [[ -f $src/go.mod ]] || { log "$src has no go.mod: not Metacontroller's source"; exit 1; }
  echo "$src"
}

# metacontroller builds Metacontroller from its release source
# (metacontroller_source) and caches the binary by version; METACONTROLLER_BIN
# (a built binary) is used as it is.
metacontroller() {
  if [[ -n ${METACONTROLLER_BIN:-} ]]; then
    [[ -x $METACONTROLLER_BIN ]] || { log "METACONTROLLER_BIN=$METACONTROLLER_BIN is not an executable"; exit 1; }
    echo "$METACONTROLLER_BIN"
    return
  fi
  local out="$cache/metacontroller-$METACONTROLLER_VERSION"
  if [[ -x $out ]]; then echo "$out"; return; fi
  mkdir -p "$cache"
  exec 9>"$cache/.metacontroller.lock"
  flock 9
  if [[ ! -x $out ]]; then
    local work src start=$SECONDS
    work=$(mktemp -d)
    src=$(metacontroller_source "$work")
    log "building metacontroller $METACONTROLLER_VERSION (first time only)…"
    (cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$METACONTROLLER_VERSION" -o "$out.tmp" ./pkg/cmd/metacontroller)
    mv "$out.tmp" "$out"
    rm -rf "$work"
    log "built metacontroller $METACONTROLLER_VERSION in $((SECONDS - start)) s → $out"
  fi
  exec 9>&-
  echo "$out"
}

# vulndb writes the Go vulnerability database of VULNDB_VERSION in
# govulncheck's v1 layout (index/db.json, index/modules.json,
# index/vulns.json, ID/<id>.json) and prints its directory, for
# govulncheck -db file://DIR. Its source is the module zip the Go module
# proxy serves, whose data/osv holds every report as OSV JSON; vuln.go.dev
# is never asked.
vulndb() {
  local out="$cache/vulndb-$VULNDB_VERSION"
  if [[ -f $out/index/db.json ]]; then echo "$out"; return; fi
  local indexdb
  indexdb=$(build indexdb "$VULNDB_VERSION" govulncheck golang.org/x/vulndb/cmd/indexdb "-s -w")
  exec 9>"$cache/.vulndb.lock"
  flock 9
  if [[ ! -f $out/index/db.json ]]; then
    local src start=$SECONDS
    src=$(cd "$here/govulncheck" && go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [[ -d $src/data/osv ]] || { log "golang.org/x/vulndb@$VULNDB_VERSION has no data/osv"; exit 1; }
    rm -rf "$out.tmp"
    "$indexdb" -vulns "$src/data/osv" -out "$out.tmp"
    # indexdb leaves the database's date at zero: it is the vulndb
    # version's commit time (v0.0.0-YYYYMMDDhhmmss-…).
    local ts=${VULNDB_VERSION#v0.0.0-}
    ts=${ts%%-*}
    printf '{"modified":"%s-%s-%sT%s:%s:%sZ"}' "${ts:0:4}" "${ts:4:2}" "${ts:6:2}" "${ts:8:2}" "${ts:10:2}" "${ts:12:2}" >"$out.tmp/index/db.json"
    gzip -n -c "$out.tmp/index/db.json" >"$out.tmp/index/db.json.gz"
    rm -rf "$out"
    mv "$out.tmp" "$out"
    log "wrote the vulnerability database of $VULNDB_VERSION ($(find "$out/ID" -name '*.json' | wc -l) entries) in $((SECONDS - start)) s → $out"
  fi
  exec 9>&-
}

# metacontroller_manifests prints the folder of Metacontroller's release
# manifests (its production/ kustomization is how a user installs it in a
# cluster), taken from the same source as the binary and cached by version.
metacontroller_manifests() {
  local out="$cache/metacontroller-$METACONTROLLER_VERSION-manifests"
  if [[ -f $out/production/kustomization.yaml ]]; then echo "$out"; return; fi
  mkdir -p "$cache"
  exec 8>"$cache/.metacontroller-manifests.lock"
  flock 8
  if [[ ! -f $out/production/kustomization.yaml ]]; then
    local work src
    work=$(mktemp -d)
    src=$(metacontroller_source "$work")
    [[ -f $src/manifests/production/kustomization.yaml ]] || { log "$src has no manifests/production"; exit 1; }
    rm -rf "$out.tmp"
    cp -r "$src/manifests" "$out.tmp"
    mv "$out.tmp" "$out"
    rm -rf "$work"
    log "Metacontroller $METACONTROLLER_VERSION's manifests → $out"
  fi
  exec 8>&-
  echo "$out"
}

kube_ldflags() {
  local major=${KUBE_VERSION#v}; major=${major%%.*}
  local minor=${KUBE_VERSION#v*.}; minor=${minor%%.*}
  local f=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  echo "-s -w$f"
}

one() {
  case $1 in
    dfs) build dfs "$DFS_VERSION" dittofs github.com/marmos91/dittofs/cmd/dfs "-s -w" ;;
    etcd) build etcd "$ETCD_VERSION" etcd go.etcd.io/etcd/server/v3 "-s -w" ;;
    kube-apiserver | kube-controller-manager | kubectl | kubelet | kube-proxy | kube-scheduler)
      build "$1" "$KUBE_VERSION" kube "k8s.io/kubernetes/cmd/$1" "$(kube_ldflags)" ;;
    helm) build helm "$HELM_VERSION" helm helm.sh/helm/v4/cmd/helm "-s -w" ;;
    controller-gen) build controller-gen "$CONTROLLER_GEN_VERSION" controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen "-s -w" ;;
    # Static, as containerd's own releases: the shim runs in every pod's
    # mount namespace setup and must not depend on the host's libc.
    containerd | containerd-shim-runc-v2 | ctr)
      build "$1" "$CONTAINERD_VERSION" containerd "github.com/containerd/containerd/v2/cmd/$1" \
        "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" 0 ;;
    kube-router) build kube-router "$KUBE_ROUTER_VERSION" kube-router github.com/cloudnativelabs/kube-router/v2/cmd/kube-router \
      "-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION" ;;
    coredns) build coredns "$COREDNS_VERSION" coredns github.com/coredns/coredns "-s -w" 0 ;;
    metacontroller) metacontroller ;;
    golangci-lint) build golangci-lint "$GOLANGCI_LINT_VERSION-kal-${KUBE_API_LINTER_VERSION##*-}" golangci-lint \
      sigs.k8s.io/kube-api-linter/cmd/golangci-lint-kube-api-linter "-s -w" ;;
    promtool) build promtool "$PROMETHEUS_VERSION" promtool github.com/prometheus/prometheus/cmd/promtool "-s -w" ;;
    promql-series) build promql-series "$PROMETHEUS_VERSION-$(cat "$here/promtool/go.sum" "$here/promtool/promql-series/main.go" | sha256sum | cut -c1-12)" \
      promtool ./promql-series "-s -w" ;;
    govulncheck) build govulncheck "$VULN_VERSION" govulncheck golang.org/x/vuln/cmd/govulncheck "-s -w" ;;
    vulnsummary) build vulnsummary "$(sha256sum "$here/govulncheck/vulnsummary/main.go" | cut -c1-12)" govulncheck ./vulnsummary "-s -w" ;;
    vulndb) vulndb ;;
    metacontroller-manifests) metacontroller_manifests ;;
    local-path-provisioner) build local-path-provisioner "$LOCAL_PATH_VERSION" local-path-provisioner github.com/rancher/local-path-provisioner "-s -w" 0 ;;
    *) log "unknown component $1"; exit 2 ;;
  esac
}

base=(dfs controller-gen etcd kube-apiserver kube-controller-manager kubectl helm metacontroller metacontroller-manifests)
node=(kubelet kube-proxy kube-scheduler containerd containerd-shim-runc-v2 ctr kube-router coredns local-path-provisioner)
lint=(golangci-lint govulncheck vulnsummary vulndb promtool promql-series)
case ${1:?usage: build.sh COMPONENT|base|node|all|lint} in
  lint) for c in "${lint[@]}"; do one "$c"; done ;;
  base) for c in "${base[@]}"; do one "$c"; done ;;
  node) for c in "${node[@]}"; do one "$c"; done ;;
  all) for c in "${base[@]}" "${node[@]}"; do one "$c"; done ;;
  *) one "$1" ;;
esac
