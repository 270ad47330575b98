package hook

import (
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	corev1 "k8s.io/api/core/v1"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
)

// makeBaselinePolicy renders <name>-baseline, which admits the API port.
// It exists as long as the DittoServer does: once any policy selects the
// pod, everything not admitted is cut off, and the hook must never cut
// itself off from the API it polls.
func makeBaselinePolicy(s *server) *networkingv1.NetworkPolicy {
	var from []networkingv1.NetworkPolicyPeer
	if np := s.Spec.NetworkPolicy; np != nil {
		from = np.APIFrom
	}
	return makePolicy(s, baselinePolicyName(s.Name), labels(s.Name, "api"), from,
		[]networkingv1.NetworkPolicyPort{policyPort(s.APIPort, corev1.ProtocolTCP)})
}

// makeAdapterPolicy renders <name>-adapter-<type>, which admits one adapter's
// ports (the same ports as its Services).
func makeAdapterPolicy(s *server, a dittofs.Adapter) *networkingv1.NetworkPolicy {
	var from []networkingv1.NetworkPolicyPeer
	if np := s.Spec.NetworkPolicy; np != nil {
		from = np.AdapterFrom
	}
	o := s.adapterOverride(a.Type)
	nfs := a.Type == "nfs"
	udp := nfs && o.UDP != nil && *o.UDP
	portmapper := nfs && o.Portmapper != nil && *o.Portmapper
	ports := []networkingv1.NetworkPolicyPort{policyPort(a.Port, corev1.ProtocolTCP)}
	if udp {
		ports = append(ports, policyPort(a.Port, corev1.ProtocolUDP))
	}
	if portmapper {
		ports = append(ports, policyPort(dittofs.PortmapperPort, corev1.ProtocolTCP))
		if udp {
			ports = append(ports, policyPort(dittofs.PortmapperPort, corev1.ProtocolUDP))
		}
	}
	l := labels(s.Name, "adapter")
	l[LabelAdapterType] = dns1035(a.Type)
	return makePolicy(s, adapterName(s.Name, a.Type), l, from, ports)
}

func makePolicy(s *server, name string, l map[string]string, from []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) *networkingv1.NetworkPolicy {
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
