// Package hook is the pure core of the Metacontroller sync hook for
// DittoServer resources: the wire contract, the DittoServer API types, and
// the desired-state builders that turn (request, what DittoFS said, clock)
// into the children and status to answer, and the Kubernetes Events that
// answer records (Sync.Events). It does no I/O: its shell, the HTTP service
// in hook/server, reads the requests, calls DittoFS as the core's Plan
// says, writes the answers, then sends their Events.
//
// +groupName=dittofs.dittofs.com
// +versionName=v1alpha1
package hook
