package hook

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// configHashAnnotation rolls the pod when what DittoFS reads only at start
// changes: config.yaml, and the Secrets it reads at start (see
// rolloutSecrets). Adapters are not in config.yaml, so adapter changes never
// restart the pod.
const configHashAnnotation = "dittofs.io/config-hash"

// configHash digests config.yaml and the version (UID and resourceVersion,
// never the data: the annotation is readable by whoever reads the
// StatefulSet) of each Secret DittoFS reads at start, as the related
// objects show them: a rotated Secret restarts DittoFS, an edit of the spec
// that leaves config.yaml as it is does not. A server without such Secrets
// keeps the digest of config.yaml alone, as before they counted.
func configHash(s *dittoServer, configYAML string, obs *observedChildren) string {
	h := sha256.New()
	h.Write([]byte(configYAML))
	// With a Postgres Secret derived from a connection string, the pod
	// reads that one, whose name changes with the version of the user's
	// (see resolvePostgres): its name counts, not the user's Secret, so
	// that losing the user's keeps the pod as it is.
	if s.Database.EnvDerived {
		h.Write([]byte("\x00postgres\x00" + s.Database.EnvSecret))
	}
	for _, name := range rolloutSecrets(s, !s.Database.EnvDerived) {
		version := "absent"
		if sec := obs.related[name]; sec != nil {
			version = string(sec.UID) + "/" + sec.ResourceVersion
		}
		h.Write([]byte("\x00secret\x00" + name + "\x00" + version))
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// rolloutSecrets are the user's Secrets DittoFS reads only when it starts,
// sorted: the JWT signing key, the Postgres connection (the Percona user's
// too), the LDAP bind password, the Kerberos keytabs, krb5.conf and machine
// password, the client CA (DittoFS reads it once), the metrics token. Not
// the administrator's password (read on the first start only: a new one
// changes nothing), not the server certificate (DittoFS reloads it), not
// the Secrets the hook generates (never rewritten).
func rolloutSecrets(s *dittoServer, withPostgres bool) []string {
	var names []string
	if !s.Identity.GeneratedJWTSecret {
		names = append(names, s.Identity.JWTSecret.Name)
	}
	if withPostgres && s.Database.Type == "postgres" && s.Database.PostgresSecret != "" {
		names = append(names, s.Database.PostgresSecret)
	}
	if l := s.LDAP; l != nil && l.BindPasswordSecretRef != nil {
		names = append(names, l.BindPasswordSecretRef.Name)
	}
	if k := s.Kerberos; k != nil {
		for _, ref := range []*corev1.SecretKeySelector{k.KeytabSecretRef, k.Krb5ConfSecretRef} {
			if ref != nil {
				names = append(names, ref.Name)
			}
		}
		if ma := k.MachineAccount; ma != nil && ma.Enabled {
			for _, ref := range []*corev1.SecretKeySelector{ma.SecretRef, ma.KeytabSecretRef} {
				if ref != nil {
					names = append(names, ref.Name)
				}
			}
		}
	}
	if s.TLS.Mutual() {
		names = append(names, s.TLS.ClientCASecret)
	}
	if s.Metrics.Enabled && s.Metrics.Token != nil {
		names = append(names, s.Metrics.Token.Name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// makeStatefulSet renders the DittoFS StatefulSet. Nothing in it depends on
// the adapters. observed is the StatefulSet as the API server has it, or nil.
func makeStatefulSet(s *dittoServer, hash string, observed *appsv1.StatefulSet) *appsv1.StatefulSet {
	podLabels := labels(s.Name, "server")
	maps.Copy(podLabels, s.PodSelector)
	sts := &appsv1.StatefulSet{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: metav1.ObjectMeta{
			Name:   statefulSetName(s.Name),
			Labels: labels(s.Name, "server"),
		},
		Spec: appsv1.StatefulSetSpec{
			Replicas:       ptr.To(s.Pod.Replicas),
			Selector:       &metav1.LabelSelector{MatchLabels: s.PodSelector},
			ServiceName:    headlessServiceName(s.Name),
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      podLabels,
					Annotations: map[string]string{configHashAnnotation: hash},
				},
				Spec: makePodSpec(s, observed),
			},
			VolumeClaimTemplates: makeVolumeClaimTemplates(s),
		},
	}
	if observed != nil && len(observed.Spec.VolumeClaimTemplates) > 0 {
		// Volume claim templates are immutable: different ones would be a 422
		// on every sync. Once created, the stored ones stand (the CRD refuses
		// storage changes; this covers CRs stored before that rule).
		sts.Spec.VolumeClaimTemplates = observed.Spec.VolumeClaimTemplates
	}
	return sts
}

func makePodSpec(s *dittoServer, observed *appsv1.StatefulSet) corev1.PodSpec {
	pod := &s.Pod
	probe := func(path string, period, failures int32) *corev1.Probe {
		p := &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: path, Port: intstr.FromString("api"), Scheme: corev1.URISchemeHTTP,
			}},
			PeriodSeconds:    period,
			TimeoutSeconds:   3,
			FailureThreshold: failures,
		}
		switch {
		case s.TLS.Mutual():
			// The kubelet has no client certificate, and DittoFS refuses
			// a handshake without one, /health included: a TCP probe.
			p.ProbeHandler = corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("api")}}
		case s.TLS.Serves():
			p.HTTPGet.Scheme = corev1.URISchemeHTTPS // the kubelet does not verify it
		}
		return p
	}
	mounts := []corev1.VolumeMount{
		{Name: volumeConfig, MountPath: configDir, ReadOnly: true},
		{Name: volumeMetadata, MountPath: mountMetadata},
	}
	if s.Storage.Content != nil {
		mounts = append(mounts, corev1.VolumeMount{Name: volumeContent, MountPath: contentMountPath(observed)})
	}
	mounts = append(mounts,
		corev1.VolumeMount{Name: volumeControlPlane, MountPath: mountControlPlane},
		corev1.VolumeMount{Name: volumeTmp, MountPath: "/tmp"},
	)
	volumes := []corev1.Volume{
		{Name: volumeConfig, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: configMapName(s.Name)},
		}}},
		{Name: volumeTmp, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	for _, v := range secretVolumes(s) {
		mounts = append(mounts, corev1.VolumeMount{Name: v.name, MountPath: v.mountPath, ReadOnly: true})
		volumes = append(volumes, v.volume())
	}
	// The API port and the metrics port: adapter ports come and go at
	// runtime and must not change the pod template (that would restart
	// DittoFS).
	ports := []corev1.ContainerPort{{Name: "api", ContainerPort: s.APIPort, Protocol: corev1.ProtocolTCP}}
	if s.Metrics.Enabled {
		ports = append(ports, corev1.ContainerPort{Name: "metrics", ContainerPort: s.Metrics.Port, Protocol: corev1.ProtocolTCP})
	}
	container := corev1.Container{
		Name:            containerName,
		Image:           pod.Image,
		ImagePullPolicy: pod.ImagePullPolicy,
		Args:            []string{"start", "--foreground", "--config", configDir + "/" + configFileName},
		Ports:           ports,
		Env:             makeEnv(s),
		StartupProbe:    probe("/health", 2, 60),
		LivenessProbe:   probe("/health", 10, 3),
		ReadinessProbe:  probe("/health/ready", 5, 3),
		Resources:       pod.Resources,
		VolumeMounts:    mounts,
		SecurityContext: pod.SecurityContext,
	}
	return corev1.PodSpec{
		AutomountServiceAccountToken:  ptr.To(false),
		EnableServiceLinks:            ptr.To(false),
		TerminationGracePeriodSeconds: pod.TerminationGracePeriodSeconds,
		SecurityContext:               pod.PodSecurity,
		NodeSelector:                  pod.NodeSelector,
		Tolerations:                   pod.Tolerations,
		PriorityClassName:             pod.PriorityClassName,
		Containers:                    []corev1.Container{container},
		Volumes:                       volumes,
	}
}

// contentMountPath is where the content volume is mounted: /data/store/block,
// as the upstream operator mounts it, unless the observed StatefulSet (one
// the hook made before) mounts it at /data/store/content. DittoFS's block
// stores name their paths (dfsctl store block local add --config
// '{"path":…}'), so a server keeps the path its stores were made under.
func contentMountPath(observed *appsv1.StatefulSet) string {
	if observed != nil {
		for _, c := range observed.Spec.Template.Spec.Containers {
			for _, m := range c.VolumeMounts {
				if c.Name == containerName && m.Name == volumeContent && m.MountPath == mountContentLegacy {
					return mountContentLegacy
				}
			}
		}
	}
	return mountContent
}

// secretVolume is a Secret mounted into DittoFS: whole (items nil), or one
// key as a file.
type secretVolume struct {
	name, secret, mountPath string
	key, file               string
	mode                    *int32
}

// ownerAndGroupRead is 0440: keys and keytabs readable by DittoFS (its user,
// and its group through fsGroup) and no one else.
const ownerAndGroupRead = 0o440

func (v secretVolume) volume() corev1.Volume {
	src := &corev1.SecretVolumeSource{SecretName: v.secret, DefaultMode: v.mode}
	if v.key != "" {
		src.Items = []corev1.KeyToPath{{Key: v.key, Path: v.file}}
	}
	return corev1.Volume{Name: v.name, VolumeSource: corev1.VolumeSource{Secret: src}}
}

// secretVolumes are the Secrets DittoFS reads as files, where the upstream
// operator mounts them.
func secretVolumes(s *dittoServer) []secretVolume {
	var out []secretVolume
	private := ptr.To[int32](ownerAndGroupRead)
	if s.TLS.Serves() {
		out = append(out, secretVolume{name: volumeTLS, secret: s.TLS.CertSecret, mountPath: mountTLS, mode: private})
		if s.TLS.Mutual() {
			out = append(out, secretVolume{name: volumeClientCA, secret: s.TLS.ClientCASecret, mountPath: mountClientCA})
		}
	}
	if m := s.Metrics; m.Enabled && m.Token != nil {
		out = append(out, secretVolume{name: volumeMetricsToken, secret: m.Token.Name, key: m.Token.Key, file: fileMetricsToken, mountPath: mountMetricsToken, mode: private})
	}
	if k := s.Kerberos; k != nil {
		out = append(out, secretVolume{name: volumeKeytab, secret: k.KeytabSecretRef.Name, key: k.KeytabSecretRef.Key, file: fileKeytab, mountPath: mountKeytab, mode: private})
		if ref := k.Krb5ConfSecretRef; ref != nil {
			out = append(out, secretVolume{name: volumeKrb5Conf, secret: ref.Name, key: ref.Key, file: fileKrb5Conf, mountPath: mountKrb5Conf})
		}
		if ma := k.MachineAccount; ma != nil && ma.Enabled && ma.KeytabSecretRef != nil {
			out = append(out, secretVolume{name: volumeMachineKeytab, secret: ma.KeytabSecretRef.Name, key: ma.KeytabSecretRef.Key, file: fileMachineKeytab, mountPath: mountMachineKeytab, mode: private})
		}
	}
	return out
}

// Environment variables of DittoFS's Postgres settings; the host's names
// the Secret the running server uses (see observed.database).
const (
	envPostgresPrefix = "DITTOFS_DATABASE_POSTGRES_"
	envPostgresHost   = envPostgresPrefix + "HOST"
)

// makeEnv passes secrets to DittoFS by reference, so no secret value is ever
// in the StatefulSet or the ConfigMap.
func makeEnv(s *dittoServer) []corev1.EnvVar {
	fromSecret := func(name string, sel corev1.SecretKeySelector) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &sel}}
	}
	env := []corev1.EnvVar{
		fromSecret("DITTOFS_CONTROLPLANE_SECRET", s.Identity.JWTSecret),
		fromSecret("DITTOFS_ADMIN_INITIAL_PASSWORD", s.Identity.AdminPassword),
	}
	if db := s.Database; db.Type == "postgres" {
		ref := db.envSecret()
		keys := postgresKeys
		switch {
		case db.Percona:
			keys = perconaKeys
		case db.EnvDerived:
			keys = derivedPostgresKeys
		}
		for _, k := range keys {
			sel := corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: ref}, Key: k.key}
			if k.optional {
				sel.Optional = ptr.To(true)
			}
			env = append(env, fromSecret(envPostgresPrefix+k.setting, sel))
		}
		if db.Percona {
			// Percona's Postgres serves TLS and its pg_hba refuses
			// anything else; DittoFS's default sslmode is disable.
			env = append(env, corev1.EnvVar{Name: envPostgresPrefix + "SSLMODE", Value: "require"})
		}
	}
	if l := s.LDAP; l != nil && l.BindPasswordSecretRef != nil {
		env = append(env, fromSecret("DITTOFS_LDAP_BIND_PASSWORD", *l.BindPasswordSecretRef))
	}
	if k := s.Kerberos; k != nil && k.MachineAccount != nil && k.MachineAccount.Enabled && k.MachineAccount.SecretRef != nil {
		env = append(env, fromSecret("DITTOFS_KERBEROS_MACHINE_ACCOUNT_SECRET", *k.MachineAccount.SecretRef))
	}
	return env
}

// secretKey is one key of a Postgres Secret and the DittoFS setting it feeds
// (DITTOFS_DATABASE_POSTGRES_<setting>).
type secretKey struct {
	key, setting string
	optional     bool
}

// postgresKeys are read from database.postgresSecretRef, as the upstream
// operator reads them; perconaKeys from the Secret Percona writes for the
// dittofs user.
var (
	postgresKeys = []secretKey{{"host", "HOST", false}, {"port", "PORT", true}, {"database", "DATABASE", false}, {"user", "USER", false}, {"password", "PASSWORD", false}, {"sslmode", "SSLMODE", true}}
	perconaKeys  = []secretKey{{"host", "HOST", false}, {"port", "PORT", false}, {"dbname", "DATABASE", false}, {"user", "USER", false}, {"password", "PASSWORD", false}}
	// derivedPostgresKeys are read from a Secret the hook derived from a
	// connection string (see resolvePostgres): every setting DittoFS has,
	// a password and a root certificate only when the string gave one.
	derivedPostgresKeys = func() []secretKey {
		var out []secretKey
		for _, k := range postgresSettings {
			out = append(out, secretKey{k.key, k.setting, k.key == "password" || k.key == "sslrootcert"})
		}
		return out
	}()
)

// makeVolumeClaimTemplates renders the claims in the form the API server
// stores them (apiVersion, kind, volumeMode, status.phase): dynamic-apply
// replaces this list whole, so any difference from the stored form would be
// written back on every sync.
func makeVolumeClaimTemplates(s *dittoServer) []corev1.PersistentVolumeClaim {
	claim := func(name string, size resource.Quantity) corev1.PersistentVolumeClaim {
		return corev1.PersistentVolumeClaim{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
				StorageClassName: s.Storage.ClassName,
				VolumeMode:       ptr.To(corev1.PersistentVolumeFilesystem),
			},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
		}
	}
	claims := []corev1.PersistentVolumeClaim{claim(volumeMetadata, s.Storage.Metadata)}
	if s.Storage.Content != nil {
		claims = append(claims, claim(volumeContent, *s.Storage.Content))
	}
	return append(claims, claim(volumeControlPlane, s.Storage.ControlPlane))
}
