// Package host is what the node (package node) changes on this machine and
// how it is undone: the node's fixed addresses (NodeIP, the pod, Service
// and load-balancer ranges), the bridge, routes and iptables guards it
// starts with (SetupNetwork, GuardsInPlace), snapshots of the host's state
// (TakeHostSnapshot, HostSnapshot.Diff), and the host-wide node lock at
// LockPath.
//
// How it stops: Restore puts the host back as a snapshot had it (processes
// in the node's cgroups, mounts, directories, links, iptables rules,
// ipsets, sysctls, cgroups); node.Node's Teardown calls it. A run killed
// without its teardown leaves State at StatePath, from which RecoverNode
// (under the lock; `go run ./test/harness/node/nodeclean`) restores the
// host.
package host
