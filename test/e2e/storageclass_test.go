package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// scNamespace holds the DittoServer of the StorageClass step, apart from
// the suite's: its Events are not the suite's to count.
const scNamespace = "e2e-sc"

// storageClass: a DittoServer naming a StorageClass the cluster lacks
// still gets its StatefulSet, its claims naming that class, and no
// StorageClassNotFound. The hook cannot tell a missing class from one the
// real Metacontroller v4.17.2 would drop: asked for by the customize hook,
// its hook-version-v1 request keeps only related objects of the parent's
// namespace, so StorageClasses always come as an empty map (hook/storageclass.go).
// This step fails if the customize hook asks for them again.
func (r *rig) storageClass(t *testing.T) {
	c := r.cluster
	const class = "e2e-absent"
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
	took := eventually(t, 30*time.Second, "StatefulSet sc made", func() bool { return r.get(t, sts) != nil })
	t.Logf("e2e: StatefulSet naming an absent StorageClass made in %s", took.Round(time.Millisecond))
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
	if reason := c.Kubectl("get", "dittoserver", "sc", "-n", scNamespace, "-o", `jsonpath={.status.conditions[?(@.type=="ConfigReady")].reason}`); reason == "StorageClassNotFound" {
		t.Errorf("ConfigReady is StorageClassNotFound: the hook read Metacontroller's always-empty StorageClasses as missing")
	}
}
