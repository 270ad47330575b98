#!/usr/bin/env bash
# Builds the real components the tests run, from the Go module proxy, and caches
# each binary by version outside the repository. Prints the binary's path.
#
#   test/tools/build.sh COMPONENT     one of the names below
#   test/tools/build.sh base          what the unit and e2e tiers need
#   test/tools/build.sh node          what the node tier needs besides (kubelet, kube-proxy,
#                                     kube-scheduler, containerd, kube-router, CoreDNS,
#                                     local-path-provisioner)
#   test/tools/build.sh all           both
#
# A warm cache answers in milliseconds; a cold one builds (DittoFS ≈ 90 s, etcd ≈ 30 s,
# the three Kubernetes control-plane binaries ≈ 7 min on 2 cores, then kubelet ≈ 65 s,
# kube-proxy ≈ 33 s, kube-scheduler ≈ 27 s, containerd ≈ 3 min, kube-router ≈ 3.5 min,
# CoreDNS ≈ 4 min, local-path-provisioner ≈ 2.5 min). Concurrent callers (Go runs test
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
    local-path-provisioner) build local-path-provisioner "$LOCAL_PATH_VERSION" local-path-provisioner github.com/rancher/local-path-provisioner "-s -w" 0 ;;
    *) log "unknown component $1"; exit 2 ;;
  esac
}

base=(dfs controller-gen etcd kube-apiserver kube-controller-manager kubectl helm)
node=(kubelet kube-proxy kube-scheduler containerd containerd-shim-runc-v2 ctr kube-router coredns local-path-provisioner)
case ${1:?usage: build.sh COMPONENT|base|node|all} in
  base) for c in "${base[@]}"; do one "$c"; done ;;
  node) for c in "${node[@]}"; do one "$c"; done ;;
  all) for c in "${base[@]}" "${node[@]}"; do one "$c"; done ;;
  *) one "$1" ;;
esac
