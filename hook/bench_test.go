package hook_test

import (
	"encoding/json"
	"testing"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
	"github.com/dittofs-hook/dittofs-hook/hook"
	"github.com/dittofs-hook/dittofs-hook/hook/hooktest"
)

// A typical sync: a ready server with both adapters, every child observed
// (hooktest.Steady), and a successful poll.
func typical(b *testing.B) ([]byte, []dittofs.Adapter) {
	b.Helper()
	req := hooktest.Steady().JSON()
	adapters, err := dittofs.DecodeAdapters(hooktest.DittoFSBody("adapters-fresh.body"))
	if err != nil {
		b.Fatal(err)
	}
	return req, adapters
}

// BenchmarkSync is what the hook does for one sync besides calling DittoFS:
// decode the request, compute the answer, encode it.
func BenchmarkSync(b *testing.B) {
	body, adapters := typical(b)
	secrets := hook.NewSeededSecretSource("bench")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req, err := hook.DecodeSyncRequest(body)
		if err != nil {
			b.Fatal(err)
		}
		in, err := hook.Prepare(req, testCeiling)
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
	secrets := hook.NewSeededSecretSource("bench")
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		req, err := hook.DecodeSyncRequest(body)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		in, err := hook.Prepare(req, testCeiling)
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
	in, _ := hook.Prepare(req, testCeiling)
	answer, _ := json.Marshal(in.Desired(in.ObservePoll(adapters, nil, ""), now, hook.NewSeededSecretSource("bench")))
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

// BenchmarkEvents is what deriving a sync's Events adds to it, after the
// answer: at steady state (none) and on a sync that decides two (smb's
// Service deleted, nfs moved).
func BenchmarkEvents(b *testing.B) {
	for _, c := range []struct{ name, body string }{
		{"steady", "adapters-fresh.body"},
		{"transitions", "adapters-smb-disabled-nfs-moved.body"},
	} {
		b.Run(c.name, func(b *testing.B) {
			req, err := hook.DecodeSyncRequest(hooktest.Steady().JSON())
			if err != nil {
				b.Fatal(err)
			}
			in, err := hook.Prepare(req, testCeiling)
			if err != nil {
				b.Fatal(err)
			}
			adapters, err := dittofs.DecodeAdapters(hooktest.DittoFSBody(c.body))
			if err != nil {
				b.Fatal(err)
			}
			obs := in.ObservePoll(adapters, nil, "")
			resp := in.Desired(obs, now, hook.NewSeededSecretSource("bench"))
			b.ReportAllocs()
			for b.Loop() {
				_ = in.Events(obs, resp)
			}
		})
	}
}
