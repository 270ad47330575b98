package dittofstest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The certificates of a DittoFS serving its API over TLS
// (DittoFSOptions.TLS).

// makeCerts writes ca.crt, tls.crt, tls.key, untrusted-ca.crt and, with
// Mutual, client-ca.crt, client.crt, client.key, stranger.crt and
// stranger.key into d.Dir, with openssl (ECDSA P-256, valid one day).
func (d *DittoFS) makeCerts(o *TLSOptions) {
	t := d.t
	t.Helper()
	dir := d.Dir
	openssl := func(args ...string) {
		t.Helper()
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ext := func(name, content string) string {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return name
	}
	ca := func(name, cn string) {
		openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
			"-subj", "/CN="+cn, "-keyout", name+".key", "-out", name+".crt")
	}
	leaf := func(name, cn, caName, extFile string) {
		openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN="+cn,
			"-keyout", name+".key", "-out", name+".csr")
		openssl("x509", "-req", "-in", name+".csr", "-CA", caName+".crt", "-CAkey", caName+".key", "-CAcreateserial",
			"-days", "1", "-out", name+".crt", "-extfile", extFile)
	}
	ca("ca", "dittofs-test-server-ca")
	ca("untrusted-ca", "dittofs-test-untrusted-ca")
	leaf("tls", "dittofs", "ca", ext("server.ext", "subjectAltName="+strings.Join(o.SANs, ",")+"\nextendedKeyUsage=serverAuth\n"))
	d.CA, d.ServerCert, d.ServerKey, d.UntrustedCA = d.read("ca.crt"), d.read("tls.crt"), d.read("tls.key"), d.read("untrusted-ca.crt")
	if o.Mutual {
		clientExt := ext("client.ext", "extendedKeyUsage=clientAuth\n")
		ca("client-ca", "dittofs-test-client-ca")
		leaf("client", "dittofs-hook", "client-ca", clientExt)
		leaf("stranger", "stranger", "untrusted-ca", clientExt)
		d.ClientCA, d.ClientCert, d.ClientKey = d.read("client-ca.crt"), d.read("client.crt"), d.read("client.key")
		d.StrangerCert, d.StrangerKey = d.read("stranger.crt"), d.read("stranger.key")
	}
}

func (d *DittoFS) read(name string) []byte {
	d.t.Helper()
	b, err := os.ReadFile(filepath.Join(d.Dir, name))
	if err != nil {
		d.t.Fatal(err)
	}
	return b
}
