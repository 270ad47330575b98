#!/usr/bin/env bash
# Captures the DittoFS v0.29.0 API calls the upstream operator makes for snapshot
# policies and the NFS portmapper (and the ones the hook will need), against the
# real server on loopback. Each call is written as NAME.request (method, path,
# body sent), NAME.headers (status line and headers) and NAME.body.
#
#   test/testdata/upstream/dittofs-api/capture.sh [OUTDIR]
#
# Nothing leaves the machine: the server binds 127.0.0.1 (API) and moves its
# adapters to free ports right after start, under the same lock as the test
# harness (test/harness/dittofstest/dittofs.go), so it never collides with a test server.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
out=${1:-$here}
dfs=$("$root/test/tools/build.sh" dfs)
work=$(mktemp -d)
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(freeport)
api="http://127.0.0.1:$port"
admin_pw='Adm1n-test-password-42'
cat >"$work/config.yaml" <<EOF
logging:
  level: INFO
  format: text
  output: stdout
database:
  type: sqlite
  sqlite:
    path: $work/controlplane.db
controlplane:
  host: 127.0.0.1
  port: $port
  jwt:
    secret: "test-signing-key-0123456789abcdef0123456789"
EOF

lockdir=${TMPDIR:-/tmp}/dittofs-hook-tests
mkdir -p "$lockdir"
exec 8>"$lockdir/adapter-ports.lock"
flock 8
env -i PATH="$PATH" HOME="$work" XDG_CONFIG_HOME="$work" XDG_STATE_HOME="$work" XDG_DATA_HOME="$work" XDG_CACHE_HOME="$work" \
  DITTOFS_ADMIN_INITIAL_PASSWORD="$admin_pw" \
  "$dfs" start --foreground --config "$work/config.yaml" >"$work/dfs.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fs "$api/health" >/dev/null && break; sleep 0.2; done

# call NAME TOKEN METHOD PATH [BODY]: records the call; prints nothing.
call() {
  local name=$1 token=$2 method=$3 path=$4 body=${5-}
  local args=(-s -X "$method" -D "$out/$name.headers" -o "$out/$name.body" -H 'Content-Type: application/json')
  [[ -n $token ]] && args+=(-H "Authorization: Bearer $token")
  [[ -n $body ]] && args+=(--data-binary "$body")
  printf '%s %s\n%s\n' "$method" "$path" "$body" >"$out/$name.request"
  curl "${args[@]}" "$api$path"
  tr -d '\r' <"$out/$name.headers" >"$out/$name.headers.tmp" && mv "$out/$name.headers.tmp" "$out/$name.headers"
}
token() { curl -s -H 'Content-Type: application/json' --data-binary "$2" "$api/api/v1/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'; }

admin=$(token admin "{\"username\":\"admin\",\"password\":\"$admin_pw\"}")
# Move the adapters off the machine-wide defaults, then let other servers start.
curl -fs -X PUT -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' --data-binary "{\"port\":$(freeport)}" "$api/api/v1/adapters/nfs" >/dev/null
curl -fs -X PUT -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' --data-binary "{\"port\":$(freeport)}" "$api/api/v1/adapters/smb" >/dev/null
flock -u 8

curl -fs -X POST -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  --data-binary '{"username":"k8s-operator","password":"0perator-test-password-42","role":"operator"}' "$api/api/v1/users" >/dev/null
operator=$(token k8s-operator '{"username":"k8s-operator","password":"0perator-test-password-42"}')

# Snapshot policies: the upstream operator PUTs them with its operator token.
call snapshot-policy-put-as-operator "$operator" PUT /api/v1/shares/%2Farchive/snapshot-policy '{"interval":"24h","keep_last":7}'
call snapshot-policy-put-no-share "$admin" PUT /api/v1/shares/%2Farchive/snapshot-policy '{"interval":"24h","keep_last":7}'
call snapshot-policies-list-empty "$admin" GET /api/v1/snapshot-policies

# A share to attach policies to: a memory metadata store and a local fs block store.
call create-metadata-store "$admin" POST /api/v1/store/metadata '{"name":"meta","type":"memory"}'
call create-local-block-store "$admin" POST /api/v1/store/block/local "{\"name\":\"local\",\"type\":\"fs\",\"config\":\"{\\\"path\\\":\\\"$work/blocks\\\"}\"}"
call create-share "$admin" POST /api/v1/shares '{"name":"/archive","metadata_store_id":"meta","local_block_store":"local"}'

# Upstream's body for {share: /archive, interval: 24h, keepLast: 7} (upstream escapes
# the share with url.PathEscape, so "/archive" travels as %2Farchive).
call snapshot-policy-put "$admin" PUT /api/v1/shares/%2Farchive/snapshot-policy '{"interval":"24h","keep_last":7}'
call snapshot-policy-put-again "$admin" PUT /api/v1/shares/%2Farchive/snapshot-policy '{"interval":"24h","keep_last":7}'
call snapshot-policy-get "$admin" GET /api/v1/shares/%2Farchive/snapshot-policy
call snapshot-policy-get-unescaped-name "$admin" GET /api/v1/shares/archive/snapshot-policy
call snapshot-policy-get-as-operator "$operator" GET /api/v1/shares/%2Farchive/snapshot-policy
call snapshot-policy-put-all-fields "$admin" PUT /api/v1/shares/archive/snapshot-policy '{"interval":"@daily","keep_last":3,"ttl":"720h","enabled":false,"name_prefix":"nightly"}'
call snapshot-policy-put-bad-interval "$admin" PUT /api/v1/shares/archive/snapshot-policy '{"interval":"daily"}'
call snapshot-policy-put-bad-prefix "$admin" PUT /api/v1/shares/archive/snapshot-policy '{"interval":"1h","name_prefix":"a/b"}'
call snapshot-policies-list "$admin" GET /api/v1/snapshot-policies
call snapshot-policies-list-as-operator "$operator" GET /api/v1/snapshot-policies
call snapshot-policy-delete "$admin" DELETE /api/v1/shares/archive/snapshot-policy
call snapshot-policy-get-deleted "$admin" GET /api/v1/shares/archive/snapshot-policy

# The NFS portmapper: upstream reads and PATCHes these settings with its operator token.
call nfs-settings-get-as-operator "$operator" GET /api/v1/adapters/nfs/settings
call nfs-settings-patch-portmapper-as-operator "$operator" PATCH /api/v1/adapters/nfs/settings '{"portmapper_enabled":true}'
call nfs-settings-get "$admin" GET /api/v1/adapters/nfs/settings
call smb-settings-get "$admin" GET /api/v1/adapters/smb/settings

kill $pid
wait $pid 2>/dev/null || true
grep -iE 'listening|portmap|mdns|discovery|started' "$work/dfs.log" | sed -E 's/^time=[^ ]+ //' >"$out/server-log-excerpt.txt" || true
echo "captured into $out"
