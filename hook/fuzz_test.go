package hook_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
	"github.com/dittofs-hook/dittofs-hook/hook"
	"github.com/dittofs-hook/dittofs-hook/hook/hooktest"
	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// seedRequests adds the request of every sync case to a corpus.
func seedRequests(f *testing.F, add func(req []byte)) {
	f.Helper()
	for _, c := range syncCases() {
		add(c.request.JSON())
	}
}

// FuzzDecodeSyncRequest: decoding never panics, and a request it accepts
// can always be answered.
func FuzzDecodeSyncRequest(f *testing.F) {
	seedRequests(f, func(b []byte) { f.Add(b) })
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"parent":null,"children":{}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := hook.DecodeSyncRequest(body)
		if err != nil {
			if _, ok := err.(*hook.InputError); !ok {
				t.Fatalf("decode error of type %T: %v", err, err)
			}
			return
		}
		in, err := hook.Prepare(req)
		if err != nil {
			return
		}
		if _, err := json.Marshal(in.Desired(hook.Observation{}, now, hook.NewFixedSecretSource("fuzz"))); err != nil {
			t.Fatalf("answer does not encode: %v", err)
		}
	})
}

// FuzzCore: for any request and any adapter list, the core does not panic,
// is deterministic, and never answers with fewer children than it must
// keep: after a failed poll, every observed adapter child and everything a
// successful empty poll would keep are still there.
func FuzzCore(f *testing.F) {
	lists := []string{`[]`, `[{"id":"a","type":"nfs","enabled":true,"running":true,"port":12049}]`}
	for _, name := range []string{"adapters-fresh.body", "adapters-smb-disabled-nfs-moved.body", "adapters-smb-port0.body", "adapters-smb-deleted.body"} {
		lists = append(lists, string(hooktest.DittoFSBody(name)))
	}
	i := 0
	seedRequests(f, func(b []byte) {
		f.Add(b, []byte(lists[i%len(lists)]))
		i++
	})
	secrets := hook.NewFixedSecretSource("fuzz")
	f.Fuzz(func(t *testing.T, body, list []byte) {
		req, err := hook.DecodeSyncRequest(body)
		if err != nil {
			return
		}
		in, err := hook.Prepare(req)
		if err != nil {
			return
		}
		answer := func(o hook.Observation) []byte {
			b, err := json.Marshal(in.Desired(o, now, secrets))
			if err != nil {
				t.Fatalf("answer does not encode: %v", err)
			}
			return b
		}
		var obs hook.Observation
		if adapters, err := dittofs.DecodeAdapters(list); err == nil {
			obs = in.ObservePoll(adapters, nil, "http://x")
		} else {
			obs = in.ObservePoll(nil, &dittofs.MalformedError{Op: "list adapters", Err: err}, "http://x")
		}
		a := answer(obs)
		if b := answer(obs); !bytes.Equal(a, b) {
			t.Fatal("two answers to the same input differ")
		}
		failed := harness.ChildNames(t, answer(in.ObservePoll(nil, &dittofs.TransportError{Op: "login", Err: os.ErrDeadlineExceeded}, "http://x")))
		empty := harness.ChildNames(t, answer(in.ObservePoll([]dittofs.Adapter{}, nil, "http://x")))
		for n := range empty {
			if !failed[n] {
				t.Fatalf("a failed poll drops %s, which even a successful empty poll keeps", n)
			}
		}
		parent := req.Parent.Metadata.Name
		var spec struct {
			NetworkPolicy *struct {
				Enabled *bool `json:"enabled"`
			} `json:"networkPolicy"`
		}
		_ = json.Unmarshal(req.Parent.Spec, &spec)
		policiesOff := spec.NetworkPolicy != nil && spec.NetworkPolicy.Enabled != nil && !*spec.NetworkPolicy.Enabled
		for key, objs := range req.Children {
			kind, _, _ := strings.Cut(key, ".")
			if kind != "Service" && kind != "NetworkPolicy" {
				continue
			}
			for n := range objs {
				switch {
				case in.InvalidSpec() != nil:
				case kind == "NetworkPolicy" && policiesOff:
					// Disabled policies all go, whatever the poll did.
					if failed[kind+"/"+n] {
						t.Fatalf("a failed poll keeps %s/%s although networkPolicy.enabled is false", kind, n)
					}
				case strings.HasPrefix(n, parent+"-adapter-") && !failed[kind+"/"+n]:
					t.Fatalf("a failed poll drops the observed %s/%s", kind, n)
				}
			}
		}
	})
}
