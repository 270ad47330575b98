package hook

import "slices"

// Customize names the related objects a parent needs: the Secrets of the
// user's the hook reads (the administrator's password, to provision its
// operator account; the API's certificate Secret, whose ca.crt is what the
// hook trusts; the Postgres Secret, whose keys are checked and connection
// string read; every Secret DittoFS reads at start, whose versions roll the
// pod, see rolloutSecrets), in the parent's namespace; and, when the sync
// hook speaks hook version v2, the StorageClasses the spec names (see
// storageclass.go). Metacontroller then sends them with every sync.
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
		// The namespace is named: without one, a v2 request carries every
		// namespace's Secrets of these names (decodeAll would ignore them,
		// but they would cross the wire).
		resp.RelatedResources = append(resp.RelatedResources, RelatedResourceRule{
			APIVersion: "v1", Resource: "secrets", Namespace: req.Parent.Metadata.Namespace, Names: slices.Compact(names)})
	}
	// StorageClasses only under v2: Metacontroller v4.17.2 selects a
	// cluster-scoped related object for a namespaced parent, but its
	// hook-version-v1 request then drops every object whose namespace is
	// not the parent's (UniformObjectMap.Convert), so the key would always
	// come empty and every class read as missing.
	if v, err := req.HookVersion(); err == nil && v == HookV2 {
		var classes []string
		for _, c := range srv.storageClasses() {
			classes = append(classes, c.name)
		}
		if len(classes) > 0 {
			slices.Sort(classes)
			resp.RelatedResources = append(resp.RelatedResources, RelatedResourceRule{
				APIVersion: "storage.k8s.io/v1", Resource: "storageclasses", Names: slices.Compact(classes)})
		}
	}
	return resp
}
