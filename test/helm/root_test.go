package helm

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// TestRootCompositeController: compositecontroller.yaml at the repository
// root is a regular file (a symlink is served as its target's path by raw
// file URLs, so `kubectl apply -f <raw URL>` would fail) with the same bytes
// as manifests/compositecontroller.yaml, which kustomize installs.
func TestRootCompositeController(t *testing.T) {
	root := filepath.Join(harness.RepoRoot(), "compositecontroller.yaml")
	kust := filepath.Join(harness.RepoRoot(), "manifests", "compositecontroller.yaml")
	fi, err := os.Lstat(root)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.Mode().IsRegular() {
		t.Fatalf("%s is not a regular file (mode %v): a raw URL of a symlink serves the path it points to, not YAML", root, fi.Mode())
	}
	want, err := os.ReadFile(kust)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(root)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, got) {
		t.Fatalf("compositecontroller.yaml differs from manifests/compositecontroller.yaml; copy it: cp manifests/compositecontroller.yaml compositecontroller.yaml")
	}
}
