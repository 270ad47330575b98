package dittoserver

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Doer calls the API server as the admin: a *cluster.Cluster, or a
// *node.Node, which embeds one.
type Doer interface {
	Do(method, path, contentType string, body any) (int, []byte)
}

// Object is what the fleet tests read of one DittoServer.
type Object struct {
	Metadata struct {
		Namespace, Name string
		Generation      int64
	}
	Status struct {
		ObservedGeneration int64 `json:"observedGeneration"`
		Conditions         []struct {
			Type, Status, Reason string
		}
		Adapters []struct {
			Type      string
			Enabled   bool
			Service   string
			Endpoints []string
		}
	}
}

// List lists every DittoServer in the cluster.
func List(c Doer) ([]Object, error) {
	code, body := c.Do("GET", "/apis/dittofs.dittofs.com/v1alpha1/dittoservers", "", nil)
	if code != http.StatusOK {
		return nil, fmt.Errorf("list DittoServers: %d %.200s", code, body)
	}
	var list struct{ Items []Object }
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// Key is the DittoServer's namespace/name.
func (d Object) Key() string { return d.Metadata.Namespace + "/" + d.Metadata.Name }

// Ready says whether the hook has observed the DittoServer's current
// generation and its Ready condition is True; when not, why: "generation
// not observed", "no Ready condition", or the condition's reason.
func (d Object) Ready() (ok bool, reason string) {
	if d.Status.ObservedGeneration != d.Metadata.Generation {
		return false, "generation not observed"
	}
	ok, reason = false, "no Ready condition"
	for _, c := range d.Status.Conditions {
		if c.Type == "Ready" {
			ok, reason = c.Status == "True", c.Reason
		}
	}
	return ok, reason
}

// AtAddress says whether the status shows the adapter of type typ ("nfs",
// "smb") enabled, with its Service and at least one endpoint.
func (d Object) AtAddress(typ string) bool {
	for _, a := range d.Status.Adapters {
		if a.Type == typ && a.Enabled && a.Service != "" && len(a.Endpoints) > 0 {
			return true
		}
	}
	return false
}
