package readme

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// maxReadmeBytes keeps the README a page a newcomer reads in five minutes;
// everything else lives in docs/.
const maxReadmeBytes = 12 * 1024

func readPage(t *testing.T, page string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), page))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// section returns the text of a page from the heading (a whole line, "## X")
// to the next heading of the same or a higher level.
func section(t *testing.T, page, heading string) string {
	t.Helper()
	md := readPage(t, page)
	start := strings.Index(md, "\n"+heading+"\n")
	if start < 0 {
		t.Fatalf("%s has no section %q", page, heading)
	}
	md = md[start+1:]
	level := strings.Index(heading, " ") // the number of #
	for _, l := range regexp.MustCompile(`(?m)^#{1,6} `).FindAllStringIndex(md, -1)[1:] {
		if l[1]-l[0]-1 <= level {
			return md[:l[0]]
		}
	}
	return md
}

func TestReadmeSize(t *testing.T) {
	if n := len(readPage(t, "README.md")); n > maxReadmeBytes {
		t.Errorf("README.md is %d bytes, over %d: move the detail to a page under docs/ and link it", n, maxReadmeBytes)
	}
}

// TestQuickstartIsTwoCommands: the Quickstart is the demo and the test
// command, nothing before them (the demo and test/run.sh install their
// Debian packages themselves), and the test command is the one CI runs.
func TestQuickstartIsTwoCommands(t *testing.T) {
	cmds := harness.ShellCommands(section(t, "README.md", "## Quickstart"))
	if d := cmp.Diff([]string{"go run ./test/demo", "test/run.sh"}, cmds); d != "" {
		t.Errorf("the Quickstart's commands (-want +README):\n%s", d)
	}
	ci := readPage(t, ".ci/run")
	if !regexp.MustCompile(`(?m)^exec test/run.sh$`).MatchString(ci) {
		t.Errorf(".ci/run does not run the README's test command test/run.sh:\n%s", ci)
	}
}

// TestReadmeInstallIsDocsInstall: the install in brief in the README is
// docs/install.md's own commands (which controller.CreateHookToken runs in every
// tier with a cluster), not a second copy that may drift.
func TestReadmeInstallIsDocsInstall(t *testing.T) {
	full := map[string]bool{}
	for _, c := range harness.ShellCommands(readPage(t, "docs/install.md")) {
		full[c] = true
	}
	brief := harness.ShellCommands(section(t, "README.md", "## Install on a cluster"))
	if len(brief) < 4 {
		t.Fatalf("the README's install has %d commands", len(brief))
	}
	for _, c := range brief {
		if !full[c] {
			t.Errorf("the README's install command %q is not in docs/install.md", c)
		}
	}
}

var (
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdHeading = regexp.MustCompile("(?m)^#{1,6} (.+)$")
	fence     = regexp.MustCompile("(?ms)^\\s*```.*?^\\s*```")
)

// anchor is the id GitHub gives a heading.
func anchor(heading string) string {
	h := strings.ToLower(strings.ReplaceAll(heading, "`", ""))
	h = regexp.MustCompile(`[^\p{L}\p{N}\- _]`).ReplaceAllString(h, "")
	return strings.ReplaceAll(h, " ", "-")
}

// TestDocLinks: every relative link of the README and docs/ names a file
// that exists and, with #, a heading of it, so that moving a section cannot
// leave a link behind.
func TestDocLinks(t *testing.T) {
	anchors := map[string]map[string]bool{}
	anchorsOf := func(page string) map[string]bool {
		if a, ok := anchors[page]; ok {
			return a
		}
		a := map[string]bool{}
		if strings.HasSuffix(page, ".md") {
			for _, m := range mdHeading.FindAllStringSubmatch(fence.ReplaceAllString(readPage(t, page), ""), -1) {
				a[anchor(m[1])] = true
			}
		}
		anchors[page] = a
		return a
	}
	n := 0
	for _, page := range docPages(t) {
		md := fence.ReplaceAllString(readPage(t, page), "")
		for _, m := range mdLink.FindAllStringSubmatch(md, -1) {
			link := m[1]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			n++
			file, frag, _ := strings.Cut(link, "#")
			target := page
			if file != "" {
				target = filepath.Clean(filepath.Join(filepath.Dir(page), file))
				if _, err := os.Stat(filepath.Join(harness.RepoRoot(), target)); err != nil {
					t.Errorf("%s: link %q: %s does not exist", page, link, target)
					continue
				}
			}
			if frag != "" && !anchorsOf(target)[frag] {
				t.Errorf("%s: link %q: %s has no heading #%s", page, link, target, frag)
			}
		}
	}
	if n < 30 {
		t.Fatalf("found only %d relative links in the README and docs/", n)
	}
}
