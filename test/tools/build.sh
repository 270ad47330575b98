#!/usr/bin/env bash
# Builds the real components the tests run, from the Go module proxy, and caches
# each binary by version outside the repository. Prints the binary's path.
#
#   test/tools/build.sh dfs|etcd|kube-apiserver|kube-controller-manager|kubectl|helm|controller-gen|all
#
# A warm cache answers in milliseconds; a cold one builds (DittoFS ≈ 90 s, etcd ≈ 30 s,
# the three Kubernetes binaries ≈ 7 min on 2 cores). Concurrent callers (Go runs test
# packages in parallel) are serialised with flock so each binary is built once.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${DITTOFS_HOOK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dittofs-hook}/bin

DFS_VERSION=v0.29.0
ETCD_VERSION=v3.7.3
KUBE_VERSION=v1.37.2
HELM_VERSION=v4.3.1
CONTROLLER_GEN_VERSION=v0.23.0

log() { echo "build.sh: $*" >&2; }

# build NAME VERSION MODULE_DIR PACKAGE [LDFLAGS]
build() {
  local name=$1 version=$2 dir=$3 pkg=$4 ldflags=${5:-}
  local out="$cache/$name-$version"
  if [[ ! -x $out ]]; then
    mkdir -p "$cache"
    exec 9>"$cache/.$name.lock"
    flock 9
    if [[ ! -x $out ]]; then
      log "building $name $version from the Go module proxy (first time only)…"
      local start=$SECONDS
      (cd "$here/$dir" && go build -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg")
      mv "$out.tmp" "$out"
      log "built $name $version in $((SECONDS - start)) s → $out"
    fi
    exec 9>&-
  fi
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
    kube-apiserver | kube-controller-manager | kubectl)
      build "$1" "$KUBE_VERSION" kube "k8s.io/kubernetes/cmd/$1" "$(kube_ldflags)" ;;
    helm) build helm "$HELM_VERSION" helm helm.sh/helm/v4/cmd/helm "-s -w" ;;
    controller-gen) build controller-gen "$CONTROLLER_GEN_VERSION" controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen "-s -w" ;;
    *) log "unknown component $1"; exit 2 ;;
  esac
}

if [[ ${1:-} == all ]]; then
  for c in dfs controller-gen etcd kube-apiserver kube-controller-manager kubectl helm; do one "$c"; done
else
  one "${1:?usage: build.sh COMPONENT}"
fi
