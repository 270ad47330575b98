// Package hook is the Metacontroller sync hook for DittoServer resources: the
// wire contract, the HTTP handlers, and the pure desired-state builders that
// turn (request, adapter poll, clock) into the children and status to answer.
//
// +groupName=dittofs.dittofs.com
// +versionName=v1alpha1
package hook
