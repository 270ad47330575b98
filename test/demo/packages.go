package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/dittofs-hook/dittofs-hook/test/harness/node"
)

// missingPackages are the Debian packages of node.NodePackages that
// dpkg does not list as installed (none where there is no dpkg: the node
// then says what it lacks by the files it needs).
func missingPackages() []string {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		return nil
	}
	var missing []string
	for _, p := range node.NodePackages {
		out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", p).Output()
		if err != nil || !strings.Contains(string(out), "install ok installed") {
			missing = append(missing, p)
		}
	}
	return missing
}

// installPackages gives the node its Debian packages as test/run.sh does,
// so that the Quickstart is two commands: as root it installs what is
// missing; otherwise it says in one line what to install (the demo then
// runs without the node). A failed install is said too, and leaves the
// demo to its API-server-only mode.
func installPackages() {
	missing := missingPackages()
	if len(missing) == 0 {
		return
	}
	list := strings.Join(missing, " ")
	if os.Geteuid() != 0 {
		fmt.Printf("The real node needs root and these Debian packages (as root the demo installs them): apt-get install -y --no-install-recommends %s\n", list)
		return
	}
	step("Installing the node's Debian packages, as test/run.sh does: %s", list)
	update := exec.Command("apt-get", "update", "-qq")
	install := exec.Command("apt-get", append([]string{"install", "-y", "-qq", "--no-install-recommends"}, missing...)...)
	install.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	for _, c := range []*exec.Cmd{update, install} {
		if out, err := c.CombinedOutput(); err != nil {
			fmt.Printf("%s failed (%v):\n%s\n", strings.Join(c.Args, " "), err, out)
			return
		}
	}
}
