package hook

import "slices"

// Customize names the related objects a parent needs, the Secrets of the
// user's the hook reads: the administrator's password (to provision its
// operator account), the API's certificate Secret (its ca.crt is what the
// hook trusts), the Postgres Secret (its keys are checked, its connection
// string read), and every
// Secret DittoFS reads at start (their versions roll the pod, see
// rolloutSecrets). Metacontroller then sends them with every sync.
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
	// No StorageClasses, although the spec may name some and the core
	// would report a missing one (see storageclass.go): Metacontroller
	// v4.17.2 selects a cluster-scoped related object for a namespaced
	// parent, but its hook-version-v1 request then drops every object
	// whose namespace is not the parent's (UniformObjectMap.Convert), so
	// the key would always come empty and every class would read as
	// missing, holding back every new StatefulSet that names one.
	return resp
}
