//go:build tools

// Package tools pins the node tier's storage: Rancher's local-path
// provisioner, the default dynamic provisioner of kind and k3s.
package tools

import _ "github.com/rancher/local-path-provisioner"
