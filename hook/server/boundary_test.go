package server_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/dittofs-hook/dittofs-hook/hook"
	"github.com/dittofs-hook/dittofs-hook/hook/hooktest"
	"github.com/dittofs-hook/dittofs-hook/hook/server"
)

// The trust boundary, second round (issue 21).

// call sends one hook call and returns the status and body.
func call(t *testing.T, url string, body []byte, header http.Header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// secretValues are the data values of every Secret in a sync's answer.
func secretValues(t *testing.T, answer []byte) map[string]string {
	t.Helper()
	var resp struct {
		Children []json.RawMessage `json:"children"`
	}
	if err := json.Unmarshal(answer, &resp); err != nil {
		t.Fatalf("answer: %v\n%s", err, answer)
	}
	out := map[string]string{}
	for _, raw := range resp.Children {
		var c struct {
			Kind     string                `json:"kind"`
			Metadata struct{ Name string } `json:"metadata"`
			Data     map[string][]byte
		}
		if err := json.Unmarshal(raw, &c); err != nil || c.Kind != "Secret" {
			continue
		}
		var sec struct {
			Data map[string][]byte `json:"data"`
		}
		if err := json.Unmarshal(raw, &sec); err != nil {
			t.Fatal(err)
		}
		c.Data = sec.Data
		for k, v := range c.Data {
			if k != "username" {
				out[c.Metadata.Name+"/"+k] = string(v)
			}
		}
	}
	return out
}

// TestNoSecretOracle: a generated value cannot be had again by asking.
// Before, a value was HMAC(per-process key, parent UID, Secret name, key):
// a request showing no observed Secrets, posted by anyone who knew a
// DittoServer's name, namespace and UID (view rights), got back from the
// same replica the JWT signing key and the passwords it had generated when
// the Secrets were created. Now each answer draws fresh values; the Secret
// Metacontroller created first stays (OnDelete), and a later answer
// matches none of it.
func TestNoSecretOracle(t *testing.T) {
	ts := newTestServer(t, server.Options{Secrets: hook.NewSecretSource(rand.Reader)})
	first := hooktest.Captured("sync-first.json").JSON()
	code, created := call(t, ts.URL+"/sync", first, nil)
	if code != http.StatusOK {
		t.Fatalf("first sync: %d %s", code, created)
	}
	stored := secretValues(t, created) // what Metacontroller created
	if len(stored) != 2 {
		t.Fatalf("the first answer generates %d values, want the JWT key and the operator's password: %v", len(stored), stored)
	}
	// The forged call: the same parent, no observed Secrets.
	for i := range 3 {
		code, forged := call(t, ts.URL+"/sync", first, nil)
		if code != http.StatusOK {
			t.Fatalf("forged sync %d: %d %s", i, code, forged)
		}
		for name, v := range secretValues(t, forged) {
			for storedName, s := range stored {
				if v == s {
					t.Errorf("forged sync %d: %s is the stored %s", i, name, storedName)
				}
			}
		}
	}
}
