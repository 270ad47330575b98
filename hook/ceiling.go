package hook

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// The ceiling: what the cluster's administrator lets a DittoServer ask of
// its pod.
//
// Whoever may edit a DittoServer chooses the image of a pod the hook
// renders, and through the spec parts of that pod: its security contexts,
// its scheduling, the Secrets it reads. The namespace's Pod Security
// Admission label still applies to the pod, but it may be missing or laxer
// than the administrator meant for DittoServers, and someone who may edit
// DittoServers but not create pods would otherwise get, through the hook,
// any pod the namespace admits. So the hook refuses a spec beyond the
// ceiling the administrator set (hook serve --pod-security-ceiling and its
// allow-lists) with InvalidSpec, naming the field, and keeps every child as
// last applied: nothing changes on the running pod.

// Ceiling levels: the Pod Security Standards'.
const (
	LevelRestricted = string(psaapi.LevelRestricted)
	LevelBaseline   = string(psaapi.LevelBaseline)
	LevelPrivileged = string(psaapi.LevelPrivileged)
)

// DefaultReservedNodeKeys are the taint and label keys of the control
// plane's nodes: a DittoServer keeps off them unless the administrator
// says otherwise.
var DefaultReservedNodeKeys = []string{"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"}

// Ceiling is what the cluster's administrator lets a DittoServer ask of its
// pod. The zero value is the default: the restricted standard, no priority
// class, off the control plane's nodes, any Secret of the namespace but a
// service account's token.
type Ceiling struct {
	// Level is the Pod Security Standard the rendered pod must meet:
	// restricted ("" too), baseline, or privileged, which checks nothing
	// at all below (the administrator trusts DittoServer editors with any
	// pod).
	Level string
	// PriorityClasses are those spec.priorityClassName may name; none by
	// default. A priority lets a pod preempt others cluster-wide, and
	// PriorityClasses are the administrator's, cluster-scoped.
	PriorityClasses []string
	// ReservedNodeKeys are taint and label keys of nodes DittoServers keep
	// off: no toleration of such a taint (nor one that tolerates every
	// taint), no nodeSelector on such a label. nil: DefaultReservedNodeKeys.
	ReservedNodeKeys []string
	// SecretSelector, when set, is what the labels of every Secret of the
	// user's that the pod reads must match. nil: any Secret of the
	// namespace, but never a service account's token.
	SecretSelector k8slabels.Selector
}

// ParseLevel checks a ceiling level.
func ParseLevel(s string) (string, error) {
	switch s {
	case LevelRestricted, LevelBaseline, LevelPrivileged:
		return s, nil
	}
	return "", fmt.Errorf("%q: want restricted, baseline or privileged", s)
}

func (c Ceiling) level() string {
	if c.Level == "" {
		return LevelRestricted
	}
	return c.Level
}

func (c Ceiling) reserved() []string {
	if c.ReservedNodeKeys == nil {
		return DefaultReservedNodeKeys
	}
	return c.ReservedNodeKeys
}

// check refuses a DittoServer that asks more of its pod than the ceiling
// allows, with a *SpecError naming the first field beyond it. The pod is
// judged as rendered, by the Pod Security Standards' own checks
// (k8s.io/pod-security-admission), so that what the hook renders and what
// admission would judge cannot drift apart.
func (c Ceiling) check(s *dittoServer, obs *observedChildren) error {
	level := c.level()
	if level == LevelPrivileged {
		return nil
	}
	spec := makePodSpec(s, obs.sts)
	if err := c.podSecurity(s, level, &spec); err != nil {
		return err
	}
	if pc := s.Pod.PriorityClassName; pc != "" && !slices.Contains(c.PriorityClasses, pc) {
		allowed := "none"
		if len(c.PriorityClasses) > 0 {
			allowed = strings.Join(c.PriorityClasses, ", ")
		}
		return &SpecError{Field: "priorityClassName", Problem: fmt.Sprintf("%q is not a priority class this cluster lets DittoServers use (hook serve --allowed-priority-classes: %s); remove it, or ask the cluster's administrator", pc, allowed)}
	}
	reserved := c.reserved()
	for i, t := range s.Pod.Tolerations {
		switch {
		case t.Key == "" && t.Operator == corev1.TolerationOpExists:
			return &SpecError{Field: fmt.Sprintf("tolerations[%d]", i), Problem: "tolerates every taint, those of the nodes reserved to the control plane included (hook serve --reserved-node-keys); name the taint to tolerate"}
		case slices.Contains(reserved, t.Key):
			return &SpecError{Field: fmt.Sprintf("tolerations[%d]", i), Problem: fmt.Sprintf("tolerates the taint %s of nodes this cluster keeps DittoServers off (hook serve --reserved-node-keys)", t.Key)}
		}
	}
	for _, k := range sortedKeys(s.Pod.NodeSelector) {
		if slices.Contains(reserved, k) {
			return &SpecError{Field: "nodeSelector", Problem: fmt.Sprintf("selects nodes by %s, a label of nodes this cluster keeps DittoServers off (hook serve --reserved-node-keys)", k)}
		}
	}
	return c.secrets(s, obs)
}

// podSecurity runs the Pod Security Standards' checks of level on the
// rendered pod; a failure names the field of the spec that causes it.
func (c Ceiling) podSecurity(s *dittoServer, level string, spec *corev1.PodSpec) error {
	md := &metav1.ObjectMeta{Name: statefulSetName(s.Name), Namespace: s.Namespace}
	var first *SpecError
	var more []string
	seen := map[string]bool{}
	for _, check := range podSecurityChecks {
		if check.Level == psaapi.LevelRestricted && level != LevelRestricted {
			continue
		}
		// The newest version of the check: the standard as it stands.
		r := check.Versions[len(check.Versions)-1].CheckPod(md, spec)
		if r.Allowed {
			continue
		}
		what := r.ForbiddenReason
		if r.ForbiddenDetail != "" {
			what += " (" + r.ForbiddenDetail + ")"
		}
		field := s.Pod.fieldOf(check.ID)
		switch {
		case first == nil:
			first = &SpecError{Field: field, Problem: what}
		case !seen[field]:
			more = append(more, (&SpecError{Field: field, Problem: what}).Error())
		}
		seen[field] = true
	}
	if first == nil {
		return nil
	}
	first.Problem += fmt.Sprintf(": beyond the %s Pod Security Standard, the most this cluster lets a DittoServer ask of its pod (hook serve --pod-security-ceiling)", level)
	if len(more) > 0 {
		first.Problem += "; also " + strings.Join(more, "; ")
	}
	return first
}

// podSecurityChecks are the Pod Security Standards' checks, as the
// library of Pod Security Admission has them.
var podSecurityChecks = policy.DefaultChecks()

// contextKeys are the security-context field each Pod Security check
// reads (the container's or the pod's, whichever the user set). The other
// checks judge what the hook alone renders (host namespaces, ports and
// paths, volume types, probes): no spec field reaches them.
var contextKeys = map[policy.CheckID]string{
	"allowPrivilegeEscalation":  "allowPrivilegeEscalation",
	"privileged":                "privileged",
	"capabilities_baseline":     "capabilities",
	"capabilities_restricted":   "capabilities",
	"runAsNonRoot":              "runAsNonRoot",
	"runAsUser":                 "runAsUser",
	"seccompProfile_baseline":   "seccompProfile",
	"seccompProfile_restricted": "seccompProfile",
	"appArmorProfile":           "appArmorProfile",
	"procMount":                 "procMount",
	"procMount_restricted":      "procMount",
	"sysctls":                   "sysctls",
	"seLinuxOptions":            "seLinuxOptions",
	"windowsHostProcess":        "windowsOptions",
}

// fieldOf names the spec field a Pod Security check's failure comes from:
// the container's security context when the user set that field there,
// else the pod's when set there.
func (p pod) fieldOf(id policy.CheckID) string {
	key, ok := contextKeys[id]
	switch {
	case !ok:
		return ""
	case key == "sysctls":
		return "podSecurityContext.sysctls"
	case p.userContext[key]:
		return "securityContext." + key
	case p.userPodContext[key]:
		return "podSecurityContext." + key
	}
	return "securityContext." + key
}

// setKeys are the top-level fields set in a security context of the
// user's.
func setKeys(v any) map[string]bool {
	b, _ := json.Marshal(v)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// secrets refuses a Secret of the user's that the pod would read (as a
// file or in its environment) when it is a service account's token, or
// does not match the administrator's SecretSelector. The pod runs an
// image of the editor's choosing, so naming a Secret in the spec is
// reading it. A Secret that does not exist (yet) cannot be judged and
// does not start the pod either; it is judged when it appears.
func (c Ceiling) secrets(s *dittoServer, obs *observedChildren) error {
	for _, ref := range userSecrets(s) {
		sec := obs.related[ref.name]
		if sec == nil {
			continue
		}
		if sec.Type == corev1.SecretTypeServiceAccountToken {
			return &SpecError{Field: ref.field, Problem: fmt.Sprintf("names Secret %s, a service account's token, which a DittoServer never reads", ref.name)}
		}
		if c.SecretSelector != nil && !c.SecretSelector.Matches(k8slabels.Set(sec.Labels)) {
			return &SpecError{Field: ref.field, Problem: fmt.Sprintf("names Secret %s, whose labels do not match %s, what this cluster requires of a Secret a DittoServer reads (hook serve --secret-selector); label it so, or ask the cluster's administrator", ref.name, c.SecretSelector)}
		}
	}
	return nil
}

// secretRef is a Secret of the user's the pod reads, and the field naming it.
type secretRef struct{ field, name string }

// userSecrets are the Secrets of the user's the DittoFS pod reads, with
// the fields that name them (not those the hook generates: its own
// children).
func userSecrets(s *dittoServer) []secretRef {
	var out []secretRef
	add := func(field string, sel *corev1.SecretKeySelector) {
		if sel != nil && sel.Name != "" {
			out = append(out, secretRef{field, sel.Name})
		}
	}
	if !s.Identity.GeneratedJWTSecret {
		add("identity.jwt.secretRef", &s.Identity.JWTSecret)
	}
	if !s.Identity.GeneratedAdminSecret {
		add("identity.admin.passwordSecretRef", &s.Identity.AdminPassword)
	}
	if s.Database.Type == "postgres" && s.Database.PostgresSecret != "" {
		field := "database.postgresSecretRef"
		if s.Database.Percona {
			field = "percona.enabled"
		}
		out = append(out, secretRef{field, s.Database.PostgresSecret})
	}
	if l := s.LDAP; l != nil {
		add("identity.ldap.bindPasswordSecretRef", l.BindPasswordSecretRef)
	}
	if k := s.Kerberos; k != nil {
		add("identity.kerberos.keytabSecretRef", k.KeytabSecretRef)
		add("identity.kerberos.krb5ConfSecretRef", k.Krb5ConfSecretRef)
		if ma := k.MachineAccount; ma != nil && ma.Enabled {
			add("identity.kerberos.machineAccount.secretRef", ma.SecretRef)
			add("identity.kerberos.machineAccount.keytabSecretRef", ma.KeytabSecretRef)
		}
	}
	if s.TLS.Serves() {
		out = append(out, secretRef{"controlPlane.certSecretName", s.TLS.CertSecret})
	}
	if s.TLS.Mutual() {
		out = append(out, secretRef{"controlPlane.clientCASecretName", s.TLS.ClientCASecret})
	}
	if s.Metrics.Enabled {
		add("metrics.bearerTokenSecret", s.Metrics.Token)
	}
	return out
}
