package e2e

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/cluster"
)

// upstreamSample is what a real kube-apiserver says of one upstream v0.29.0
// sample (test/testdata/upstream/samples) under each CRD. Strict is how a
// user applies it (`kubectl apply`, whose default --validate=strict refuses
// unknown fields, and stops there: no schema or CEL rule is evaluated). Lax
// is `--validate=false`, where unknown fields are pruned silently and the
// schema's rules decide (what a client that does not ask for strict field
// validation gets). No fragments means accepted; otherwise every fragment
// must appear in kubectl's error.
type upstreamSample struct {
	file                  string
	upstream, upstreamLax []string // under upstream's own CRD
	ours, oursLax         []string // under manifests/crd today (issue 15 empties ours)
}

var upstreamSamples = []upstreamSample{
	{file: "ditto.io_v1alpha1_dittoserver.yaml"},
	{file: "ditto.io_v1alpha1_dittoserver_aws_s3.yaml"},
	{file: "dittofs_v1alpha1_dittofs_memory.yaml"},
	{file: "dittofs_v1alpha1_dittofs_s3.yaml"},
	{file: "dittofs_v1alpha1_dittoserver_percona.yaml"},
	{file: "dittofs_v1alpha1_dittoserver_tls.yaml"},
	{
		file:     "dittofs-s3-smb-server.yaml",
		upstream: []string{`unknown field "spec.smb"`},
		ours:     []string{`unknown field "spec.smb"`},
	},
	{
		file:     "dittofs-s3-smb-server-with-secrets.yaml",
		upstream: []string{`unknown field "spec.smb"`},
		ours:     []string{`unknown field "spec.smb"`},
	},
}

// TestUpstreamSamples applies every upstream v0.29.0 sample to a real API
// server (server-side dry run, strict and lax) under upstream's CRD and then
// under ours, and checks each verdict against upstreamSamples: which samples
// upstream's own CRD accepts, and what ours still refuses (only what
// upstream's refuses too: spec.smb). Then every sample upstream accepts is
// created for real and must reach Ready (samplesReachReady).
func TestUpstreamSamples(t *testing.T) {
	root := harness.RepoRoot()
	samples := filepath.Join(root, "test", "testdata", "upstream", "samples")
	files, err := filepath.Glob(filepath.Join(samples, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, s := range upstreamSamples {
		listed = append(listed, s.file)
	}
	var onDisk []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "\nkind: DittoServer") {
			onDisk = append(onDisk, filepath.Base(f))
		}
	}
	sort.Strings(listed)
	sort.Strings(onDisk)
	if strings.Join(listed, " ") != strings.Join(onDisk, " ") {
		t.Fatalf("samples with a DittoServer on disk %v, but the table lists %v", onDisk, listed)
	}

	dir := logDir(t)
	c := cluster.Start(t, dir)
	c.Kubectl("create", "namespace", "dittofs")

	verdicts := func(t *testing.T, crd string, strict, lax func(upstreamSample) []string) {
		for _, s := range upstreamSamples {
			for _, mode := range []struct {
				flag string
				want func(upstreamSample) []string
			}{{"--validate=strict", strict}, {"--validate=false", lax}} {
				out, err := c.KubectlErr("apply", "--dry-run=server", mode.flag, "-f", filepath.Join(samples, s.file))
				frags := mode.want(s)
				switch {
				case len(frags) == 0 && err != nil:
					t.Errorf("%s under %s (%s): refused, want accepted:\n%v", s.file, crd, mode.flag, err)
				case len(frags) > 0 && err == nil:
					t.Errorf("%s under %s (%s): accepted, want refused with %q:\n%s", s.file, crd, mode.flag, frags, out)
				case err != nil:
					for _, f := range frags {
						if !strings.Contains(err.Error(), f) {
							t.Errorf("%s under %s (%s): error lacks %q:\n%v", s.file, crd, mode.flag, f, err)
						}
					}
					t.Logf("%s under %s (%s): refused: %v", s.file, crd, mode.flag, err)
				default:
					t.Logf("%s under %s (%s): accepted", s.file, crd, mode.flag)
				}
			}
		}
	}

	upstreamCRD := filepath.Join(root, "test", "testdata", "upstream", "crd", "dittofs.dittofs.com_dittoservers.yaml")
	t.Run("upstream CRD", func(t *testing.T) {
		c.Kubectl("apply", "--server-side", "-f", upstreamCRD)
		c.WaitCRDsEstablished(60 * time.Second)
		verdicts(t, "upstream's CRD", func(s upstreamSample) []string { return s.upstream }, func(s upstreamSample) []string { return s.upstreamLax })
		c.Kubectl("delete", "-f", upstreamCRD, "--wait=true", "--timeout=60s")
	})
	t.Run("our CRD", func(t *testing.T) {
		// The same name: wait until the API server has forgotten upstream's.
		deadline := time.Now().Add(60 * time.Second)
		for {
			if _, err := c.KubectlErr("get", "crd", "dittoservers.dittofs.dittofs.com"); err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("upstream's CRD is still there after 60 s")
			}
			time.Sleep(200 * time.Millisecond)
		}
		c.Kubectl("apply", "--server-side", "-k", filepath.Join(root, "manifests", "crd"))
		c.WaitCRDsEstablished(60 * time.Second)
		verdicts(t, "our CRD", func(s upstreamSample) []string { return s.ours }, func(s upstreamSample) []string { return s.oursLax })
	})
	t.Run("accepted samples reach Ready", func(t *testing.T) { samplesReachReady(t, c, dir) })
}
