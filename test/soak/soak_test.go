// Package soak runs a fleet of DittoServers on the real one-node cluster
// (node.Start), each a DittoFS pod, under one hook with 2 replicas,
// measures it, and then injects a seeded random schedule of faults while
// checking, every second and in every hook answer, that no address is ever
// lost. It needs root and the node tier's Debian packages; test/run.sh node
// runs it at its CI size (10 DittoServers, 5 minutes of faults) and
// test/bench.sh node at the fleet's (50, no faults) and longer.
//
// Settings (environment):
//
//	DITTOFS_HOOK_SOAK_SERVERS     DittoServers (default 10), spread over
//	DITTOFS_HOOK_SOAK_NAMESPACES  namespaces (default 5)
//	DITTOFS_HOOK_SOAK_DURATION    how long faults are injected (default 5m; 0: the fleet only)
//	DITTOFS_HOOK_SOAK_SEED        the schedule's seed (default: from the clock; printed)
//	DITTOFS_HOOK_SOAK_INTERVAL    spec.adapterDiscovery.pollingInterval (default 5s, the CRD's minimum)
//	DITTOFS_HOOK_SOAK_SERVICE_TYPE  adapter Service type (default LoadBalancer; the fleet benchmark uses NodePort)
//	DITTOFS_HOOK_SOAK_FAULTS      only these fault kinds, comma-separated (default: all)
//	DITTOFS_HOOK_SOAK_METACONTROLLER  Metacontroller's flags: "upstream" (its production
//	                              defaults) or "fleet" (the shipped sizing component
//	                              manifests/metacontroller/components/fleet-50, default)
//	DITTOFS_HOOK_SOAK_HANGING     DittoServers whose DittoFS API hangs (SIGSTOPped, and
//	                              stopped again when the kubelet restarts it) while the
//	                              others' disable latency is measured (default 0; the
//	                              fairness benchmark uses 1)
//
// Metacontroller runs in the cluster, installed from the repository's
// manifests/metacontroller over upstream's manifests/production
// kustomization (controller.InstallMetacontroller;
// DITTOFS_HOOK_METACONTROLLER_ARGS adds flags to it). Its webhooks point at
// a recording proxy the test runs on the host, on the node's bridge
// address, which every pod reaches; the proxy passes each call on to the
// hook's Service and checks each answer.
//
// Every component's log, the pods' included, is kept in the folder the test
// names, so that a seed's run can be read afterwards.
package soak

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
	"github.com/dittofs-hook/dittofs-hook/test/harness/controller"
	"github.com/dittofs-hook/dittofs-hook/test/harness/node"
	"github.com/dittofs-hook/dittofs-hook/test/harness/node/host"
)

type config struct {
	servers, namespaces int
	duration, interval  time.Duration
	seed                uint64
	serviceType         string
	faults              []*faultKind
	// metacontroller: "upstream" or "fleet" (the sizing component
	// users add for up to 50 DittoServers, fleet-50).
	metacontroller string
	// hanging: how many DittoServers' DittoFS hangs while the others'
	// disables are timed (the fairness figure: one tenant's hanging API
	// must not slow the others).
	hanging int
	// hookEnv: NAME=value settings of the hook's Deployment, for an A/B of
	// a hook flag (DITTOFS_HOOK_<FLAG>, e.g.
	// DITTOFS_HOOK_RESYNC_PACING=false).
	hookEnv []string
}

func loadConfig(t *testing.T) config {
	c := config{servers: 10, namespaces: 5, duration: 5 * time.Minute, interval: 5 * time.Second, serviceType: "LoadBalancer", metacontroller: "fleet",
		seed: uint64(time.Now().UnixNano() % 1_000_000_000)}
	env := func(name string, set func(string) error) {
		if v := os.Getenv(name); v != "" {
			if err := set(v); err != nil {
				t.Fatalf("%s=%q: %v", name, v, err)
			}
		}
	}
	atoi := func(dst *int) func(string) error {
		return func(v string) (err error) { *dst, err = strconv.Atoi(v); return }
	}
	dur := func(dst *time.Duration) func(string) error {
		return func(v string) (err error) { *dst, err = time.ParseDuration(v); return }
	}
	env("DITTOFS_HOOK_SOAK_SERVERS", atoi(&c.servers))
	env("DITTOFS_HOOK_SOAK_NAMESPACES", atoi(&c.namespaces))
	env("DITTOFS_HOOK_SOAK_DURATION", dur(&c.duration))
	env("DITTOFS_HOOK_SOAK_INTERVAL", dur(&c.interval))
	env("DITTOFS_HOOK_SOAK_HANGING", atoi(&c.hanging))
	env("DITTOFS_HOOK_SOAK_HOOK_ENV", func(v string) error {
		for _, kv := range strings.Fields(v) {
			if name, _, ok := strings.Cut(kv, "="); !ok || !strings.HasPrefix(name, "DITTOFS_HOOK_") {
				return fmt.Errorf("want space-separated DITTOFS_HOOK_<FLAG>=value settings")
			}
			c.hookEnv = append(c.hookEnv, kv)
		}
		return nil
	})
	env("DITTOFS_HOOK_SOAK_SEED", func(v string) (err error) { c.seed, err = strconv.ParseUint(v, 10, 64); return })
	env("DITTOFS_HOOK_SOAK_SERVICE_TYPE", func(v string) error {
		if v != "LoadBalancer" && v != "NodePort" && v != "ClusterIP" {
			return fmt.Errorf("want LoadBalancer, NodePort or ClusterIP")
		}
		c.serviceType = v
		return nil
	})
	env("DITTOFS_HOOK_SOAK_METACONTROLLER", func(v string) error {
		if v != "upstream" && v != "fleet" {
			return fmt.Errorf("want upstream or fleet")
		}
		c.metacontroller = v
		return nil
	})
	c.faults = kinds
	env("DITTOFS_HOOK_SOAK_FAULTS", func(v string) error {
		c.faults = nil
		for _, name := range strings.Split(v, ",") {
			var k *faultKind
			for _, x := range kinds {
				if x.name == strings.TrimSpace(name) {
					k = x
				}
			}
			if k == nil {
				return fmt.Errorf("no fault kind %q", name)
			}
			c.faults = append(c.faults, k)
		}
		return nil
	})
	if c.servers < 1 || c.namespaces < 1 || c.interval < 5*time.Second || c.hanging < 0 || c.hanging >= c.servers {
		t.Fatalf("soak settings out of range: %+v (at least 1 server, 1 namespace, a 5s interval, fewer hanging DittoServers than DittoServers)", c)
	}
	c.namespaces = min(c.namespaces, c.servers)
	return c
}

func TestSoak(t *testing.T) {
	cfg := loadConfig(t)
	t.Logf("soak: %d DittoServers in %d namespaces (%d of them hanging while disables are timed), %s adapter Services, polling interval %s, faults for %s, seed %d, Metacontroller's flags: %s, the hook's settings: %v",
		cfg.servers, cfg.namespaces, cfg.hanging, cfg.serviceType, cfg.interval, cfg.duration, cfg.seed, cfg.metacontroller, cfg.hookEnv)
	root := harness.RepoRoot()
	start := time.Now()
	n := node.Start(t, node.Options{KeepLogs: true})
	t.Cleanup(func() {
		t.Logf("soak: every component's log, the hook's and DittoFS's pods' included, is kept in %s", n.LogDir)
	})
	t.Logf("node: %-44s %6.1f s", "node up (total)", time.Since(start).Seconds())

	controller.CreateHookToken(t, n.Cluster, t.TempDir()) // as the README installs it
	var install controller.MetacontrollerInstall
	if cfg.metacontroller == "fleet" {
		install.Components = []string{controller.MetacontrollerComponent("fleet-50")}
	}
	mc := controller.InstallMetacontroller(t, n, install)
	t.Logf("$ kubectl get pods -n metacontroller\n%s", n.Kubectl("get", "pods", "-n", "metacontroller", "-o", "wide"))
	out := n.Kubectl("apply", "--server-side", "-k", filepath.Join(root, "manifests"))
	t.Logf("$ kubectl apply -k manifests\n%s", out)
	n.WaitRollout(t, "dittofs-system", "deployment/dittofs-hook", 180*time.Second)
	if len(cfg.hookEnv) > 0 {
		t.Logf("$ kubectl set env deployment/dittofs-hook %s\n%s", strings.Join(cfg.hookEnv, " "),
			n.Kubectl(append([]string{"set", "env", "-n", "dittofs-system", "deployment/dittofs-hook"}, cfg.hookEnv...)...))
		n.WaitRollout(t, "dittofs-system", "deployment/dittofs-hook", 180*time.Second)
	}

	f := newFleet(t, n, cfg)
	f.mc = mc
	// Every hook answer passes through the checker on its way back to
	// Metacontroller: its webhooks point at the checker on the node's
	// bridge address, which calls the hook through its Service.
	f.proxy = startAnswerProxy(t, host.NodeIP, "http://"+n.ServiceIP(t, "dittofs-system", "dittofs-hook"), f.ledger)
	controller.ApplyCompositeController(t, n.Cluster, t.TempDir(), f.proxy.URL)
	t.Logf("soak: Metacontroller in its pod calls the hook through the answer checker at %s", f.proxy.URL)
	f.watch = startWatcher(t, n.Cluster, f.ledger, f.namespaces)

	f.bringUp(t)
	if t.Failed() {
		return
	}
	f.measure(t)
	if t.Failed() || cfg.duration == 0 {
		f.finish(t, n)
		return
	}
	s := newSoak(f)
	s.run(t)
	f.finish(t, n)
}

// finish stops the checkers, reports what they saw, and checks that the
// node's teardown leaves the host as it was.
func (f *fleet) finish(t *testing.T, n *node.Node) {
	f.watch.stop()
	polls, failed := f.watch.counts()
	answers, codes := f.proxy.counts()
	t.Logf("soak: invariants: the API server polled %d times (%d polls failed, e.g. while kube-apiserver restarted); %d hook answers checked (%s)",
		polls, failed, answers, codes)
	for _, v := range f.ledger.allViolations() {
		t.Errorf("invariant violated: %s", v)
	}
	if errs := f.mc.Errors(); len(errs) > 0 {
		t.Logf("Metacontroller logged %d errors (a hook replica going away mid-call, the API server restarting, the hook cut off, an undeclared child type); the last:\n%s", len(errs), strings.Join(tail(errs, 20), "\n"))
	}
	if why := n.CheckGuards(); why != "" {
		t.Errorf("a network guard went missing while the node ran: %s", why)
	}
	n.Teardown()
	if diff := n.CheckHostClean(); len(diff) > 0 {
		t.Errorf("the host is not as it was before the node started:\n%s", strings.Join(diff, "\n"))
	}
}

func tail(s []string, n int) []string {
	if len(s) > n {
		return append([]string{fmt.Sprintf("(%d more before)", len(s)-n)}, s[len(s)-n:]...)
	}
	return s
}
