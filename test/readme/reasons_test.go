package readme

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dittofs-hook/dittofs-hook/hook"
	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// statusPage is where the conditions and Events are documented.
const statusPage = "docs/status.md"

// TestReadmeListsEveryReason: every condition reason the hook writes in
// any golden response is documented in the status table of docs/status.md,
// so a user who reads one in `kubectl describe` can look it up.
func TestReadmeListsEveryReason(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(harness.RepoRoot(), statusPage))
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(readme), "## Status and conditions")
	end := strings.Index(string(readme), "## Events")
	if start < 0 || end < start {
		t.Fatal(statusPage + " has no status section before the Events section")
	}
	section := string(readme[start:end])
	responses, _ := filepath.Glob(filepath.Join(harness.RepoRoot(), "hook", "testdata", "sync", "*.json"))
	if len(responses) == 0 {
		t.Fatal("no golden responses")
	}
	seen := map[string]string{}
	for _, f := range responses {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var resp struct {
			Status struct {
				Conditions []struct{ Type, Reason string } `json:"conditions"`
			} `json:"status"`
		}
		if err := json.Unmarshal(data, &resp); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, c := range resp.Status.Conditions {
			seen[c.Type+" "+c.Reason] = strings.TrimSuffix(filepath.Base(f), ".json")
			for _, word := range []string{c.Type, c.Reason} {
				if !strings.Contains(section, "`"+word+"`") {
					t.Errorf("%q (case %s) is not in the status table of "+statusPage, word, strings.TrimSuffix(filepath.Base(f), ".json"))
				}
			}
		}
	}
	if len(seen) < 10 {
		t.Fatalf("only %d condition/reason pairs in the goldens; the fixtures lost their conditions", len(seen))
	}
}

// TestReadmeListsEveryEventReason: the Events table of docs/status.md
// lists every reason the hook records, and no other.
func TestReadmeListsEveryEventReason(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(harness.RepoRoot(), statusPage))
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(readme), "## Events")
	if start < 0 {
		t.Fatal(statusPage + " has no Events section")
	}
	var listed []string
	for _, line := range strings.Split(string(readme[start:]), "\n")[1:] {
		if strings.HasPrefix(line, "#") {
			break
		}
		if f := strings.Split(line, "|"); len(f) > 3 && strings.HasPrefix(strings.TrimSpace(f[1]), "`") {
			listed = append(listed, strings.Trim(strings.TrimSpace(f[1]), "`"))
		}
	}
	sort.Strings(listed)
	want := slices.Clone(hook.EventReasons)
	sort.Strings(want)
	if d := cmp.Diff(want, listed); d != "" {
		t.Errorf("the Events table of %s (-hook.EventReasons +page):\n%s", statusPage, d)
	}
}
