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
// +kubebuilder:validation:XValidation:rule="(has(self.database) && has(self.database.allowControlPlaneReset) && self.database.allowControlPlaneReset) || ((has(self.database) && has(self.database.type) ? self.database.type : 'sqlite') == (has(oldSelf.database) && has(oldSelf.database.type) ? oldSelf.database.type : 'sqlite') && ((has(self.database) && has(self.database.type) ? self.database.type : 'sqlite') != 'sqlite' || (has(self.database) && has(self.database.sqlite) && has(self.database.sqlite.path) ? self.database.sqlite.path : '/data/controlplane/controlplane.db') == (has(oldSelf.database) && has(oldSelf.database.sqlite) && has(oldSelf.database.sqlite.path) ? oldSelf.database.sqlite.path : '/data/controlplane/controlplane.db')) && ((has(self.database) && has(self.database.type) ? self.database.type : 'sqlite') != 'postgres' || ((has(self.database) && has(self.database.postgresSecretRef)) == (has(oldSelf.database) && has(oldSelf.database.postgresSecretRef)) && (!(has(self.database) && has(self.database.postgresSecretRef)) || self.database.postgresSecretRef.name == oldSelf.database.postgresSecretRef.name))))",message="changing database.type, database.sqlite.path or database.postgresSecretRef starts DittoFS on another control-plane database, without its users, shares and adapters; set database.allowControlPlaneReset to true in the same change if that is what you mean"
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
	MetadataSize string `json:"metadataSize"`

	// ContentSize is the size of the local block/content store volume
	// (mounted at /data/store/content). Omit it for shares backed only by S3.
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
	// keys host, port, database, user, password and, optionally, sslmode
	// (DittoFS's database.postgres settings). Used when type is postgres.
	// +optional
	PostgresSecretRef *SecretReference `json:"postgresSecretRef,omitempty"`

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
	Name string `json:"name"`
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
type ControlPlaneSpec struct {
	// Port of the REST API.
	// +kubebuilder:default=8080
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port int32 `json:"port,omitempty"`
}

// IdentitySpec configures API tokens and the bootstrap administrator.
type IdentitySpec struct {
	// JWT configures the API's signing secret and token lifetimes.
	// +optional
	JWT *JWTSpec `json:"jwt,omitempty"`

	// Admin configures the bootstrap administrator.
	// +optional
	Admin *AdminSpec `json:"admin,omitempty"`
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
}

// DittoServerStatus is what the hook last observed. Every field is a pure
// function of what it saw, so an unchanged server yields an unchanged status
// and Metacontroller has nothing to write.
type DittoServerStatus struct {
	// ObservedGeneration is the generation Metacontroller last synced.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Available, Authenticated, AdaptersDiscovered, AdaptersReady
	// and Ready, which folds them.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Adapters is the last adapter list DittoFS answered successfully, with
	// the address of each adapter's Service. While DittoFS cannot be asked,
	// the hook keeps the adapter Services as this list describes them.
	// +optional
	// +listType=map
	// +listMapKey=type
	Adapters []AdapterStatus `json:"adapters,omitempty"`
}

// AdapterStatus describes one protocol adapter as DittoFS reported it.
type AdapterStatus struct {
	// Type of the adapter ("nfs", "smb").
	Type string `json:"type"`

	// Port the adapter listens on (the type's default when DittoFS said 0).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// Enabled is DittoFS's setting; only enabled adapters get a Service.
	Enabled bool `json:"enabled"`

	// Running says whether DittoFS reported the adapter running.
	Running bool `json:"running"`

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
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 32 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS-1035 label of at most 32 characters, so that every child name stays valid"
// +kubebuilder:resource:shortName=ditto;dittofs,categories=dittofs
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="NFS",type=string,JSONPath=`.status.adapters[?(@.type=="nfs")].endpoints[0]`
// +kubebuilder:printcolumn:name="SMB",type=string,JSONPath=`.status.adapters[?(@.type=="smb")].endpoints[0]`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DittoServer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   DittoServerSpec   `json:"spec"`
	Status DittoServerStatus `json:"status,omitempty"`
}
