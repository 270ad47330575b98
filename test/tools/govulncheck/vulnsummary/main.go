// Command vulnsummary reads govulncheck -format json on stdin and says, one
// line per vulnerability the code calls, where it is and what fixes it. It
// fails when a called vulnerability is in a module the project requires (the
// fix is a go.mod change); one in the standard library is printed as a
// warning, since its fix is a newer Go toolchain than the machine's (the
// image builds with the newest patch release of its Go line).
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

// message is one message of govulncheck's JSON stream (protocol v1.0.0);
// only the parts read here.
type message struct {
	Config *struct {
		GoVersion string `json:"go_version"`
		DB        string `json:"db"`
	} `json:"config"`
	OSV *struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
	} `json:"osv"`
	Finding *struct {
		OSV          string `json:"osv"`
		FixedVersion string `json:"fixed_version"`
		Trace        []struct {
			Module   string `json:"module"`
			Version  string `json:"version"`
			Package  string `json:"package"`
			Function string `json:"function"`
		} `json:"trace"`
	} `json:"finding"`
}

type called struct{ id, module, version, fixed string }

func main() {
	failed, err := summarize(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulnsummary:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

func summarize(r io.Reader, w io.Writer) (failed bool, err error) {
	dec := json.NewDecoder(r)
	summaries := map[string]string{}
	found := map[called]bool{}
	goVersion, db := "", ""
	for {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return false, fmt.Errorf("read govulncheck's JSON: %w", err)
		}
		switch {
		case m.Config != nil:
			goVersion, db = m.Config.GoVersion, m.Config.DB
		case m.OSV != nil:
			summaries[m.OSV.ID] = m.OSV.Summary
		case m.Finding != nil && len(m.Finding.Trace) > 0 && m.Finding.Trace[0].Function != "":
			// Only a trace ending in a function is code that calls the
			// vulnerable symbol; the others are imported or required only.
			t := m.Finding.Trace[0]
			found[called{m.Finding.OSV, t.Module, t.Version, m.Finding.FixedVersion}] = true
		}
	}
	if goVersion == "" {
		return false, errors.New("no config message: not govulncheck -format json output")
	}
	var all []called
	for c := range found {
		all = append(all, c)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].id < all[j].id })
	for _, c := range all {
		verdict := "FAIL"
		if c.module == "stdlib" {
			verdict = "warn (the Go toolchain's: " + goVersion + ")"
		} else {
			failed = true
		}
		fmt.Fprintf(w, "%s %s: %s@%s, fixed in %s: %s\n", verdict, c.id, c.module, c.version, c.fixed, summaries[c.id])
	}
	fmt.Fprintf(w, "govulncheck (%s): %d vulnerabilities called, %d of them in required modules\n", db, len(all), countModules(all))
	return failed, nil
}

func countModules(all []called) int {
	n := 0
	for _, c := range all {
		if c.module != "stdlib" {
			n++
		}
	}
	return n
}
