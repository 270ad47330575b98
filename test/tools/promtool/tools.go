//go:build tools

// Package tools pins promtool, which unit-tests the hook's alert rules
// (promtool test rules), and the PromQL parser promql-series uses.
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
