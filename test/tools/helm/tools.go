//go:build tools

// Package tools pins Helm, which lints and renders the chart in CI.
package tools

import _ "helm.sh/helm/v4/cmd/helm"
