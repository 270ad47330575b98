package hook

// Customize names the related objects a parent needs: the Secret holding
// the administrator's password, when the user supplies one.
func Customize(req *CustomizeRequest) *CustomizeResponse {
	resp := &CustomizeResponse{RelatedResources: []RelatedResourceRule{}}
	srv, err := parseServer(req.Parent)
	if err != nil || srv.Identity.GeneratedAdminSecret {
		return resp
	}
	resp.RelatedResources = append(resp.RelatedResources, RelatedResourceRule{APIVersion: "v1", Resource: "secrets", Names: []string{srv.Identity.AdminPassword.Name}})
	return resp
}
