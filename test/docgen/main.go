// Command docgen writes the pages of docs/ that are generated, not
// written: docs/api.md, the DittoServer API reference, from the CRD
// (manifests/crd/bases, controller-gen's rendering of the Go types in
// hook/dittoserver_types.go, whose doc comments are its descriptions), and
// docs/helm-values.md, the chart's values, from charts/dittofs-hook's
// values.yaml (its defaults and comments) and values.schema.json (types and
// descriptions). Each fact is written once, in the source; TestGeneratedDocs
// fails when a page is not what this command writes.
//
//	go run ./test/docgen
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// page is one generated file, relative to the repository's root, and the
// function that renders it from the sources under root.
type page struct {
	path   string
	render func(root string) ([]byte, error)
}

var pages = []page{
	{"docs/api.md", renderAPI},
	{"docs/helm-values.md", renderValues},
}

// regenerate is the command that rewrites the pages, for messages.
const regenerate = "go run ./test/docgen"

func main() {
	root := harness.RepoRoot()
	for _, p := range pages {
		out, err := p.render(root)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", p.path, err)
			os.Exit(1)
		}
		if err := os.WriteFile(filepath.Join(root, p.path), out, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("wrote %s (%d bytes)\n", p.path, len(out))
	}
}
