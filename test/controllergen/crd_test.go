package controllergen

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

const crdFile = "dittofs.dittofs.com_dittoservers.yaml"

// TestCRDMatchesGoTypes renders the CRD from the Go types with the pinned
// controller-gen and compares it with the committed one, so that the schema
// the API server enforces and the types the hook decodes cannot drift apart.
// To update: test/tools/build.sh controller-gen, then run the command this
// test prints.
func TestCRDMatchesGoTypes(t *testing.T) {
	gen := harness.Binary(t, "controller-gen")
	out := t.TempDir()
	root := harness.RepoRoot()
	args := []string{"crd:crdVersions=v1,maxDescLen=400", "paths=./hook/...", "output:crd:artifacts:config=" + out}
	cmd := exec.Command(gen, args...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("controller-gen: %v\n%s", err, b)
	}
	got, err := os.ReadFile(filepath.Join(out, crdFile))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(root, "manifests", "crd", "bases", crdFile))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Fatalf("manifests/crd/bases/%s is stale (-committed +from Go types):\n%s\nregenerate: %s crd:crdVersions=v1,maxDescLen=400 paths=./hook/... output:crd:artifacts:config=manifests/crd/bases && cp manifests/crd/bases/%s charts/dittofs-hook/crds/", crdFile, d, gen, crdFile)
	}
	// Helm reads CRDs only from inside the chart: it carries a copy.
	chart, err := os.ReadFile(filepath.Join(root, "charts", "dittofs-hook", "crds", crdFile))
	if err != nil {
		t.Fatal(err)
	}
	if string(chart) != string(want) {
		t.Fatalf("charts/dittofs-hook/crds/%s differs from manifests/crd/bases; copy it over", crdFile)
	}
}
