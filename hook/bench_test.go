package hook_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
	"github.com/dittofs-hook/dittofs-hook/hook"
	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// A typical sync: a ready server with both adapters, every child observed
// (the steady case of the fixture suite), and a successful poll.
func typical(b *testing.B) ([]byte, []dittofs.Adapter) {
	b.Helper()
	dir := filepath.Join(harness.RepoRoot(), "test", "testdata", "sync", "steady")
	req, err := os.ReadFile(filepath.Join(dir, "request.json"))
	if err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "test", "testdata", "dittofs", "adapters-fresh.body"))
	if err != nil {
		b.Fatal(err)
	}
	adapters, err := dittofs.DecodeAdapters(raw)
	if err != nil {
		b.Fatal(err)
	}
	return req, adapters
}

var now = time.Date(2026, 11, 25, 20, 10, 0, 0, time.UTC)

// BenchmarkSync is what the hook does for one sync besides calling DittoFS:
// decode the request, compute the answer, encode it.
func BenchmarkSync(b *testing.B) {
	body, adapters := typical(b)
	secrets := hook.NewFixedSecretSource("bench")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req, err := hook.DecodeSyncRequest(body)
		if err != nil {
			b.Fatal(err)
		}
		in, err := hook.Prepare(req)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(in.Desired(in.ObservePoll(adapters, nil, ""), now, secrets)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCore is the pure core alone: Prepare (reading the observed
// children) and Desired, on an already decoded request.
func BenchmarkCore(b *testing.B) {
	body, adapters := typical(b)
	secrets := hook.NewFixedSecretSource("bench")
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		req, err := hook.DecodeSyncRequest(body)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		in, err := hook.Prepare(req)
		if err != nil {
			b.Fatal(err)
		}
		_ = in.Desired(in.ObservePoll(adapters, nil, ""), now, secrets)
	}
}

// BenchmarkJSONFloor is the floor any hook pays: decoding the same request
// and encoding the same answer as generic JSON.
func BenchmarkJSONFloor(b *testing.B) {
	body, adapters := typical(b)
	req, _ := hook.DecodeSyncRequest(body)
	in, _ := hook.Prepare(req)
	answer, _ := json.Marshal(in.Desired(in.ObservePoll(adapters, nil, ""), now, hook.NewFixedSecretSource("bench")))
	var generic any
	_ = json.Unmarshal(answer, &generic)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(generic); err != nil {
			b.Fatal(err)
		}
	}
}
