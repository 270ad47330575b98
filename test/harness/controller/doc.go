// Package controller starts the real Metacontroller v4.17.2, the
// controller every tier runs: as a process on the host in the end-to-end
// suite (StartMetacontroller), or in the node's cluster from upstream's own
// manifests/production kustomization (InstallMetacontroller). It renders
// and applies the project's CompositeController (CompositeController,
// ApplyCompositeController), creates the bearer token Metacontroller sends
// to the hook as docs/install.md does (CreateHookToken), and models
// Metacontroller's side of the hook contract in memory for tests without an
// API server (Loop). test/tools/build.sh builds Metacontroller's binary and
// extracts its manifests from the same release source.
//
// How it stops: a HostMetacontroller is stopped by its PID (SIGTERM) in a
// t.Cleanup, or sooner with Stop (Start starts it again); a
// ClusterMetacontroller is a StatefulSet in the node's cluster, gone with
// the node's Teardown (Delete deletes its pod, which the StatefulSet
// replaces). A Loop starts nothing.
package controller
