package hook

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
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

func statefulSetName(cr string) string     { return cr }
func headlessServiceName(cr string) string { return cr + "-headless" }
func apiServiceName(cr string) string      { return cr + "-api" }
func configMapName(cr string) string       { return cr + "-config" }
func baselinePolicyName(cr string) string  { return cr + "-baseline" }
func jwtSecretName(cr string) string       { return cr + "-jwt-secret" }
func adminSecretName(cr string) string     { return cr + "-admin-bootstrap-credentials" }
func operatorSecretName(cr string) string  { return cr + "-operator-credentials" }
func metricsServiceName(cr string) string  { return cr + "-metrics" }
func serviceMonitorName(cr string) string  { return cr + "-metrics" }
func perconaClusterName(cr string) string  { return cr + "-postgres" }

// perconaUserSecretName is the Secret Percona writes for the user dittofs
// of the cluster (<cluster>-pguser-<user>).
func perconaUserSecretName(cr string) string {
	return perconaClusterName(cr) + "-pguser-" + perconaUser
}
func adapterPrefix(cr string) string       { return cr + "-adapter-" }
func adapterName(cr, typ string) string    { return adapterPrefix(cr) + dns1035(typ) }
func adapterUDPName(cr, typ string) string { return adapterName(cr, typ) + "-udp" }
func isAdapterChild(cr, name string) bool  { return strings.HasPrefix(name, adapterPrefix(cr)) }

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
