package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// Image is a container image the node tier builds on this machine: no
// registry is reachable, so every image a pod runs is assembled here from
// binaries already on disk and imported into containerd as a docker-archive.
type Image struct {
	// Ref is the name pods use, e.g. "marmos91c/dittofs:0.29.0".
	Ref        string
	Entrypoint []string
	Cmd        []string
	// User is "uid:gid" ("" is root).
	User       string
	WorkingDir string
	Env        []string

	files map[string]imageFile
}

type imageFile struct {
	mode int64
	body []byte
	link string // symlink target when set
	dir  bool
	uid  int
	gid  int
}

// NewImage starts an empty image with the directories every image needs.
func NewImage(ref string) *Image {
	img := &Image{Ref: ref, files: map[string]imageFile{}}
	for _, d := range []string{"etc", "tmp", "dev", "proc", "sys", "run", "var"} {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		img.Dir(d, mode, 0, 0)
	}
	return img
}

// Dir adds a directory.
func (img *Image) Dir(path string, mode int64, uid, gid int) *Image {
	img.files[clean(path)] = imageFile{mode: mode, dir: true, uid: uid, gid: gid}
	return img
}

// File adds a file with the given contents.
func (img *Image) File(path string, mode int64, body []byte) *Image {
	img.files[clean(path)] = imageFile{mode: mode, body: body}
	return img
}

// Link adds a symbolic link.
func (img *Image) Link(path, target string) *Image {
	img.files[clean(path)] = imageFile{mode: 0o777, link: target}
	return img
}

// CopyFile adds a host file at path in the image.
func (img *Image) CopyFile(t harness.T, hostPath, path string, mode int64) *Image {
	t.Helper()
	b, err := os.ReadFile(hostPath)
	if err != nil {
		t.Fatalf("image %s: %v", img.Ref, err)
	}
	return img.File(path, mode, b)
}

// CopyBinary adds a host executable at path, with the shared libraries
// `ldd` says it needs (and the dynamic loader) at the paths the host has
// them, so a dynamically linked binary runs in the image as on the host.
func (img *Image) CopyBinary(t harness.T, hostPath, path string) *Image {
	t.Helper()
	img.CopyFile(t, hostPath, path, 0o755)
	for _, lib := range sharedLibraries(t, hostPath) {
		img.addHostFile(t, lib)
	}
	return img
}

// MergedUsr lays out /bin, /lib and /lib64 as links into /usr, as Debian
// does, so library paths ldd reports resolve in the image.
func (img *Image) MergedUsr() *Image {
	for _, d := range []string{"bin", "lib", "lib64", "sbin"} {
		img.Link(d, "usr/"+d)
	}
	return img
}

// addHostFile copies a host file to its real path in the image and keeps
// the name it was found by as a link to it.
func (img *Image) addHostFile(t harness.T, p string) {
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatalf("image %s: %v", img.Ref, err)
	}
	st, err := os.Stat(resolved)
	if err != nil {
		t.Fatalf("image %s: %v", img.Ref, err)
	}
	img.CopyFile(t, resolved, resolved, int64(st.Mode().Perm()))
	// The name it was found by, where the image's merged /usr puts it
	// (/lib64/ld-linux-x86-64.so.2 is usr/lib64/…; libfoo.so.1 is a link
	// to libfoo.so.1.2.3).
	if named := usrPath(p); named != clean(resolved) {
		img.Link(named, resolved)
	}
}

// usrPath is where a host path lands in an image whose /bin, /lib, /lib64
// and /sbin are links into /usr.
func usrPath(p string) string {
	p = clean(p)
	for _, d := range []string{"bin/", "lib/", "lib64/", "sbin/"} {
		if strings.HasPrefix(p, d) {
			return "usr/" + p
		}
	}
	return p
}

var lddLine = regexp.MustCompile(`(?:=>\s*)?(/\S+)\s+\(0x`)

// sharedLibraries lists the absolute paths `ldd` resolves for a binary
// (none for a static one).
func sharedLibraries(t harness.T, bin string) []string {
	out, err := exec.Command("ldd", bin).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "not a dynamic executable") {
			return nil
		}
		t.Fatalf("ldd %s: %v\n%s", bin, err, out)
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "not found") {
			t.Fatalf("ldd %s: %s", bin, line)
		}
		if m := lddLine.FindStringSubmatch(line); m != nil {
			libs = append(libs, m[1])
		}
	}
	return libs
}

func clean(p string) string { return strings.TrimPrefix(filepath.Clean("/"+p), "/") }

// NonrootUser adds /etc/passwd, /etc/group and the home directory of the
// distroless "nonroot" user (65532), as gcr.io/distroless/static:nonroot has.
func (img *Image) NonrootUser() *Image {
	img.File("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"))
	img.File("etc/group", 0o644, []byte("root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"))
	img.File("etc/nsswitch.conf", 0o644, []byte("passwd: files\ngroup: files\nhosts: files dns\n"))
	img.Dir("home/nonroot", 0o700, 65532, 65532)
	img.Dir("root", 0o700, 0, 0)
	return img
}

// Archive writes the image as a docker-archive (what `docker save` writes
// and `ctr images import` reads): one layer, a config, a manifest.
func (img *Image) Archive() ([]byte, error) {
	layer, err := img.layer()
	if err != nil {
		return nil, err
	}
	layerSum := sha256.Sum256(layer)
	cfg := map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config": map[string]any{
			"Entrypoint": img.Entrypoint,
			"Cmd":        img.Cmd,
			"User":       img.User,
			"WorkingDir": img.WorkingDir,
			"Env":        append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, img.Env...),
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(layerSum[:])}},
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cfgSum := sha256.Sum256(cfgJSON)
	cfgName := hex.EncodeToString(cfgSum[:]) + ".json"
	layerName := hex.EncodeToString(layerSum[:]) + "/layer.tar"
	manifest, err := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{img.Ref}, "Layers": []string{layerName}}})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		body []byte
	}{{cfgName, cfgJSON}, {layerName, layer}, {"manifest.json", manifest}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// layer is the image's one filesystem layer, with every parent directory
// present and entries in a fixed order (same files, same bytes).
func (img *Image) layer() ([]byte, error) {
	all := map[string]imageFile{}
	for p, f := range img.files {
		all[p] = f
		for d := filepath.Dir(p); d != "." && d != "/"; d = filepath.Dir(d) {
			if _, ok := img.files[d]; !ok {
				all[d] = imageFile{mode: 0o755, dir: true}
			}
		}
	}
	names := make([]string, 0, len(all))
	for p := range all {
		names = append(names, p)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range names {
		f := all[p]
		h := &tar.Header{Name: p, Mode: f.mode, Uid: f.uid, Gid: f.gid, Format: tar.FormatPAX}
		switch {
		case f.dir:
			h.Typeflag, h.Name = tar.TypeDir, p+"/"
		case f.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.body); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Rootfs writes the image's files under dir (to try a binary with chroot).
func (img *Image) Rootfs(dir string) error {
	layer, err := img.layer()
	if err != nil {
		return err
	}
	cmd := exec.Command("tar", "-x", "-C", dir)
	cmd.Stdin = bytes.NewReader(layer)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("tar: %v: %s", err, out)
	}
	return nil
}
