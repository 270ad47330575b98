// Package image builds the container images the node (package node) runs:
// no registry is reachable, so every image is assembled on this machine
// from binaries already on disk (Image, NewImage) and imported into
// containerd as a docker-archive. NodeImages builds the node's set: the
// pause sandbox (test/harness/node/pause), DittoFS, the hook, Metacontroller,
// CoreDNS, busybox and the NFS/SMB client.
//
// It starts nothing and has nothing to stop: the images live in the node's
// containerd, which the node's Teardown removes with the rest of its state.
package image
