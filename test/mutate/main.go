// Command mutate is the project's mutation check (test/run.sh mutate): it
// breaks, one at a time, each rule the README promises (mutations.go), in a
// scratch copy of the repository, runs the offline tests that must catch it,
// and requires them to fail. It prints each mutation's verdict and the kill
// rate, and exits non-zero when a mutation survives, no longer applies to
// the code, or does not compile.
//
//	go run ./test/mutate              every mutation
//	go run ./test/mutate -run REGEXP  the mutations whose name matches
//	go run ./test/mutate -list        list them
//	go run ./test/mutate -update      the core's goldens rewritten first (go
//	                                  test ./hook -update): each mutation must
//	                                  be caught by a claim or another test,
//	                                  not only by a golden file
//
// Why a fixed list and not a mutation-testing tool: gremlins (v0.6.0, the
// newest on the Go module proxy) builds here, but mutates operators at
// random — 624 runnable mutants in ./hook alone, each a run of the package's
// tests (about two hours on 2 cores) — and cannot express the mutations that
// matter here ("a failed poll forgets the last known adapters", "an observed
// Secret is generated again"). Each mutation below is one such rule broken
// the way a plausible change would break it.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Mutation breaks one promised rule: in File, the snippet From (which must
// occur exactly once) becomes To. The tests of Packages must then fail.
type Mutation struct {
	// Name is short and unique, in kebab case.
	Name string
	// Rule is the promise the mutation breaks, as the README words it.
	Rule     string
	File     string
	From, To string
	// Packages whose tests must catch it (go test patterns).
	Packages []string
}

// Apply returns src with the mutation applied, or an error when its
// snippet is not in src exactly once: the code changed under it, and the
// mutation must be written again against the new code.
func (m Mutation) Apply(src []byte) ([]byte, error) {
	switch n := bytes.Count(src, []byte(m.From)); n {
	case 1:
		return bytes.Replace(src, []byte(m.From), []byte(m.To), 1), nil
	case 0:
		return nil, fmt.Errorf("mutation %s no longer applies: its snippet is not in %s (the code changed; write the mutation again against it)", m.Name, m.File)
	default:
		return nil, fmt.Errorf("mutation %s no longer applies: its snippet is in %s %d times (make it unique)", m.Name, m.File, n)
	}
}

// verdict of one mutation.
type verdict string

const (
	killed   verdict = "killed"
	survived verdict = "SURVIVED"
	broken   verdict = "BROKEN" // does not apply or does not compile
)

func main() {
	run := flag.String("run", "", "only the mutations whose name matches this regular expression")
	list := flag.Bool("list", false, "list the mutations and exit")
	timeout := flag.Duration("timeout", 3*time.Minute, "go test's -timeout for each mutation")
	verbose := flag.Bool("v", false, "print the failing tests of each killed mutation")
	update := flag.Bool("update", false, "run ./hook's tests with -update: its goldens bless the mutation, the claims must still catch it")
	flag.Parse()
	var sel []Mutation
	re, err := regexp.Compile(*run)
	if err != nil {
		fatal(err)
	}
	for _, m := range Mutations {
		if re.MatchString(m.Name) {
			sel = append(sel, m)
		}
	}
	if *list {
		for _, m := range sel {
			fmt.Printf("%-34s %s (%s; %s)\n", m.Name, m.Rule, m.File, strings.Join(m.Packages, " "))
		}
		return
	}
	if len(sel) == 0 {
		fatal(fmt.Errorf("no mutation matches %q", *run))
	}
	root, err := repoRoot()
	if err != nil {
		fatal(err)
	}
	scratch, err := os.MkdirTemp("", "dittofs-hook-mutate-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(scratch)
	if err := copyTree(root, scratch); err != nil {
		fatal(err)
	}
	fmt.Printf("mutate: %d mutations, each alone in a scratch copy (%s); the tests named must fail\n", len(sel), scratch)
	if *update {
		fmt.Println("mutate: -update: ./hook's goldens are rewritten from each mutant (they bless it); its claims and other tests must catch it")
	}
	start := time.Now()
	counts := map[verdict]int{}
	var bad []string
	for i, m := range sel {
		t0 := time.Now()
		v, detail := try(scratch, m, *timeout, *update)
		if *update { // the goldens were rewritten: back to the repository's
			if err := copyTree(root, scratch); err != nil {
				fatal(err)
			}
		}
		counts[v]++
		fmt.Printf("mutate: %2d/%d %-8s %-34s %5.1f s  %s\n", i+1, len(sel), v, m.Name, time.Since(t0).Seconds(), m.Rule)
		if v != killed {
			bad = append(bad, fmt.Sprintf("%s %s: %s", v, m.Name, detail))
		} else if *verbose {
			fmt.Print(indent(detail))
		}
	}
	total := len(sel)
	fmt.Printf("mutate: kill rate %d/%d (%.0f %%) in %s; %d survived, %d broken\n",
		counts[killed], total, 100*float64(counts[killed])/float64(total), time.Since(start).Round(time.Second), counts[survived], counts[broken])
	for _, b := range bad {
		fmt.Println("mutate: " + b)
	}
	if len(bad) > 0 {
		fmt.Println("mutate: a surviving mutation is a rule no test guards: write the test (or remove the mutation, saying why, in test/mutate/mutations.go)")
		os.Exit(1)
	}
}

// try applies m in scratch, runs its packages' tests and restores the file.
func try(scratch string, m Mutation, timeout time.Duration, update bool) (verdict, string) {
	path := filepath.Join(scratch, filepath.FromSlash(m.File))
	orig, err := os.ReadFile(path)
	if err != nil {
		return broken, err.Error()
	}
	mutated, err := m.Apply(orig)
	if err != nil {
		return broken, err.Error()
	}
	if err := os.WriteFile(path, mutated, 0o644); err != nil {
		return broken, err.Error()
	}
	defer func() { _ = os.WriteFile(path, orig, 0o644) }()

	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	args := append([]string{"test", "-count=1", "-failfast", "-vet=off", "-timeout", timeout.String()}, m.Packages...)
	if update && len(m.Packages) == 1 && m.Packages[0] == "./hook/" {
		args = append(args, "-args", "-update")
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = scratch
	out, err := cmd.CombinedOutput()
	if bytes.Contains(out, []byte("[build failed]")) || bytes.Contains(out, []byte("[setup failed]")) ||
		(err != nil && !bytes.Contains(out, []byte("FAIL"))) {
		return broken, "does not compile or the tests did not run:\n" + tail(out, 20)
	}
	if err == nil {
		return survived, "every test of " + strings.Join(m.Packages, " ") + " passed"
	}
	return killed, failures(out)
}

// failures are the failing tests' lines of go test's output.
func failures(out []byte) string {
	var b strings.Builder
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "--- FAIL") || strings.HasPrefix(l, "panic:") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return indent(strings.Join(lines, "\n") + "\n")
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}

// repoRoot is the repository holding the current directory.
func repoRoot() (string, error) {
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "", fmt.Errorf("not in a git checkout: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// copyTree copies the repository's files (tracked, and new ones not
// ignored: what is being worked on) into dst. The working tree itself is
// never changed.
func copyTree(root, dst string) error {
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("git ls-files: %w", err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, f)
		info, err := os.Lstat(src)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted, not yet committed
		}
		if err != nil {
			return err
		}
		to := filepath.Join(dst, f)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		if info.Mode()&os.ModeSymlink != 0 {
			link, err := os.Readlink(src)
			if err != nil {
				return err
			}
			_ = os.Remove(to) // a copy made before
			if err := os.Symlink(link, to); err != nil {
				return err
			}
			continue
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := os.WriteFile(to, data, info.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "mutate:", err)
	os.Exit(2)
}
