package hook

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
)

// resolveSpec resolves a spec (JSON) of the DittoServer "demo".
func resolveSpec(t *testing.T, spec string) (*dittoServer, error) {
	t.Helper()
	p := &Parent{APIVersion: APIVersion, Kind: Kind, Spec: json.RawMessage(spec)}
	p.Metadata.Name, p.Metadata.Namespace = "demo", "default"
	return parseServer(p)
}

// TestResolveRefuses: each spec the schema might let through (or that never
// met it, in `hook render`) is refused with the field and the problem; when
// a spec has several, the first in the spec's order is named, always the
// same one.
func TestResolveRefuses(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{`{}`, `spec.storage.metadataSize: "" is not a Kubernetes quantity such as 10Gi`},
		{`null`, `spec.storage.metadataSize: required`},
		{`{"storage":{"metadataSize":"1Gi"},"replicas":2}`, `spec.replicas: is 2; DittoFS runs as a single node, use 1 (running) or 0 (stopped)`},
		{`{"storage":{"metadataSize":"0"}}`, `spec.storage.metadataSize: "0" must be positive`},
		{`{"storage":{"metadataSize":"1Gi","contentSize":"lots"}}`, `spec.storage.contentSize: "lots" is not a Kubernetes quantity such as 10Gi`},
		{`{"storage":{"metadataSize":"1Gi"},"controlPlane":{"port":70000}}`, `spec.controlPlane.port: 70000 is not a TCP port`},
		{`{"storage":{"metadataSize":"1Gi"},"adapterDiscovery":{"pollingInterval":"1s"}}`, `spec.adapterDiscovery.pollingInterval: 1s is below the minimum of 5s`},
		{`{"storage":{"metadataSize":"1Gi"},"adapterDiscovery":{"pollingInterval":"soon"}}`, `spec.adapterDiscovery.pollingInterval: "soon" is not a duration such as 30s or 1m`},
		{`{"storage":{"metadataSize":"1Gi"},"database":{"type":"mysql"}}`, `spec.database.type: "mysql" is neither sqlite nor postgres`},
		{`{"storage":{"metadataSize":"1Gi"},"database":{"type":"postgres"}}`, `spec.database.postgresSecretRef: required when database.type is postgres (or set percona.enabled)`},
		{`{"storage":{"metadataSize":"1Gi"},"identity":{"admin":{"passwordSecretRef":{"name":"x"}}}}`, `spec.identity.admin.passwordSecretRef: needs both name and key`},
		{`{"storage":{"metadataSize":"1Gi"},"identity":{"jwt":{"accessTokenDuration":"a","refreshTokenDuration":"b"}}}`, `spec.identity.jwt.accessTokenDuration: "a" is not a duration such as 15m or 168h`},
		{`{"storage":{"metadataSize":"1Gi"},"identity":{"jwt":{"secretRef":{"key":"k"}}}}`, `spec.identity.jwt.secretRef: needs both name and key`},
		{`{"storage":{"metadataSize":"1Gi"},"adapterServices":{"overrides":{"webdav":{"portmapper":true},"smb":{"udp":true}}}}`, `spec.adapterServices.overrides.smb: udp and portmapper exist only for the nfs adapter`},
		{`{"storage":{"metadataSize":"1Gi"},"replicas":"one"}`, `spec.replicas: is a JSON string, which this field cannot hold`},
		{`{"storage":{"metadataSize":"1Gi"},"logging":{"level":"DEB\u007fUG"}}`, `spec.logging.level: "DEB\x7fUG" is not one of DEBUG, INFO, WARN, ERROR`},
		{`{"storage":{"metadataSize":"1Gi"},"logging":{"format":"xml"}}`, `spec.logging.format: "xml" is neither text nor json`},
		{`{"storage":{"metadataSize":"1Gi"},"database":{"sqlite":{"path":"/data/controlplane/a\nb"}}}`, `spec.database.sqlite.path: "/data/controlplane/a\nb" must be a printable file path under /data/controlplane/ (the control-plane volume)`},
		{`{"storage":{"metadataSize":"1Gi"},"database":{"sqlite":{"path":"/etc/passwd"}}}`, `spec.database.sqlite.path: "/etc/passwd" must be a printable file path under /data/controlplane/ (the control-plane volume)`},
		{`[1]`, `spec: is not a JSON object of the DittoServer spec's shape`},
		{`{"storage":{"metadataSize":"1Gi"},"database":{"postgresSecretRef":{"name":"pg"}},"percona":{"enabled":true}}`, `spec.percona.enabled: percona.enabled and database.postgresSecretRef both choose the control-plane database; set one of them`},
		{`{"storage":{"metadataSize":"1Gi"},"controlPlane":{"clientCASecretName":"ca"}}`, `spec.controlPlane.clientCASecretName: needs controlPlane.certSecretName: mutual TLS needs DittoFS to serve TLS`},
		{`{"storage":{"metadataSize":"1Gi"},"metrics":{"enabled":true,"port":8080}}`, `spec.metrics.port: 8080 is controlPlane.port too; DittoFS serves its metrics on a listener of their own`},
		{`{"storage":{"metadataSize":"1Gi"},"metrics":{"serviceMonitor":{"enabled":true}}}`, `spec.metrics.serviceMonitor.enabled: needs metrics.enabled`},
		{`{"storage":{"metadataSize":"1Gi"},"metrics":{"enabled":true,"bearerTokenSecret":{"name":"t"}}}`, `spec.metrics.bearerTokenSecret: needs both name and key`},
		{`{"storage":{"metadataSize":"1Gi"},"logging":{"output":"/var/log/dfs.log"}}`, `spec.logging.output: "/var/log/dfs.log": use stdout, stderr, or a file under /data/ or /tmp/ (the root file system is read-only)`},
		{`{"storage":{"metadataSize":"1Gi"},"identity":{"ldap":{"url":"ldaps://dc","baseDN":"b\u0000","bindDN":"c"}}}`, `spec.identity.ldap.baseDN: must be printable text of at most 1024 characters`},
		{`{"storage":{"metadataSize":"1Gi"},"metrics":{"enabled":true,"path":"/a b"}}`, `spec.metrics.path: "/a b" must be a URL path starting with /, without spaces`},
		{`{"storage":{"metadataSize":"1Gi"},"logging":{"output":"/tmp/a\nb"}}`, `spec.logging.output: "/tmp/a\nb": use stdout, stderr, or a file under /data/ or /tmp/ (the root file system is read-only)`},
		{`{"storage":{"metadataSize":"1Gi"},"identity":{"type":"ldap"}}`, `spec.identity.type: "ldap": the only identity store is memory`},
		{`{"storage":{"metadataSize":"1Gi"},"identity":{"ldap":{"url":"ldaps://dc"}}}`, `spec.identity.ldap: needs url, baseDN and bindDN`},
		{`{"storage":{"metadataSize":"1Gi"},"identity":{"ldap":{"url":"https://dc","baseDN":"b","bindDN":"c"}}}`, `spec.identity.ldap.url: "https://dc" must start with ldaps:// or ldap://`},
		{`{"storage":{"metadataSize":"1Gi"},"identity":{"kerberos":{"enabled":true,"servicePrincipal":"nfs/x@X"}}}`, `spec.identity.kerberos: enabled needs servicePrincipal and keytabSecretRef`},
		{`{"storage":{"metadataSize":"1Gi"},"identity":{"kerberos":{"enabled":true,"servicePrincipal":"nfs/x@X","keytabSecretRef":{"name":"k","key":"kt"},"machineAccount":{"enabled":true,"accountName":"D$"}}}}`, `spec.identity.kerberos.machineAccount: enabled needs accountName and secretRef or keytabSecretRef`},
	} {
		for range 3 { // the same error every time
			_, err := resolveSpec(t, c.spec)
			if err == nil || err.Error() != c.want {
				t.Errorf("%s:\n got %v\nwant %s", c.spec, err, c.want)
			}
		}
	}
}

// TestResolveSections: the resolved value is what the builders read; the
// defaults and the overrides merge as documented.
func TestResolveSections(t *testing.T) {
	s, err := resolveSpec(t, `{"storage":{"metadataSize":"1Gi"},"adapterServices":{"annotations":{"a":"1","b":"1"},
		"overrides":{"nfs":{"type":"NodePort","annotations":{"b":"2"},"udp":true,"nodePort":30000}}},
		"identity":{"admin":{"passwordSecretRef":{"name":"mine","key":"pw"}}}}`)
	if err != nil {
		t.Fatal(err)
	}
	if s.APIPort != 8080 || s.PollingInterval.String() != "30s" || s.Pod.Replicas != 1 || !s.NetworkPolicy.Enabled ||
		s.Database != (controlPlaneDB{Type: "sqlite", SQLitePath: defaultSQLitePath, TypeSaid: "sqlite"}) || s.Logging != (logging{"INFO", "json", "stdout"}) {
		t.Errorf("defaults not resolved: %+v", s)
	}
	if s.Identity.GeneratedAdminSecret || s.Identity.AdminPassword.Name != "mine" || !s.Identity.GeneratedJWTSecret {
		t.Errorf("identity: %+v", s.Identity)
	}
	nfs, smb := s.AdapterServices.For("nfs"), s.AdapterServices.For("smb")
	if d := cmp.Diff(map[string]string{"a": "1", "b": "2"}, nfs.Annotations); d != "" || nfs.Type != corev1.ServiceTypeNodePort || !nfs.UDP || nfs.Portmapper || *nfs.NodePort != 30000 {
		t.Errorf("nfs: %+v %s", nfs, d)
	}
	if d := cmp.Diff(map[string]string{"a": "1", "b": "1"}, smb.Annotations); d != "" || smb.Type != corev1.ServiceTypeLoadBalancer || smb.UDP || smb.NodePort != nil {
		t.Errorf("smb (no override): %+v %s", smb, d)
	}
}

// TestResolveDatabase: the control-plane database as the upstream operator
// means it: a postgresSecretRef selects Postgres whatever type says (its
// key names the connection string, connection-string by default);
// percona.enabled selects the Percona user's Secret.
func TestResolveDatabase(t *testing.T) {
	for _, c := range []struct {
		spec string
		want controlPlaneDB
	}{
		{`{}`, controlPlaneDB{Type: "sqlite", SQLitePath: defaultSQLitePath, TypeSaid: "sqlite"}},
		{`{"database":{"type":"postgres","postgresSecretRef":{"name":"pg"}}}`, controlPlaneDB{Type: "postgres", PostgresSecret: "pg", PostgresKey: "connection-string", TypeSaid: "postgres"}},
		{`{"database":{"postgresSecretRef":{"name":"pg","key":"dsn"}}}`, controlPlaneDB{Type: "postgres", PostgresSecret: "pg", PostgresKey: "dsn", TypeSaid: "sqlite"}},
		{`{"database":{"type":"sqlite","postgresSecretRef":{"name":"pg","optional":true}}}`, controlPlaneDB{Type: "postgres", PostgresSecret: "pg", PostgresKey: "connection-string", TypeSaid: "sqlite"}},
		{`{"percona":{"enabled":true}}`, controlPlaneDB{Type: "postgres", PostgresSecret: "demo-postgres-pguser-dittofs", Percona: true, TypeSaid: "sqlite"}},
	} {
		spec := strings.Replace(c.spec, "{", `{"storage":{"metadataSize":"1Gi"},`, 1)
		if c.spec == `{}` {
			spec = `{"storage":{"metadataSize":"1Gi"}}`
		}
		s, err := resolveSpec(t, spec)
		if err != nil {
			t.Fatalf("%s: %v", c.spec, err)
		}
		if s.Database != c.want {
			t.Errorf("%s: %+v, want %+v", c.spec, s.Database, c.want)
		}
	}
}

// TestSecurityContextsMerged: the user's security context fields win one
// by one over the restricted defaults; what they leave unset stays secure,
// in the pod's context as in the container's.
func TestSecurityContextsMerged(t *testing.T) {
	s, err := resolveSpec(t, `{"storage":{"metadataSize":"1Gi"},"podSecurityContext":{"supplementalGroups":[4000],"fsGroup":4000},
		"securityContext":{"readOnlyRootFilesystem":false,"capabilities":{"add":["NET_BIND_SERVICE"]}}}`)
	if err != nil {
		t.Fatal(err)
	}
	pod, ctr := s.Pod.PodSecurity, s.Pod.SecurityContext
	if *pod.FSGroup != 4000 || len(pod.SupplementalGroups) != 1 || !*pod.RunAsNonRoot || *pod.RunAsUser != 65532 || pod.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context: %+v", pod)
	}
	if *ctr.ReadOnlyRootFilesystem || !*ctr.RunAsNonRoot || *ctr.AllowPrivilegeEscalation || ctr.SeccompProfile == nil ||
		!cmp.Equal(ctr.Capabilities, &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE"}, Drop: []corev1.Capability{"ALL"}}) {
		t.Errorf("container security context: %+v %+v", ctr, ctr.Capabilities)
	}
	defaults, _ := resolveSpec(t, `{"storage":{"metadataSize":"1Gi"}}`)
	if !cmp.Equal(defaults.Pod.SecurityContext.Capabilities, &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}) || !*defaults.Pod.SecurityContext.ReadOnlyRootFilesystem {
		t.Errorf("defaults: %+v", defaults.Pod.SecurityContext)
	}
}

// TestAdapterPorts: an adapter's Services carry exactly the ports its
// NetworkPolicy admits; UDP ports go to the -udp Service.
func TestAdapterPorts(t *testing.T) {
	type port struct {
		Port     int32
		Protocol corev1.Protocol
	}
	for _, c := range []struct {
		name       string
		typ        string
		shape      adapterService
		tcp, udp   []string
		policyPort []port
	}{
		{"nfs", "nfs", adapterService{}, []string{"nfs/2049"}, nil, []port{{2049, "TCP"}}},
		{"nfs udp", "nfs", adapterService{UDP: true}, []string{"nfs/2049"}, []string{"nfs-udp/2049"}, []port{{2049, "TCP"}, {2049, "UDP"}}},
		{"nfs portmapper", "nfs", adapterService{Portmapper: true}, []string{"nfs/2049", "portmapper/111>10111"}, nil, []port{{2049, "TCP"}, {10111, "TCP"}}},
		{"nfs udp and portmapper", "nfs", adapterService{UDP: true, Portmapper: true}, []string{"nfs/2049", "portmapper/111>10111"}, []string{"nfs-udp/2049", "portmapper-udp/111>10111"},
			[]port{{2049, "TCP"}, {2049, "UDP"}, {10111, "TCP"}, {10111, "UDP"}}},
		{"smb", "smb", adapterService{}, []string{"smb/2049"}, nil, []port{{2049, "TCP"}}},
		{"a type the hook does not know", "WebDAV", adapterService{}, []string{"adapter/2049"}, nil, []port{{2049, "TCP"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &dittoServer{Name: "demo", AdapterServices: adapterServices{other: c.shape}}
			a := dittofs.Adapter{Type: c.typ, Port: 2049, Enabled: true}
			var tcp, udp []string
			for i, svc := range makeAdapterServices(s, a, &observedChildren{}) {
				for _, p := range svc.Spec.Ports {
					desc := p.Name + "/" + strconv.Itoa(int(p.Port))
					if p.TargetPort.IntVal != p.Port {
						desc += ">" + p.TargetPort.String()
					}
					if p.Protocol == corev1.ProtocolUDP {
						udp = append(udp, desc)
					} else {
						tcp = append(tcp, desc)
					}
				}
				want := adapterName("demo", c.typ)
				if i == 1 {
					want = adapterUDPName("demo", c.typ)
				}
				if svc.Name != want {
					t.Errorf("Service %d is named %s, want %s", i, svc.Name, want)
				}
			}
			if d := cmp.Diff(c.tcp, tcp); d != "" {
				t.Errorf("TCP Service ports (-want +got):\n%s", d)
			}
			if d := cmp.Diff(c.udp, udp); d != "" {
				t.Errorf("UDP Service ports (-want +got):\n%s", d)
			}
			var admitted []port
			for _, p := range makeAdapterPolicy(s, a).Spec.Ingress[0].Ports {
				admitted = append(admitted, port{p.Port.IntVal, *p.Protocol})
			}
			if d := cmp.Diff(c.policyPort, admitted); d != "" {
				t.Errorf("NetworkPolicy ports (-want +got):\n%s", d)
			}
		})
	}
}

// TestKeepObserved: a kept child is the object the hook last returned
// (dynamic-apply's last-applied annotation), or without one (server-side
// apply) the observed object less what the API server owns, every other
// field as it came, even one the hook's types do not know.
func TestKeepObserved(t *testing.T) {
	ssa := `{"apiVersion":"v1","kind":"Service","metadata":{"name":"demo-adapter-nfs","namespace":"default","uid":"u","resourceVersion":"7",
		"managedFields":[{"manager":"metacontroller"}],"labels":{"a":"b"},"annotations":{"x":"y"}},
		"spec":{"ports":[{"port":12049}],"futureField":{"n":1.50}},"status":{"loadBalancer":{}}}`
	last := `{"apiVersion":"v1","kind":"Service","metadata":{"name":"demo-adapter-nfs"},"spec":{"ports":[{"port":1}]}}`
	dynamic := `{"apiVersion":"v1","kind":"Service","metadata":{"name":"demo-adapter-nfs","uid":"u","annotations":{"` + lastAppliedAnnotation + `":` + strconv.Quote(last) + `}},"status":{}}`
	forged := strings.Replace(dynamic, `\"name\":\"demo-adapter-nfs\"`, `\"name\":\"demo-api\"`, 1)
	for _, c := range []struct{ name, raw, want string }{
		{"an annotation naming another object", forged, `{"apiVersion":"v1","kind":"Service","metadata":{"annotations":{"` + lastAppliedAnnotation + `":` + strconv.Quote(strings.Replace(last, "demo-adapter-nfs", "demo-api", 1)) + `},"name":"demo-adapter-nfs"}}`},
		{"server-side apply", ssa, `{"apiVersion":"v1","kind":"Service","metadata":{"annotations":{"x":"y"},"labels":{"a":"b"},"name":"demo-adapter-nfs","namespace":"default"},"spec":{"ports":[{"port":12049}],"futureField":{"n":1.50}}}`},
		{"dynamic-apply", dynamic, last},
	} {
		obs, err := newObservedChildren(&SyncRequest{Parent: &Parent{Metadata: metav1.ObjectMeta{Namespace: "default"}}, Children: ObservedMap{KeyService: {"demo-adapter-nfs": json.RawMessage(c.raw)}}})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(obs.children[KeyService]["demo-adapter-nfs"].keep()); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}
