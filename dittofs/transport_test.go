package dittofs_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
)

// TestCAPoolsBoundedInBytes: parsed CA bundles are kept only while a
// transport uses them, and their total size stays within MaxPoolBytes.
// Before, the cache of pools was bounded by count alone (10,000), and a
// pool stayed after its DittoServer's CA changed: a tenant rewriting a
// 1 MiB ca.crt a few hundred times pushed the hook past its memory limit.
func TestCAPoolsBoundedInBytes(t *testing.T) {
	// A bundle of about 10 KiB: a certificate and padding between blocks
	// (text outside PEM blocks is allowed, and counts).
	bundle := func(i int) []byte {
		cert, _ := selfSigned(t, fmt.Sprintf("ca %d", i))
		return append(bytes.Repeat([]byte("# padding\n"), 1000), cert...)
	}
	target := func(ca []byte) dittofs.TLSTarget {
		return dittofs.TLSTarget{CA: ca, ServerName: "srv-api.ns.svc.cluster.local."}
	}

	t.Run("a rewritten ca.crt leaves one pool", func(t *testing.T) {
		tr := dittofs.NewTransports(dittofs.TransportOptions{})
		var size int
		for i := range 300 {
			ca := bundle(i)
			size = len(ca)
			transportClient(t, tr, "uid-1", target(ca))
		}
		if b, n := tr.PoolBytes(); n != 1 || b != int64(size) {
			t.Errorf("after 300 rewrites: %d pools of %d bytes, want 1 of %d", n, b, size)
		}
	})
	t.Run("the bound holds across DittoServers", func(t *testing.T) {
		const maxBytes = 64 << 10
		tr := dittofs.NewTransports(dittofs.TransportOptions{MaxPoolBytes: maxBytes})
		for i := range 50 {
			transportClient(t, tr, fmt.Sprintf("uid-%d", i), target(bundle(i)))
			if b, _ := tr.PoolBytes(); b > maxBytes {
				t.Fatalf("after %d DittoServers: %d bytes of pools, over the bound %d", i+1, b, maxBytes)
			}
		}
		if b, n := tr.PoolBytes(); n < 5 || b < maxBytes/2 {
			t.Errorf("%d pools of %d bytes kept: the bound evicts too much", n, b)
		}
	})
	t.Run("a shared CA is one pool, dropped with its last user", func(t *testing.T) {
		tr := dittofs.NewTransports(dittofs.TransportOptions{})
		ca := bundle(0)
		transportClient(t, tr, "uid-1", target(ca))
		transportClient(t, tr, "uid-2", target(ca))
		if _, n := tr.PoolBytes(); n != 1 {
			t.Errorf("two DittoServers trusting one CA: %d pools", n)
		}
		tr.Forget("uid-1")
		if _, n := tr.PoolBytes(); n != 1 {
			t.Errorf("one user left: %d pools", n)
		}
		tr.Forget("uid-2")
		if b, n := tr.PoolBytes(); n != 0 || b != 0 {
			t.Errorf("no user left: %d pools of %d bytes", n, b)
		}
	})
	t.Run("a bundle over the bound is used, not kept", func(t *testing.T) {
		tr := dittofs.NewTransports(dittofs.TransportOptions{MaxPoolBytes: 1024})
		transportClient(t, tr, "uid-1", target(bundle(0)))
		if b, n := tr.PoolBytes(); n != 0 || b != 0 {
			t.Errorf("%d pools of %d bytes kept, over the bound", n, b)
		}
	})
}
