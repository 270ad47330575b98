//go:build tools

// Package tools pins the DittoFS server the tests run against.
package tools

import _ "github.com/marmos91/dittofs/cmd/dfs"
