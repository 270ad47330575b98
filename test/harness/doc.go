// Package harness is the base every room of the test harness stands on:
// T (what the harness needs of a *testing.T), processes started by a test
// (Start, StartWithAttr, FreePort), the real components' binaries (Binary:
// built from the Go module proxy by test/tools/build.sh and cached by
// version outside the repository), the repository's root, the hook built
// for the host (BuildHook) with a round robin in front of replicas
// (RoundRobin), and the commands of a Markdown page (ShellCommands).
//
// What it starts stops when the test ends: a Process by its own PID
// (SIGTERM, then SIGKILL after 10 s) in a t.Cleanup, or sooner with
// Process.Stop or Process.Kill; a RoundRobin's listener in a t.Cleanup.
//
// The rooms, each starting one thing:
//
//   - cluster: a Kubernetes control plane on loopback (etcd,
//     kube-apiserver, kube-controller-manager), or the Events API alone;
//   - node: a real one-node cluster (kubelet, containerd, CNI, kube-proxy,
//     kube-router, CoreDNS), with node/host (what the node changes on this
//     machine and how it is undone) and node/image (the images it runs);
//   - dittofstest: real DittoFS servers, PostgreSQL, and a fault proxy;
//   - controller: Metacontroller on the host or in the node's cluster,
//     the CompositeController, the hook's token, and an in-memory Loop.
//
// Beside them, two that start nothing, for the fleet benchmarks (test/soak,
// test/scale): promscrape reads the components' Prometheus endpoints, and
// dittoserver lists the DittoServers and says which are Ready.
package harness
