package dittoserver

import (
	"strings"
	"testing"
)

// fake answers the list with a fixed body.
type fake struct {
	code int
	body string
}

func (f fake) Do(method, path, _ string, _ any) (int, []byte) {
	if method != "GET" || path != "/apis/dittofs.dittofs.com/v1alpha1/dittoservers" {
		return 404, []byte("not found")
	}
	return f.code, []byte(f.body)
}

const list = `{"apiVersion":"dittofs.dittofs.com/v1alpha1","kind":"DittoServerList","items":[
{"metadata":{"namespace":"a","name":"ready","generation":2},"status":{"observedGeneration":2,
 "conditions":[{"type":"Available","status":"False","reason":"X"},{"type":"Ready","status":"True","reason":"AllReady"}],
 "adapters":[{"type":"nfs","enabled":true,"service":"ready-adapter-nfs","endpoints":["10.0.0.1:2049"]},
             {"type":"smb","enabled":true,"service":"ready-adapter-smb","endpoints":[]}]}},
{"metadata":{"namespace":"a","name":"old","generation":3},"status":{"observedGeneration":2,
 "conditions":[{"type":"Ready","status":"True","reason":"AllReady"}]}},
{"metadata":{"namespace":"b","name":"none","generation":1},"status":{"observedGeneration":1}},
{"metadata":{"namespace":"b","name":"down","generation":1},"status":{"observedGeneration":1,
 "conditions":[{"type":"Ready","status":"False","reason":"DittoFSUnreachable"}],
 "adapters":[{"type":"nfs","enabled":false,"service":"down-adapter-nfs","endpoints":["10.0.0.2:2049"]}]}}
]}`

func TestList(t *testing.T) {
	objs, err := List(fake{200, list})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 4 {
		t.Fatalf("%d objects, want 4", len(objs))
	}
	for i, c := range []struct {
		key      string
		ok       bool
		reason   string
		nfs, smb bool
	}{
		{"a/ready", true, "AllReady", true, false},
		{"a/old", false, "generation not observed", false, false},
		{"b/none", false, "no Ready condition", false, false},
		{"b/down", false, "DittoFSUnreachable", false, false},
	} {
		d := objs[i]
		ok, reason := d.Ready()
		if d.Key() != c.key || ok != c.ok || reason != c.reason || d.AtAddress("nfs") != c.nfs || d.AtAddress("smb") != c.smb {
			t.Errorf("%s: Ready %v %q, nfs %v, smb %v; want %s: %v %q, %v, %v",
				d.Key(), ok, reason, d.AtAddress("nfs"), d.AtAddress("smb"), c.key, c.ok, c.reason, c.nfs, c.smb)
		}
	}
	if _, err := List(fake{503, "unavailable"}); err == nil || err.Error() != "list DittoServers: 503 unavailable" {
		t.Errorf("a 503: %v", err)
	}
	if _, err := List(fake{200, "{"}); err == nil || !strings.Contains(err.Error(), "JSON") {
		t.Errorf("a broken body: %v", err)
	}
}
