// Command nodeclean cleans up after a node-tier run that ended without its
// teardown (go test's -timeout kills the test binary without cleanups):
// it waits for the host-wide node lock and restores the host from the state
// the run recorded. With nothing to clean up it does nothing.
//
//	go run ./test/harness/node/nodeclean
package main

import (
	"fmt"
	"os"

	"github.com/dittofs-hook/dittofs-hook/test/harness/node/host"
)

func main() {
	if err := host.RecoverNode(); err != nil {
		fmt.Fprintln(os.Stderr, "nodeclean:", err)
		os.Exit(1)
	}
}
