//go:build tools

// Package tools pins the node tier's NetworkPolicy engine: kube-router,
// run with only its firewall (v2.1.0 is the newest the module proxy serves).
package tools

import _ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
