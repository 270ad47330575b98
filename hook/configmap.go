package hook

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// dfsConfig is the part of DittoFS's config.yaml the hook sets, in the
// shape the upstream operator renders it. It has no adapter section:
// adapters live in DittoFS's control plane, and the hook discovers them
// instead of configuring them. Secrets reach DittoFS through environment
// variables and mounted files (see makeEnv, secretVolumes), never through
// this file.
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
		TLS *dfsTLS `json:"tls,omitempty"`
	} `json:"controlplane"`
	Admin struct {
		Username string `json:"username"`
	} `json:"admin"`
	Metrics  *dfsMetrics  `json:"metrics,omitempty"`
	LDAP     *dfsLDAP     `json:"ldap,omitempty"`
	Kerberos *dfsKerberos `json:"kerberos,omitempty"`
}

type dfsTLS struct {
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
	ClientCA string `json:"client_ca,omitempty"`
}

type dfsMetrics struct {
	Enabled   bool   `json:"enabled"`
	Host      string `json:"host"`
	Port      int32  `json:"port"`
	Path      string `json:"path"`
	Auth      string `json:"auth"`
	TokenFile string `json:"token_file,omitempty"`
}

type dfsLDAP struct {
	Enabled        bool   `json:"enabled"`
	URL            string `json:"url"`
	StartTLS       bool   `json:"start_tls,omitempty"`
	AllowPlaintext bool   `json:"allow_plaintext,omitempty"`
	BaseDN         string `json:"base_dn"`
	BindDN         string `json:"bind_dn"`
	UserAttr       string `json:"user_attr,omitempty"`
	Realm          string `json:"realm,omitempty"`
	Idmap          string `json:"idmap,omitempty"`
	NestedGroups   bool   `json:"nested_groups,omitempty"`
	TLS            *struct {
		CACertFile         string `json:"ca_cert_file,omitempty"`
		InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
	} `json:"tls,omitempty"`
}

type dfsKerberos struct {
	Enabled          bool   `json:"enabled"`
	KeytabPath       string `json:"keytab_path,omitempty"`
	ServicePrincipal string `json:"service_principal"`
	Realm            string `json:"realm,omitempty"`
	NetBIOSDomain    string `json:"netbios_domain,omitempty"`
	DNSDomain        string `json:"dns_domain,omitempty"`
	Krb5Conf         string `json:"krb5_conf,omitempty"`
	MachineAccount   *struct {
		Enabled     bool     `json:"enabled"`
		AccountName string   `json:"account_name"`
		KeytabPath  string   `json:"keytab_path,omitempty"`
		DCAddress   []string `json:"dc_address,omitempty"`
	} `json:"machine_account,omitempty"`
}

// renderConfig renders config.yaml for `dfs start --config`.
func renderConfig(s *dittoServer) string {
	var c dfsConfig
	c.Logging.Level, c.Logging.Format, c.Logging.Output = s.Logging.Level, s.Logging.Format, s.Logging.Output
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
	if s.TLS.Serves() {
		c.ControlPlane.TLS = &dfsTLS{CertFile: mountTLS + "/" + keyTLSCert, KeyFile: mountTLS + "/" + keyTLSKey}
		if s.TLS.Mutual() {
			c.ControlPlane.TLS.ClientCA = mountClientCA + "/" + keyCA
		}
	}
	c.Admin.Username = s.Identity.AdminUsername
	if m := s.Metrics; m.Enabled {
		c.Metrics = &dfsMetrics{Enabled: true, Host: "0.0.0.0", Port: m.Port, Path: m.Path, Auth: "none"}
		if m.Token != nil {
			c.Metrics.Auth, c.Metrics.TokenFile = "token", mountMetricsToken+"/"+fileMetricsToken
		}
	}
	c.LDAP = renderLDAP(s.LDAP)
	c.Kerberos = renderKerberos(s.Kerberos)
	out, err := yaml.Marshal(c)
	if err != nil {
		panic("hook: config.yaml does not marshal: " + err.Error()) // a fixed struct of strings
	}
	return string(out)
}

func renderLDAP(l *LDAPSpec) *dfsLDAP {
	if l == nil {
		return nil
	}
	out := &dfsLDAP{Enabled: l.Enabled, URL: l.URL, StartTLS: l.StartTLS, AllowPlaintext: l.AllowPlaintext, BaseDN: l.BaseDN, BindDN: l.BindDN,
		UserAttr: l.UserAttr, Realm: l.Realm, Idmap: l.Idmap, NestedGroups: l.NestedGroups}
	if l.CACertFile != "" || l.InsecureSkipVerify {
		out.TLS = &struct {
			CACertFile         string `json:"ca_cert_file,omitempty"`
			InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
		}{l.CACertFile, l.InsecureSkipVerify}
	}
	return out
}

func renderKerberos(k *KerberosSpec) *dfsKerberos {
	if k == nil {
		return nil
	}
	out := &dfsKerberos{Enabled: true, KeytabPath: mountKeytab + "/" + fileKeytab, ServicePrincipal: k.ServicePrincipal,
		Realm: k.Realm, NetBIOSDomain: k.NetBIOSDomain, DNSDomain: k.DNSDomain, Krb5Conf: k.Krb5Conf}
	if k.Krb5ConfSecretRef != nil {
		out.Krb5Conf = mountKrb5Conf + "/" + fileKrb5Conf
	}
	if ma := k.MachineAccount; ma != nil && ma.Enabled {
		out.MachineAccount = &struct {
			Enabled     bool     `json:"enabled"`
			AccountName string   `json:"account_name"`
			KeytabPath  string   `json:"keytab_path,omitempty"`
			DCAddress   []string `json:"dc_address,omitempty"`
		}{Enabled: true, AccountName: ma.AccountName, DCAddress: ma.DCAddress}
		if ma.KeytabSecretRef != nil {
			out.MachineAccount.KeytabPath = mountMachineKeytab + "/" + fileMachineKeytab
		}
	}
	return out
}

func makeConfigMap(s *dittoServer, configYAML string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: configMapName(s.Name), Labels: labels(s.Name, "config")},
		Data:       map[string]string{configFileName: configYAML},
	}
}
