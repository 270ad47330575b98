package hook

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
)

var nameRE = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// SpecError is a DittoServer spec the hook cannot use. The hook answers it
// with a 200 that keeps every observed child and says what is wrong in the
// Ready condition: the user fixes the CR, nothing is torn down meanwhile.
type SpecError struct {
	Field   string
	Problem string
}

func (e *SpecError) Error() string {
	switch {
	case e.Field == "":
		return "spec: " + e.Problem
	case strings.HasPrefix(e.Field, "metadata."):
		return e.Field + ": " + e.Problem
	}
	return "spec." + e.Field + ": " + e.Problem
}

// decodeSpecError names the field a spec's JSON got wrong in the user's
// terms (the JSON path and kind of value), not the Go types behind it.
func decodeSpecError(err error) *SpecError {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return &SpecError{Field: typeErr.Field, Problem: "is a JSON " + typeErr.Value + ", which this field cannot hold"}
	}
	return &SpecError{Problem: "is not a JSON object of the DittoServer spec's shape"}
}

// dittoServer is a DittoServer resolved for the builders: defaulted,
// validated and parsed, section by section. The builders read this and
// nothing else (never the raw spec), so a default or a rule lives in one
// place: Default or a resolve function below.
type dittoServer struct {
	Name, Namespace string
	UID             string
	Generation      int64

	Pod             pod
	Storage         storage
	Database        controlPlaneDB
	APIPort         int32
	Identity        identity
	PollingInterval time.Duration
	APIService      apiService
	AdapterServices adapterServices
	NetworkPolicy   networkPolicy
	Logging         logging
	TLS             apiTLS
	Metrics         metrics
	// LDAP and Kerberos are nil when DittoFS gets no such section.
	LDAP     *LDAPSpec
	Kerberos *KerberosSpec
	Percona  percona
	Snapshot snapshotPolicies
	// PodSelector selects the DittoFS pod: the StatefulSet's selector.
	// It is the hook's own labels, or the upstream operator's when the
	// observed StatefulSet was made by it (its selector is immutable);
	// Prepare decides it from the observed children.
	PodSelector map[string]string
}

// pod is how the DittoFS pod runs.
type pod struct {
	Image             string
	ImagePullPolicy   corev1.PullPolicy
	Replicas          int32
	Resources         corev1.ResourceRequirements
	SecurityContext   *corev1.SecurityContext
	PodSecurity       *corev1.PodSecurityContext
	NodeSelector      map[string]string
	Tolerations       []corev1.Toleration
	PriorityClassName string
	// TerminationGracePeriodSeconds gives DittoFS time to flush.
	TerminationGracePeriodSeconds *int64
	// userContext and userPodContext are the security-context fields the
	// user set, which the ceiling names (see Ceiling).
	userContext, userPodContext map[string]bool
}

// storage sizes the volumes.
type storage struct {
	Metadata     resource.Quantity
	Content      *resource.Quantity // nil: no content volume
	ControlPlane resource.Quantity
	ClassName    *string
}

// identity locates the credentials DittoFS is started with.
type identity struct {
	AdminUsername string
	// AdminPassword locates the administrator's password: the user's Secret
	// (a related object) or the generated one (a child).
	AdminPassword corev1.SecretKeySelector
	// GeneratedAdminSecret: the hook generates the admin Secret (a child).
	GeneratedAdminSecret bool
	JWTSecret            corev1.SecretKeySelector
	GeneratedJWTSecret   bool
	AccessTokenDuration  string
	RefreshTokenDuration string
}

// apiService shapes <name>-api.
type apiService struct {
	Type        corev1.ServiceType
	Annotations map[string]string
}

// adapterServices shapes each adapter type's Services.
type adapterServices struct {
	byType map[string]adapterService
	other  adapterService
}

// adapterService is how one adapter type is exposed.
type adapterService struct {
	Type                     corev1.ServiceType
	Annotations              map[string]string
	LoadBalancerClass        *string
	LoadBalancerSourceRanges []string
	ExternalTrafficPolicy    corev1.ServiceExternalTrafficPolicy
	// NodePort pins the main port's node port.
	NodePort *int32
	// UDP and Portmapper (nfs only) add the UDP Service and the portmapper.
	UDP, Portmapper bool
}

// For is the shape of one adapter type's Services.
func (a adapterServices) For(typ string) adapterService {
	if s, ok := a.byType[typ]; ok {
		return s
	}
	return a.other
}

// networkPolicy says which NetworkPolicies exist and whom they admit.
type networkPolicy struct {
	Enabled     bool
	APIFrom     []networkingv1.NetworkPolicyPeer
	AdapterFrom []networkingv1.NetworkPolicyPeer
	MetricsFrom []networkingv1.NetworkPolicyPeer
}

// logging configures DittoFS's own logs.
type logging struct {
	Level, Format, Output string
}

// apiTLS is how the API is reached: over https (HTTPS), served by DittoFS
// itself from CertSecret (Serves), with client certificates required when
// ClientCASecret is set (Mutual).
type apiTLS struct {
	HTTPS          bool
	CertSecret     string
	ClientCASecret string
}

// Serves says whether DittoFS serves its API over TLS itself.
func (t apiTLS) Serves() bool { return t.CertSecret != "" }

// Mutual says whether DittoFS requires client certificates.
func (t apiTLS) Mutual() bool { return t.Serves() && t.ClientCASecret != "" }

// metrics is DittoFS's metrics endpoint.
type metrics struct {
	Enabled bool
	Port    int32
	Path    string
	Token   *corev1.SecretKeySelector
	// ServiceMonitor is wanted (it needs the child type as well).
	ServiceMonitor bool
	Interval       string
	Labels         map[string]string
}

// percona is the PerconaPGCluster the control plane runs on.
type percona struct {
	Enabled bool
	Spec    *PerconaSpec
}

// snapshotPolicies are the desired snapshot policies and their digest. Err
// is a policy DittoFS would refuse (a *dittofs.SnapshotPolicySpecError): it
// is reported in SnapshotPoliciesApplied and nothing is applied, while the
// rest of the DittoServer goes on.
type snapshotPolicies struct {
	Desired []dittofs.SnapshotPolicy
	Hash    string
	Err     error
}

// parseServer decodes, defaults and resolves the parent. On an error the
// result still holds the parent's name, namespace, UID and generation.
func parseServer(p *Parent) (*dittoServer, error) {
	s := &dittoServer{
		Name:       p.Metadata.Name,
		Namespace:  p.Metadata.Namespace,
		UID:        string(p.Metadata.UID),
		Generation: p.Metadata.Generation,
	}
	if len(s.Name) > maxNameLength || !nameRE.MatchString(s.Name) {
		return s, &SpecError{Field: "metadata.name", Problem: fmt.Sprintf("%q must be a DNS-1035 label of at most %d characters: the StatefulSet of that name labels its pod with the name and a 10-character revision hash, in at most 63", s.Name, maxNameLength)}
	}
	if len(bytes.TrimSpace(p.Spec)) == 0 || bytes.Equal(bytes.TrimSpace(p.Spec), []byte("null")) {
		return s, &SpecError{Field: "storage.metadataSize", Problem: "required"}
	}
	var spec DittoServerSpec
	if err := json.NewDecoder(bytes.NewReader(p.Spec)).Decode(&spec); err != nil {
		return s, decodeSpecError(err)
	}
	Default(&spec)
	return s, s.resolve(&spec)
}

// resolve validates what the schema may have let through (or what never met
// the schema, for `hook render`) and fills in the resolved sections, in the
// order their problems are reported.
func (s *dittoServer) resolve(sp *DittoServerSpec) error {
	var err error
	if s.Pod, err = resolvePod(sp); err != nil {
		return err
	}
	if s.Storage, err = resolveStorage(sp.Storage); err != nil {
		return err
	}
	if s.APIPort, err = resolveAPIPort(sp.ControlPlane); err != nil {
		return err
	}
	if s.PollingInterval, err = resolvePolling(sp.AdapterDiscovery); err != nil {
		return err
	}
	if s.Database, err = resolveDatabase(s.Name, sp.Database, sp.Percona); err != nil {
		return err
	}
	if s.Identity, err = resolveIdentity(s.Name, sp.Identity); err != nil {
		return err
	}
	if s.AdapterServices, err = resolveAdapterServices(sp.AdapterServices); err != nil {
		return err
	}
	if s.TLS, err = resolveTLS(sp.ControlPlane); err != nil {
		return err
	}
	if s.Metrics, err = resolveMetrics(sp.Metrics, s.APIPort); err != nil {
		return err
	}
	if s.Logging, err = resolveLogging(sp.Logging); err != nil {
		return err
	}
	if s.LDAP, s.Kerberos, err = resolveDirectory(sp.Identity); err != nil {
		return err
	}
	s.APIService = apiService{Type: sp.Service.Type, Annotations: sp.Service.Annotations}
	s.NetworkPolicy = networkPolicy{Enabled: *sp.NetworkPolicy.Enabled, APIFrom: sp.NetworkPolicy.APIFrom, AdapterFrom: sp.NetworkPolicy.AdapterFrom, MetricsFrom: sp.NetworkPolicy.MetricsFrom}
	s.Percona = percona{Enabled: sp.Percona.Enabled, Spec: sp.Percona}
	s.Snapshot = resolveSnapshotPolicies(sp.SnapshotPolicies)
	s.PodSelector = selectorLabels(s.Name)
	return nil
}

func resolvePod(sp *DittoServerSpec) (pod, error) {
	p := pod{
		Image:                         sp.Image,
		ImagePullPolicy:               sp.ImagePullPolicy,
		Replicas:                      *sp.Replicas,
		NodeSelector:                  sp.NodeSelector,
		Tolerations:                   sp.Tolerations,
		PriorityClassName:             sp.PriorityClassName,
		TerminationGracePeriodSeconds: sp.TerminationGracePeriodSeconds,
	}
	if p.Replicas < 0 || p.Replicas > 1 {
		return p, &SpecError{Field: "replicas", Problem: fmt.Sprintf("is %d; DittoFS runs as a single node, use 1 (running) or 0 (stopped)", p.Replicas)}
	}
	if sp.Resources != nil {
		p.Resources = *sp.Resources
	}
	p.userContext, p.userPodContext = setKeys(sp.SecurityContext), setKeys(sp.PodSecurityContext)
	// The restricted Pod Security Standard's settings, with the user's
	// fields over them one by one.
	p.PodSecurity = overlay(&corev1.PodSecurityContext{
		RunAsNonRoot:        ptr.To(true),
		RunAsUser:           ptr.To[int64](65532),
		RunAsGroup:          ptr.To[int64](65532),
		FSGroup:             ptr.To[int64](65532),
		FSGroupChangePolicy: ptr.To(corev1.FSGroupChangeOnRootMismatch),
		SeccompProfile:      &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}, sp.PodSecurityContext)
	p.SecurityContext = overlay(&corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		RunAsNonRoot:             ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}, sp.SecurityContext)
	if c := p.SecurityContext.Capabilities; len(c.Drop) == 0 {
		// Capabilities the user adds keep every other one dropped (the
		// upstream operator does the same).
		c.Drop = []corev1.Capability{"ALL"}
	}
	return p, nil
}

// overlay returns the defaults with every field the user set (a top-level
// field of the security context) replacing the default's: the user wins
// field by field, and what they leave unset keeps the secure default. (The
// upstream operator merges the container's context so, and replaces the
// pod's whole: setting only supplementalGroups there would drop
// runAsNonRoot and seccompProfile, and the pod would be refused in a
// restricted namespace.)
func overlay[T any](defaults, user *T) *T {
	if user == nil {
		return defaults
	}
	var base, over map[string]json.RawMessage
	d, _ := json.Marshal(defaults)
	u, _ := json.Marshal(user)
	if json.Unmarshal(d, &base) != nil || json.Unmarshal(u, &over) != nil {
		return user // both are this package's own JSON; unreachable
	}
	maps.Copy(base, over)
	merged, _ := json.Marshal(base)
	out := new(T)
	if json.Unmarshal(merged, out) != nil {
		return user
	}
	return out
}

func resolveStorage(st StorageSpec) (storage, error) {
	var out storage
	var err error
	if out.Metadata, err = quantity("storage.metadataSize", st.MetadataSize); err != nil {
		return out, err
	}
	if out.ControlPlane, err = quantity("storage.controlPlaneSize", st.ControlPlaneSize); err != nil {
		return out, err
	}
	if st.ContentSize != "" {
		q, err := quantity("storage.contentSize", st.ContentSize)
		if err != nil {
			return out, err
		}
		out.Content = &q
	}
	out.ClassName = st.StorageClassName
	return out, nil
}

func resolveAPIPort(cp *ControlPlaneSpec) (int32, error) {
	if cp.Port < 1 || cp.Port > 65535 {
		return 0, &SpecError{Field: "controlPlane.port", Problem: fmt.Sprintf("%d is not a TCP port", cp.Port)}
	}
	return cp.Port, nil
}

func resolvePolling(ad *AdapterDiscoverySpec) (time.Duration, error) {
	d, err := time.ParseDuration(ad.PollingInterval)
	if err != nil {
		return 0, &SpecError{Field: "adapterDiscovery.pollingInterval", Problem: fmt.Sprintf("%q is not a duration such as 30s or 1m", ad.PollingInterval)}
	}
	if d < minPollingInterval {
		return 0, &SpecError{Field: "adapterDiscovery.pollingInterval", Problem: fmt.Sprintf("%s is below the minimum of %s", d, minPollingInterval)}
	}
	return d, nil
}

// resolveDatabase decides the control-plane database as the upstream
// operator means it: a postgresSecretRef selects Postgres whatever type
// says; percona.enabled selects the PerconaPGCluster's Postgres.
func resolveDatabase(cr string, db *DatabaseSpec, pc *PerconaSpec) (controlPlaneDB, error) {
	d := controlPlaneDB{Type: db.Type, AllowReset: db.AllowControlPlaneReset, TypeSaid: db.Type}
	if db.Type != "sqlite" && db.Type != "postgres" {
		return d, &SpecError{Field: "database.type", Problem: fmt.Sprintf("%q is neither sqlite nor postgres", db.Type)}
	}
	ref := db.PostgresSecretRef
	switch {
	case ref != nil && pc.Enabled:
		return d, &SpecError{Field: "percona.enabled", Problem: "percona.enabled and database.postgresSecretRef both choose the control-plane database; set one of them"}
	case ref != nil:
		if ref.Name == "" {
			return d, &SpecError{Field: "database.postgresSecretRef.name", Problem: "required"}
		}
		d.Type, d.PostgresSecret, d.PostgresKey = "postgres", ref.Name, cmp.Or(ref.Key, defaultPostgresKey)
	case pc.Enabled:
		d.Type, d.PostgresSecret, d.Percona = "postgres", perconaUserSecretName(cr), true
	case db.Type == "postgres":
		return d, &SpecError{Field: "database.postgresSecretRef", Problem: "required when database.type is postgres (or set percona.enabled)"}
	default:
		// What the CRD's pattern checks, and printable: the path goes into
		// config.yaml verbatim.
		p := db.SQLite.Path
		if !strings.HasPrefix(p, "/data/controlplane/") || len(p) == len("/data/controlplane/") || len(p) > 1024 || !printable(p) {
			return d, &SpecError{Field: "database.sqlite.path", Problem: fmt.Sprintf("%q must be a printable file path under /data/controlplane/ (the control-plane volume)", p)}
		}
		d.SQLitePath = p
	}
	return d, nil
}

// printable says whether a value that goes into config.yaml verbatim is
// valid UTF-8 without control characters (what the CRD's patterns and a
// YAML scalar on one line need).
func printable(v string) bool {
	return utf8.ValidString(v) && strings.IndexFunc(v, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}

func resolveTLS(cp *ControlPlaneSpec) (apiTLS, error) {
	t := apiTLS{CertSecret: cp.CertSecretName, ClientCASecret: cp.ClientCASecretName}
	if t.ClientCASecret != "" && t.CertSecret == "" {
		return t, &SpecError{Field: "controlPlane.clientCASecretName", Problem: "needs controlPlane.certSecretName: mutual TLS needs DittoFS to serve TLS"}
	}
	t.HTTPS = cp.TLS || t.Serves()
	return t, nil
}

func resolveMetrics(m *MetricsSpec, apiPort int32) (metrics, error) {
	out := metrics{Enabled: m.Enabled, Port: m.Port, Path: m.Path, Token: m.BearerTokenSecret}
	if sm := m.ServiceMonitor; sm != nil {
		out.ServiceMonitor, out.Interval, out.Labels = sm.Enabled, sm.Interval, sm.Labels
	}
	if !out.Enabled {
		if out.ServiceMonitor {
			return out, &SpecError{Field: "metrics.serviceMonitor.enabled", Problem: "needs metrics.enabled"}
		}
		return out, nil
	}
	switch {
	case out.Port < 1 || out.Port > 65535:
		return out, &SpecError{Field: "metrics.port", Problem: fmt.Sprintf("%d is not a TCP port", out.Port)}
	case out.Port == apiPort:
		return out, &SpecError{Field: "metrics.port", Problem: fmt.Sprintf("%d is controlPlane.port too; DittoFS serves its metrics on a listener of their own", out.Port)}
	case !strings.HasPrefix(out.Path, "/") || !printable(out.Path) || strings.ContainsRune(out.Path, ' ') || len(out.Path) > 256:
		return out, &SpecError{Field: "metrics.path", Problem: fmt.Sprintf("%q must be a URL path starting with /, without spaces", out.Path)}
	case out.Interval != "" && !serviceMonitorIntervalRE.MatchString(out.Interval):
		return out, &SpecError{Field: "metrics.serviceMonitor.interval", Problem: fmt.Sprintf("%q is not a Prometheus duration such as 30s", out.Interval)}
	}
	if out.Token != nil {
		if err := checkSecretRef("metrics.bearerTokenSecret", out.Token); err != nil {
			return out, err
		}
	}
	return out, nil
}

// serviceMonitorIntervalRE is the CRD's pattern of a Prometheus duration.
var serviceMonitorIntervalRE = regexp.MustCompile(`^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$`)

// logOutputRE: stdout, stderr, or a file on a writable volume (the root
// file system is read-only).
var logOutputRE = regexp.MustCompile(`^(stdout|stderr|/(data|tmp)/[^/].*)$`)

// resolveLogging checks what the CRD's enums and pattern check: the values
// go into config.yaml verbatim.
func resolveLogging(l *LoggingSpec) (logging, error) {
	out := logging{Level: l.Level, Format: l.Format, Output: l.Output}
	if !slices.Contains([]string{"DEBUG", "INFO", "WARN", "ERROR"}, l.Level) {
		return out, &SpecError{Field: "logging.level", Problem: fmt.Sprintf("%q is not one of DEBUG, INFO, WARN, ERROR", l.Level)}
	}
	if l.Format != "text" && l.Format != "json" {
		return out, &SpecError{Field: "logging.format", Problem: fmt.Sprintf("%q is neither text nor json", l.Format)}
	}
	if !logOutputRE.MatchString(out.Output) || !printable(out.Output) || len(out.Output) > 1024 {
		return out, &SpecError{Field: "logging.output", Problem: fmt.Sprintf("%q: use stdout, stderr, or a file under /data/ or /tmp/ (the root file system is read-only)", out.Output)}
	}
	return out, nil
}

// resolveDirectory checks the LDAP and Kerberos sections. LDAP is rendered
// whenever it is present (enabled or not), Kerberos only when enabled, as
// the upstream operator renders them.
func resolveDirectory(id *IdentitySpec) (*LDAPSpec, *KerberosSpec, error) {
	if id.Type != defaultIdentityType {
		return nil, nil, &SpecError{Field: "identity.type", Problem: fmt.Sprintf("%q: the only identity store is memory", id.Type)}
	}
	ldap, krb := id.LDAP, id.Kerberos
	// Every string of these sections goes into config.yaml verbatim.
	if err := printableFields(directoryStrings(ldap, krb)); err != nil {
		return nil, nil, err
	}
	if ldap != nil {
		switch {
		case ldap.URL == "" || ldap.BaseDN == "" || ldap.BindDN == "":
			return nil, nil, &SpecError{Field: "identity.ldap", Problem: "needs url, baseDN and bindDN"}
		case !strings.HasPrefix(ldap.URL, "ldap://") && !strings.HasPrefix(ldap.URL, "ldaps://"):
			return nil, nil, &SpecError{Field: "identity.ldap.url", Problem: fmt.Sprintf("%q must start with ldaps:// or ldap://", ldap.URL)}
		}
		if ref := ldap.BindPasswordSecretRef; ref != nil {
			if err := checkSecretRef("identity.ldap.bindPasswordSecretRef", ref); err != nil {
				return nil, nil, err
			}
		}
	}
	if krb == nil || !krb.Enabled {
		return ldap, nil, nil
	}
	if krb.ServicePrincipal == "" || krb.KeytabSecretRef == nil {
		return nil, nil, &SpecError{Field: "identity.kerberos", Problem: "enabled needs servicePrincipal and keytabSecretRef"}
	}
	refs := map[string]*corev1.SecretKeySelector{
		"identity.kerberos.keytabSecretRef":   krb.KeytabSecretRef,
		"identity.kerberos.krb5ConfSecretRef": krb.Krb5ConfSecretRef,
	}
	if ma := krb.MachineAccount; ma != nil && ma.Enabled {
		if ma.AccountName == "" || (ma.SecretRef == nil && ma.KeytabSecretRef == nil) {
			return nil, nil, &SpecError{Field: "identity.kerberos.machineAccount", Problem: "enabled needs accountName and secretRef or keytabSecretRef"}
		}
		refs["identity.kerberos.machineAccount.secretRef"] = ma.SecretRef
		refs["identity.kerberos.machineAccount.keytabSecretRef"] = ma.KeytabSecretRef
	}
	for _, field := range sortedKeys(refs) {
		if ref := refs[field]; ref != nil {
			if err := checkSecretRef(field, ref); err != nil {
				return nil, nil, err
			}
		}
	}
	return ldap, krb, nil
}

// directoryStrings are the values of the LDAP and Kerberos sections that
// go into config.yaml, by field.
func directoryStrings(l *LDAPSpec, k *KerberosSpec) [][2]string {
	var out [][2]string
	if l != nil {
		out = append(out, [][2]string{{"identity.ldap.url", l.URL}, {"identity.ldap.baseDN", l.BaseDN}, {"identity.ldap.bindDN", l.BindDN},
			{"identity.ldap.userAttr", l.UserAttr}, {"identity.ldap.realm", l.Realm}, {"identity.ldap.idmap", l.Idmap}, {"identity.ldap.caCertFile", l.CACertFile}}...)
	}
	if k != nil {
		out = append(out, [][2]string{{"identity.kerberos.servicePrincipal", k.ServicePrincipal}, {"identity.kerberos.realm", k.Realm},
			{"identity.kerberos.netbiosDomain", k.NetBIOSDomain}, {"identity.kerberos.dnsDomain", k.DNSDomain}, {"identity.kerberos.krb5Conf", k.Krb5Conf}}...)
		if ma := k.MachineAccount; ma != nil {
			out = append(out, [2]string{"identity.kerberos.machineAccount.accountName", ma.AccountName})
			for i, dc := range ma.DCAddress {
				out = append(out, [2]string{fmt.Sprintf("identity.kerberos.machineAccount.dcAddress[%d]", i), dc})
			}
		}
	}
	return out
}

// printableFields refuses a value that is not printable or longer than the
// CRD allows (1,024 characters).
func printableFields(fields [][2]string) error {
	for _, f := range fields {
		if !printable(f[1]) || len(f[1]) > 1024 {
			return &SpecError{Field: f[0], Problem: "must be printable text of at most 1024 characters"}
		}
	}
	return nil
}

// resolveSnapshotPolicies normalises the policies as DittoFS would store
// them; a policy it would refuse is kept as Err, not as a SpecError: the
// rest of the DittoServer is unaffected by it.
func resolveSnapshotPolicies(in []SnapshotPolicySpec) snapshotPolicies {
	out := snapshotPolicies{Desired: make([]dittofs.SnapshotPolicy, 0, len(in))}
	for _, p := range in {
		out.Desired = append(out.Desired, dittofs.SnapshotPolicy{Share: p.Share, Interval: p.Interval, KeepLast: p.KeepLast, TTL: p.TTL, Enabled: p.Enabled, NamePrefix: p.NamePrefix})
	}
	out.Hash, out.Err = dittofs.SnapshotPoliciesHash(out.Desired)
	return out
}

func resolveIdentity(cr string, id *IdentitySpec) (identity, error) {
	out := identity{
		AdminUsername:        id.Admin.Username,
		AdminPassword:        corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: adminSecretName(cr)}, Key: keyPassword},
		JWTSecret:            corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: jwtSecretName(cr)}, Key: keyJWTSecret},
		AccessTokenDuration:  id.JWT.AccessTokenDuration,
		RefreshTokenDuration: id.JWT.RefreshTokenDuration,
	}
	if out.AdminUsername != defaultAdminUsername {
		// DittoFS v0.29.0 creates "admin" and ignores the name in its
		// config: any other name could never log in.
		return out, &SpecError{Field: "identity.admin.username", Problem: fmt.Sprintf("%q: DittoFS always names its bootstrap administrator %q (it ignores the configured name), so no other account can be used to set up the hook's operator account; set it to %q or remove it", out.AdminUsername, defaultAdminUsername, defaultAdminUsername)}
	}
	if ref := id.Admin.PasswordSecretRef; ref != nil {
		if err := checkSecretRef("identity.admin.passwordSecretRef", ref); err != nil {
			return out, err
		}
		out.AdminPassword = *ref
	}
	for _, d := range []struct{ field, value string }{
		{"identity.jwt.accessTokenDuration", out.AccessTokenDuration},
		{"identity.jwt.refreshTokenDuration", out.RefreshTokenDuration},
	} {
		if _, err := time.ParseDuration(d.value); err != nil {
			return out, &SpecError{Field: d.field, Problem: fmt.Sprintf("%q is not a duration such as 15m or 168h", d.value)}
		}
	}
	if ref := id.JWT.SecretRef; ref != nil {
		if err := checkSecretRef("identity.jwt.secretRef", ref); err != nil {
			return out, err
		}
		out.JWTSecret = *ref
	}
	// A reference to the generated Secret's own name is the generated one.
	out.GeneratedAdminSecret = out.AdminPassword.Name == adminSecretName(cr)
	out.GeneratedJWTSecret = out.JWTSecret.Name == jwtSecretName(cr)
	return out, nil
}

func resolveAdapterServices(as *AdapterServicesSpec) (adapterServices, error) {
	out := adapterServices{
		other:  adapterService{Type: as.Type, Annotations: maps.Clone(as.Annotations)},
		byType: make(map[string]adapterService, len(as.Overrides)),
	}
	for _, typ := range slices.Sorted(maps.Keys(as.Overrides)) {
		o := as.Overrides[typ]
		if typ != "nfs" && (o.UDP != nil || o.Portmapper != nil) {
			return out, &SpecError{Field: "adapterServices.overrides." + typ, Problem: "udp and portmapper exist only for the nfs adapter"}
		}
		svc := adapterService{
			Type:                     as.Type,
			Annotations:              maps.Clone(as.Annotations),
			LoadBalancerClass:        o.LoadBalancerClass,
			LoadBalancerSourceRanges: o.LoadBalancerSourceRanges,
			ExternalTrafficPolicy:    o.ExternalTrafficPolicy,
			NodePort:                 o.NodePort,
			UDP:                      o.UDP != nil && *o.UDP,
			Portmapper:               o.Portmapper != nil && *o.Portmapper,
		}
		if o.Type != "" {
			svc.Type = o.Type
		}
		if len(o.Annotations) > 0 {
			if svc.Annotations == nil {
				svc.Annotations = map[string]string{}
			}
			maps.Copy(svc.Annotations, o.Annotations)
		}
		out.byType[typ] = svc
	}
	return out, nil
}

func quantity(field, v string) (resource.Quantity, error) {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return q, &SpecError{Field: field, Problem: fmt.Sprintf("%q is not a Kubernetes quantity such as 10Gi", v)}
	}
	if q.Sign() <= 0 {
		return q, &SpecError{Field: field, Problem: fmt.Sprintf("%q must be positive", v)}
	}
	return q, nil
}

func checkSecretRef(field string, ref *corev1.SecretKeySelector) error {
	if ref.Name == "" || ref.Key == "" {
		return &SpecError{Field: field, Problem: "needs both name and key"}
	}
	return nil
}
