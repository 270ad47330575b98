package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// configPage holds the hand-written tables of the flags and the spec: they
// say more than the sources do (why, and what upstream does), so they stay
// written by hand, and these tests hold them to the sources.
const configPage = "docs/configuration.md"

// tableRows returns the cells of the Markdown table that follows heading
// on page (its header and separator rows left out).
func tableRows(t *testing.T, page, heading string) [][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), page))
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	i := strings.Index(md, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("%s has no section %q", page, heading)
	}
	var rows [][]string
	in := false
	for _, line := range strings.Split(md[i+1:], "\n")[1:] {
		if strings.HasPrefix(line, "#") {
			break
		}
		if !strings.HasPrefix(line, "|") {
			if in {
				break
			}
			continue
		}
		in = true
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		rows = append(rows, cells)
	}
	if len(rows) < 3 {
		t.Fatalf("%s: no table under %q", page, heading)
	}
	return rows[2:]
}

var codeSpan = regexp.MustCompile("`([^`]+)`")

// codes are the code spans of a cell.
func codes(cell string) []string {
	var out []string
	for _, m := range codeSpan.FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}

// helpFlag is a flag as `hook serve --help` prints it.
var helpFlag = regexp.MustCompile(`(?m)^  -([a-z0-9-]+)(?: \w+)?\n\s+.*?(?:\(default (.*)\))?$`)

// TestFlagsTableMatchesHelp: the flags table of docs/configuration.md names
// every flag of `hook serve --help` and no other, each with the default the
// binary has.
func TestFlagsTableMatchesHelp(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "hook")
	build := exec.Command("go", "build", "-o", bin, "./cmd/hook")
	build.Dir = harness.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/hook: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "serve", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("hook serve --help: %v\n%s", err, out)
	}
	help := map[string]string{}
	for _, m := range helpFlag.FindAllStringSubmatch(string(out), -1) {
		help[m[1]] = strings.Trim(m[2], `"`)
	}
	if len(help) < 20 {
		t.Fatalf("hook serve --help lists %d flags:\n%s", len(help), out)
	}
	table := map[string]bool{}
	for _, row := range tableRows(t, configPage, "## `hook serve` flags") {
		flags := codes(row[0])
		if len(flags) == 0 {
			t.Errorf("%s: a flags row names no flag: %q", configPage, row[0])
		}
		for _, f := range flags {
			name := strings.TrimPrefix(f, "--")
			table[name] = true
			def, ok := help[name]
			switch {
			case !ok:
				t.Errorf("%s lists %s, which hook serve does not have", configPage, f)
			case def == "" && row[1] != "none" && row[1] != "`false`":
				t.Errorf("%s: %s has no default, the table says %s", configPage, f, row[1])
			case def != "" && !strings.Contains(row[1], "`"+def+"`"):
				t.Errorf("%s: %s defaults to %q, the table says %s", configPage, f, def, row[1])
			}
		}
	}
	for name := range help {
		if !table[name] {
			t.Errorf("hook serve has --%s, which the flags table of %s lacks", name, configPage)
		}
	}
}

// TestSpecTableMatchesCRD: every field the spec table of
// docs/configuration.md names is in the CRD, every field of the spec is in
// a row, and a default the CRD sets is the one the table says.
func TestSpecTableMatchesCRD(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(harness.RepoRoot(), crdPath))
	if err != nil {
		t.Fatal(err)
	}
	var c crd
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	spec := c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	covered := map[string]bool{}
	for _, row := range tableRows(t, configPage, "## DittoServer spec") {
		fields := codes(row[0])
		if len(fields) == 0 {
			t.Errorf("%s: a spec row names no field: %q", configPage, row[0])
		}
		// "`metrics.enabled`, `metrics.port`" and "`false`, `9090`": the
		// defaults in the fields' order ("`service.type`,
		// `service.annotations`" and "`ClusterIP`": the first's).
		defaults := codes(row[1])
		for i, f := range fields {
			s := lookup(spec, f)
			if s == nil {
				t.Errorf("%s: %s is not a field of the CRD's spec", configPage, f)
				continue
			}
			covered[strings.FieldsFunc(f, func(r rune) bool { return r == '.' || r == '[' })[0]] = true
			if len(s.Default) == 0 || strings.HasPrefix(string(s.Default), "{") || strings.HasPrefix(string(s.Default), "[") {
				continue
			}
			var want any
			if err := json.Unmarshal(s.Default, &want); err != nil {
				t.Fatalf("%s: default %s: %v", f, s.Default, err)
			}
			wantS := fmt.Sprint(want)
			var got string
			if i < len(defaults) {
				got = defaults[i]
			}
			if got != wantS {
				t.Errorf("%s: %s defaults to %s in the CRD, the table says %q", configPage, f, wantS, row[1])
			}
		}
	}
	var missing []string
	for name := range spec.Properties {
		if !covered[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if d := cmp.Diff([]string(nil), missing); d != "" {
		t.Errorf("spec fields in no row of the table of %s (-want +missing):\n%s", configPage, d)
	}
}

// lookup finds a field path of the table ("storage.metadataSize",
// "adapterServices.overrides.<type>", "snapshotPolicies[]") in a schema.
func lookup(s *schema, path string) *schema {
	path = strings.ReplaceAll(path, "[]", "")
	for _, part := range strings.Split(path, ".") {
		switch {
		case s == nil:
			return nil
		case strings.HasPrefix(part, "<") && s.AdditionalProperties != nil:
			s = s.AdditionalProperties
		case s.Properties[part] != nil:
			s = s.Properties[part]
		case s.Items != nil && s.Items.Properties[part] != nil:
			s = s.Items.Properties[part]
		default:
			return nil
		}
	}
	return s
}
