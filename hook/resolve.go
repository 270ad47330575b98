package hook

import (
	"bytes"
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
)

// maxNameLength keeps every child name a valid DNS-1035 label:
// <name>-adapter-<type up to 17>-udp fits in 63 characters.
const maxNameLength = 32

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
}

// logging configures DittoFS's own logs.
type logging struct {
	Level, Format string
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
		return s, &SpecError{Field: "metadata.name", Problem: fmt.Sprintf("%q must be a DNS-1035 label of at most %d characters, so that every child name stays valid", s.Name, maxNameLength)}
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
	if s.Database, err = resolveDatabase(sp.Database); err != nil {
		return err
	}
	if s.Identity, err = resolveIdentity(s.Name, sp.Identity); err != nil {
		return err
	}
	if s.AdapterServices, err = resolveAdapterServices(sp.AdapterServices); err != nil {
		return err
	}
	s.APIService = apiService{Type: sp.Service.Type, Annotations: sp.Service.Annotations}
	s.NetworkPolicy = networkPolicy{Enabled: *sp.NetworkPolicy.Enabled, APIFrom: sp.NetworkPolicy.APIFrom, AdapterFrom: sp.NetworkPolicy.AdapterFrom}
	if s.Logging, err = resolveLogging(sp.Logging); err != nil {
		return err
	}
	return nil
}

// resolveLogging checks what the CRD's enums check: the values go into
// config.yaml verbatim.
func resolveLogging(l *LoggingSpec) (logging, error) {
	if !slices.Contains([]string{"DEBUG", "INFO", "WARN", "ERROR"}, l.Level) {
		return logging{}, &SpecError{Field: "logging.level", Problem: fmt.Sprintf("%q is not one of DEBUG, INFO, WARN, ERROR", l.Level)}
	}
	if l.Format != "text" && l.Format != "json" {
		return logging{}, &SpecError{Field: "logging.format", Problem: fmt.Sprintf("%q is neither text nor json", l.Format)}
	}
	return logging{Level: l.Level, Format: l.Format}, nil
}

func resolvePod(sp *DittoServerSpec) (pod, error) {
	p := pod{
		Image:                         sp.Image,
		ImagePullPolicy:               sp.ImagePullPolicy,
		Replicas:                      *sp.Replicas,
		SecurityContext:               sp.SecurityContext,
		PodSecurity:                   sp.PodSecurityContext,
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
	// Unset security contexts are the restricted Pod Security Standard's.
	if p.PodSecurity == nil {
		p.PodSecurity = &corev1.PodSecurityContext{
			RunAsNonRoot:        ptr.To(true),
			RunAsUser:           ptr.To[int64](65532),
			RunAsGroup:          ptr.To[int64](65532),
			FSGroup:             ptr.To[int64](65532),
			FSGroupChangePolicy: ptr.To(corev1.FSGroupChangeOnRootMismatch),
			SeccompProfile:      &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		}
	}
	if p.SecurityContext == nil {
		p.SecurityContext = &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			RunAsNonRoot:             ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		}
	}
	return p, nil
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

func resolveDatabase(db *DatabaseSpec) (controlPlaneDB, error) {
	d := controlPlaneDB{Type: db.Type, AllowReset: db.AllowControlPlaneReset}
	switch db.Type {
	case "sqlite":
		// What the CRD's pattern checks, and printable: the path goes into
		// config.yaml verbatim.
		p := db.SQLite.Path
		if !strings.HasPrefix(p, "/data/controlplane/") || len(p) == len("/data/controlplane/") || len(p) > 1024 ||
			!utf8.ValidString(p) || strings.IndexFunc(p, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
			return d, &SpecError{Field: "database.sqlite.path", Problem: fmt.Sprintf("%q must be a printable file path under /data/controlplane/ (the control-plane volume)", p)}
		}
		d.SQLitePath = p
	case "postgres":
		if db.PostgresSecretRef == nil || db.PostgresSecretRef.Name == "" {
			return d, &SpecError{Field: "database.postgresSecretRef", Problem: "required when database.type is postgres"}
		}
		d.PostgresSecret = db.PostgresSecretRef.Name
	default:
		return d, &SpecError{Field: "database.type", Problem: fmt.Sprintf("%q is neither sqlite nor postgres", db.Type)}
	}
	return d, nil
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
