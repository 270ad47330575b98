package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMutationsApply: every mutation of the list still applies to the
// code, exactly once, and changes it. Run in the core tier (seconds), so
// that a change under a mutation's snippet is noticed by whoever makes it,
// not at the next mutation run.
func TestMutationsApply(t *testing.T) {
	names := map[string]bool{}
	for _, m := range Mutations {
		if m.Name == "" || names[m.Name] || m.Rule == "" || len(m.Packages) == 0 || m.From == m.To {
			t.Errorf("mutation %q: a unique name, a rule, packages and a change are needed", m.Name)
		}
		names[m.Name] = true
		src, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(m.File)))
		if err != nil {
			t.Errorf("mutation %s: %v", m.Name, err)
			continue
		}
		if _, err := m.Apply(src); err != nil {
			t.Error(err)
		}
		for _, p := range m.Packages {
			if _, err := os.Stat(filepath.Join("..", "..", strings.TrimSuffix(p, "/"))); err != nil {
				t.Errorf("mutation %s: package %s: %v", m.Name, p, err)
			}
		}
	}
}

// TestApplyFailsLoudly: a snippet that is missing or ambiguous is an error
// naming the mutation, never a silent no-op (which would count as a
// surviving mutation, or worse, as a kill by an unrelated failure).
func TestApplyFailsLoudly(t *testing.T) {
	m := Mutation{Name: "m", File: "f.go", From: "a := 1", To: "a := 2"}
	if got, err := m.Apply([]byte("x\na := 1\ny")); err != nil || string(got) != "x\na := 2\ny" {
		t.Fatalf("Apply = %q, %v", got, err)
	}
	for _, src := range []string{"a := 3", "a := 1\na := 1"} {
		if _, err := m.Apply([]byte(src)); err == nil || !strings.Contains(err.Error(), "mutation m no longer applies") {
			t.Errorf("Apply(%q): %v, want 'mutation m no longer applies'", src, err)
		}
	}
}
