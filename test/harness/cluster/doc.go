// Package cluster starts a real Kubernetes control plane on loopback:
// etcd, kube-apiserver and kube-controller-manager (Start), built from the
// Go module proxy, with no kubelet (tests play it through status
// subresources); node.Start runs the same control plane
// (StartControlPlane) for its one-node cluster. It also serves the one call
// the hook makes to a Kubernetes API, for tests without an API server
// (StartEventsAPI).
//
// How it stops: every process is stopped by its own PID (SIGTERM, then
// SIGKILL after 10 s) in a t.Cleanup when the test ends; StopAPIServer and
// RestartAPIServer stop kube-apiserver sooner and start it again. The
// EventsAPI's server is closed in a t.Cleanup.
package cluster
