package hook_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Each sync case's one-line claim, made executable: a predicate on the
// answer, stated from the request and the claim alone, never from another
// run of the hook. The goldens fix every byte of an answer; these say what
// must hold whatever the bytes are, so that `-update` cannot bless a
// regression. The rules every answer keeps (invariants, below) run on every
// case besides its own claim.

// answered is a case's request and answer as JSON trees.
type answered struct {
	req, resp map[string]any
	// children of the answer and of the request, by "Kind/name".
	children, observed map[string]map[string]any
}

func newAnswered(t *testing.T, request, answer []byte) *answered {
	t.Helper()
	a := &answered{children: map[string]map[string]any{}, observed: map[string]map[string]any{}}
	if err := json.Unmarshal(request, &a.req); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(answer, &a.resp); err != nil {
		t.Fatal(err)
	}
	for _, c := range list(a.resp["children"]) {
		obj := c.(map[string]any)
		k := str(obj["kind"]) + "/" + str(get(obj, "metadata.name"))
		if a.children[k] != nil {
			t.Fatalf("the answer names two children %s", k)
		}
		a.children[k] = obj
	}
	// Each observed child by kind and name, whatever its key (hook
	// version v2 files it under "<namespace>/<name>").
	for _, objs := range obj(a.req["children"]) {
		for _, o := range obj(objs) {
			a.observed[str(obj(o)["kind"])+"/"+str(get(obj(o), "metadata.name"))] = obj(o)
		}
	}
	return a
}

// cr is the DittoServer's name.
func (a *answered) cr() string { return str(get(a.req, "parent.metadata.name")) }

// policiesOn: the spec leaves NetworkPolicies on (the default).
func (a *answered) policiesOn() bool {
	v, ok := get(a.req, "parent.spec.networkPolicy.enabled").(bool)
	return !ok || v
}

func (a *answered) condition(typ string) map[string]any {
	for _, c := range list(get(a.resp, "status.conditions")) {
		if c := obj(c); c["type"] == typ {
			return c
		}
	}
	return nil
}

// adapterChild says whether "Kind/name" is an adapter's Service or policy.
func (a *answered) adapterChild(k string) bool {
	kind, name, _ := strings.Cut(k, "/")
	return (kind == "Service" || kind == "NetworkPolicy") && strings.HasPrefix(name, a.cr()+"-adapter-")
}

// check is one claim's predicate.
type check func(t *testing.T, a *answered)

func checks(cs ...check) check {
	return func(t *testing.T, a *answered) {
		t.Helper()
		for _, c := range cs {
			c(t, a)
		}
	}
}

// cond: the condition has this status ("True", "False") and reason.
func cond(typ, status, reason string) check {
	return func(t *testing.T, a *answered) {
		t.Helper()
		c := a.condition(typ)
		if c == nil || c["status"] != status || c["reason"] != reason {
			t.Errorf("claim: %s %s %s; the answer has %v", typ, status, reason, c)
		}
	}
}

// says: the condition's message names each of parts.
func says(typ string, parts ...string) check {
	return func(t *testing.T, a *answered) {
		t.Helper()
		msg := str(a.condition(typ)["message"])
		for _, p := range parts {
			if !strings.Contains(msg, p) {
				t.Errorf("claim: %s names %q; its message is %q", typ, p, msg)
			}
		}
	}
}

// has: each child is in the answer.
func has(children ...string) check {
	return func(t *testing.T, a *answered) {
		t.Helper()
		for _, k := range children {
			if a.children[k] == nil {
				t.Errorf("claim: the answer has %s; it has %v", k, slices.Sorted(maps.Keys(a.children)))
			}
		}
	}
}

// lacks: no such child is in the answer.
func lacks(children ...string) check {
	return func(t *testing.T, a *answered) {
		t.Helper()
		for _, k := range children {
			if a.children[k] != nil {
				t.Errorf("claim: the answer has no %s", k)
			}
		}
	}
}

// noKind: no child of this kind is in the answer.
func noKind(kind string) check {
	return func(t *testing.T, a *answered) {
		t.Helper()
		for k := range a.children {
			if strings.HasPrefix(k, kind+"/") {
				t.Errorf("claim: the answer has no %s; it has %s", kind, k)
			}
		}
	}
}

// adapters: the answer's adapter children are exactly these.
func adapters(children ...string) check {
	return func(t *testing.T, a *answered) {
		t.Helper()
		var got []string
		for k := range a.children {
			if a.adapterChild(k) {
				got = append(got, k)
			}
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(children))
		if !slices.Equal(got, want) {
			t.Errorf("claim: the adapter children are %v; the answer has %v", want, got)
		}
	}
}

// everyChildKept: every observed child is answered (a spec the hook cannot
// use, an upstream object the hook keeps).
func everyChildKept(t *testing.T, a *answered) {
	t.Helper()
	for k := range a.observed {
		if a.children[k] == nil {
			t.Errorf("claim: every child kept; %s is not", k)
		}
	}
}

// adapterChildrenKept: every observed adapter Service and policy is
// answered, each Service with the ports (number, protocol, node port) it
// has: nothing for Metacontroller to delete or readdress.
func adapterChildrenKept(t *testing.T, a *answered) {
	t.Helper()
	for k, o := range a.observed {
		if !a.adapterChild(k) {
			continue
		}
		got := a.children[k]
		if got == nil {
			t.Errorf("claim: every adapter child kept; %s is not", k)
			continue
		}
		if !strings.HasPrefix(k, "Service/") {
			continue
		}
		// The same ports; a node port the answer names is the one the
		// Service has (one it leaves out keeps its value under either
		// apply strategy).
		observedPorts, answered := ports(o), ports(got)
		if !slices.Equal(slices.Sorted(maps.Keys(observedPorts)), slices.Sorted(maps.Keys(answered))) {
			t.Errorf("claim: %s kept as it is; its ports %v became %v", k, observedPorts, answered)
		}
		for p, np := range answered {
			if np != nil && !jsonEqual(np, observedPorts[p]) {
				t.Errorf("claim: %s kept as it is; port %s's node port %v became %v", k, p, observedPorts[p], np)
			}
		}
	}
}

// ports of a Service: "port/protocol" → node port (nil when not set).
func ports(svc map[string]any) map[string]any {
	out := map[string]any{}
	for _, p := range list(get(svc, "spec.ports")) {
		p := obj(p)
		out[fmt.Sprintf("%v/%v", p["port"], p["protocol"])] = p["nodePort"]
	}
	return out
}

// field: a field of a child (a dotted path; list elements by index) is want,
// compared as JSON.
func field(child, path string, want any) check {
	return func(t *testing.T, a *answered) {
		t.Helper()
		got := get(a.children[child], path)
		if !jsonEqual(got, want) {
			t.Errorf("claim: %s %s is %v; the answer has %v", child, path, want, got)
		}
	}
}

// fieldHas: a field of a child, as JSON (a string as it is), contains each part.
func fieldHas(child, path string, parts ...string) check {
	return func(t *testing.T, a *answered) {
		t.Helper()
		v := get(a.children[child], path)
		s, ok := v.(string)
		if !ok {
			b, _ := json.Marshal(v)
			s = string(b)
		}
		for _, p := range parts {
			if !strings.Contains(s, p) {
				t.Errorf("claim: %s %s has %q; it is %.300s", child, path, p, s)
			}
		}
	}
}

// status: a field of the answer's status is want (nil: absent).
func status(path string, want any) check {
	return func(t *testing.T, a *answered) {
		t.Helper()
		if got := get(a.resp, "status."+path); !jsonEqual(got, want) {
			t.Errorf("claim: status.%s is %v; the answer has %v", path, want, got)
		}
	}
}

// adaptersKnown: status.adapters lists these, as "type:port" ("(disabled)" appended).
func adaptersKnown(want ...string) check {
	return func(t *testing.T, a *answered) {
		t.Helper()
		var got []string
		for _, x := range list(get(a.resp, "status.adapters")) {
			x := obj(x)
			s := fmt.Sprintf("%v:%v", x["type"], x["port"])
			if x["enabled"] != true {
				s += "(disabled)"
			}
			got = append(got, s)
		}
		if !slices.Equal(got, want) {
			t.Errorf("claim: status.adapters %v; the answer has %v", want, got)
		}
	}
}

// headless: the headless Service's ports, as "name:port", in order.
func headless(want ...string) check {
	return func(t *testing.T, a *answered) {
		t.Helper()
		var got []string
		for _, p := range list(get(a.children["Service/"+a.cr()+"-headless"], "spec.ports")) {
			p := obj(p)
			got = append(got, fmt.Sprintf("%v:%v", p["name"], p["port"]))
		}
		if !slices.Equal(got, want) {
			t.Errorf("claim: the headless Service's ports are %v; the answer has %v", want, got)
		}
	}
}

// resync: resyncAfterSeconds.
func resync(seconds int) check {
	return func(t *testing.T, a *answered) {
		t.Helper()
		if got := a.resp["resyncAfterSeconds"]; !jsonEqual(got, seconds) {
			t.Errorf("claim: resync after %d s; the answer says %v", seconds, got)
		}
	}
}

// finalized: the answer's finalized.
func finalized(want bool) check {
	return func(t *testing.T, a *answered) {
		t.Helper()
		if got, _ := a.resp["finalized"].(bool); got != want {
			t.Errorf("claim: finalized %t; the answer says %t", want, got)
		}
	}
}

// statusAsBefore: the status the request carries comes back (less what
// Metacontroller adds): nothing to write.
func statusAsBefore(t *testing.T, a *answered) {
	t.Helper()
	prev := maps.Clone(obj(get(a.req, "parent.status")))
	delete(prev, "observedGeneration")
	if d := cmp.Diff(prev, obj(get(a.resp, "status"))); d != "" {
		t.Errorf("claim: the status comes back as it was (-request +answer):\n%s", d)
	}
}

// transitionsKept: every condition the request's status has comes back
// with its status and lastTransitionTime: a failure that goes on is not a
// new one.
func transitionsKept(t *testing.T, a *answered) {
	t.Helper()
	for _, c := range list(get(a.req, "parent.status.conditions")) {
		c := obj(c)
		got := a.condition(str(c["type"]))
		if got == nil || got["status"] != c["status"] || got["lastTransitionTime"] != c["lastTransitionTime"] {
			t.Errorf("claim: %v stays %v since %v; the answer has %v", c["type"], c["status"], c["lastTransitionTime"], got)
		}
	}
}

// podTemplateAsBefore: the pod template's config hash is the one the
// request's status reports: adapters changed nothing that restarts DittoFS.
func podTemplateAsBefore(t *testing.T, a *answered) {
	t.Helper()
	want := get(a.req, "parent.status.configHash")
	if want == nil {
		t.Fatal("the request's status has no configHash to compare with")
	}
	if got := get(a.children["StatefulSet/"+a.cr()], "spec.template.metadata.annotations.dittofs\\.io/config-hash"); got != want {
		t.Errorf("claim: the pod template is unchanged (config hash %v); the answer's is %v", want, got)
	}
}

// pgSecretOf: the Secret the StatefulSet's DittoFS reads its Postgres host from.
func pgSecretOf(sts map[string]any) string {
	for _, c := range list(get(sts, "spec.template.spec.containers")) {
		for _, e := range list(obj(c)["env"]) {
			if e := obj(e); e["name"] == "DITTOFS_DATABASE_POSTGRES_HOST" {
				return str(get(e, "valueFrom.secretKeyRef.name"))
			}
		}
	}
	return ""
}

// pgFrom: the pod reads its Postgres settings from the Secret named (or, for
// a name ending in "-", the one Secret of the answer so prefixed), and that
// Secret, when the answer carries it, holds exactly want (nil: not checked).
func pgFrom(name string, want map[string]string) check {
	return func(t *testing.T, a *answered) {
		t.Helper()
		if strings.HasSuffix(name, "-") {
			var found []string
			for k := range a.children {
				if strings.HasPrefix(k, "Secret/"+name) {
					found = append(found, strings.TrimPrefix(k, "Secret/"))
				}
			}
			if len(found) == 0 {
				t.Errorf("claim: a Secret %s<hash> is answered; there is none", name)
				return
			}
			if got := pgSecretOf(a.children["StatefulSet/demo"]); !slices.Contains(found, got) {
				t.Errorf("claim: the pod reads one of %v; it reads %q", found, got)
				return
			}
			name = pgSecretOf(a.children["StatefulSet/demo"])
		} else if got := pgSecretOf(a.children["StatefulSet/demo"]); got != name {
			t.Errorf("claim: the pod reads its Postgres settings from Secret %s; it reads %q", name, got)
		}
		if want == nil {
			return
		}
		sec := a.children["Secret/"+name]
		got := map[string]string{}
		for k, v := range obj(sec["data"]) {
			b, err := base64.StdEncoding.DecodeString(str(v))
			if err != nil {
				t.Fatal(err)
			}
			got[k] = string(b)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("claim: Secret %s holds DittoFS's settings (-want +got):\n%s", name, d)
		}
	}
}

// lacksPrefix: no child whose "Kind/name" starts so.
func lacksPrefix(prefix string) check {
	return func(t *testing.T, a *answered) {
		t.Helper()
		for k := range a.children {
			if strings.HasPrefix(k, prefix) {
				t.Errorf("claim: no %s…; the answer has %s", prefix, k)
			}
		}
	}
}

// quotesNothing: no condition message holds any of these pieces of a value.
func quotesNothing(pieces ...string) check {
	return func(t *testing.T, a *answered) {
		t.Helper()
		for _, c := range list(get(a.resp, "status.conditions")) {
			for _, p := range pieces {
				if m := str(obj(c)["message"]); strings.Contains(m, p) {
					t.Errorf("claim: no message quotes the value; %v's has %q: %s", obj(c)["type"], p, m)
				}
			}
		}
	}
}

// notPolled: the answer says DittoFS was not asked (a reason of waiting),
// and reports no adapter of its own.
func notPolled(reason string) check {
	return checks(cond("AdaptersDiscovered", "False", reason), cond("Authenticated", "False", reason))
}

// The invariants: what every answer keeps, whatever the case.
var invariants = map[string]check{
	// Observed Secrets come back byte for byte (their update strategy is
	// OnDelete, but an answer that differs would still be a lie in status
	// and Events, and a Secret deleted by hand would come back different).
	"observed Secrets returned unchanged": func(t *testing.T, a *answered) {
		t.Helper()
		for k, o := range a.observed {
			if !strings.HasPrefix(k, "Secret/") {
				continue
			}
			got := a.children[k]
			if got == nil {
				// A Secret derived from a Postgres connection string goes
				// once neither the running nor the answered pod reads it.
				n := strings.TrimPrefix(k, "Secret/")
				if strings.HasPrefix(n, a.cr()+"-postgres-conn-") &&
					pgSecretOf(a.observed["StatefulSet/"+a.cr()]) != n && pgSecretOf(a.children["StatefulSet/"+a.cr()]) != n {
					continue
				}
				// Upstream's legacy admin Secret goes once the bootstrap
				// Secret holds its password (adopted).
				if n == a.cr()+"-admin-credentials" {
					if boot := a.observed["Secret/"+a.cr()+"-admin-bootstrap-credentials"]; boot != nil &&
						get(boot, "data.password") == get(o, "data.password") {
						continue
					}
				}
				t.Errorf("the observed %s is not answered", k)
				continue
			}
			// The same keys and the same bytes: in data as observed, or in
			// stringData (a child kept as last applied may carry its value so).
			want := map[string]string{}
			for key, v := range obj(o["data"]) {
				b, err := base64.StdEncoding.DecodeString(str(v))
				if err != nil {
					t.Fatalf("%s: %v", k, err)
				}
				want[key] = string(b)
			}
			answered := map[string]string{}
			for key, v := range obj(got["data"]) {
				b, _ := base64.StdEncoding.DecodeString(str(v))
				answered[key] = string(b)
			}
			for key, v := range obj(got["stringData"]) {
				answered[key] = str(v)
			}
			if d := cmp.Diff(want, answered); d != "" {
				t.Errorf("the observed %s's values changed (-observed +answered):\n%s", k, d)
			}
		}
	},
	// Access is removed only after the address and added no later than it:
	// an adapter policy goes only once its Service is gone from the
	// request; an adapter Service is answered only with its policy.
	"a Service goes before its policy, a policy comes with its Service": func(t *testing.T, a *answered) {
		t.Helper()
		if !a.policiesOn() {
			return
		}
		for k := range a.observed {
			if _, name, _ := strings.Cut(k, "/"); strings.HasPrefix(k, "NetworkPolicy/") && a.adapterChild(k) && a.children[k] == nil &&
				(a.observed["Service/"+name] != nil || a.observed["Service/"+name+"-udp"] != nil) {
				t.Errorf("%s removed while its Service exists", k)
			}
		}
		for k := range a.children {
			if _, name, _ := strings.Cut(k, "/"); strings.HasPrefix(k, "Service/") && a.adapterChild(k) &&
				a.children["NetworkPolicy/"+name] == nil && a.children["NetworkPolicy/"+strings.TrimSuffix(name, "-udp")] == nil {
				t.Errorf("%s answered without its NetworkPolicy", k)
			}
		}
	},
	// A sync that did not poll successfully keeps every adapter child.
	"no successful poll, every adapter child kept": func(t *testing.T, a *answered) {
		t.Helper()
		if c := a.condition("AdaptersDiscovered"); c != nil && c["status"] == "True" {
			return
		}
		for k := range a.observed {
			if a.adapterChild(k) && a.children[k] == nil && (a.policiesOn() || !strings.HasPrefix(k, "NetworkPolicy/")) {
				t.Errorf("no successful poll, yet %s is not answered", k)
			}
		}
	},
	// Every condition message is one line of at most 1,024 characters.
	"condition messages bounded": func(t *testing.T, a *answered) {
		t.Helper()
		for _, c := range list(get(a.resp, "status.conditions")) {
			m := str(obj(c)["message"])
			if len([]rune(m)) > 1024 || strings.ContainsAny(m, "\r\n\t") {
				t.Errorf("%v message %.80q… is not one line of at most 1024 characters", obj(c)["type"], m)
			}
		}
	},
}

// claims: each sync case's claim (its one line in syncCases), as a check.
var claims = map[string]check{
	"captured-first": checks(has("StatefulSet/demo", "Service/demo-headless", "Service/demo-api", "ConfigMap/demo-config", "Secret/demo-jwt-secret",
		"Secret/demo-operator-credentials", "NetworkPolicy/demo-baseline"), adapters(), notPolled("WaitingForServer")),
	"captured-children-created": checks(adapterChildrenKept, notPolled("WaitingForServer")), // Secrets: the invariant
	"captured-ready-lb":         checks(notPolled("WaitingForCredentials"), adapterChildrenKept, has("Secret/demo-operator-credentials")),
	"captured-finalize":         checks(finalized(true), everyChildKept, cond("Ready", "False", "Finalizing")),
	"first-minimal": checks(has("Secret/demo-jwt-secret", "Secret/demo-admin-bootstrap-credentials", "Secret/demo-operator-credentials"),
		field("StatefulSet/demo", "spec.replicas", 1), field("Service/demo-api", "spec.type", "ClusterIP"),
		field("StatefulSet/demo", "spec.volumeClaimTemplates.0.spec.resources.requests.storage", "1Gi"), resync(30)),
	"first-full": checks(
		field("StatefulSet/demo", "spec.template.spec.containers.0.image", "registry.example.com/dittofs:0.29.0"),
		field("StatefulSet/demo", "spec.template.spec.containers.0.imagePullPolicy", "Always"),
		field("StatefulSet/demo", "spec.template.spec.priorityClassName", "dittofs-storage"),
		field("StatefulSet/demo", "spec.template.spec.terminationGracePeriodSeconds", 180),
		field("StatefulSet/demo", "spec.template.spec.nodeSelector", map[string]any{"kubernetes.io/arch": "amd64"}),
		field("StatefulSet/demo", "spec.template.spec.containers.0.resources.limits.memory", "4Gi"),
		fieldHas("StatefulSet/demo", "spec.volumeClaimTemplates", `"5Gi"`, `"100Gi"`, `"2Gi"`, `"fast-ssd"`),
		fieldHas("ConfigMap/demo-config", "data.config\\.yaml", "port: 9090", "postgres", "DEBUG", "10m", "24h"),
		field("Service/demo-api", "metadata.annotations", map[string]any{"example.com/team": "storage"}),
		lacks("Secret/demo-jwt-secret", "Secret/demo-admin-bootstrap-credentials"), resync(60)),
	"secrets-exist":                 checks(has("Secret/demo-operator-credentials")), // the invariant
	"secrets-exist-generated-admin": checks(has("Secret/demo-admin-bootstrap-credentials"), cond("Authenticated", "False", "WaitingForServer")),
	"replicas-zero": checks(field("StatefulSet/demo", "spec.replicas", 0), adapterChildrenKept, cond("Ready", "False", "Stopped"),
		status("phase", "Stopped")),
	"admin-secret-related-present":     checks(notPolled("WaitingForServer")),
	"admin-secret-related-missing":     checks(cond("Authenticated", "False", "AdminSecretMissing"), says("Authenticated", "demo-admin-password")),
	"admin-secret-related-missing-key": checks(cond("Authenticated", "False", "AdminSecretMissing"), says("Authenticated", "demo-admin-password", "password")),
	"invalid-spec-quantity":            checks(cond("Ready", "False", "InvalidSpec"), says("Ready", "spec.storage.metadataSize"), everyChildKept),
	"invalid-spec-admin-username":      checks(cond("Ready", "False", "InvalidSpec"), says("Ready", "spec.identity.admin.username"), everyChildKept),
	"invalid-spec-database-change":     checks(cond("Ready", "False", "InvalidSpec"), says("Ready", "spec.database", "allowControlPlaneReset"), everyChildKept),

	// smb's policy is new: its Service comes on the next sync, once the
	// policy is observed (access never after the address).
	"poll-fresh-server": checks(adapters("Service/demo-adapter-nfs", "NetworkPolicy/demo-adapter-nfs", "NetworkPolicy/demo-adapter-smb"),
		cond("AdaptersDiscovered", "True", "PollSucceeded"), adaptersKnown("nfs:12049", "smb:1445")),
	"steady": checks(statusAsBefore, podTemplateAsBefore, adapterChildrenKept, headless("api:8080", "nfs:12049", "smb:1445")),
	"smb-disabled-nfs-moved": checks(headless("api:8080", "nfs:12050"), lacks("Service/demo-adapter-smb"), has("NetworkPolicy/demo-adapter-smb"),
		field("Service/demo-adapter-nfs", "spec.ports.0.port", 12050), field("Service/demo-adapter-nfs", "spec.ports.0.nodePort", 31236),
		adaptersKnown("nfs:12050", "smb:1445(disabled)"), fieldHas("NetworkPolicy/demo-adapter-nfs", "spec.ingress", `"port":12050`), podTemplateAsBefore,
		func(t *testing.T, a *answered) {
			if e := str(get(a.resp, "status.adapters.0.endpoints.0")); !strings.HasPrefix(e, "203.0.113.10:") {
				t.Errorf("claim: nfs keeps its address 203.0.113.10; status says %v", e)
			}
		}),
	"smb-policy-removed-after-service": checks(adapters("Service/demo-adapter-nfs", "NetworkPolicy/demo-adapter-nfs"), podTemplateAsBefore),
	"smb-recreated-port0":              checks(field("Service/demo-adapter-smb", "spec.ports.0.port", 12445), adaptersKnown("nfs:12050", "smb:12445"), podTemplateAsBefore),
	"adapter-unknown-type-port0": checks(adapterChildrenKept, lacksPrefix("Service/demo-adapter-w"), lacksPrefix("NetworkPolicy/demo-adapter-w"),
		cond("AdaptersDiscovered", "True", "PollSucceeded"), cond("AdaptersReady", "False", "AdapterNotExposed"),
		says("AdaptersReady", "webdav: reports port 0", "no Service", "every other adapter is applied"), adaptersKnown("nfs:12049", "smb:1445"), podTemplateAsBefore),
	"adapter-malformed-items": checks(has("Service/demo-adapter-smb", "NetworkPolicy/demo-adapter-smb"), field("Service/demo-adapter-smb", "spec.ports.0.port", 1445),
		field("Service/demo-adapter-nfs", "spec.ports.0.port", 12050), cond("AdaptersReady", "False", "AdapterNotExposed"),
		says("AdaptersReady", `the adapter with id "x1": has no type`, "smb: has no port (its Service and NetworkPolicy stay as last known)"),
		adaptersKnown("nfs:12050", "smb:1445"), podTemplateAsBefore),
	"adapter-degraded": checks(adapterChildrenKept, cond("AdaptersReady", "False", "AdapterDegraded"), says("AdaptersReady", "smb degraded"),
		status("adapters.1.health", "degraded"), status("adapters.0.health", "healthy"), status("adapters.1.endpoints.0", "*:30445"), podTemplateAsBefore),
	"adapter-degraded-steady": checks(statusAsBefore, adapterChildrenKept),
	"empty-adapter-list": checks(adapters("NetworkPolicy/demo-adapter-nfs", "NetworkPolicy/demo-adapter-smb"), adaptersKnown(),
		cond("AdaptersDiscovered", "True", "PollSucceeded"), podTemplateAsBefore),
	"failure-refused":   checks(adapterChildrenKept, cond("AdaptersDiscovered", "False", "APIUnreachable"), adaptersKnown("nfs:12049", "smb:1445"), podTemplateAsBefore),
	"failure-timeout":   checks(adapterChildrenKept, cond("AdaptersDiscovered", "False", "APIUnreachable")),
	"failure-reset":     checks(adapterChildrenKept, cond("AdaptersDiscovered", "False", "APIUnreachable")),
	"failure-http-302":  checks(adapterChildrenKept, cond("AdaptersDiscovered", "False", "UnexpectedRedirect")),
	"failure-http-500":  checks(adapterChildrenKept, cond("AdaptersDiscovered", "False", "APIError")),
	"failure-http-401":  checks(adapterChildrenKept, cond("AdaptersDiscovered", "False", "Unauthorized")),
	"failure-http-403":  checks(adapterChildrenKept, cond("AdaptersDiscovered", "False", "Unauthorized")),
	"failure-malformed": checks(adapterChildrenKept, cond("AdaptersDiscovered", "False", "InvalidResponse")),
	"failure-admin-rejected": checks(adapterChildrenKept, cond("Authenticated", "False", "AdminCredentialsRejected"),
		says("Authenticated", "demo-admin-password")),
	"failure-no-admin":           checks(adapterChildrenKept, cond("Authenticated", "False", "AdminCredentialsMissing")),
	"failure-operator-forbidden": checks(adapterChildrenKept, cond("Authenticated", "False", "AdminCredentialsRejected")),
	"failure-operator-conflict":  checks(adapterChildrenKept, cond("Authenticated", "False", "OperatorAccountConflict"), says("Authenticated", "k8s-operator")),
	"failure-garbage-body":       checks(adapterChildrenKept, cond("AdaptersDiscovered", "False", "InvalidResponse"), adaptersKnown("nfs:12049", "smb:1445")),
	// The failure began at 20:00, 10 minutes before the clock: the backoff
	// is at its cap of 5 minutes; no condition transitions again.
	"failure-refused-for-10-minutes": checks(adapterChildrenKept, resync(300), transitionsKept),
	"failure-refused-for-45s":        checks(adapterChildrenKept, resync(30)),
	"failure-refused-replica-back":   checks(adapterChildrenKept, resync(30)),
	"failure-status-lost":            checks(adapterChildrenKept, adaptersKnown()),
	"pod-not-ready":                  checks(adapterChildrenKept, notPolled("WaitingForServer")),
	// A type that is not a DNS label becomes one, told apart by the first 6
	// hex digits of its SHA-256 (README: "webdav-d92634").
	"unknown-and-duplicate-types": checks(headless("api:8080", "adapter:20490", "nfs:12049", "smb:12445"), has("NetworkPolicy/demo-adapter-nfsv4-1-"+sha6("NFSv4.1")), lacks("Service/demo-adapter-nfsv4-1-"+sha6("NFSv4.1")),
		field("Service/demo-adapter-nfs", "spec.ports.0.port", 12049), adaptersKnown("NFSv4.1:20490", "nfs:12049", "smb:12445")),
	// Issue 21: an adapter on a port the hook itself exposes gets no address.
	"adapter-on-api-port": checks(headless("api:8080", "nfs:12049"), cond("AdaptersReady", "False", "AdapterPortReserved"), says("AdaptersReady", "smb", "8080"),
		lacks("Service/demo-adapter-smb"), has("Service/demo-adapter-nfs", "NetworkPolicy/demo-adapter-nfs")),
	"adapter-on-api-port-api-down": checks(cond("AdaptersReady", "False", "AdapterPortReserved"), cond("AdaptersDiscovered", "False", "APIUnreachable"),
		has("Service/demo-adapter-smb", "NetworkPolicy/demo-adapter-smb", "Service/demo-adapter-nfs"), adapterChildrenKept),
	"too-many-adapters": checks(adapterChildrenKept, cond("AdaptersDiscovered", "False", "InvalidResponse"), says("AdaptersDiscovered", "40", "32"),
		adapters("Service/demo-adapter-nfs", "NetworkPolicy/demo-adapter-nfs", "Service/demo-adapter-smb", "NetworkPolicy/demo-adapter-smb")),
	"nfs-udp-portmapper": checks(has("Service/demo-adapter-nfs-udp"), field("Service/demo-adapter-nfs-udp", "spec.ports.0.protocol", "UDP"),
		fieldHas("Service/demo-adapter-nfs", "spec.ports", `"port":111`, `"targetPort":10111`),
		fieldHas("NetworkPolicy/demo-adapter-nfs", "spec.ingress", `"protocol":"UDP"`, `"port":10111`)),
	"networkpolicy-disabled":          checks(noKind("NetworkPolicy"), has("Service/demo-adapter-nfs", "Service/demo-adapter-smb")),
	"networkpolicy-disabled-api-down": checks(noKind("NetworkPolicy"), has("Service/demo-adapter-nfs", "Service/demo-adapter-smb"), cond("AdaptersDiscovered", "False", "APIUnreachable")),
	"finalize-account-deleted":        checks(finalized(true), everyChildKept),
	"finalize-api-down-within-grace":  checks(finalized(false), everyChildKept, resync(5)),
	"finalize-operator-conflict":      checks(finalized(true), everyChildKept),

	"tls-served": checks(fieldHas("StatefulSet/demo", "spec.template.spec.containers.0.readinessProbe", `"scheme":"HTTPS"`),
		fieldHas("StatefulSet/demo", "spec.template.spec.volumes", `"secretName":"demo-tls"`),
		fieldHas("StatefulSet/demo", "spec.template.spec.containers.0.volumeMounts", `"mountPath":"/tls"`),
		cond("AdaptersDiscovered", "True", "PollSucceeded")),
	"tls-mutual": checks(fieldHas("ConfigMap/demo-config", "data.config\\.yaml", "client_ca"),
		fieldHas("StatefulSet/demo", "spec.template.spec.containers.0.readinessProbe", `"tcpSocket"`),
		fieldHas("StatefulSet/demo", "spec.template.spec.volumes", `"secretName":"demo-client-ca"`)),
	"tls-secret-missing": checks(adapterChildrenKept, notPolled("TLSSecretMissing"), says("AdaptersDiscovered", "demo-tls")),
	"tls-untrusted":      checks(adapterChildrenKept, cond("Authenticated", "False", "ServerCertificateRejected")),
	"tls-no-client-certificate": checks(adapterChildrenKept, cond("Authenticated", "False", "ClientCertificateMissing"),
		says("Authenticated", "--dittofs-client-cert-file")),
	"tls-client-certificate-refused": checks(adapterChildrenKept, cond("Authenticated", "False", "ClientCertificateRefused"), says("Authenticated", "demo-client-ca")),
	"tls-plain-server":               checks(adapterChildrenKept, cond("Authenticated", "False", "TLSHandshakeFailed")),
	"metrics-no-servicemonitor-type": checks(has("Service/demo-metrics"), lacks("ServiceMonitor/demo-metrics"),
		fieldHas("StatefulSet/demo", "spec.template.spec.containers.0.ports", `"containerPort":9100`),
		fieldHas("NetworkPolicy/demo-baseline", "spec.ingress", `"port":9100`), cond("ConfigReady", "False", "ServiceMonitorNotInstalled")),
	"metrics-servicemonitor": checks(has("ServiceMonitor/demo-metrics"), fieldHas("ServiceMonitor/demo-metrics", "spec.endpoints", `"demo-metrics-token"`)),
	"percona-not-installed":  checks(cond("DatabaseReady", "False", "PerconaNotInstalled"), says("DatabaseReady", "Percona"), noKind("StatefulSet")),
	"percona-creating":       checks(has("PerconaPGCluster/demo-postgres"), noKind("StatefulSet"), cond("DatabaseReady", "False", "PerconaNotFound")),
	"percona-ready": checks(has("StatefulSet/demo"), cond("DatabaseReady", "True", "PerconaReady"),
		fieldHas("StatefulSet/demo", "spec.template.spec.containers.0.env", "demo-postgres-pguser-"), fieldHas("ConfigMap/demo-config", "data.config\\.yaml", "require")),
	"storage-class-missing": checks(noKind("StatefulSet"), cond("ConfigReady", "False", "StorageClassNotFound"), cond("Ready", "False", "StorageClassNotFound"),
		says("Ready", "StorageClass fast", "spec.storage.storageClassName", "kubectl get storageclass", "created once it exists"), has("Service/demo-headless", "ConfigMap/demo-config")),
	"storage-class-present": checks(has("StatefulSet/demo"), field("StatefulSet/demo", "spec.volumeClaimTemplates.0.spec.storageClassName", "fast"),
		cond("ConfigReady", "True", "ConfigValid")),
	"storage-class-deleted": checks(has("StatefulSet/demo"), adapterChildrenKept, cond("ConfigReady", "False", "StorageClassNotFound"),
		says("ConfigReady", "StorageClass fast", "StatefulSet demo exists and is kept as it is")),
	"storage-class-percona-missing": checks(lacks("PerconaPGCluster/demo-postgres"), noKind("StatefulSet"), cond("ConfigReady", "False", "StorageClassNotFound"),
		says("ConfigReady", "StorageClass fast-db", "spec.percona.storageClassName", "PerconaPGCluster demo-postgres"), says("DatabaseReady", "StorageClass fast-db")),
	"ldap-kerberos": checks(fieldHas("ConfigMap/demo-config", "data.config\\.yaml", "ldap", "kerberos", "ldaps://dc.example.com:636"),
		fieldHas("StatefulSet/demo", "spec.template.spec.volumes", `"secretName":"demo-keytab"`, `"defaultMode":288`),
		fieldHas("StatefulSet/demo", "spec.template.spec.containers.0.env", `"name":"demo-ldap"`, `"name":"demo-machine"`)),
	"postgres-upstream-shape": checks(cond("DatabaseReady", "True", "PostgresSecretReady"), fieldHas("ConfigMap/demo-config", "data.config\\.yaml", "postgres"),
		pgFrom("demo-postgres-conn-", map[string]string{"host": "h", "port": "5432", "database": "db", "user": "u", "password": "p", "sslmode": "prefer"})),
	// Issue 25: the settings DittoFS reads, as libpq reads the strings the cases give.
	"postgres-dsn-url": checks(cond("DatabaseReady", "True", "PostgresSecretReady"),
		pgFrom("demo-postgres-conn-", map[string]string{"host": "db.example.com", "port": "6432", "database": "controlplane", "user": "dittofs", "password": "p@ss/w:rd%", "sslmode": "verify-full"})),
	"postgres-dsn-url-ipv6-no-database": checks(cond("DatabaseReady", "True", "PostgresSecretReady"),
		pgFrom("demo-postgres-conn-", map[string]string{"host": "[fd00::7]", "port": "5433", "database": "dittofs", "user": "dittofs", "password": "pw", "sslmode": "require"})),
	"postgres-dsn-keyvalue": checks(cond("DatabaseReady", "True", "PostgresSecretReady"),
		pgFrom("demo-postgres-conn-", map[string]string{"host": "[2001:db8::5]", "port": "5432", "database": "dittofs", "user": "dittofs", "password": "it's a secret", "sslmode": "disable"})),
	"postgres-dsn-explicit-keys-win": checks(cond("DatabaseReady", "True", "PostgresSecretReady"),
		pgFrom("demo-postgres-conn-", map[string]string{"host": "db.example.com", "port": "6432", "database": "controlplane", "user": "dittofs", "password": "explicit-password", "sslmode": "require"})),
	"postgres-dsn-invalid": checks(cond("DatabaseReady", "False", "PostgresConnectionStringInvalid"), says("DatabaseReady", "Secret pg", "connection-string", "port"),
		pgFrom("pg", nil), lacksPrefix("Secret/demo-postgres-conn-"), quotesNothing("s3cret", "54x2", "db:")),
	"postgres-dsn-rotated": checks(cond("DatabaseReady", "True", "PostgresSecretReady"), has("Secret/"+derivedPG("500")),
		pgFrom("demo-postgres-conn-", pgSettings), func(t *testing.T, a *answered) {
			if n := pgSecretOf(a.children["StatefulSet/demo"]); n == derivedPG("500") {
				t.Errorf("claim: the pod rolls onto a new derived Secret; it still reads %s", n)
			}
		}),
	"postgres-dsn-superseded":     checks(has("Secret/"+derivedPG("501")), lacks("Secret/"+derivedPG("500")), pgFrom(derivedPG("501"), pgSettings)),
	"postgres-dsn-source-missing": checks(cond("DatabaseReady", "False", "PostgresSecretMissing"), everyChildKept, pgFrom(derivedPG("500"), pgSettings)),
	"postgres-dsn-invalid-kept": checks(cond("DatabaseReady", "False", "PostgresConnectionStringInvalid"), everyChildKept, pgFrom(derivedPG("500"), pgSettings),
		quotesNothing("'dittofs")),
	"postgres-dsn-keys-complete":  checks(cond("DatabaseReady", "True", "PostgresSecretReady"), pgFrom("pg", nil), lacksPrefix("Secret/demo-postgres-conn-")),
	"postgres-dsn-secret-renamed": checks(cond("Ready", "False", "InvalidSpec"), says("Ready", "Secret pg ", "Secret pg2"), everyChildKept),
	"postgres-secret-ready":       checks(cond("DatabaseReady", "True", "PostgresSecretReady")),
	"postgres-ref-under-sqlite":   checks(cond("Ready", "False", "InvalidSpec"), says("Ready", "postgresSecretRef"), everyChildKept),
	"snapshot-policies-applied": checks(cond("SnapshotPoliciesApplied", "True", "PoliciesApplied"), status("snapshotPolicies.shares", []any{"/archive", "/projects"}),
		func(t *testing.T, a *answered) {
			if h := get(a.resp, "status.snapshotPolicies.appliedHash"); h != policiesHash {
				t.Errorf("claim: the applied hash %s is recorded; status has %v", policiesHash, h)
			}
		}),
	"snapshot-policies-steady": checks(statusAsBefore),
	"snapshot-share-missing": checks(cond("SnapshotPoliciesApplied", "False", "ShareNotFound"), says("SnapshotPoliciesApplied", "/projects"),
		status("snapshotPolicies.appliedHash", nil), func(t *testing.T, a *answered) {
			if r := a.condition("Ready")["reason"]; r == "ShareNotFound" {
				t.Error("claim: Ready is unaffected by a missing share")
			}
		}),
	"snapshot-policies-removed": checks(status("snapshotPolicies", nil)),
	"snapshot-policy-invalid": checks(cond("SnapshotPoliciesApplied", "False", "InvalidSnapshotPolicy"), cond("AdaptersDiscovered", "True", "PollSucceeded"),
		status("snapshotPolicies", nil)),
	"security-contexts-merged": checks(field("StatefulSet/demo", "spec.template.spec.securityContext.supplementalGroups", []any{4000}),
		field("StatefulSet/demo", "spec.template.spec.securityContext.runAsNonRoot", true),
		field("StatefulSet/demo", "spec.template.spec.containers.0.securityContext.readOnlyRootFilesystem", false),
		field("StatefulSet/demo", "spec.template.spec.containers.0.securityContext.allowPrivilegeEscalation", false),
		field("StatefulSet/demo", "spec.template.spec.containers.0.securityContext.capabilities", map[string]any{"drop": []any{"ALL"}})),
	"logging-output-file": checks(fieldHas("ConfigMap/demo-config", "data.config\\.yaml", "/data/controlplane/dfs.log")),
	"rolling-out":         checks(cond("Progressing", "True", "RollingOut"), cond("Ready", "False", "RollingOut")),
	"upstream-statefulset": checks(field("StatefulSet/demo", "spec.selector.matchLabels", map[string]any{"app": "dittofs-server", "instance": "demo"}),
		fieldHas("StatefulSet/demo", "spec.template.metadata.labels", `"app":"dittofs-server"`, `"app.kubernetes.io/name":"dittofs"`),
		field("Service/demo-adapter-nfs", "spec.selector", map[string]any{"app": "dittofs-server", "instance": "demo"}),
		field("NetworkPolicy/demo-adapter-nfs", "spec.podSelector.matchLabels", map[string]any{"app": "dittofs-server", "instance": "demo"})),
	"legacy-admin-secret-adopted": checks(has("Secret/demo-admin-credentials"),
		field("Secret/demo-admin-bootstrap-credentials", "data.password", base64.StdEncoding.EncodeToString([]byte("legacy-admin-pass"))),
		field("Secret/demo-admin-bootstrap-credentials", "data.username", base64.StdEncoding.EncodeToString([]byte("admin")))),
	"legacy-admin-secret-deleted": checks(lacks("Secret/demo-admin-credentials"), has("Secret/demo-admin-bootstrap-credentials")),
	"legacy-admin-secret-other-password": checks(has("Secret/demo-admin-credentials"),
		field("Secret/demo-admin-bootstrap-credentials", "data.password", base64.StdEncoding.EncodeToString([]byte("admin-pass-observed")))),
	"upstream-nfs-service": checks(fieldHas("Service/demo-adapter-nfs", "spec.ports", `"nodePort":31236`, `"port":111`, `"nodePort":31111`)),
}

// sha6 is the first 6 hex digits of a string's SHA-256.
func sha6(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:3])
}

// get walks a JSON tree by a dotted path ("spec.ports.0.port"; a key with
// a dot in it escapes it: "data.config\\.yaml"). Missing: nil.
func get(v any, path string) any {
	for _, key := range splitPath(path) {
		switch x := v.(type) {
		case map[string]any:
			v = x[key]
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func splitPath(path string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(path); i++ {
		switch {
		case path[i] == '\\' && i+1 < len(path):
			i++
			cur.WriteByte(path[i])
		case path[i] == '.':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(path[i])
		}
	}
	return append(out, cur.String())
}

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }
func list(v any) []any         { l, _ := v.([]any); return l }
func str(v any) string         { s, _ := v.(string); return s }

// jsonEqual compares a decoded JSON value with a Go value, as JSON.
func jsonEqual(got, want any) bool {
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	return string(g) == string(w)
}
