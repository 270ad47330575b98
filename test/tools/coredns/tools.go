//go:build tools

// Package tools pins the node tier's cluster DNS: CoreDNS, configured with
// the kubernetes plugin and no forward plugin (no query leaves the machine).
package tools

import _ "github.com/coredns/coredns"
