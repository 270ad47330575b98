package hook

import "slices"

// Customize names the related objects a parent needs, the Secrets of the
// user's the hook reads: the administrator's password (to provision its
// operator account), the API's certificate Secret (its ca.crt is what the
// hook trusts), the Postgres Secret (its keys are checked, its connection
// string read), and every
// Secret DittoFS reads at start (their versions roll the pod, see
// rolloutSecrets); and the StorageClasses the spec names, whose absence is
// StorageClassNotFound. Metacontroller then sends them with every sync.
func Customize(req *CustomizeRequest) *CustomizeResponse {
	resp := &CustomizeResponse{RelatedResources: []RelatedResourceRule{}}
	srv, err := parseServer(req.Parent)
	if err != nil {
		return resp
	}
	names := rolloutSecrets(srv, true)
	if !srv.Identity.GeneratedAdminSecret {
		names = append(names, srv.Identity.AdminPassword.Name)
	}
	if srv.TLS.Serves() {
		names = append(names, srv.TLS.CertSecret)
	}
	if len(names) > 0 {
		slices.Sort(names)
		resp.RelatedResources = append(resp.RelatedResources, RelatedResourceRule{APIVersion: "v1", Resource: "secrets", Names: slices.Compact(names)})
	}
	// The StorageClasses the spec names, by name (cluster-scoped: a
	// namespaced parent may ask for them by name; Metacontroller then sends
	// the key, empty when none exists, and syncs again when one is made).
	if classes := storageClassNames(srv); len(classes) > 0 {
		resp.RelatedResources = append(resp.RelatedResources, RelatedResourceRule{APIVersion: "storage.k8s.io/v1", Resource: "storageclasses", Names: classes})
	}
	return resp
}
