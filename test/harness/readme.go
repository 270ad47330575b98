package harness

import "strings"

// ShellCommands returns the commands of a Markdown text's ```sh blocks, as
// a user would type them: continuation lines joined, comments removed.
// TestReadmeCommands runs the README's; the e2e suite runs the ones it
// documents as tested on a real API server.
func ShellCommands(md string) []string {
	var out []string
	in := false
	var cur strings.Builder
	for _, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && trimmed == "```sh":
			in = true
			continue
		case in && strings.HasPrefix(trimmed, "```"):
			in = false
			continue
		case !in:
			continue
		}
		if i := strings.Index(trimmed, "  #"); i >= 0 {
			trimmed = strings.TrimSpace(trimmed[:i])
		}
		if strings.HasPrefix(trimmed, "#") || trimmed == "" {
			continue
		}
		if c, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(strings.TrimSpace(c) + " ")
			continue
		}
		cur.WriteString(trimmed)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}
