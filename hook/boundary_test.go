package hook_test

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	k8slabels "k8s.io/apimachinery/pkg/labels"

	"github.com/google/go-cmp/cmp"

	"github.com/dittofs-hook/dittofs-hook/hook"
	. "github.com/dittofs-hook/dittofs-hook/hook/hooktest"
)

// The trust boundary, second round (issue 21).

// childrenOf decodes an answer's children by kind and name.
func childrenOf(t *testing.T, resp *hook.SyncResponse) map[string]map[string]any {
	t.Helper()
	b, err := json.Marshal(resp.Children)
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, c := range list {
		out[c["kind"].(string)+"/"+c["metadata"].(map[string]any)["name"].(string)] = c
	}
	return out
}

// TestGeneratedSecretsRollNothing: generated values are drawn afresh for
// every answer (no oracle), and nothing else in an answer depends on them.
// Two first answers differ in the Secrets' values only; once the Secrets
// exist, the answer keeps them, and the StatefulSet (its pod template and
// config hash), the ConfigMap and the status are those of the first
// answers: creating the Secrets rolls no pod.
func TestGeneratedSecretsRollNothing(t *testing.T) {
	spec := WithSpec(map[string]any{"storage": map[string]any{"metadataSize": "1Gi"}})
	first := prepare(t, Captured(FirstSync, spec, WithoutRelatedSecrets()).JSON())
	a := first.Desired(hook.Observation{}, now, hook.NewSecretSource(rand.Reader))
	b := first.Desired(hook.Observation{}, now, hook.NewSecretSource(rand.Reader))
	ac, bc := childrenOf(t, a), childrenOf(t, b)
	secrets := []string{"Secret/demo-jwt-secret", "Secret/demo-admin-bootstrap-credentials", "Secret/demo-operator-credentials"}
	var observed []Modifier
	for _, n := range secrets {
		if cmp.Equal(ac[n]["data"], bc[n]["data"]) {
			t.Errorf("%s: two answers drew the same values", n)
		}
		for k, v := range ac[n]["data"].(map[string]any) {
			if k != "username" && len(v.(string)) < 40 {
				t.Errorf("%s key %s: %d base64 characters, want 256 bits", n, k, len(v.(string)))
			}
		}
		created := ac[n]
		created["metadata"].(map[string]any)["namespace"] = "default"
		created["metadata"].(map[string]any)["uid"] = "uid-of-" + n
		observed = append(observed, WithChild(created))
		delete(ac, n)
		delete(bc, n)
	}
	if d := cmp.Diff(ac, bc); d != "" {
		t.Errorf("two first answers differ in more than the Secrets' values (-first +second):\n%s", d)
	}
	if d := cmp.Diff(a.Status, b.Status); d != "" {
		t.Errorf("two first answers' status differ:\n%s", d)
	}
	after := prepare(t, Captured(FirstSync, append([]Modifier{spec, WithoutRelatedSecrets()}, observed...)...).JSON())
	c := after.Desired(hook.Observation{}, now, hook.NewSecretSource(rand.Reader))
	cc := childrenOf(t, c)
	for _, n := range secrets {
		if !cmp.Equal(cc[n]["data"], childrenOf(t, a)[n]["data"]) {
			t.Errorf("%s: the answer after creation does not keep the created values", n)
		}
	}
	for _, n := range []string{"StatefulSet/demo", "ConfigMap/demo-config"} {
		if d := cmp.Diff(ac[n], cc[n]); d != "" {
			t.Errorf("%s changes once the Secrets exist (-before +after):\n%s", n, d)
		}
	}
	if a.Status.ConfigHash != c.Status.ConfigHash {
		t.Errorf("status.configHash %s before the Secrets exist, %s after", a.Status.ConfigHash, c.Status.ConfigHash)
	}
}

// exposedPorts are the pod ports the answer's adapter Services target and
// its adapter NetworkPolicies admit, by child.
func exposedPorts(t *testing.T, resp *hook.SyncResponse) map[string][]float64 {
	t.Helper()
	out := map[string][]float64{}
	for key, c := range childrenOf(t, resp) {
		spec, _ := c["spec"].(map[string]any)
		switch c["kind"] {
		case "Service":
			for _, p := range spec["ports"].([]any) {
				target := p.(map[string]any)["targetPort"]
				if target == nil {
					target = p.(map[string]any)["port"]
				}
				out[key] = append(out[key], target.(float64))
			}
		case "NetworkPolicy":
			for _, rule := range spec["ingress"].([]any) {
				for _, p := range rule.(map[string]any)["ports"].([]any) {
					out[key] = append(out[key], p.(map[string]any)["port"].(float64))
				}
			}
		}
	}
	return out
}

// TestAdapterOnReservedPort: an adapter DittoFS reports on a port another
// child of the hook's exposes on the pod (the API's, the metrics', the
// portmapper's) gets no Service and no NetworkPolicy (its existing ones go
// as a disabled adapter's do: the Service first, its policy, as last
// applied, on the next sync), AdaptersReady says why (AdapterPortReserved)
// and an Event records it once; the other adapters go on. Before, an adapter reported on 8080 got a LoadBalancer
// Service and a policy admitting everyone to 8080: the control-plane API
// went public, whatever networkPolicy.apiFrom said.
func TestAdapterOnReservedPort(t *testing.T) {
	metrics := WithSpecField("metrics", map[string]any{"enabled": true, "port": 9090})
	portmapper := WithSpecField("adapterServices", map[string]any{"overrides": map[string]any{"nfs": map[string]any{"portmapper": true}}})
	for _, c := range []struct {
		name     string
		mods     []Modifier
		adapters []adapter
		refused  string
		port     float64
	}{
		{"API port", nil, []adapter{{ID: "1", Type: "nfs", Enabled: true, Running: true, Port: 12049}, {ID: "2", Type: "smb", Enabled: true, Running: true, Port: 8080}}, "smb", 8080},
		{"metrics port", []Modifier{metrics}, []adapter{{ID: "1", Type: "nfs", Enabled: true, Running: true, Port: 12049}, {ID: "2", Type: "smb", Enabled: true, Running: true, Port: 9090}}, "smb", 9090},
		{"portmapper's port", []Modifier{portmapper}, []adapter{{ID: "1", Type: "nfs", Enabled: true, Running: true, Port: 12049}, {ID: "2", Type: "smb", Enabled: true, Running: true, Port: 10111}}, "smb", 10111},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := prepare(t, Steady(c.mods...).JSON())
			o := listedJSON(c.adapters)(s)
			resp := s.Desired(o, now, hook.NewSeededSecretSource("k"))
			children := childrenOf(t, resp)
			if svc := children["Service/demo-adapter-"+c.refused]; svc != nil {
				t.Errorf("Service/demo-adapter-%s is answered: %v", c.refused, svc["spec"])
			}
			// Its policy, as last applied, until the Service is gone.
			after := prepare(t, Steady(append(c.mods, WithoutChild("Service", "demo-adapter-"+c.refused))...).JSON())
			if np := childrenOf(t, after.Desired(listedJSON(c.adapters)(after), now, hook.NewSeededSecretSource("k")))["NetworkPolicy/demo-adapter-"+c.refused]; np != nil {
				t.Errorf("NetworkPolicy/demo-adapter-%s stays after its Service went: %v", c.refused, np["spec"])
			}
			for key, ports := range exposedPorts(t, resp) {
				if key == "Service/demo-api" || key == "Service/demo-headless" || key == "NetworkPolicy/demo-baseline" || key == "Service/demo-metrics" {
					continue
				}
				for _, p := range ports {
					if p == c.port && !(key == "Service/demo-adapter-nfs" && p == 10111) && !(key == "NetworkPolicy/demo-adapter-nfs" && p == 10111) {
						t.Errorf("%s exposes the reserved port %v", key, p)
					}
				}
			}
			if children["Service/demo-adapter-nfs"] == nil || children["NetworkPolicy/demo-adapter-nfs"] == nil {
				t.Error("the other adapter, nfs, lost its Service or policy")
			}
			ready := meta.FindStatusCondition(resp.Status.Conditions, hook.CondAdaptersReady)
			if ready == nil || ready.Reason != hook.ReasonAdapterPortReserved || !strings.Contains(ready.Message, c.refused) {
				t.Errorf("AdaptersReady = %+v, want AdapterPortReserved naming %s", ready, c.refused)
			}
			evs := s.Events(o, resp)
			if !slices.ContainsFunc(evs, func(e hook.Event) bool { return e.Reason == hook.EventAdapterPortReserved }) {
				t.Errorf("Events %v lack %s", summaries(evs), hook.EventAdapterPortReserved)
			}
		})
	}
}

// TestOtherNamespacesIgnored: a related object or an observed child whose
// metadata.namespace is not the parent's is ignored, as if absent: its
// password is never sent to DittoFS, its CA never trusted, its data never
// answered back. (Metacontroller v4.10.2 and older handed over same-named
// Secrets of other namespaces; a forged request can hold anything.)
func TestOtherNamespacesIgnored(t *testing.T) {
	elsewhere := func(section, name string) Modifier {
		return func(r *Request) {
			obj := r.Tree()[section].(map[string]any)[hook.KeySecret].(map[string]any)[name].(map[string]any)
			obj["metadata"].(map[string]any)["namespace"] = "victim"
		}
	}
	t.Run("the admin password's Secret", func(t *testing.T) {
		s := prepare(t, Steady(elsewhere("related", "demo-admin-password")).JSON())
		if s.Plan().Admin != nil {
			t.Error("the plan carries an administrator password read from another namespace")
		}
		resp := s.Desired(s.ObservePoll(nil, noAdmin, api), now, hook.NewSeededSecretSource("k"))
		if c := meta.FindStatusCondition(resp.Status.Conditions, hook.CondAuthenticated); c == nil || c.Reason != hook.ReasonAdminSecretMissing {
			t.Errorf("Authenticated = %+v, want AdminSecretMissing", c)
		}
	})
	t.Run("the API's certificate Secret", func(t *testing.T) {
		s := prepare(t, Steady(WithSpecField("controlPlane", tlsSpec), certSecret, elsewhere("related", "demo-tls")).JSON())
		if p := s.Plan(); p.Contact || p.Why.Reason != hook.ReasonTLSSecretMissing {
			t.Errorf("plan %+v, want no contact, TLSSecretMissing", p)
		}
	})
	// Hook version v2 files objects under <namespace>/<name>, so another
	// namespace's Secret of the same name can come beside the parent's
	// (Metacontroller v4.17.2 sends it for a rule without a namespace).
	victimsOnly := func(r *Request) {
		rel := r.Tree()["related"].(map[string]any)[hook.KeySecret].(map[string]any)
		b, _ := json.Marshal(rel["default/demo-admin-password"])
		var obj map[string]any
		_ = json.Unmarshal(b, &obj)
		obj["metadata"].(map[string]any)["namespace"] = "victim"
		rel["victim/demo-admin-password"] = obj
		delete(rel, "default/demo-admin-password")
	}
	t.Run("the admin password's Secret of another namespace, under v2", func(t *testing.T) {
		s := prepare(t, Steady(HookV2(), victimsOnly).JSON())
		if s.Plan().Admin != nil {
			t.Error("the plan carries an administrator password read from another namespace")
		}
		if got := s.Ignored(); len(got) != 1 || got[0] != "related "+hook.KeySecret+" victim/demo-admin-password" {
			t.Errorf("ignored %v, want the victim's Secret", got)
		}
	})
	t.Run("an observed Secret child", func(t *testing.T) {
		s := prepare(t, Steady(elsewhere("children", "demo-operator-credentials")).JSON())
		if p := s.Plan(); p.Contact || p.Why.Reason != hook.ReasonWaitingForCredentials {
			t.Errorf("plan %+v, want no contact, WaitingForCredentials", p)
		}
		resp := s.Desired(hook.Observation{}, now, hook.NewSeededSecretSource("k"))
		data := childrenOf(t, resp)["Secret/demo-operator-credentials"]["data"].(map[string]any)
		if data["password"] == OperatorSecret()["data"].(map[string]any)["password"] {
			t.Error("the answer repeats the other namespace's password")
		}
	})
}

// TestCeiling: a DittoServer asking more of its pod than the cluster's
// administrator allows (hook serve --pod-security-ceiling, restricted by
// default; --allowed-priority-classes; --reserved-node-keys;
// --secret-selector) is InvalidSpec, naming the field, and every child is
// kept as last applied: nothing changes on the running pod. Before, the
// user's fields won over the hook's defaults, whatever they asked.
func TestCeiling(t *testing.T) {
	restricted, baseline, privileged := hook.Ceiling{}, hook.Ceiling{Level: hook.LevelBaseline}, hook.Ceiling{Level: hook.LevelPrivileged}
	sc := func(v map[string]any) Modifier { return WithSpecField("securityContext", v) }
	psc := func(v map[string]any) Modifier { return WithSpecField("podSecurityContext", v) }
	saToken := WithRelatedEdit("Secret", "demo-admin-password", func(obj map[string]any) { obj["type"] = "kubernetes.io/service-account-token" })
	labelled, err := k8slabels.Parse("dittofs.example.com/dittoserver=true")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		mod     Modifier
		ceiling hook.Ceiling
		field   string // "" when allowed
	}{
		{"privileged", sc(map[string]any{"privileged": true}), restricted, "spec.securityContext.privileged"},
		{"privileged under baseline", sc(map[string]any{"privileged": true}), baseline, "spec.securityContext.privileged"},
		{"privileged under privileged", sc(map[string]any{"privileged": true}), privileged, ""},
		{"capabilities added", sc(map[string]any{"capabilities": map[string]any{"add": []any{"SYS_ADMIN"}}}), restricted, "spec.securityContext.capabilities"},
		{"SYS_ADMIN under baseline", sc(map[string]any{"capabilities": map[string]any{"add": []any{"SYS_ADMIN"}}}), baseline, "spec.securityContext.capabilities"},
		{"NET_BIND_SERVICE under restricted", sc(map[string]any{"capabilities": map[string]any{"add": []any{"NET_BIND_SERVICE"}, "drop": []any{"ALL"}}}), restricted, ""},
		{"runAsUser 0", sc(map[string]any{"runAsUser": 0}), restricted, "spec.securityContext.runAsUser"},
		{"the pod's runAsUser 0", psc(map[string]any{"runAsUser": 0}), restricted, "spec.podSecurityContext.runAsUser"},
		{"runAsUser 0 under baseline", sc(map[string]any{"runAsUser": 0, "runAsNonRoot": false}), baseline, ""},
		{"runAsNonRoot false", sc(map[string]any{"runAsNonRoot": false}), restricted, "spec.securityContext.runAsNonRoot"},
		{"allowPrivilegeEscalation", sc(map[string]any{"allowPrivilegeEscalation": true}), restricted, "spec.securityContext.allowPrivilegeEscalation"},
		{"seccomp Unconfined", sc(map[string]any{"seccompProfile": map[string]any{"type": "Unconfined"}}), restricted, "spec.securityContext.seccompProfile"},
		{"the pod's seccomp Unconfined under baseline", psc(map[string]any{"seccompProfile": map[string]any{"type": "Unconfined"}}), baseline, "spec.podSecurityContext.seccompProfile"},
		{"AppArmor Unconfined", sc(map[string]any{"appArmorProfile": map[string]any{"type": "Unconfined"}}), baseline, "spec.securityContext.appArmorProfile"},
		{"procMount Unmasked", sc(map[string]any{"procMount": "Unmasked"}), baseline, "spec.securityContext.procMount"},
		{"an unsafe sysctl", psc(map[string]any{"sysctls": []any{map[string]any{"name": "kernel.msgmax", "value": "65536"}}}), baseline, "spec.podSecurityContext.sysctls"},
		{"a safe sysctl", psc(map[string]any{"sysctls": []any{map[string]any{"name": "net.ipv4.ip_local_port_range", "value": "1024 65535"}}}), restricted, ""},
		{"an SELinux type", sc(map[string]any{"seLinuxOptions": map[string]any{"type": "spc_t"}}), baseline, "spec.securityContext.seLinuxOptions"},
		{"a Windows host process", sc(map[string]any{"windowsOptions": map[string]any{"hostProcess": true}}), baseline, "spec.securityContext.windowsOptions"},
		{"a priority class not allowed", WithSpecField("priorityClassName", "system-node-critical"), restricted, "spec.priorityClassName"},
		{"a priority class allowed", WithSpecField("priorityClassName", "storage"), hook.Ceiling{PriorityClasses: []string{"storage"}}, ""},
		{"a priority class under privileged", WithSpecField("priorityClassName", "system-node-critical"), privileged, ""},
		{"a control-plane toleration", WithSpecField("tolerations", []any{map[string]any{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}}), restricted, "spec.tolerations[0]"},
		{"a toleration of every taint", WithSpecField("tolerations", []any{map[string]any{"key": "storage", "operator": "Exists"}, map[string]any{"operator": "Exists"}}), baseline, "spec.tolerations[1]"},
		{"a dedicated pool's toleration", WithSpecField("tolerations", []any{map[string]any{"key": "storage", "operator": "Exists", "effect": "NoSchedule"}}), restricted, ""},
		{"control-plane nodes selected", WithSpecField("nodeSelector", map[string]any{"node-role.kubernetes.io/control-plane": ""}), restricted, "spec.nodeSelector"},
		{"a reserved key of the administrator's", WithSpecField("nodeSelector", map[string]any{"pool": "finance"}), hook.Ceiling{ReservedNodeKeys: []string{"pool"}}, "spec.nodeSelector"},
		{"a service account's token", saToken, baseline, "spec.identity.admin.passwordSecretRef"},
		{"Secrets the selector does not match", WithSpecField("controlPlane", tlsSpec), hook.Ceiling{SecretSelector: labelled}, "spec.identity.admin.passwordSecretRef"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := Steady(c.mod, certSecret)
			s, err := hook.Prepare(mustDecode(t, req.JSON()), c.ceiling)
			if err != nil {
				t.Fatal(err)
			}
			got := s.InvalidSpec()
			if c.field == "" {
				if got != nil {
					t.Fatalf("refused: %v", got)
				}
				return
			}
			var specErr *hook.SpecError
			if !errors.As(got, &specErr) || !strings.HasPrefix(got.Error(), c.field+": ") {
				t.Fatalf("InvalidSpec = %v, want one naming %s", got, c.field)
			}
			resp := s.Desired(hook.Observation{}, now, hook.NewSeededSecretSource("k"))
			ready := meta.FindStatusCondition(resp.Status.Conditions, hook.CondReady)
			if ready == nil || ready.Reason != hook.ReasonInvalidSpec || !strings.Contains(ready.Message, c.field) {
				t.Errorf("Ready = %+v", ready)
			}
			// Every child as last applied: the pod template unchanged.
			kept := childrenOf(t, resp)
			var last map[string]any
			_ = json.Unmarshal([]byte(req.Tree()["children"].(map[string]any)[hook.KeyStatefulSet].(map[string]any)["demo"].(map[string]any)["metadata"].(map[string]any)["annotations"].(map[string]any)["metacontroller.k8s.io/last-applied-configuration"].(string)), &last)
			if d := cmp.Diff(last["spec"], kept["StatefulSet/demo"]["spec"]); d != "" {
				t.Errorf("the StatefulSet is not kept as last applied (-last +answered):\n%s", d)
			}
		})
	}
}

func mustDecode(t *testing.T, body []byte) *hook.SyncRequest {
	t.Helper()
	req, err := hook.DecodeSyncRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
