//go:build tools

// Package tools pins golangci-lint v2 with kube-api-linter compiled in as a
// module plugin. kube-api-linter's cmd/golangci-lint-kube-api-linter is the
// binary `golangci-lint custom` would generate (golangci-lint's main plus a
// blank import of the plugin), so no git clone of golangci-lint is needed:
// minimal version selection gives it the golangci-lint pinned here.
package tools

import (
	_ "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
	_ "sigs.k8s.io/kube-api-linter/cmd/golangci-lint-kube-api-linter"
)
