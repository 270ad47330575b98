package hook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

// Defaults, the same as the CRD's (TestDefaultsMatchCRD checks it): the API
// server applies the CRD's defaults, but `hook render` and a CR stored before
// a default existed reach the hook without them.
const (
	defaultImage              = "marmos91c/dittofs:0.29.0"
	defaultControlPlaneSize   = "1Gi"
	defaultSQLitePath         = "/data/controlplane/controlplane.db"
	defaultAccessTokenTTL     = "15m"
	defaultRefreshTokenTTL    = "168h"
	defaultAdminUsername      = "admin"
	defaultPollingInterval    = "30s"
	defaultLogLevel           = "INFO"
	defaultLogFormat          = "json"
	defaultTerminationSeconds = 120

	minPollingInterval = 5 * time.Second
	// maxBackoff caps the polling interval while DittoFS fails.
	maxBackoff = 5 * time.Minute
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
	if strings.HasPrefix(e.Field, "metadata.") {
		return e.Field + ": " + e.Problem
	}
	return "spec." + e.Field + ": " + e.Problem
}

// server is a parsed, defaulted and validated DittoServer: everything the
// builders need, in resolved form.
type server struct {
	Name, Namespace string
	UID             string
	Generation      int64
	Spec            DittoServerSpec

	Replicas         int32
	APIPort          int32
	PollingInterval  time.Duration
	MetadataSize     resource.Quantity
	ContentSize      *resource.Quantity
	ControlPlaneSize resource.Quantity
	NetworkPolicies  bool
	AdminUsername    string
	// AdminPassword locates the administrator's password: the user's Secret
	// (a related object) or the generated one (a child).
	AdminPassword corev1.SecretKeySelector
	JWTSecret     corev1.SecretKeySelector
}

// parseServer decodes, defaults and validates the parent.
func parseServer(p *Parent) (*server, error) {
	s := &server{
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
	dec := json.NewDecoder(bytes.NewReader(p.Spec))
	if err := dec.Decode(&s.Spec); err != nil {
		return s, &SpecError{Field: "", Problem: "cannot be decoded: " + err.Error()}
	}
	Default(&s.Spec)
	return s, s.resolve()
}

// Default fills in the CRD's defaults.
func Default(spec *DittoServerSpec) {
	if spec.Image == "" {
		spec.Image = defaultImage
	}
	if spec.ImagePullPolicy == "" {
		spec.ImagePullPolicy = corev1.PullIfNotPresent
	}
	if spec.Replicas == nil {
		spec.Replicas = ptr.To[int32](1)
	}
	if spec.Storage.ControlPlaneSize == "" {
		spec.Storage.ControlPlaneSize = defaultControlPlaneSize
	}
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = ptr.To[int64](defaultTerminationSeconds)
	}
	if spec.Database != nil {
		if spec.Database.Type == "" {
			spec.Database.Type = "sqlite"
		}
		if spec.Database.SQLite != nil && spec.Database.SQLite.Path == "" {
			spec.Database.SQLite.Path = defaultSQLitePath
		}
	}
	if spec.ControlPlane != nil && spec.ControlPlane.Port == 0 {
		spec.ControlPlane.Port = defaultAPIPort
	}
	if id := spec.Identity; id != nil {
		if id.JWT != nil {
			if id.JWT.AccessTokenDuration == "" {
				id.JWT.AccessTokenDuration = defaultAccessTokenTTL
			}
			if id.JWT.RefreshTokenDuration == "" {
				id.JWT.RefreshTokenDuration = defaultRefreshTokenTTL
			}
		}
		if id.Admin != nil && id.Admin.Username == "" {
			id.Admin.Username = defaultAdminUsername
		}
	}
	if spec.AdapterDiscovery != nil && spec.AdapterDiscovery.PollingInterval == "" {
		spec.AdapterDiscovery.PollingInterval = defaultPollingInterval
	}
	if spec.AdapterServices != nil && spec.AdapterServices.Type == "" {
		spec.AdapterServices.Type = corev1.ServiceTypeLoadBalancer
	}
	if spec.Service != nil && spec.Service.Type == "" {
		spec.Service.Type = corev1.ServiceTypeClusterIP
	}
	if spec.NetworkPolicy != nil && spec.NetworkPolicy.Enabled == nil {
		spec.NetworkPolicy.Enabled = ptr.To(true)
	}
	if spec.Logging != nil {
		if spec.Logging.Level == "" {
			spec.Logging.Level = defaultLogLevel
		}
		if spec.Logging.Format == "" {
			spec.Logging.Format = defaultLogFormat
		}
	}
}

// resolve validates what the schema may have let through (or what never met
// the schema, for `hook render`) and computes the resolved values.
func (s *server) resolve() error {
	sp := &s.Spec
	s.Replicas = *sp.Replicas
	if s.Replicas < 0 || s.Replicas > 1 {
		return &SpecError{Field: "replicas", Problem: fmt.Sprintf("is %d; DittoFS runs as a single node, use 1 (running) or 0 (stopped)", s.Replicas)}
	}
	var err error
	if s.MetadataSize, err = quantity("storage.metadataSize", sp.Storage.MetadataSize, true); err != nil {
		return err
	}
	if s.ControlPlaneSize, err = quantity("storage.controlPlaneSize", sp.Storage.ControlPlaneSize, true); err != nil {
		return err
	}
	if sp.Storage.ContentSize != "" {
		q, err := quantity("storage.contentSize", sp.Storage.ContentSize, true)
		if err != nil {
			return err
		}
		s.ContentSize = &q
	}

	s.APIPort = defaultAPIPort
	if sp.ControlPlane != nil {
		s.APIPort = sp.ControlPlane.Port
		if s.APIPort < 1 || s.APIPort > 65535 {
			return &SpecError{Field: "controlPlane.port", Problem: fmt.Sprintf("%d is not a TCP port", s.APIPort)}
		}
	}

	s.PollingInterval, _ = time.ParseDuration(defaultPollingInterval)
	if ad := sp.AdapterDiscovery; ad != nil {
		d, err := time.ParseDuration(ad.PollingInterval)
		if err != nil {
			return &SpecError{Field: "adapterDiscovery.pollingInterval", Problem: fmt.Sprintf("%q is not a duration such as 30s or 1m", ad.PollingInterval)}
		}
		if d < minPollingInterval {
			return &SpecError{Field: "adapterDiscovery.pollingInterval", Problem: fmt.Sprintf("%s is below the minimum of %s", d, minPollingInterval)}
		}
		s.PollingInterval = d
	}

	if db := sp.Database; db != nil {
		switch db.Type {
		case "sqlite":
		case "postgres":
			if db.PostgresSecretRef == nil || db.PostgresSecretRef.Name == "" {
				return &SpecError{Field: "database.postgresSecretRef", Problem: "required when database.type is postgres"}
			}
		default:
			return &SpecError{Field: "database.type", Problem: fmt.Sprintf("%q is neither sqlite nor postgres", db.Type)}
		}
	}

	s.AdminUsername = defaultAdminUsername
	s.AdminPassword = corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: adminSecretName(s.Name)}, Key: keyPassword}
	s.JWTSecret = corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: jwtSecretName(s.Name)}, Key: keyJWTSecret}
	if id := sp.Identity; id != nil {
		if a := id.Admin; a != nil {
			if a.Username != defaultAdminUsername {
				// DittoFS v0.29.0 creates "admin" and ignores the name in
				// its config: any other name could never log in.
				return &SpecError{Field: "identity.admin.username", Problem: fmt.Sprintf("%q: DittoFS always names its bootstrap administrator %q (it ignores the configured name), so no other account can be used to set up the hook's operator account; set it to %q or remove it", a.Username, defaultAdminUsername, defaultAdminUsername)}
			}
			if a.PasswordSecretRef != nil {
				if err := checkSecretRef("identity.admin.passwordSecretRef", a.PasswordSecretRef); err != nil {
					return err
				}
				s.AdminPassword = *a.PasswordSecretRef
			}
		}
		if j := id.JWT; j != nil {
			for field, v := range map[string]string{"identity.jwt.accessTokenDuration": j.AccessTokenDuration, "identity.jwt.refreshTokenDuration": j.RefreshTokenDuration} {
				if _, err := time.ParseDuration(v); err != nil {
					return &SpecError{Field: field, Problem: fmt.Sprintf("%q is not a duration such as 15m or 168h", v)}
				}
			}
			if j.SecretRef != nil {
				if err := checkSecretRef("identity.jwt.secretRef", j.SecretRef); err != nil {
					return err
				}
				s.JWTSecret = *j.SecretRef
			}
		}
	}

	s.NetworkPolicies = sp.NetworkPolicy == nil || sp.NetworkPolicy.Enabled == nil || *sp.NetworkPolicy.Enabled
	if as := sp.AdapterServices; as != nil {
		for typ, o := range as.Overrides {
			if typ != "nfs" && (o.UDP != nil || o.Portmapper != nil) {
				return &SpecError{Field: "adapterServices.overrides." + typ, Problem: "udp and portmapper exist only for the nfs adapter"}
			}
		}
	}
	return nil
}

func quantity(field, v string, positive bool) (resource.Quantity, error) {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return q, &SpecError{Field: field, Problem: fmt.Sprintf("%q is not a Kubernetes quantity such as 10Gi", v)}
	}
	if positive && q.Sign() <= 0 {
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

// adapterOverride returns the override for an adapter type (zero when none).
func (s *server) adapterOverride(typ string) AdapterServiceOverride {
	if as := s.Spec.AdapterServices; as != nil {
		return as.Overrides[typ]
	}
	return AdapterServiceOverride{}
}
