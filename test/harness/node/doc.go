// Package node starts a real one-node Kubernetes cluster on this machine
// (Start): the control plane of package cluster plus kube-scheduler, the
// kubelet, containerd with Debian's runc, the bridge CNI plugin, kube-proxy,
// kube-router (NetworkPolicy only), CoreDNS and local-path-provisioner, all
// run in a cgroup of their own, with the images of package image. It needs
// root and the Debian packages of NodePackages; NodeUnavailable says why it
// cannot run here.
//
// How it stops: Teardown, registered as a t.Cleanup and run on SIGINT or
// SIGTERM too (unless Options.OwnSignals), stops every component by its PID
// (the kubelet first), then undoes what the node changed on the host
// (package host) and releases the host-wide node lock
// (/run/lock/dittofs-hook-node.lock) that serialises nodes on a machine. A
// run killed without its cleanups is cleaned up by the next one, or by
// `go run ./test/harness/node/nodeclean`.
package node
