package hook

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The DittoServer API. These types are the source of the CRD in
// manifests/crd/bases (rendered by controller-gen from the markers below; the
// test TestCRDMatchesGoTypes fails when the two disagree). Field names follow
// the upstream DittoFS operator's DittoServer so that its CRs keep working.

// DittoServerSpec is the desired DittoFS server. It holds infrastructure only:
// shares, stores, users and adapters live in DittoFS's control plane.
// +kubebuilder:validation:XValidation:rule="(has(self.database) && has(self.database.allowControlPlaneReset) && self.database.allowControlPlaneReset) || ((has(self.database) && has(self.database.postgresSecretRef) ? 'postgres' : (has(self.percona) && has(self.percona.enabled) && self.percona.enabled ? 'percona' : (has(self.database) && has(self.database.type) ? self.database.type : 'sqlite'))) == (has(oldSelf.database) && has(oldSelf.database.postgresSecretRef) ? 'postgres' : (has(oldSelf.percona) && has(oldSelf.percona.enabled) && oldSelf.percona.enabled ? 'percona' : (has(oldSelf.database) && has(oldSelf.database.type) ? oldSelf.database.type : 'sqlite'))) && ((has(self.database) && has(self.database.postgresSecretRef) ? 'postgres' : (has(self.percona) && has(self.percona.enabled) && self.percona.enabled ? 'percona' : (has(self.database) && has(self.database.type) ? self.database.type : 'sqlite'))) != 'sqlite' || (has(self.database) && has(self.database.sqlite) && has(self.database.sqlite.path) ? self.database.sqlite.path : '/data/controlplane/controlplane.db') == (has(oldSelf.database) && has(oldSelf.database.sqlite) && has(oldSelf.database.sqlite.path) ? oldSelf.database.sqlite.path : '/data/controlplane/controlplane.db')) && ((has(self.database) && has(self.database.postgresSecretRef) ? 'postgres' : (has(self.percona) && has(self.percona.enabled) && self.percona.enabled ? 'percona' : (has(self.database) && has(self.database.type) ? self.database.type : 'sqlite'))) != 'postgres' || (has(self.database) && has(self.database.postgresSecretRef) ? self.database.postgresSecretRef.name : '-') == (has(oldSelf.database) && has(oldSelf.database.postgresSecretRef) ? oldSelf.database.postgresSecretRef.name : '-')))",message="changing database.type, database.sqlite.path, database.postgresSecretRef or percona.enabled starts DittoFS on another control-plane database, without its users, shares and adapters; set database.allowControlPlaneReset to true in the same change if that is what you mean"
// +kubebuilder:validation:XValidation:rule="!(has(self.percona) && has(self.percona.enabled) && self.percona.enabled && has(self.database) && has(self.database.postgresSecretRef))",message="percona.enabled and database.postgresSecretRef both choose the control-plane database; set one of them"
// +kubebuilder:validation:XValidation:rule="!has(self.metrics) || !has(self.metrics.enabled) || !self.metrics.enabled || !has(self.metrics.port) || self.metrics.port != (has(self.controlPlane) && has(self.controlPlane.port) ? self.controlPlane.port : 8080)",message="metrics.port must differ from controlPlane.port: DittoFS serves its metrics on a listener of their own"
type DittoServerSpec struct {
	// Image is the DittoFS container image.
	// +kubebuilder:default="marmos91c/dittofs:0.29.0"
	// +kubebuilder:validation:MinLength=1
	// +optional
	Image string `json:"image,omitempty"`

	// ImagePullPolicy of the DittoFS container.
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +kubebuilder:default=IfNotPresent
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// Replicas is 1 for a running server or 0 to stop it (its volumes stay).
	// DittoFS is single-node: more than one replica is refused.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Storage sizes the server's persistent volumes. It cannot change once
	// set, because a StatefulSet's volume claim templates are immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="storage is immutable (StatefulSet volume claim templates cannot change); resize the PersistentVolumeClaims directly"
	// +required
	Storage StorageSpec `json:"storage"`

	// Database selects the control-plane database.
	// +optional
	Database *DatabaseSpec `json:"database,omitempty"`

	// ControlPlane configures DittoFS's REST API.
	// +optional
	ControlPlane *ControlPlaneSpec `json:"controlPlane,omitempty"`

	// Identity configures API tokens and the bootstrap administrator.
	// +optional
	Identity *IdentitySpec `json:"identity,omitempty"`

	// AdapterDiscovery configures how often the hook asks DittoFS which
	// protocol adapters it runs.
	// +optional
	AdapterDiscovery *AdapterDiscoverySpec `json:"adapterDiscovery,omitempty"`

	// AdapterServices shapes the Service created for each running adapter.
	// +optional
	AdapterServices *AdapterServicesSpec `json:"adapterServices,omitempty"`

	// Service shapes the control-plane API Service (<name>-api).
	// +optional
	Service *ServiceSpec `json:"service,omitempty"`

	// NetworkPolicy controls the NetworkPolicies the hook creates.
	// +optional
	NetworkPolicy *NetworkPolicySpec `json:"networkPolicy,omitempty"`

	// Logging configures DittoFS's own logs.
	// +optional
	Logging *LoggingSpec `json:"logging,omitempty"`

	// Metrics turns on DittoFS's Prometheus endpoint, exposed by the
	// Service <name>-metrics and, where the ServiceMonitor child type is
	// installed, a ServiceMonitor.
	// +optional
	Metrics *MetricsSpec `json:"metrics,omitempty"`

	// Percona runs the control-plane database on a PerconaPGCluster
	// <name>-postgres (Percona Operator for PostgreSQL v2), where that child
	// type is installed.
	// +optional
	Percona *PerconaSpec `json:"percona,omitempty"`

	// SnapshotPolicies are scheduled snapshot policies, one per share, which
	// the hook keeps in DittoFS (it writes them only when this list changes).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	SnapshotPolicies []SnapshotPolicySpec `json:"snapshotPolicies,omitempty"`

	// Resources of the DittoFS container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// SecurityContext of the DittoFS container. When unset the container runs
	// with the restricted Pod Security Standard's settings.
	// +optional
	SecurityContext *corev1.SecurityContext `json:"securityContext,omitempty"`

	// PodSecurityContext of the DittoFS pod. When unset the pod runs as a
	// non-root user with the RuntimeDefault seccomp profile.
	// +optional
	PodSecurityContext *corev1.PodSecurityContext `json:"podSecurityContext,omitempty"`

	// NodeSelector of the DittoFS pod.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Tolerations of the DittoFS pod.
	// +optional
	// +listType=atomic
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// PriorityClassName of the DittoFS pod.
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// TerminationGracePeriodSeconds gives DittoFS time to flush on shutdown.
	// It must comfortably exceed DittoFS's 30 s shutdown_timeout.
	// +kubebuilder:default=120
	// +kubebuilder:validation:Minimum=36
	// +optional
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`
}

// StorageSpec sizes the persistent volumes of the DittoFS pod. Sizes are
// Kubernetes quantities ("10Gi"). Volume claim templates are immutable: a
// change after creation is reported in the Ready condition, not applied.
type StorageSpec struct {
	// MetadataSize is the size of the metadata store volume
	// (mounted at /data/store/metadata).
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$`
	// +required
	MetadataSize string `json:"metadataSize"`

	// ContentSize is the size of the local block/content store volume
	// (mounted at /data/store/block, as the upstream operator mounts it; a
	// server the hook created before keeps /data/store/content). Omit it for
	// shares backed only by S3.
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$`
	// +optional
	ContentSize string `json:"contentSize,omitempty"`

	// ControlPlaneSize is the size of the control-plane volume holding the
	// SQLite database (mounted at /data/controlplane).
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$`
	// +kubebuilder:default="1Gi"
	// +optional
	ControlPlaneSize string `json:"controlPlaneSize,omitempty"`

	// StorageClassName of the volumes; the cluster's default when unset.
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
}

// DatabaseSpec selects the control-plane database.
// +kubebuilder:validation:XValidation:rule="self.type != 'postgres' || has(self.postgresSecretRef)",message="database.type postgres needs database.postgresSecretRef"
type DatabaseSpec struct {
	// Type is sqlite (single node, on the control-plane volume) or postgres.
	// +kubebuilder:validation:Enum=sqlite;postgres
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:default=sqlite
	// +optional
	Type string `json:"type,omitempty"`

	// SQLite configures the SQLite database.
	// +optional
	SQLite *SQLiteSpec `json:"sqlite,omitempty"`

	// PostgresSecretRef names a Secret in the DittoServer's namespace with the
	// keys host, database, user, password and, optionally, port and sslmode
	// (DittoFS's database.postgres settings), or with a connection string
	// under key they are derived from. When set, DittoFS runs on Postgres
	// whatever type says, as with the upstream operator.
	// +optional
	PostgresSecretRef *PostgresSecretReference `json:"postgresSecretRef,omitempty"`

	// AllowControlPlaneReset permits changing type, sqlite.path or
	// postgresSecretRef once DittoFS runs. Such a change starts DittoFS on
	// another control-plane database, without the users, shares and
	// adapters of the one it used: set it in the change that means it, and
	// remove it afterwards.
	// +optional
	AllowControlPlaneReset bool `json:"allowControlPlaneReset,omitempty"`
}

// SecretReference names a Secret in the DittoServer's namespace. (Bounded,
// unlike corev1.LocalObjectReference, so that CEL rules may compare it.)
type SecretReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
}

// PostgresSecretReference names the Secret of the Postgres connection. It
// has the upstream operator's shape (a SecretKeySelector). DittoFS takes no
// connection string, only the settings host, port, database, user,
// password and sslmode: the Secret's keys of those names, or, when it lacks
// any of host, database, user and password, what the hook derives from the
// connection string under key.
type PostgresSecretReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// Key of the Secret holding a libpq connection string (a
	// postgres:// URL or key=value pairs), read when the Secret lacks any of
	// host, database, user and password. Default connection-string, as in
	// the upstream operator's docs.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Key string `json:"key,omitempty"`

	// Optional is accepted for the upstream operator's CRs and not read.
	// +optional
	Optional *bool `json:"optional,omitempty"`
}

// SQLiteSpec configures the SQLite control-plane database.
type SQLiteSpec struct {
	// Path of the database file; it must live on the control-plane volume.
	// +kubebuilder:default="/data/controlplane/controlplane.db"
	// +kubebuilder:validation:Pattern=`^/data/controlplane/.+`
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Path string `json:"path,omitempty"`
}

// ControlPlaneSpec configures DittoFS's REST API.
// +kubebuilder:validation:XValidation:rule="!has(self.clientCASecretName) || has(self.certSecretName)",message="controlPlane.clientCASecretName needs controlPlane.certSecretName: mutual TLS needs DittoFS to serve TLS"
type ControlPlaneSpec struct {
	// Port of the REST API.
	// +kubebuilder:default=8080
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port int32 `json:"port,omitempty"`

	// TLS makes the hook call the API over https. Alone, DittoFS still
	// serves plain HTTP (TLS terminated in front of it, by a mesh) and the
	// hook trusts the system roots; certSecretName implies it.
	// +optional
	TLS bool `json:"tls,omitempty"`

	// CertSecretName names a kubernetes.io/tls Secret (tls.crt, tls.key and
	// ca.crt, as cert-manager writes it): DittoFS serves its API over TLS
	// with it, and the hook trusts only its ca.crt (the system roots when it
	// has none). The certificate must name <name>-api.<namespace>.svc.cluster.local.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	CertSecretName string `json:"certSecretName,omitempty"`

	// ClientCASecretName names a Secret whose ca.crt DittoFS requires client
	// certificates to chain to (mutual TLS). The hook presents its own
	// client certificate (its --dittofs-client-cert-file), which that CA must
	// have signed. Needs certSecretName.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ClientCASecretName string `json:"clientCASecretName,omitempty"`
}

// IdentitySpec configures API tokens, the bootstrap administrator and the
// directory services DittoFS authenticates file-protocol users against.
type IdentitySpec struct {
	// Type of the identity store: memory, the upstream operator's only value
	// (which it never reads either).
	// +kubebuilder:validation:Enum=memory
	// +kubebuilder:default=memory
	// +optional
	Type string `json:"type,omitempty"`

	// JWT configures the API's signing secret and token lifetimes.
	// +optional
	JWT *JWTSpec `json:"jwt,omitempty"`

	// Admin configures the bootstrap administrator.
	// +optional
	Admin *AdminSpec `json:"admin,omitempty"`

	// LDAP configures DittoFS's LDAP/Active Directory identity provider.
	// +optional
	LDAP *LDAPSpec `json:"ldap,omitempty"`

	// Kerberos configures Kerberos for NFSv4 (RPCSEC_GSS) and SMB.
	// +optional
	Kerberos *KerberosSpec `json:"kerberos,omitempty"`
}

// LDAPSpec configures DittoFS's LDAP/Active Directory identity provider (its
// ldap: configuration). The bind password reaches DittoFS through the
// environment (DITTOFS_LDAP_BIND_PASSWORD), never through the ConfigMap.
type LDAPSpec struct {
	// Enabled turns the provider on.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// URL of the directory: ldaps://host:636, or ldap://host:389 with
	// startTLS (or allowPlaintext).
	// +kubebuilder:validation:Pattern=`^ldaps?://.+`
	// +kubebuilder:validation:MaxLength=1024
	// +required
	URL string `json:"url"`

	// StartTLS upgrades an ldap:// connection to TLS.
	// +optional
	StartTLS bool `json:"startTLS,omitempty"`

	// AllowPlaintext permits binding over an unencrypted connection.
	// +optional
	AllowPlaintext bool `json:"allowPlaintext,omitempty"`

	// BaseDN is the search base ("DC=example,DC=com").
	// +kubebuilder:validation:MaxLength=1024
	// +required
	BaseDN string `json:"baseDN"`

	// BindDN is the service account's distinguished name.
	// +kubebuilder:validation:MaxLength=1024
	// +required
	BindDN string `json:"bindDN"`

	// BindPasswordSecretRef names the key holding the bind password. A
	// rotated password restarts DittoFS, which reads it at start.
	// +optional
	BindPasswordSecretRef *corev1.SecretKeySelector `json:"bindPasswordSecretRef,omitempty"`

	// UserAttr is the attribute matched against a user name (DittoFS's
	// default sAMAccountName).
	// +kubebuilder:validation:MaxLength=256
	// +optional
	UserAttr string `json:"userAttr,omitempty"`

	// Realm is the Active Directory realm ("EXAMPLE.COM").
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Realm string `json:"realm,omitempty"`

	// Idmap derives UIDs and GIDs: rfc2307 (DittoFS's default) or rid.
	// +kubebuilder:validation:Enum=rfc2307;rid
	// +optional
	Idmap string `json:"idmap,omitempty"`

	// NestedGroups resolves nested group membership.
	// +optional
	NestedGroups bool `json:"nestedGroups,omitempty"`

	// CACertFile is a path inside the pod of a CA bundle for the
	// directory's certificate. The pod mounts nothing for it: it must be in
	// the image.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	CACertFile string `json:"caCertFile,omitempty"`

	// InsecureSkipVerify disables the verification of the directory's
	// certificate (lab use only).
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// KerberosSpec configures DittoFS's Kerberos provider (its kerberos:
// configuration). The keytab is mounted from a Secret, readable by
// DittoFS's group only (mode 0440), at /kerberos/dittofs.keytab.
// +kubebuilder:validation:XValidation:rule="!has(self.enabled) || !self.enabled || (has(self.servicePrincipal) && has(self.keytabSecretRef))",message="identity.kerberos.enabled needs servicePrincipal and keytabSecretRef"
type KerberosSpec struct {
	// Enabled turns the provider on; when false DittoFS gets no kerberos
	// section at all.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// ServicePrincipal is the service's principal,
	// service/host@REALM ("nfs/server.example.com@EXAMPLE.COM").
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	ServicePrincipal string `json:"servicePrincipal,omitempty"`

	// Realm; DittoFS derives it from servicePrincipal when empty.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Realm string `json:"realm,omitempty"`

	// NetBIOSDomain is the short domain name SMB advertises ("CONTOSO").
	// +kubebuilder:validation:MaxLength=256
	// +optional
	NetBIOSDomain string `json:"netbiosDomain,omitempty"`

	// DNSDomain is the DNS domain SMB advertises (the realm in lower case
	// when empty).
	// +kubebuilder:validation:MaxLength=256
	// +optional
	DNSDomain string `json:"dnsDomain,omitempty"`

	// KeytabSecretRef names the key holding the service keytab.
	// +optional
	KeytabSecretRef *corev1.SecretKeySelector `json:"keytabSecretRef,omitempty"`

	// Krb5ConfSecretRef names a key holding a krb5.conf, mounted at
	// /kerberos-krb5/krb5.conf.
	// +optional
	Krb5ConfSecretRef *corev1.SecretKeySelector `json:"krb5ConfSecretRef,omitempty"`

	// Krb5Conf is the path of a krb5.conf in the image, when
	// krb5ConfSecretRef is not set (DittoFS's default /etc/krb5.conf).
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Krb5Conf string `json:"krb5Conf,omitempty"`

	// MachineAccount configures an Active Directory machine account, for
	// NTLM pass-through to a domain controller (NETLOGON).
	// +optional
	MachineAccount *MachineAccountSpec `json:"machineAccount,omitempty"`
}

// MachineAccountSpec configures an Active Directory machine account. Its
// password reaches DittoFS through the environment
// (DITTOFS_KERBEROS_MACHINE_ACCOUNT_SECRET); its keytab is mounted mode
// 0440 at /kerberos-machine/machine.keytab.
// +kubebuilder:validation:XValidation:rule="!has(self.enabled) || !self.enabled || (has(self.accountName) && (has(self.secretRef) || has(self.keytabSecretRef)))",message="identity.kerberos.machineAccount.enabled needs accountName and secretRef or keytabSecretRef"
type MachineAccountSpec struct {
	// Enabled turns NETLOGON pass-through on.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// AccountName is the machine account ("DITTOFS$").
	// +kubebuilder:validation:MaxLength=256
	// +optional
	AccountName string `json:"accountName,omitempty"`

	// SecretRef names the key holding the account's password.
	// +optional
	SecretRef *corev1.SecretKeySelector `json:"secretRef,omitempty"`

	// KeytabSecretRef names the key holding the account's keytab.
	// +optional
	KeytabSecretRef *corev1.SecretKeySelector `json:"keytabSecretRef,omitempty"`

	// DCAddress lists domain controllers (host or host:port).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	DCAddress []string `json:"dcAddress,omitempty"`
}

// JWTSpec configures DittoFS's API tokens.
type JWTSpec struct {
	// SecretRef names a key holding the signing secret (at least 32
	// characters). When unset the hook generates <name>-jwt-secret once.
	// +optional
	SecretRef *corev1.SecretKeySelector `json:"secretRef,omitempty"`

	// AccessTokenDuration is the lifetime of an access token ("15m").
	// +kubebuilder:default="15m"
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +optional
	AccessTokenDuration string `json:"accessTokenDuration,omitempty"`

	// RefreshTokenDuration is the lifetime of a refresh token ("168h").
	// +kubebuilder:default="168h"
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +optional
	RefreshTokenDuration string `json:"refreshTokenDuration,omitempty"`
}

// AdminSpec configures the bootstrap administrator. DittoFS reads the
// password on its first start only; the hook uses it to create its own
// least-privileged operator account.
type AdminSpec struct {
	// Username of the bootstrap administrator. DittoFS v0.29.0 always
	// creates it as "admin", whatever its configuration says, so "admin" is
	// the only value (the field stays for the upstream operator's CRs).
	// +kubebuilder:default=admin
	// +kubebuilder:validation:XValidation:rule="self == 'admin'",message="DittoFS always names its bootstrap administrator admin; identity.admin.username can only be admin"
	// +optional
	Username string `json:"username,omitempty"`

	// PasswordSecretRef names a key holding the administrator's password in
	// plain text. When unset the hook generates
	// <name>-admin-bootstrap-credentials once.
	// +optional
	PasswordSecretRef *corev1.SecretKeySelector `json:"passwordSecretRef,omitempty"`
}

// AdapterDiscoverySpec configures adapter discovery.
type AdapterDiscoverySpec struct {
	// PollingInterval between two questions to DittoFS, as a duration ("30s",
	// at least 5s). While DittoFS fails to answer, the hook waits longer
	// (doubling, at most 5 minutes).
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('5s')",message="pollingInterval must be at least 5s"
	// +optional
	PollingInterval string `json:"pollingInterval,omitempty"`
}

// AdapterServicesSpec shapes the Services of the protocol adapters.
// +kubebuilder:validation:XValidation:rule="!has(self.overrides) || self.overrides.all(k, k == 'nfs' || (!has(self.overrides[k].udp) && !has(self.overrides[k].portmapper)))",message="udp and portmapper exist only for the nfs adapter"
type AdapterServicesSpec struct {
	// Type of every adapter Service.
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	// +kubebuilder:default=LoadBalancer
	// +optional
	Type corev1.ServiceType `json:"type,omitempty"`

	// Annotations of every adapter Service (load balancer settings).
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// Overrides per adapter type ("nfs", "smb").
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$'))",message="override keys are adapter types: lower-case letters, digits and dashes"
	// +optional
	Overrides map[string]AdapterServiceOverride `json:"overrides,omitempty"`
}

// AdapterServiceOverride shapes the Service of one adapter type.
type AdapterServiceOverride struct {
	// Type of this adapter's Service, instead of adapterServices.type.
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	// +optional
	Type corev1.ServiceType `json:"type,omitempty"`

	// Annotations added to adapterServices.annotations (these win).
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// LoadBalancerClass of this adapter's Service. Immutable once created.
	// +optional
	LoadBalancerClass *string `json:"loadBalancerClass,omitempty"`

	// LoadBalancerSourceRanges restricts which clients a cloud load balancer admits.
	// +optional
	// +listType=atomic
	LoadBalancerSourceRanges []string `json:"loadBalancerSourceRanges,omitempty"`

	// ExternalTrafficPolicy of this adapter's Service (Local keeps client addresses).
	// +kubebuilder:validation:Enum=Cluster;Local
	// +optional
	ExternalTrafficPolicy corev1.ServiceExternalTrafficPolicy `json:"externalTrafficPolicy,omitempty"`

	// NodePort pins the node port of the adapter's main port, for clients that
	// need a stable address on clusters without load balancers.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	NodePort *int32 `json:"nodePort,omitempty"`

	// UDP (nfs only) also exposes the adapter's port over UDP, for NLM, NSM
	// and MOUNT over UDP, through a second Service <name>-adapter-nfs-udp.
	// +optional
	UDP *bool `json:"udp,omitempty"`

	// Portmapper (nfs only) also exposes DittoFS's portmapper on port 10111
	// (TCP, and UDP when udp is set).
	// +optional
	Portmapper *bool `json:"portmapper,omitempty"`
}

// ServiceSpec shapes the control-plane API Service.
type ServiceSpec struct {
	// Type of the API Service.
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	// +kubebuilder:default=ClusterIP
	// +optional
	Type corev1.ServiceType `json:"type,omitempty"`

	// Annotations of the API Service.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// NetworkPolicySpec controls the NetworkPolicies the hook creates: one
// baseline policy admitting the API, and one per running adapter.
type NetworkPolicySpec struct {
	// Enabled creates the NetworkPolicies. Turn it off on clusters whose
	// network plugin does not enforce NetworkPolicies.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// APIFrom lists who may reach the API port; anyone when empty. The hook
	// itself must be among them, or it cannot discover adapters.
	// +optional
	// +listType=atomic
	APIFrom []networkingv1.NetworkPolicyPeer `json:"apiFrom,omitempty"`

	// AdapterFrom lists who may reach the adapters' ports; anyone when empty.
	// +optional
	// +listType=atomic
	AdapterFrom []networkingv1.NetworkPolicyPeer `json:"adapterFrom,omitempty"`

	// MetricsFrom lists who may reach the metrics port (metrics.enabled);
	// anyone when empty.
	// +optional
	// +listType=atomic
	MetricsFrom []networkingv1.NetworkPolicyPeer `json:"metricsFrom,omitempty"`
}

// LoggingSpec configures DittoFS's logs.
type LoggingSpec struct {
	// Level of DittoFS's logs.
	// +kubebuilder:validation:Enum=DEBUG;INFO;WARN;ERROR
	// +kubebuilder:default=INFO
	// +optional
	Level string `json:"level,omitempty"`

	// Format of DittoFS's logs.
	// +kubebuilder:validation:Enum=text;json
	// +kubebuilder:default=json
	// +optional
	Format string `json:"format,omitempty"`

	// Output is stdout, stderr or a file. The pod's root file system is
	// read-only: a file must lie on a volume, under /data/ (kept) or /tmp/
	// (lost when the pod restarts).
	// +kubebuilder:default=stdout
	// +kubebuilder:validation:Pattern=`^(stdout|stderr|/(data|tmp)/[^/].*)$`
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Output string `json:"output,omitempty"`
}

// MetricsSpec turns on DittoFS's Prometheus endpoint (its metrics:
// configuration), on a listener of its own.
// +kubebuilder:validation:XValidation:rule="!has(self.serviceMonitor) || !has(self.serviceMonitor.enabled) || !self.serviceMonitor.enabled || (has(self.enabled) && self.enabled)",message="metrics.serviceMonitor.enabled needs metrics.enabled"
type MetricsSpec struct {
	// Enabled serves the metrics, with a container port metrics and the
	// Service <name>-metrics (annotated prometheus.io/scrape).
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// Port of the metrics listener and of the Service.
	// +kubebuilder:default=9090
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port int32 `json:"port,omitempty"`

	// Path of the metrics.
	// +kubebuilder:default="/metrics"
	// +kubebuilder:validation:Pattern=`^/[!-~]*$`
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Path string `json:"path,omitempty"`

	// BearerTokenSecret names a key holding a token scrapers must present
	// (DittoFS's auth: token); mounted at /metrics-token/token.
	// +optional
	BearerTokenSecret *corev1.SecretKeySelector `json:"bearerTokenSecret,omitempty"`

	// ServiceMonitor for prometheus-operator. It needs the ServiceMonitor
	// child type (manifests/components/servicemonitor, or the chart's
	// metacontroller.childTypes.serviceMonitor); without it, ConfigReady
	// says so.
	// +optional
	ServiceMonitor *ServiceMonitorSpec `json:"serviceMonitor,omitempty"`
}

// ServiceMonitorSpec shapes the ServiceMonitor <name>-metrics.
type ServiceMonitorSpec struct {
	// Enabled creates the ServiceMonitor.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// Interval between scrapes ("30s"); Prometheus's default when empty.
	// +kubebuilder:validation:Pattern=`^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$`
	// +optional
	Interval string `json:"interval,omitempty"`

	// Labels of the ServiceMonitor, for a Prometheus serviceMonitorSelector
	// (the hook's own labels win).
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
}

// PerconaSpec runs the control-plane database on a PerconaPGCluster, as the
// upstream operator does, and wires DittoFS to it (from the Secret
// <name>-postgres-pguser-dittofs that Percona writes). The PerconaPGCluster
// is created once and never rewritten: its upgrades are Percona's.
// Backups without a bucket or an endpoint are refused here, as upstream's
// validating webhook refuses them: pgBackRest would be rendered with empty
// values and fail inside the PerconaPGCluster, where nobody looks.
// +kubebuilder:validation:XValidation:rule="!(has(self.enabled) && self.enabled && has(self.backup) && has(self.backup.enabled) && self.backup.enabled) || (has(self.backup.bucket) && size(self.backup.bucket) > 0)",message="percona.backup.bucket is required when percona.backup.enabled is true"
// +kubebuilder:validation:XValidation:rule="!(has(self.enabled) && self.enabled && has(self.backup) && has(self.backup.enabled) && self.backup.enabled) || (has(self.backup.endpoint) && size(self.backup.endpoint) > 0)",message="percona.backup.endpoint is required when percona.backup.enabled is true"
type PerconaSpec struct {
	// Enabled creates the PerconaPGCluster <name>-postgres and runs DittoFS
	// on it.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// DeleteWithServer is accepted for the upstream operator's CRs. The
	// PerconaPGCluster is always deleted with the DittoServer (a child is);
	// Percona keeps its volumes and user Secrets unless its own
	// percona.com/delete-pvc finalizer is set, so a DittoServer created
	// again with the same name finds its database.
	// +optional
	DeleteWithServer bool `json:"deleteWithServer,omitempty"`

	// Replicas of the Postgres instances.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=5
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// StorageSize of each instance's data volume.
	// +kubebuilder:default="10Gi"
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$`
	// +optional
	StorageSize string `json:"storageSize,omitempty"`

	// StorageClassName of the data volumes.
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`

	// DatabaseName of DittoFS's database (its user is dittofs).
	// +kubebuilder:default=dittofs
	// +kubebuilder:validation:Pattern=`^[a-z_][a-z0-9_$]{0,62}$`
	// +optional
	DatabaseName string `json:"databaseName,omitempty"`

	// Backup configures pgBackRest backups to S3.
	// +optional
	Backup *PerconaBackupSpec `json:"backup,omitempty"`
}

// PerconaBackupSpec configures pgBackRest backups of the PerconaPGCluster.
type PerconaBackupSpec struct {
	// Enabled turns backups on.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// CredentialsSecretRef names a Secret with pgBackRest's S3 credentials.
	// +optional
	CredentialsSecretRef *SecretReference `json:"credentialsSecretRef,omitempty"`

	// Bucket of the backups.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Bucket string `json:"bucket,omitempty"`

	// Endpoint of an S3-compatible store.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// Region of the bucket.
	// +kubebuilder:default=eu-west-1
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Region string `json:"region,omitempty"`

	// FullSchedule is the cron schedule of full backups.
	// +kubebuilder:default="0 2 * * *"
	// +kubebuilder:validation:MaxLength=128
	// +optional
	FullSchedule string `json:"fullSchedule,omitempty"`

	// IncrSchedule is the cron schedule of incremental backups.
	// +kubebuilder:default="0 * * * *"
	// +kubebuilder:validation:MaxLength=128
	// +optional
	IncrSchedule string `json:"incrSchedule,omitempty"`

	// RetentionDays is accepted for the upstream operator's CRs, which
	// never renders it either: pgBackRest's retention is Percona's setting.
	// +kubebuilder:default=7
	// +kubebuilder:validation:Minimum=1
	// +optional
	RetentionDays *int32 `json:"retentionDays,omitempty"`
}

// SnapshotPolicySpec is one share's scheduled snapshots in DittoFS.
type SnapshotPolicySpec struct {
	// Share is the share's name ("/archive"; "archive" is the same share).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +required
	Share string `json:"share"`

	// Interval between snapshots: a Go duration ("24h") or @hourly, @daily,
	// @weekly.
	// +kubebuilder:validation:Pattern=`^(@(hourly|daily|weekly|HOURLY|DAILY|WEEKLY)|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$`
	// +required
	Interval string `json:"interval"`

	// KeepLast keeps the newest N scheduled snapshots (0: no bound).
	// +kubebuilder:validation:Minimum=0
	// +optional
	KeepLast *int32 `json:"keepLast,omitempty"`

	// TTL prunes scheduled snapshots older than this Go duration (empty: no
	// bound).
	// +kubebuilder:validation:Pattern=`^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$`
	// +optional
	TTL string `json:"ttl,omitempty"`

	// Enabled schedules the snapshots; true when omitted.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// NamePrefix of the scheduled snapshots' names (DittoFS's default when
	// empty).
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]{0,64}$`
	// +optional
	NamePrefix string `json:"namePrefix,omitempty"`
}

// DittoServerStatus is what the hook last observed. Every field is a pure
// function of what it saw, so an unchanged server yields an unchanged status
// and Metacontroller has nothing to write.
type DittoServerStatus struct {
	// ObservedGeneration is the generation Metacontroller last synced.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Phase is the upstream operator's summary: Pending, Running (the
	// replica is ready), Stopped (replicas 0) or Deleting.
	// +kubebuilder:validation:Enum=Pending;Running;Failed;Stopped;Deleting
	// +optional
	Phase string `json:"phase,omitempty"`

	// Replicas is spec.replicas.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// ReadyReplicas and AvailableReplicas are the StatefulSet's.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// +optional
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`

	// ConfigHash is the pod template's dittofs.io/config-hash: DittoFS's
	// configuration and the versions of the Secrets it reads at start. The
	// pod restarts when it changes.
	// +optional
	ConfigHash string `json:"configHash,omitempty"`

	// PerconaClusterName is the PerconaPGCluster's name (percona.enabled).
	// +optional
	PerconaClusterName string `json:"perconaClusterName,omitempty"`

	// Conditions: ConfigReady, DatabaseReady (Postgres only), Available,
	// Progressing, Authenticated, AdaptersDiscovered, AdaptersReady,
	// SnapshotPoliciesApplied (with snapshot policies) and Ready, which
	// folds all but SnapshotPoliciesApplied.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// SnapshotPolicies records what the hook last applied to DittoFS, so
	// that it writes them again only when the spec changes.
	// +optional
	SnapshotPolicies *SnapshotPoliciesStatus `json:"snapshotPolicies,omitempty"`

	// Adapters is the last adapter list DittoFS answered successfully, with
	// the address of each adapter's Service. While DittoFS cannot be asked,
	// the hook keeps the adapter Services as this list describes them.
	// +optional
	// +listType=map
	// +listMapKey=type
	Adapters []AdapterStatus `json:"adapters,omitempty"`
}

// SnapshotPoliciesStatus is what the hook last applied of
// spec.snapshotPolicies.
type SnapshotPoliciesStatus struct {
	// AppliedHash digests the policies DittoFS holds since the last complete
	// apply ("" for none); an apply that left something undone records none.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	AppliedHash string `json:"appliedHash,omitempty"`

	// Shares whose policies the hook answers for: a share dropped from the
	// spec loses its policy; a policy on any other share is never touched.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=512
	// +kubebuilder:validation:items:MaxLength=1024
	Shares []string `json:"shares,omitempty"`

	// FailedHash digests the policies whose last apply failed; FailedSince
	// is when applying them first failed, RetryAfter when the hook tries
	// again. Every apply needs DittoFS's administrator password, so a
	// failure (a share not made yet, a refused password) is retried with
	// backoff, the wait doubling from the polling interval up to 30
	// minutes, never at every poll; a spec change of the policies is
	// applied at once.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	FailedHash string `json:"failedHash,omitempty"`
	// +optional
	FailedSince *metav1.Time `json:"failedSince,omitempty"`
	// +optional
	RetryAfter *metav1.Time `json:"retryAfter,omitempty"`
}

// AdapterStatus describes one protocol adapter as DittoFS reported it.
type AdapterStatus struct {
	// Type of the adapter ("nfs", "smb").
	// +required
	Type string `json:"type"`

	// Port the adapter listens on (the type's default when DittoFS said 0).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +required
	Port int32 `json:"port"`

	// Enabled is DittoFS's setting; only enabled adapters get a Service.
	// +required
	Enabled bool `json:"enabled"`

	// Running says whether DittoFS reported the adapter running.
	// +required
	Running bool `json:"running"`

	// Health is DittoFS's own health check of the adapter, as it reports
	// it: healthy, degraded, unhealthy, unknown or disabled; absent when
	// DittoFS did not say. A degraded adapter keeps its Service and address.
	// +kubebuilder:validation:Enum=healthy;degraded;unhealthy;unknown;disabled
	// +optional
	Health string `json:"health,omitempty"`

	// Service is the name of the adapter's Service, when it has one.
	// +optional
	Service string `json:"service,omitempty"`

	// Endpoints are the addresses clients use: load balancer ingress, node
	// port and cluster IP, as host:port.
	// +optional
	// +listType=atomic
	Endpoints []string `json:"endpoints,omitempty"`
}

// DittoServer is a DittoFS file server run by the dittofs-hook through
// Metacontroller.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 52 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS-1035 label of at most 52 characters: the StatefulSet of that name labels its pod with the name and a 10-character revision hash, in at most 63"
// +kubebuilder:resource:shortName=ditto;dittofs,categories=dittofs
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.spec.replicas`
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Available",type=integer,JSONPath=`.status.availableReplicas`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Condition",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="NFS",type=string,JSONPath=`.status.adapters[?(@.type=="nfs")].endpoints[0]`
// +kubebuilder:printcolumn:name="SMB",type=string,JSONPath=`.status.adapters[?(@.type=="smb")].endpoints[0]`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DittoServer struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec DittoServerSpec `json:"spec"`
	// +optional
	Status DittoServerStatus `json:"status,omitempty"`
}
