// Command pause is the node tier's pod sandbox image: it holds a pod's
// namespaces and does nothing until it is told to stop (no registry is
// reachable, so registry.k8s.io/pause is built here from this).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
