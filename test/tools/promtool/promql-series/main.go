// Command promql-series reads a JSON array of PromQL expressions on stdin
// and writes, as a JSON object, the metric names each one selects. It fails
// on the first expression that does not parse, naming it. The monitoring
// tests use it to check that the alert rules and the dashboard query only
// series the hook exports, with Prometheus's own parser rather than a
// pattern that could miss a selector.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "promql-series:", err)
		os.Exit(1)
	}
}

func run() error {
	var exprs []string
	if err := json.NewDecoder(os.Stdin).Decode(&exprs); err != nil {
		return fmt.Errorf("read a JSON array of expressions: %w", err)
	}
	out := map[string][]string{}
	p := parser.NewParser(parser.Options{})
	for _, e := range exprs {
		ast, err := p.ParseExpr(e)
		if err != nil {
			return fmt.Errorf("%q: %w", e, err)
		}
		names := []string{}
		var walkErr error
		parser.Inspect(ast, func(n parser.Node, _ []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			name := vs.Name
			if name == "" {
				for _, m := range vs.LabelMatchers {
					if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
						name = m.Value
					}
				}
			}
			if name == "" {
				walkErr = fmt.Errorf("%q: selector %s names no metric", e, vs)
				return walkErr
			}
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
			return nil
		})
		if walkErr != nil {
			return walkErr
		}
		slices.Sort(names)
		out[e] = names
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
