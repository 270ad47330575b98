package hook

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// dfsConfig is the part of DittoFS's config.yaml the hook sets. It has no
// adapter section: adapters live in DittoFS's control plane, and the hook
// discovers them instead of configuring them. Secrets reach DittoFS through
// environment variables (see makeEnv), never through this file.
type dfsConfig struct {
	Logging struct {
		Level  string `json:"level"`
		Format string `json:"format"`
		Output string `json:"output"`
	} `json:"logging"`
	ShutdownTimeout string `json:"shutdown_timeout"`
	Database        struct {
		Type   string `json:"type"`
		SQLite *struct {
			Path string `json:"path"`
		} `json:"sqlite,omitempty"`
	} `json:"database"`
	ControlPlane struct {
		Host string `json:"host"`
		Port int32  `json:"port"`
		// The administrator's password is set from a Secret; DittoFS must
		// not force a change the hook would not know of.
		RequireInitialPasswordChange bool `json:"require_initial_password_change"`
		JWT                          struct {
			AccessTokenDuration  string `json:"access_token_duration"`
			RefreshTokenDuration string `json:"refresh_token_duration"`
		} `json:"jwt"`
	} `json:"controlplane"`
	Admin struct {
		Username string `json:"username"`
	} `json:"admin"`
}

// renderConfig renders config.yaml for `dfs start --config`.
func renderConfig(s *dittoServer) string {
	var c dfsConfig
	c.Logging.Level, c.Logging.Format, c.Logging.Output = s.Logging.Level, s.Logging.Format, "stdout"
	c.ShutdownTimeout = "30s"
	db := s.Database
	c.Database.Type = db.Type
	if db.Type == "sqlite" {
		c.Database.SQLite = &struct {
			Path string `json:"path"`
		}{Path: db.SQLitePath}
	}
	c.ControlPlane.Host = "0.0.0.0"
	c.ControlPlane.Port = s.APIPort
	c.ControlPlane.JWT.AccessTokenDuration = s.Identity.AccessTokenDuration
	c.ControlPlane.JWT.RefreshTokenDuration = s.Identity.RefreshTokenDuration
	c.Admin.Username = s.Identity.AdminUsername
	out, err := yaml.Marshal(c)
	if err != nil {
		panic("hook: config.yaml does not marshal: " + err.Error()) // a fixed struct of strings
	}
	return string(out)
}

func makeConfigMap(s *dittoServer, configYAML string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: configMapName(s.Name), Labels: labels(s.Name, "config")},
		Data:       map[string]string{configFileName: configYAML},
	}
}
