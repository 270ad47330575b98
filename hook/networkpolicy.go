package hook

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
)

// makeBaselinePolicy renders <name>-baseline, which admits the API port.
// It exists as long as the DittoServer does: once any policy selects the
// pod, everything not admitted is cut off, and the hook must never cut
// itself off from the API it polls.
func makeBaselinePolicy(s *dittoServer) *networkingv1.NetworkPolicy {
	return makePolicy(s, baselinePolicyName(s.Name), labels(s.Name, "api"), s.NetworkPolicy.APIFrom,
		[]networkingv1.NetworkPolicyPort{policyPort(s.APIPort, corev1.ProtocolTCP)})
}

// makeAdapterPolicy renders <name>-adapter-<type>, which admits one adapter's
// ports (the same ports as its Services).
func makeAdapterPolicy(s *dittoServer, a dittofs.Adapter) *networkingv1.NetworkPolicy {
	var ports []networkingv1.NetworkPolicyPort
	for _, p := range adapterPorts(a, s.AdapterServices.For(a.Type)) {
		ports = append(ports, policyPort(p.Port, p.Protocol))
	}
	return makePolicy(s, adapterName(s.Name, a.Type), adapterLabels(s.Name, a.Type), s.NetworkPolicy.AdapterFrom, ports)
}

func makePolicy(s *dittoServer, name string, l map[string]string, from []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: selectorLabels(s.Name)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: from, Ports: ports}},
		},
	}
}

func policyPort(port int32, proto corev1.Protocol) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: ptr.To(proto), Port: ptr.To(intstr.FromInt32(port))}
}
