package hook

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// The CRD's defaults (its +kubebuilder:default markers), in Go:
// TestDefaultsMatchCRD checks that the two agree. The API server applies
// the CRD's, but `hook render` and a CR stored before a default existed
// reach the hook without them.
const (
	defaultImage              = "marmos91c/dittofs:0.29.0"
	defaultControlPlaneSize   = "1Gi"
	defaultDatabaseType       = "sqlite"
	defaultSQLitePath         = "/data/controlplane/controlplane.db"
	defaultAccessTokenTTL     = "15m"
	defaultRefreshTokenTTL    = "168h"
	defaultAdminUsername      = "admin"
	defaultPollingInterval    = "30s"
	defaultLogLevel           = "INFO"
	defaultLogFormat          = "json"
	defaultLogOutput          = "stdout"
	defaultIdentityType       = "memory"
	defaultMetricsPort        = 9090
	defaultMetricsPath        = "/metrics"
	defaultPerconaReplicas    = 1
	defaultPerconaStorage     = "10Gi"
	defaultPerconaDatabase    = "dittofs"
	defaultBackupRegion       = "eu-west-1"
	defaultBackupFull         = "0 2 * * *"
	defaultBackupIncremental  = "0 * * * *"
	defaultBackupRetention    = 7
	defaultTerminationSeconds = 120
	defaultAPIPort            = 8080
)

// Bounds the spec cannot change.
const (
	minPollingInterval = 5 * time.Second
	// maxBackoff caps the polling interval while DittoFS fails.
	maxBackoff = 5 * time.Minute
)

// Default fills in the CRD's defaults, the only defaults of the spec. It
// fills them in as if every optional section were present (the API server
// defaults fields inside the objects a CR has): a section the CR leaves out
// then means what an empty one means, and resolve reads set fields only.
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

	db := section(&spec.Database)
	if db.Type == "" {
		db.Type = defaultDatabaseType
	}
	if db.Type == "sqlite" || db.SQLite != nil {
		if sq := section(&db.SQLite); sq.Path == "" {
			sq.Path = defaultSQLitePath
		}
	}

	if cp := section(&spec.ControlPlane); cp.Port == 0 {
		cp.Port = defaultAPIPort
	}

	id := section(&spec.Identity)
	if id.Type == "" {
		id.Type = defaultIdentityType
	}
	jwt := section(&id.JWT)
	if jwt.AccessTokenDuration == "" {
		jwt.AccessTokenDuration = defaultAccessTokenTTL
	}
	if jwt.RefreshTokenDuration == "" {
		jwt.RefreshTokenDuration = defaultRefreshTokenTTL
	}
	if admin := section(&id.Admin); admin.Username == "" {
		admin.Username = defaultAdminUsername
	}

	if ad := section(&spec.AdapterDiscovery); ad.PollingInterval == "" {
		ad.PollingInterval = defaultPollingInterval
	}
	if as := section(&spec.AdapterServices); as.Type == "" {
		as.Type = corev1.ServiceTypeLoadBalancer
	}
	if svc := section(&spec.Service); svc.Type == "" {
		svc.Type = corev1.ServiceTypeClusterIP
	}
	if np := section(&spec.NetworkPolicy); np.Enabled == nil {
		np.Enabled = ptr.To(true)
	}
	l := section(&spec.Logging)
	if l.Level == "" {
		l.Level = defaultLogLevel
	}
	if l.Format == "" {
		l.Format = defaultLogFormat
	}
	if l.Output == "" {
		l.Output = defaultLogOutput
	}

	m := section(&spec.Metrics)
	if m.Port == 0 {
		m.Port = defaultMetricsPort
	}
	if m.Path == "" {
		m.Path = defaultMetricsPath
	}

	pc := section(&spec.Percona)
	if pc.Replicas == nil {
		pc.Replicas = ptr.To[int32](defaultPerconaReplicas)
	}
	if pc.StorageSize == "" {
		pc.StorageSize = defaultPerconaStorage
	}
	if pc.DatabaseName == "" {
		pc.DatabaseName = defaultPerconaDatabase
	}
	b := section(&pc.Backup)
	if b.Region == "" {
		b.Region = defaultBackupRegion
	}
	if b.FullSchedule == "" {
		b.FullSchedule = defaultBackupFull
	}
	if b.IncrSchedule == "" {
		b.IncrSchedule = defaultBackupIncremental
	}
	if b.RetentionDays == nil {
		b.RetentionDays = ptr.To[int32](defaultBackupRetention)
	}
}

// section makes an optional section present (empty) when it is absent.
func section[T any](p **T) *T {
	if *p == nil {
		*p = new(T)
	}
	return *p
}
