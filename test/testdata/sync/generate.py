#!/usr/bin/env python3
"""Derives the synthetic fixture requests from real captured traffic.

Every request.json here is either a request a real Metacontroller v4.17.2 sent
(../metacontroller/, copied verbatim) or one of those with a documented change
(a different spec, observed children added or removed, a status as the hook
writes it). Observed Services and NetworkPolicies are copies of the captured
ones (server defaults, managedFields, last-applied annotation and all) with
their port, name or load balancer changed. dittofs.json says what DittoFS
answered during the sync; adapter lists are the captured DittoFS bodies
(../dittofs/) where one exists.

Run it from this directory when a case's input must change, then
`go test ./test -run TestSyncFixtures -update` to rewrite the goldens, and
read the diff.
"""
import copy
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
MC = os.path.join(HERE, "..", "metacontroller")


def load(name):
    with open(os.path.join(MC, name)) as f:
        return json.load(f)


FIRST = load("sync-first.json")
CREATED = load("sync-children-created.json")
READY = load("sync-ready-lb.json")
FINALIZE = load("finalize-request.json")

CAPTURED_SVC = READY["children"]["Service.v1"]["demo-adapter-nfs"]
CAPTURED_NP = READY["children"]["NetworkPolicy.networking.k8s.io/v1"]["demo-adapter-nfs"]
UID = READY["parent"]["metadata"]["uid"]

OPERATOR_SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {
        "name": "demo-operator-credentials",
        "namespace": "default",
        "uid": "5a1f6c52-3d0c-4a52-9a3e-2f1e0b6c7d01",
        "resourceVersion": "240",
        "labels": {"app.kubernetes.io/instance": "demo", "app.kubernetes.io/name": "dittofs", "controller-uid": UID},
        "ownerReferences": CAPTURED_SVC["metadata"]["ownerReferences"],
    },
    # "operator-pass-observed" and "k8s-operator"
    "data": {"password": "b3BlcmF0b3ItcGFzcy1vYnNlcnZlZA==", "username": "azhzLW9wZXJhdG9y"},
    "type": "Opaque",
}
ADMIN_SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {
        "name": "demo-admin-bootstrap-credentials",
        "namespace": "default",
        "uid": "5a1f6c52-3d0c-4a52-9a3e-2f1e0b6c7d02",
        "resourceVersion": "241",
        "labels": {"app.kubernetes.io/instance": "demo", "app.kubernetes.io/name": "dittofs", "controller-uid": UID},
        "ownerReferences": CAPTURED_SVC["metadata"]["ownerReferences"],
    },
    # "admin-pass-observed" and "admin"
    "data": {"password": "YWRtaW4tcGFzcy1vYnNlcnZlZA==", "username": "YWRtaW4="},
    "type": "Opaque",
}


def service(name, adapter_type, port, node_port, cluster_ip, ingress=None, port_name=None):
    """A captured adapter Service with another name, port and address."""
    s = copy.deepcopy(CAPTURED_SVC)
    md = s["metadata"]
    md["name"] = name
    md["uid"] = "svc-uid-" + name
    md["labels"]["dittofs.io/adapter-type"] = adapter_type
    last = json.loads(md["annotations"]["metacontroller.k8s.io/last-applied-configuration"])
    last["metadata"]["name"] = name
    last["metadata"]["labels"]["dittofs.io/adapter-type"] = adapter_type
    p = {"name": port_name or adapter_type, "port": port, "protocol": "TCP", "targetPort": port}
    last["spec"]["ports"] = [p]
    md["annotations"]["metacontroller.k8s.io/last-applied-configuration"] = json.dumps(last, separators=(",", ":"), sort_keys=True)
    s["spec"]["clusterIP"] = cluster_ip
    s["spec"]["clusterIPs"] = [cluster_ip]
    s["spec"]["ports"] = [dict(p, nodePort=node_port)]
    s["status"] = {"loadBalancer": {"ingress": ingress}} if ingress else {"loadBalancer": {}}
    return s


def policy(name, port):
    """A captured adapter NetworkPolicy with another name and port."""
    n = copy.deepcopy(CAPTURED_NP)
    md = n["metadata"]
    md["name"] = name
    md["uid"] = "np-uid-" + name
    last = json.loads(md["annotations"]["metacontroller.k8s.io/last-applied-configuration"])
    last["metadata"]["name"] = name
    last["spec"]["ingress"][0]["ports"][0]["port"] = port
    md["annotations"]["metacontroller.k8s.io/last-applied-configuration"] = json.dumps(last, separators=(",", ":"), sort_keys=True)
    n["spec"]["ingress"][0]["ports"][0]["port"] = port
    return n


def condition(typ, status, reason, message, since="2026-11-25T20:06:00Z"):
    return {"type": typ, "status": status, "observedGeneration": 1, "lastTransitionTime": since, "reason": reason, "message": message}


def steady():
    """The captured ready request after the hook's own first poll: operator
    account provisioned, nfs and smb discovered, their Services observed (nfs
    with a load balancer address), status as the hook wrote it."""
    r = copy.deepcopy(READY)
    r["children"]["Secret.v1"]["demo-operator-credentials"] = copy.deepcopy(OPERATOR_SECRET)
    svcs = r["children"]["Service.v1"]
    svcs["demo-adapter-nfs"] = service("demo-adapter-nfs", "nfs", 12049, 31236, "10.0.0.33", [{"ip": "203.0.113.10", "ipMode": "VIP"}])
    svcs["demo-adapter-smb"] = service("demo-adapter-smb", "smb", 1445, 30445, "10.0.0.34")
    nps = r["children"]["NetworkPolicy.networking.k8s.io/v1"]
    nps["demo-adapter-nfs"] = policy("demo-adapter-nfs", 12049)
    nps["demo-adapter-smb"] = policy("demo-adapter-smb", 1445)
    r["parent"]["status"] = {
        "observedGeneration": 1,
        "adapters": [
            {"type": "nfs", "port": 12049, "enabled": True, "running": True, "service": "demo-adapter-nfs",
             "endpoints": ["203.0.113.10:12049", "*:31236", "10.0.0.33:12049"]},
            {"type": "smb", "port": 1445, "enabled": True, "running": True, "service": "demo-adapter-smb",
             "endpoints": ["*:30445", "10.0.0.34:1445"]},
        ],
        "conditions": [
            condition("Available", "True", "ReplicaReady", "the DittoFS pod is ready"),
            condition("Authenticated", "True", "AuthenticationSucceeded", "logged in to the DittoFS API as k8s-operator"),
            condition("AdaptersDiscovered", "True", "PollSucceeded", "DittoFS reports nfs on 12049 (enabled), smb on 1445 (enabled)"),
            condition("AdaptersReady", "False", "LoadBalancerPending", "no load balancer address yet for smb (Service demo-adapter-smb); on a cluster without load balancers set spec.adapterServices.type to NodePort"),
            condition("Ready", "False", "LoadBalancerPending", "no load balancer address yet for smb (Service demo-adapter-smb); on a cluster without load balancers set spec.adapterServices.type to NodePort"),
        ],
    }
    return r


FULL_SPEC = {
    "image": "registry.example.com/dittofs:0.29.0",
    "imagePullPolicy": "Always",
    "replicas": 1,
    "storage": {"metadataSize": "5Gi", "contentSize": "100Gi", "controlPlaneSize": "2Gi", "storageClassName": "fast-ssd"},
    "database": {"type": "postgres", "postgresSecretRef": {"name": "demo-postgres"}},
    "controlPlane": {"port": 9090},
    "identity": {
        "jwt": {"secretRef": {"name": "demo-jwt", "key": "signing-key"}, "accessTokenDuration": "10m", "refreshTokenDuration": "24h"},
        "admin": {"username": "admin", "passwordSecretRef": {"name": "demo-admin-password", "key": "password"}},
    },
    "adapterDiscovery": {"pollingInterval": "1m"},
    "adapterServices": {
        "type": "LoadBalancer",
        "annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"},
        "overrides": {
            "nfs": {"udp": True, "portmapper": True, "externalTrafficPolicy": "Local", "loadBalancerSourceRanges": ["10.0.0.0/8"],
                    "annotations": {"metallb.universe.tf/allow-shared-ip": "demo-nfs"}},
            "smb": {"type": "NodePort", "nodePort": 30445},
        },
    },
    "service": {"type": "ClusterIP", "annotations": {"example.com/team": "storage"}},
    "networkPolicy": {
        "enabled": True,
        "apiFrom": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "dittofs-system"}}}],
        "adapterFrom": [{"ipBlock": {"cidr": "10.0.0.0/8"}}],
    },
    "logging": {"level": "DEBUG", "format": "text"},
    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
    "nodeSelector": {"kubernetes.io/arch": "amd64"},
    "tolerations": [{"key": "storage", "operator": "Exists", "effect": "NoSchedule"}],
    "priorityClassName": "system-cluster-critical",
    "terminationGracePeriodSeconds": 180,
}

CASES = {}


def case(name, request, dittofs=None):
    CASES[name] = (request, dittofs)


def with_spec(r, spec):
    r = copy.deepcopy(r)
    r["parent"]["spec"] = spec
    r["parent"]["metadata"].pop("annotations", None)
    return r


# Issue 2: infrastructure.
case("captured-first", FIRST)
case("captured-children-created", CREATED)
case("captured-ready-lb", READY)
case("captured-finalize", FINALIZE)
m = with_spec(FIRST, {"storage": {"metadataSize": "1Gi"}})
m["related"] = {"Secret.v1": {}}
case("first-minimal", m)
f = with_spec(FIRST, FULL_SPEC)
case("first-full", f)
r = copy.deepcopy(READY)
r["children"]["Secret.v1"]["demo-operator-credentials"] = copy.deepcopy(OPERATOR_SECRET)
case("secrets-exist", r)
r = with_spec(READY, {"storage": {"metadataSize": "1Gi", "contentSize": "10Gi"}})
r["children"]["Secret.v1"]["demo-operator-credentials"] = copy.deepcopy(OPERATOR_SECRET)
r["children"]["Secret.v1"]["demo-admin-bootstrap-credentials"] = copy.deepcopy(ADMIN_SECRET)
r["related"] = {"Secret.v1": {}}
case("secrets-exist-generated-admin", r)
r = copy.deepcopy(READY)
r["parent"]["spec"]["replicas"] = 0
r["children"]["StatefulSet.apps/v1"]["demo"]["status"] = {"observedGeneration": 1, "replicas": 0}
case("replicas-zero", r)
case("admin-secret-related-present", FIRST)
r = copy.deepcopy(FIRST)
r["related"] = {"Secret.v1": {}}
case("admin-secret-related-missing", r)
r = copy.deepcopy(FIRST)
r["related"]["Secret.v1"]["demo-admin-password"]["data"] = {"passwd": r["related"]["Secret.v1"]["demo-admin-password"]["data"]["password"]}
case("admin-secret-related-missing-key", r)
r = copy.deepcopy(READY)
r["parent"]["spec"]["storage"]["metadataSize"] = "lots"
case("invalid-spec-quantity", r)
r = steady()
r["parent"]["spec"]["identity"]["admin"]["username"] = "root"
case("invalid-spec-admin-username", r)
r = steady()
r["children"]["ConfigMap.v1"]["demo-config"]["data"]["config.yaml"] = (
    "admin:\n  username: admin\ncontrolplane:\n  host: 0.0.0.0\n  port: 8080\n"
    "database:\n  sqlite:\n    path: /data/controlplane/controlplane.db\n  type: sqlite\n")
r["parent"]["spec"]["database"] = {"type": "postgres", "postgresSecretRef": {"name": "demo-postgres"}}
case("invalid-spec-database-change", r)

# Issue 3/4: discovery against a ready server.
r = copy.deepcopy(READY)
r["children"]["Secret.v1"]["demo-operator-credentials"] = copy.deepcopy(OPERATOR_SECRET)
case("poll-fresh-server", r, {"adaptersFile": "../../dittofs/adapters-fresh.body"})
case("steady", steady(), {"adaptersFile": "../../dittofs/adapters-fresh.body"})
case("smb-disabled-nfs-moved", steady(), {"adaptersFile": "../../dittofs/adapters-smb-disabled-nfs-moved.body"})
r = steady()
del r["children"]["Service.v1"]["demo-adapter-smb"]
r["parent"]["status"]["adapters"] = [
    {"type": "nfs", "port": 12050, "enabled": True, "running": True, "service": "demo-adapter-nfs", "endpoints": ["203.0.113.10:12050", "*:31236", "10.0.0.33:12050"]},
    {"type": "smb", "port": 1445, "enabled": False, "running": False},
]
r["children"]["Service.v1"]["demo-adapter-nfs"] = service("demo-adapter-nfs", "nfs", 12050, 31236, "10.0.0.33", [{"ip": "203.0.113.10", "ipMode": "VIP"}])
case("smb-policy-removed-after-service", r, {"adaptersFile": "../../dittofs/adapters-smb-disabled-nfs-moved.body"})
case("smb-recreated-port0", steady(), {"adaptersFile": "../../dittofs/adapters-smb-port0.body"})
case("empty-adapter-list", steady(), {"adapters": []})
for kind in ["refused", "timeout", "reset", "http-302", "http-500", "http-401", "http-403", "malformed", "admin-rejected", "no-admin", "operator-forbidden", "operator-conflict"]:
    case("failure-" + kind, steady(), {"error": kind})
case("failure-garbage-body", steady(), {"adaptersFile": "../../dittofs/health.body"})
r = steady()
for c in r["parent"]["status"]["conditions"]:
    if c["type"] in ("AdaptersDiscovered", "Authenticated", "Ready"):
        c.update(status="False", reason="APIUnreachable", lastTransitionTime="2026-11-25T20:00:00Z",
                 message="DittoFS API at http://demo-api.default.svc.cluster.local.:8080 is unreachable (login: connection refused); adapter Services are kept as last discovered")
case("failure-refused-for-10-minutes", r, {"error": "refused"})
r = steady()
del r["parent"]["status"]["adapters"]
case("failure-status-lost", r, {"error": "refused"})
r = steady()
r["children"]["StatefulSet.apps/v1"]["demo"]["status"] = {"observedGeneration": 1, "replicas": 1, "readyReplicas": 0}
case("pod-not-ready", r)
case("unknown-and-duplicate-types", steady(), {"adapters": [
    {"id": "b", "type": "nfs", "enabled": False, "running": False, "port": 2049, "created_at": "2026-11-25T20:05:44Z"},
    {"id": "a", "type": "nfs", "enabled": True, "running": True, "port": 12049, "created_at": "2026-11-25T20:05:45Z"},
    {"id": "c", "type": "NFSv4.1", "enabled": True, "running": False, "port": 20490, "created_at": "2026-11-25T20:05:46Z"},
    {"id": "d", "type": "smb", "enabled": True, "running": True, "port": 0, "created_at": "2026-11-25T20:05:47Z"},
]})
case("too-many-adapters", steady(), {"adapters": [
    {"id": str(i), "type": "t%02d" % i, "enabled": True, "running": True, "port": 20000 + i} for i in range(40)]})
r = steady()
r["parent"]["spec"]["adapterServices"] = {"type": "NodePort", "overrides": {"nfs": {"udp": True, "portmapper": True}}}
case("nfs-udp-portmapper", r, {"adaptersFile": "../../dittofs/adapters-fresh.body"})
r = steady()
r["parent"]["spec"]["networkPolicy"] = {"enabled": False}
case("networkpolicy-disabled", r, {"adaptersFile": "../../dittofs/adapters-fresh.body"})
case("networkpolicy-disabled-api-down", r, {"error": "refused"})
r = steady()
r["finalizing"] = True
r["parent"]["metadata"]["deletionTimestamp"] = "2026-11-25T20:09:50Z"
case("finalize-account-deleted", r, {"finalized": True})
case("finalize-api-down-within-grace", r, {"error": "refused"})
case("finalize-operator-conflict", r, {"error": "operator-conflict"})

# Captured requests are copied byte for byte, as Metacontroller sent them.
VERBATIM = {"captured-first": "sync-first.json", "captured-children-created": "sync-children-created.json",
            "captured-ready-lb": "sync-ready-lb.json", "captured-finalize": "finalize-request.json",
            "admin-secret-related-present": "sync-first.json"}

for name, (request, dittofs) in CASES.items():
    d = os.path.join(HERE, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "request.json"), "wb") as f:
        if name in VERBATIM:
            with open(os.path.join(MC, VERBATIM[name]), "rb") as src:
                f.write(src.read())
        else:
            f.write((json.dumps(request, indent=1, sort_keys=True) + "\n").encode())
    p = os.path.join(d, "dittofs.json")
    if dittofs is None:
        if os.path.exists(p):
            os.remove(p)
    else:
        with open(p, "w") as f:
            json.dump(dittofs, f, indent=1, sort_keys=True)
            f.write("\n")
print("wrote %d cases" % len(CASES))
