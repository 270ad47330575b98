package image

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// Image references of the node tier. The DittoFS and hook images carry the
// names the product uses (a DittoServer's default image, the Deployment in
// manifests/hook), so what runs is exactly what a user applies.
const (
	PauseImage   = "registry.k8s.io/pause:3.10.2"
	DittoFSImage = "marmos91c/dittofs:0.29.0"
	CoreDNSImage = "dittofs-hook.test/coredns:v1.15.0"
	// BusyboxImage runs local-path-provisioner's helper pods (mkdir, rm).
	BusyboxImage = "dittofs-hook.test/busybox:node"
	// ClientImage carries Debian's smbclient and libnfs utilities (nfs-ls,
	// nfs-cp, nfs-cat) with their libraries, and a busybox shell.
	ClientImage = "dittofs-hook.test/client:node"
	// MetacontrollerImage is the image upstream's production StatefulSet
	// runs; the node tier packs one of that name from the built binary.
	MetacontrollerImage = "ghcr.io/metacontroller/metacontroller:v4.17.2"
)

// HookImage is the image manifests/hook/deployment.yaml runs.
func HookImage(t harness.T) string {
	t.Helper()
	f, err := os.Open(filepath.Join(harness.RepoRoot(), "manifests", "hook", "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "image:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("manifests/hook/deployment.yaml names no image")
	return ""
}

// goBuildStatic builds a main package of this repository the way the
// Dockerfile does (static, trimmed, stripped).
func goBuildStatic(t harness.T, pkg, out string) string {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Dir = harness.RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// NodeImages builds every image the node tier runs. dir receives the
// binaries built for them.
func NodeImages(t harness.T, dir string) []*Image {
	t.Helper()
	var imgs []*Image

	pause := NewImage(PauseImage)
	pause.CopyFile(t, goBuildStatic(t, "./test/harness/node/pause", filepath.Join(dir, "pause")), "pause", 0o755)
	pause.Entrypoint = []string{"/pause"}
	pause.User = "65535:65535"
	imgs = append(imgs, pause)

	// The published marmos91c/dittofs:0.29.0's shape: /app/dfs, user
	// dittofs (65532) whose home is /app, /data/* and /config owned by it.
	dfs := NewImage(DittoFSImage).MergedUsr()
	dfs.CopyBinary(t, harness.Binary(t, "dfs"), "app/dfs")
	dfs.File("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\ndittofs:x:65532:65532::/app:/sbin/nologin\n"))
	dfs.File("etc/group", 0o644, []byte("root:x:0:\ndittofs:x:65532:\n"))
	dfs.Dir("app", 0o755, 0, 0)
	for _, d := range []string{"data", "data/metadata", "data/content", "data/cache", "config"} {
		dfs.Dir(d, 0o755, 65532, 65532)
	}
	dfs.Entrypoint = []string{"/app/dfs"}
	dfs.Cmd = []string{"start", "--foreground", "--config", "/config/config.yaml"}
	dfs.User, dfs.WorkingDir = "65532:65532", "/app"
	imgs = append(imgs, dfs)

	// The Dockerfile's image: the static hook at /hook on distroless
	// static:nonroot.
	hook := NewImage(HookImage(t)).NonrootUser()
	hook.CopyFile(t, goBuildStatic(t, "./cmd/hook", filepath.Join(dir, "hook")), "hook", 0o755)
	hook.Entrypoint, hook.Cmd, hook.User = []string{"/hook"}, []string{"serve"}, "65532:65532"
	imgs = append(imgs, hook)

	// Metacontroller as upstream's production StatefulSet runs it: the
	// static binary at /usr/bin/metacontroller (its command), non-root.
	mc := NewImage(MetacontrollerImage).NonrootUser()
	mc.CopyFile(t, harness.Binary(t, "metacontroller"), "usr/bin/metacontroller", 0o755)
	mc.Entrypoint, mc.User = []string{"/usr/bin/metacontroller"}, "65532:65532"
	imgs = append(imgs, mc)

	dns := NewImage(CoreDNSImage).NonrootUser()
	dns.CopyFile(t, harness.Binary(t, "coredns"), "coredns", 0o755)
	dns.Entrypoint, dns.User = []string{"/coredns"}, "65532:65532"
	imgs = append(imgs, dns)

	bb := NewImage(BusyboxImage).MergedUsr()
	addBusybox(t, bb)
	bb.Entrypoint = []string{"/bin/sh"}
	imgs = append(imgs, bb)

	client := NewImage(ClientImage).MergedUsr()
	addBusybox(t, client)
	for _, bin := range []string{"/usr/bin/smbclient", "/usr/bin/nfs-ls", "/usr/bin/nfs-cp", "/usr/bin/nfs-cat"} {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%s is missing: test/run.sh node installs Debian's smbclient and libnfs-utils", bin)
		}
		client.CopyBinary(t, bin, bin)
	}
	client.File("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n"))
	client.File("etc/group", 0o644, []byte("root:x:0:\n"))
	client.File("etc/samba/smb.conf", 0o644, []byte("[global]\n  client min protocol = SMB2\n  dos charset = ASCII\n  # No name cache: an adapter Service created again has a new cluster IP.\n  name cache timeout = 0\n"))
	for _, d := range []string{"root", "var/lib/samba/private", "var/cache/samba", "run/samba", "var/log/samba"} {
		client.Dir(d, 0o755, 0, 0)
	}
	client.Entrypoint = []string{"/bin/sh", "-c"}
	client.Cmd = []string{"sleep 86400"}
	imgs = append(imgs, client)
	return imgs
}

// addBusybox adds Debian's static busybox with the applets scripts use.
func addBusybox(t harness.T, img *Image) {
	t.Helper()
	const bb = "/bin/busybox"
	if _, err := os.Stat(bb); err != nil {
		t.Fatalf("%s is missing: test/run.sh node installs Debian's busybox-static", bb)
	}
	img.CopyFile(t, bb, "usr/bin/busybox", 0o755)
	for _, applet := range []string{"sh", "mkdir", "rm", "cat", "echo", "ls", "sleep", "test", "printf", "wget", "nc", "head", "cmp", "sha256sum", "true", "false", "dd", "env", "id", "timeout", "grep", "hostname", "nslookup"} {
		img.Link("usr/bin/"+applet, "busybox")
	}
}
