package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// scNamespace holds the DittoServer of the StorageClass step, apart from
// the suite's: its Events are not the suite's to count.
const scNamespace = "e2e-sc"

// storageClass: a DittoServer naming a StorageClass the cluster lacks gets
// ConfigReady False with StorageClassNotFound, naming the class and the
// field, and no StatefulSet, so no claim; once the class is created, the
// StatefulSet is made, its claims naming it, and the condition clears.
// This needs the real Metacontroller at hook version v2 (the shipped
// CompositeController): v1 never delivers a StorageClass to a namespaced
// parent's hook (hook/storageclass.go).
func (r *rig) storageClass(t *testing.T) {
	c := r.cluster
	const class = "e2e-late"
	sts := "/apis/apps/v1/namespaces/" + scNamespace + "/statefulsets/sc"
	c.Kubectl("create", "namespace", scNamespace)
	spec := `apiVersion: dittofs.dittofs.com/v1alpha1
kind: DittoServer
metadata:
  name: sc
  namespace: ` + scNamespace + `
spec:
  storage:
    metadataSize: 1Gi
    storageClassName: ` + class + `
`
	f := filepath.Join(r.dir, "sc.yaml")
	_ = os.WriteFile(f, []byte(spec), 0o644)
	c.Kubectl("apply", "-f", f)
	cond := func(field string) string {
		return c.Kubectl("get", "dittoserver", "sc", "-n", scNamespace, "-o", `jsonpath={.status.conditions[?(@.type=="ConfigReady")].`+field+`}`)
	}
	took := eventually(t, 30*time.Second, "ConfigReady StorageClassNotFound", func() bool { return cond("reason") == "StorageClassNotFound" })
	t.Logf("e2e: StorageClassNotFound in %s", took.Round(time.Millisecond))
	if msg := cond("message"); !strings.Contains(msg, "StorageClass "+class+" (spec.storage.storageClassName)") || !strings.Contains(msg, "created once it exists") {
		t.Errorf("the message does not name the class, the field and what waits: %q", msg)
	}
	// The answer that says so makes no StatefulSet; nor do the syncs after.
	time.Sleep(3 * time.Second)
	if r.get(t, sts) != nil {
		t.Fatal("StatefulSet sc made although its StorageClass does not exist: its claims would stay Pending")
	}
	eventually(t, 10*time.Second, "a StorageClassNotFound Event", func() bool {
		return c.Kubectl("get", "events", "-n", scNamespace, "--field-selector", "reason=StorageClassNotFound", "-o", "jsonpath={.items[*].reason}") != ""
	})

	sc := filepath.Join(r.dir, "storageclass.yaml")
	_ = os.WriteFile(sc, []byte("apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: "+class+"\nprovisioner: example.com/none\n"), 0o644)
	c.Kubectl("apply", "-f", sc)
	took = eventually(t, 60*time.Second, "StatefulSet sc made once its class exists", func() bool { return r.get(t, sts) != nil })
	t.Logf("e2e: StatefulSet made %s after its StorageClass was created", took.Round(time.Millisecond))
	var obj struct {
		Spec struct {
			VolumeClaimTemplates []struct {
				Spec struct {
					StorageClassName string `json:"storageClassName"`
				} `json:"spec"`
			} `json:"volumeClaimTemplates"`
		} `json:"spec"`
	}
	b, _ := json.Marshal(r.get(t, sts))
	_ = json.Unmarshal(b, &obj)
	if len(obj.Spec.VolumeClaimTemplates) == 0 {
		t.Fatal("StatefulSet sc has no volume claim templates")
	}
	for _, v := range obj.Spec.VolumeClaimTemplates {
		if v.Spec.StorageClassName != class {
			t.Errorf("a claim template names class %q, want %q", v.Spec.StorageClassName, class)
		}
	}
	eventually(t, 30*time.Second, "ConfigReady no longer StorageClassNotFound", func() bool { return cond("reason") == "ConfigValid" })
}
