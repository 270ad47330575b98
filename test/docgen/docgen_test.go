package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// TestGeneratedDocs: docs/api.md and docs/helm-values.md are what
// `go run ./test/docgen` writes from the CRD and the chart's values now.
func TestGeneratedDocs(t *testing.T) {
	root := harness.RepoRoot()
	for _, p := range pages {
		t.Run(p.path, func(t *testing.T) {
			want, err := p.render(root)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(root, p.path))
			if err != nil {
				t.Fatalf("%v; run %s", err, regenerate)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("%s is stale: run %s (-generated +file):\n%s", p.path, regenerate, d)
			}
		})
	}
}
