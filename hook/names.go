package hook

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Names, label keys and fixed values, in one place. The child names are those
// of the upstream DittoFS operator, so that a cluster can move between the two.

const (
	// Group, Version and Kind of the parent.
	Group      = "dittofs.dittofs.com"
	Version    = "v1alpha1"
	Kind       = "DittoServer"
	APIVersion = Group + "/" + Version

	// LabelName and LabelInstance select the DittoFS pod. They never change
	// for a given DittoServer, so Services and policies keep selecting the
	// same pod whatever the adapters do.
	LabelName     = "app.kubernetes.io/name"
	LabelInstance = "app.kubernetes.io/instance"
	// LabelComponent says what a child is for (server, api, adapter, …).
	LabelComponent = "app.kubernetes.io/component"
	// LabelManagedBy names the hook as the manager of every child.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelAdapterType marks adapter Services and NetworkPolicies with the
	// adapter type they expose.
	LabelAdapterType = "dittofs.io/adapter-type"

	// annotationPostgresSource names, on a Secret the hook derived from a
	// connection string, the user's Secret it was derived from.
	annotationPostgresSource = "dittofs.io/postgres-secret"

	appName   = "dittofs"
	managedBy = "dittofs-hook"

	// lastAppliedAnnotation is where Metacontroller's dynamic-apply keeps the
	// object the hook last returned.
	lastAppliedAnnotation = "metacontroller.k8s.io/last-applied-configuration"

	// OperatorUsername is the DittoFS account the hook creates for itself,
	// with the operator role: it may list adapters and nothing of interest else.
	OperatorUsername = "k8s-operator"

	containerName  = "dittofs"
	configFileName = "config.yaml"
	configDir      = "/config"

	volumeConfig          = "config"
	volumeMetadata        = "metadata"
	volumeContent         = "content"
	volumeControlPlane    = "controlplane"
	volumeTmp             = "tmp"
	volumeTLS             = "tls-cert"
	volumeClientCA        = "tls-client-ca"
	volumeMetricsToken    = "metrics-token"
	volumeKeytab          = "kerberos-keytab"
	volumeKrb5Conf        = "kerberos-krb5"
	volumeMachineKeytab   = "kerberos-machine-keytab"
	mountMetadata         = "/data/store/metadata"
	mountContent          = "/data/store/block"
	mountContentLegacy    = "/data/store/content"
	mountControlPlane     = "/data/controlplane"
	mountTLS              = "/tls"
	mountClientCA         = "/tls-client-ca"
	mountMetricsToken     = "/metrics-token"
	mountKeytab           = "/kerberos"
	mountKrb5Conf         = "/kerberos-krb5"
	mountMachineKeytab    = "/kerberos-machine"
	fileKeytab            = "dittofs.keytab"
	fileKrb5Conf          = "krb5.conf"
	fileMachineKeytab     = "machine.keytab"
	fileMetricsToken      = "token"
	keyTLSCert            = "tls.crt"
	keyTLSKey             = "tls.key"
	keyCA                 = "ca.crt"
	perconaUser           = "dittofs"
	upstreamLabelApp      = "app"
	upstreamLabelInstance = "instance"
	upstreamAppName       = "dittofs-server"

	// Keys of the generated Secrets.
	keyJWTSecret = "jwt-secret"
	keyUsername  = "username"
	keyPassword  = "password"
)

// Child kinds as Metacontroller keys them in a request: <Kind>.<apiVersion>.
const (
	KeyStatefulSet   = "StatefulSet.apps/v1"
	KeyService       = "Service.v1"
	KeyNetworkPolicy = "NetworkPolicy.networking.k8s.io/v1"
	KeyConfigMap     = "ConfigMap.v1"
	KeySecret        = "Secret.v1"
	// The opt-in child types: declared only where their CRDs are installed
	// (manifests/components), so the hook returns such a child only when
	// the request has the key.
	KeyServiceMonitor   = "ServiceMonitor.monitoring.coreos.com/v1"
	KeyPerconaPGCluster = "PerconaPGCluster.pgv2.percona.com/v2"
)

// KeyStorageClass is the related kind of the StorageClasses the spec names
// (cluster-scoped: Metacontroller files them by name alone).
const KeyStorageClass = "StorageClass.storage.k8s.io/v1"

func statefulSetName(cr string) string     { return cr }
func headlessServiceName(cr string) string { return cr + "-headless" }
func apiServiceName(cr string) string      { return cr + "-api" }
func configMapName(cr string) string       { return cr + "-config" }
func baselinePolicyName(cr string) string  { return cr + "-baseline" }
func jwtSecretName(cr string) string       { return cr + "-jwt-secret" }
func adminSecretName(cr string) string     { return cr + "-admin-bootstrap-credentials" }

// legacyAdminSecretName is the upstream operator's name of the admin
// bootstrap Secret before its rename (see adoptedAdminData).
func legacyAdminSecretName(cr string) string { return cr + "-admin-credentials" }
func operatorSecretName(cr string) string    { return cr + "-operator-credentials" }
func metricsServiceName(cr string) string    { return cr + "-metrics" }
func serviceMonitorName(cr string) string    { return cr + "-metrics" }
func perconaClusterName(cr string) string    { return cr + "-postgres" }

// perconaUserSecretName is the Secret Percona writes for the user dittofs
// of the cluster (<cluster>-pguser-<user>).
func perconaUserSecretName(cr string) string {
	return perconaClusterName(cr) + "-pguser-" + perconaUser
}

// derivedPostgresPrefix begins the name of every Secret the hook derives
// from a connection string.
func derivedPostgresPrefix(cr string) string { return cr + "-postgres-conn-" }

func isDerivedPostgresSecret(cr, name string) bool {
	return strings.HasPrefix(name, derivedPostgresPrefix(cr))
}

// derivedPostgresSecretName is <name>-postgres-conn-<hash of the user's
// Secret's UID and resourceVersion>: a new version, a new name (see
// resolvePostgres). At most 52 + 15 + 10 characters, a valid Secret name.
func derivedPostgresSecretName(cr string, src *corev1.Secret) string {
	sum := sha256.Sum256([]byte(string(src.UID) + "/" + src.ResourceVersion + "/" + src.Name))
	return derivedPostgresPrefix(cr) + hex.EncodeToString(sum[:])[:10]
}

// Adapter children are named <cr>-adapter-<type> (Service and
// NetworkPolicy) and <cr>-adapter-<type>-udp (nfs's UDP Service), as the
// upstream operator names them, whenever that fits a Service name (63
// characters). Where it does not (a DittoServer name longer than 47
// characters, or an unknown type's long fragment), the DittoServer name in
// it is replaced by its short form (see shortInstance), and only in that
// name: a name that fits never changes, so every child that exists keeps
// its name whatever the hook's version.
const adapterInfix = "-adapter-"

func adapterName(cr, typ string) string    { return fitAdapterName(cr, dns1035(typ)) }
func adapterUDPName(cr, typ string) string { return fitAdapterName(cr, dns1035(typ)+"-udp") }

func fitAdapterName(cr, rest string) string {
	if n := cr + adapterInfix + rest; len(n) <= maxServiceName {
		return n
	}
	return shortInstance(cr) + adapterInfix + rest
}

// isAdapterChild says whether an observed child's name is one an adapter
// child of this DittoServer may take, in its full or its short form.
func isAdapterChild(cr, name string) bool { return adapterFragment(cr, name) != "" }

// adapterFragment is what follows <cr>-adapter- (or its short form) in an
// adapter child's name: the type's fragment, with -udp for a UDP Service;
// "" for a name that is not an adapter child's.
func adapterFragment(cr, name string) string {
	for _, prefix := range []string{cr + adapterInfix, shortInstance(cr) + adapterInfix} {
		if rest, ok := strings.CutPrefix(name, prefix); ok && rest != "" {
			return rest
		}
	}
	return ""
}

// Name lengths. A DittoServer's name is in the name of every child, and each
// kind of child bounds it differently:
//
//   - The StatefulSet <name> labels its pod with controller-revision-hash:
//     <name>-<hash>, the ControllerRevision's name, whose hash is a 32-bit
//     FNV digest in decimal, up to 10 characters (k8s.io/kubernetes
//     pkg/controller/history: ControllerRevisionName, HashControllerRevision).
//     A label value has at most 63 characters, so a StatefulSet name of 53
//     or more is accepted by the API server and then never gets a pod (the
//     pod is refused, over and over). <name> ≤ 63 - 1 - 10 = 52. This is
//     the binding limit, for both operators: the upstream operator's CRD
//     checks no length (any object name, up to 253), but its StatefulSet
//     is named <name> as well, so no longer DittoServer ever ran there.
//   - The pod <name>-0 (replicas is at most 1) is the pod's hostname, a DNS
//     label: 54 ≤ 63. The PVCs <claim>-<name>-0 (controlplane-, the longest)
//     are DNS subdomains of up to 253: 67.
//   - Services and NetworkPolicies are DNS-1035 labels of up to 63
//     (maxServiceName): <name>-headless and <name>-baseline, the longest
//     fixed suffixes, give 61; <name>-api, -metrics 60; the PerconaPGCluster
//     <name>-postgres 61 (its own operator names its children further).
//     Adapter children are longer (<name>-adapter-<type>[-udp], up to
//     <name> + 30) and are shortened where they would not fit (above).
//   - Secrets and the ConfigMap are DNS subdomains of up to 253: <name>-admin-
//     bootstrap-credentials, the longest, gives 80; an Event <name>.<16 hex> 69.
//   - Label values (app.kubernetes.io/instance, upstream's instance: the
//     name itself) have at most 63.
//
// So every name of at most 52 characters that is a DNS-1035 label (a
// Service name must start with a letter on every Kubernetes before 1.36)
// runs, under either operator; upstream ran none longer. The CRD's rule
// (dittoserver_types.go) says the same.
const (
	maxNameLength  = 52
	maxServiceName = 63
)

// shortInstance is a DittoServer's name as the short part of an adapter
// child's name: its first characters and a hash of the whole name, as
// Kubernetes names generated objects (a readable prefix and a short
// suffix), here deterministic. Short enough that <short>-adapter-<type up to
// 17>-udp fits in maxServiceName: 24 + 1 + 8 = 33, 33 + 9 + 17 + 4 = 63. Two
// names share it only if they share their first 24 characters and 32 bits
// of their SHA-256.
func shortInstance(cr string) string {
	const keep, hashLen = 24, 8
	prefix := cr
	if len(prefix) > keep {
		prefix = strings.TrimRight(prefix[:keep], "-")
	}
	sum := sha256.Sum256([]byte(cr))
	return prefix + "-" + hex.EncodeToString(sum[:])[:hashLen]
}

// adapterChildNames are the names an adapter type's children may take: its
// Service and NetworkPolicy, and for nfs the UDP Service too, whether or not
// the spec asks for it now (it may, any time). No two types may share one.
func adapterChildNames(cr, typ string) []string {
	if typ == "nfs" {
		return []string{adapterName(cr, typ), adapterUDPName(cr, typ)}
	}
	return []string{adapterName(cr, typ)}
}

func selectorLabels(cr string) map[string]string {
	return map[string]string{LabelName: appName, LabelInstance: cr}
}

// upstreamSelectorLabels are the upstream operator's pod selector. A
// StatefulSet it made keeps it (a selector is immutable), and so the hook
// selects the pod with it (see dittoServer.PodSelector).
func upstreamSelectorLabels(cr string) map[string]string {
	return map[string]string{upstreamLabelApp: upstreamAppName, upstreamLabelInstance: cr}
}

// labels are the labels of every child: the pod selector plus what the child
// is for.
func labels(cr, component string) map[string]string {
	l := selectorLabels(cr)
	l[LabelComponent] = component
	l[LabelManagedBy] = managedBy
	return l
}

// adapterLabels are the labels of an adapter type's Services and
// NetworkPolicy.
func adapterLabels(cr, typ string) map[string]string {
	l := labels(cr, "adapter")
	l[LabelAdapterType] = dns1035(typ)
	return l
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// dns1035 turns an adapter type reported by DittoFS into a DNS-1035 label
// fragment usable in a Service name. Known types ("nfs", "smb") pass through
// unchanged. Anything else is lower-cased, stripped to [a-z0-9-], and when it
// had to be changed or is long, suffixed with a short hash of the original so
// that two different types never share a name.
func dns1035(typ string) string {
	clean := strings.Trim(notDNS.ReplaceAllString(strings.ToLower(typ), "-"), "-")
	if clean == typ && len(clean) <= 15 && clean != "" {
		return clean
	}
	sum := sha256.Sum256([]byte(typ))
	if len(clean) > 10 {
		clean = strings.Trim(clean[:10], "-")
	}
	if clean == "" {
		clean = "x"
	}
	return clean + "-" + hex.EncodeToString(sum[:])[:6]
}
