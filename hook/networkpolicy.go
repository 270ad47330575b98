package hook

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
)

// makeBaselinePolicy renders <name>-baseline, which admits the API port,
// and the metrics port when metrics are on. It exists as long as the
// DittoServer does: once any policy selects the pod, everything not
// admitted is cut off, and the hook must never cut itself off from the API
// it polls.
func makeBaselinePolicy(s *dittoServer) *networkingv1.NetworkPolicy {
	rules := []networkingv1.NetworkPolicyIngressRule{{From: s.NetworkPolicy.APIFrom, Ports: []networkingv1.NetworkPolicyPort{policyPort(s.APIPort, corev1.ProtocolTCP)}}}
	if s.Metrics.Enabled {
		rules = append(rules, networkingv1.NetworkPolicyIngressRule{From: s.NetworkPolicy.MetricsFrom, Ports: []networkingv1.NetworkPolicyPort{policyPort(s.Metrics.Port, corev1.ProtocolTCP)}})
	}
	return makePolicy(s, baselinePolicyName(s.Name), labels(s.Name, "api"), rules)
}

// makeAdapterPolicy renders <name>-adapter-<type>, which admits one adapter's
// ports (the same ports as its Services).
func makeAdapterPolicy(s *dittoServer, a dittofs.Adapter) *networkingv1.NetworkPolicy {
	var ports []networkingv1.NetworkPolicyPort
	for _, p := range adapterPorts(a, s.AdapterServices.For(a.Type)) {
		// A policy admits the pod's port: the portmapper's Service port
		// is 111, its target 10111.
		ports = append(ports, policyPort(p.Target, p.Protocol))
	}
	return makePolicy(s, adapterName(s.Name, a.Type), adapterLabels(s.Name, a.Type), []networkingv1.NetworkPolicyIngressRule{{From: s.NetworkPolicy.AdapterFrom, Ports: ports}})
}

func makePolicy(s *dittoServer, name string, l map[string]string, rules []networkingv1.NetworkPolicyIngressRule) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: s.PodSelector},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     rules,
		},
	}
}

func policyPort(port int32, proto corev1.Protocol) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: ptr.To(proto), Port: ptr.To(intstr.FromInt32(port))}
}
