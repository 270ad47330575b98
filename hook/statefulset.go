package hook

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// configHashAnnotation rolls the pod when config.yaml changes: DittoFS reads
// it only at start. Adapters are not in config.yaml, so adapter changes never
// restart the pod.
const configHashAnnotation = "dittofs.io/config-hash"

// makeStatefulSet renders the DittoFS StatefulSet. Nothing in it depends on
// the adapters. observed is the StatefulSet as the API server has it, or nil.
func makeStatefulSet(s *dittoServer, configYAML string, observed *appsv1.StatefulSet) *appsv1.StatefulSet {
	sum := sha256.Sum256([]byte(configYAML))
	sts := &appsv1.StatefulSet{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: metav1.ObjectMeta{
			Name:   statefulSetName(s.Name),
			Labels: labels(s.Name, "server"),
		},
		Spec: appsv1.StatefulSetSpec{
			Replicas:       ptr.To(s.Pod.Replicas),
			Selector:       &metav1.LabelSelector{MatchLabels: selectorLabels(s.Name)},
			ServiceName:    headlessServiceName(s.Name),
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      labels(s.Name, "server"),
					Annotations: map[string]string{configHashAnnotation: hex.EncodeToString(sum[:8])},
				},
				Spec: makePodSpec(s),
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

func makePodSpec(s *dittoServer) corev1.PodSpec {
	pod := &s.Pod
	probe := func(path string, period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: path, Port: intstr.FromString("api"), Scheme: corev1.URISchemeHTTP,
			}},
			PeriodSeconds:    period,
			TimeoutSeconds:   3,
			FailureThreshold: failures,
		}
	}
	mounts := []corev1.VolumeMount{
		{Name: volumeConfig, MountPath: configDir, ReadOnly: true},
		{Name: volumeMetadata, MountPath: mountMetadata},
	}
	if s.Storage.Content != nil {
		mounts = append(mounts, corev1.VolumeMount{Name: volumeContent, MountPath: mountContent})
	}
	mounts = append(mounts,
		corev1.VolumeMount{Name: volumeControlPlane, MountPath: mountControlPlane},
		corev1.VolumeMount{Name: volumeTmp, MountPath: "/tmp"},
	)
	container := corev1.Container{
		Name:            containerName,
		Image:           pod.Image,
		ImagePullPolicy: pod.ImagePullPolicy,
		Args:            []string{"start", "--foreground", "--config", configDir + "/" + configFileName},
		// Only the API port: adapter ports come and go at runtime and must
		// not change the pod template (that would restart DittoFS).
		Ports:           []corev1.ContainerPort{{Name: "api", ContainerPort: s.APIPort, Protocol: corev1.ProtocolTCP}},
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
		Volumes: []corev1.Volume{
			{Name: volumeConfig, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: configMapName(s.Name)},
			}}},
			{Name: volumeTmp, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
	}
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
		ref := db.PostgresSecret
		for _, k := range []struct {
			key      string
			optional bool
		}{{"host", false}, {"port", false}, {"database", false}, {"user", false}, {"password", false}, {"sslmode", true}} {
			sel := corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: ref}, Key: k.key}
			if k.optional {
				sel.Optional = ptr.To(true)
			}
			env = append(env, fromSecret(envPostgresPrefix+strings.ToUpper(k.key), sel))
		}
	}
	return env
}

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
