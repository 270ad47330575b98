package hook

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestResolvePostgresOtherNamespace: a related Secret of the name asked for
// but of another namespace (what Metacontroller v4.10.2 and older sent) is
// never read, let alone copied into the DittoServer's namespace: it is as
// if the Secret did not exist.
func TestResolvePostgresOtherNamespace(t *testing.T) {
	ds := &dittoServer{Name: "demo", Namespace: "tenant-a", Database: controlPlaneDB{Type: "postgres", PostgresSecret: "pg", PostgresKey: defaultPostgresKey}}
	for _, c := range []struct {
		namespace, reason string
		derived           bool
	}{
		{"tenant-b", ReasonPostgresSecretMissing, false},
		{"tenant-a", ReasonPostgresSecretReady, true},
		{"", ReasonPostgresSecretReady, true}, // as Metacontroller sends it, namespace and all; "" in hand-made requests
	} {
		src := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pg", Namespace: c.namespace, UID: "u", ResourceVersion: "1"},
			Data: map[string][]byte{defaultPostgresKey: []byte("postgres://u:pw@db/cp")}}
		pc := resolvePostgres(ds, &observedChildren{related: map[string]*corev1.Secret{"pg": src}})
		if pc.condition.Reason != c.reason || pc.derived != c.derived || (pc.fresh != nil) != c.derived {
			t.Errorf("a Secret in namespace %q: %s (%s), derived %t", c.namespace, pc.condition.Reason, pc.condition.Message, pc.derived)
		}
	}
}
