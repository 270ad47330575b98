package hook

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
)

// makeAdapterServices renders the Services of one enabled adapter: its main
// Service <name>-adapter-<type> (TCP), and for nfs with udp set a second
// Service <name>-adapter-nfs-udp.
//
// TCP and UDP on one port number never share a Service: Metacontroller's
// default dynamic-apply merges Service ports by port number alone, so the two
// would collide and one would be lost or rewritten on every sync. Two
// Services are correct under dynamic-apply and server-side apply alike; a
// cloud that supports it can share one address between them through
// annotations (overrides.nfs.annotations).
func makeAdapterServices(s *server, a dittofs.Adapter, obs *observed) []*corev1.Service {
	o := s.adapterOverride(a.Type)
	nfs := a.Type == "nfs"
	portmapper := nfs && o.Portmapper != nil && *o.Portmapper
	udp := nfs && o.UDP != nil && *o.UDP

	main := []corev1.ServicePort{servicePort(portName(a.Type), a.Port, corev1.ProtocolTCP)}
	if portmapper {
		main = append(main, servicePort("portmapper", dittofs.PortmapperPort, corev1.ProtocolTCP))
	}
	out := []*corev1.Service{makeAdapterService(s, a, adapterName(s.Name, a.Type), main, o, obs)}
	if udp {
		ports := []corev1.ServicePort{servicePort(portName(a.Type)+"-udp", a.Port, corev1.ProtocolUDP)}
		if portmapper {
			ports = append(ports, servicePort("portmapper-udp", dittofs.PortmapperPort, corev1.ProtocolUDP))
		}
		out = append(out, makeAdapterService(s, a, adapterUDPName(s.Name, a.Type), ports, o, obs))
	}
	return out
}

func makeAdapterService(s *server, a dittofs.Adapter, name string, ports []corev1.ServicePort, o AdapterServiceOverride, obs *observed) *corev1.Service {
	typ := corev1.ServiceTypeLoadBalancer
	var annotations map[string]string
	if as := s.Spec.AdapterServices; as != nil {
		typ = as.Type
		annotations = maps.Clone(as.Annotations)
	}
	if o.Type != "" {
		typ = o.Type
	}
	if len(o.Annotations) > 0 {
		if annotations == nil {
			annotations = map[string]string{}
		}
		maps.Copy(annotations, o.Annotations)
	}
	l := labels(s.Name, "adapter")
	l[LabelAdapterType] = dns1035(a.Type)
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l, Annotations: annotations},
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: selectorLabels(s.Name),
			Ports:    ports,
		},
	}
	if typ == corev1.ServiceTypeLoadBalancer {
		svc.Spec.LoadBalancerClass = o.LoadBalancerClass
		svc.Spec.LoadBalancerSourceRanges = o.LoadBalancerSourceRanges
	}
	if typ != corev1.ServiceTypeClusterIP {
		svc.Spec.ExternalTrafficPolicy = o.ExternalTrafficPolicy
		keepNodePorts(svc, obs.service(name), o.NodePort)
	}
	return svc
}

// keepNodePorts gives each port the node port it already has, matched by
// port name: when DittoFS moves an adapter to another port, the Service keeps
// its node port (and, since the hook never sets it, its cluster IP), so
// clients that reach it through a node keep their address. A pinned node
// port (overrides.<type>.nodePort) wins for the main port.
func keepNodePorts(svc *corev1.Service, prev *corev1.Service, pinned *int32) {
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if i == 0 && pinned != nil {
			p.NodePort = *pinned
			continue
		}
		if prev == nil || prev.Spec.Type == corev1.ServiceTypeClusterIP {
			continue
		}
		for _, q := range prev.Spec.Ports {
			if q.Name == p.Name && q.Protocol == p.Protocol && q.NodePort != 0 {
				p.NodePort = q.NodePort
			}
		}
	}
}

func servicePort(name string, port int32, proto corev1.Protocol) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: port, TargetPort: intstr.FromInt32(port), Protocol: proto}
}

// portName is a valid IANA service name (at most 15 characters, letters,
// digits and dashes): the type itself for nfs and smb, "adapter" for a type
// the hook does not know (each such type has a Service of its own).
func portName(typ string) string {
	switch typ {
	case "nfs", "smb":
		return typ
	}
	return "adapter"
}
