package hook

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
)

// makeAdapterServices renders the Services of one enabled adapter: its main
// Service <name>-adapter-<type> (its TCP ports), and for nfs with udp set a
// second Service <name>-adapter-nfs-udp (its UDP ports).
//
// TCP and UDP on one port number never share a Service: Metacontroller's
// default dynamic-apply merges Service ports by port number alone, so the two
// would collide and one would be lost or rewritten on every sync. Two
// Services are correct under dynamic-apply and server-side apply alike; a
// cloud that supports it can share one address between them through
// annotations (overrides.nfs.annotations).
func makeAdapterServices(s *dittoServer, a dittofs.Adapter, obs *observedChildren) []*corev1.Service {
	shape := s.AdapterServices.For(a.Type)
	var tcp, udp []corev1.ServicePort
	for _, p := range adapterPorts(a, shape) {
		sp := corev1.ServicePort{Name: p.Name, Port: p.Port, TargetPort: intstr.FromInt32(p.Target), Protocol: p.Protocol}
		if p.Protocol == corev1.ProtocolUDP {
			udp = append(udp, sp)
		} else {
			tcp = append(tcp, sp)
		}
	}
	out := []*corev1.Service{makeAdapterService(s, a, adapterName(s.Name, a.Type), tcp, shape, obs)}
	if len(udp) > 0 {
		out = append(out, makeAdapterService(s, a, adapterUDPName(s.Name, a.Type), udp, shape, obs))
	}
	return out
}

func makeAdapterService(s *dittoServer, a dittofs.Adapter, name string, ports []corev1.ServicePort, shape adapterService, obs *observedChildren) *corev1.Service {
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: adapterLabels(s.Name, a.Type), Annotations: shape.Annotations},
		Spec: corev1.ServiceSpec{
			Type:     shape.Type,
			Selector: s.PodSelector,
			Ports:    ports,
		},
	}
	if shape.Type == corev1.ServiceTypeLoadBalancer {
		svc.Spec.LoadBalancerClass = shape.LoadBalancerClass
		svc.Spec.LoadBalancerSourceRanges = shape.LoadBalancerSourceRanges
	}
	if shape.Type != corev1.ServiceTypeClusterIP {
		svc.Spec.ExternalTrafficPolicy = shape.ExternalTrafficPolicy
		keepNodePorts(svc, obs.service(name), shape.NodePort, a.Type)
	}
	return svc
}

// keepNodePorts gives each port the node port it already has, matched by
// port name (the hook's, or the upstream operator's for the same port, so
// that a Service the hook takes over from it keeps its node ports): when
// DittoFS moves an adapter to another port, the Service keeps its node port
// (and, since the hook never sets it, its cluster IP), so clients that reach
// it through a node keep their address. A pinned node port
// (overrides.<type>.nodePort) wins for the main port.
func keepNodePorts(svc *corev1.Service, prev *corev1.Service, pinned *int32, typ string) {
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if i == 0 && pinned != nil {
			p.NodePort = *pinned
			continue
		}
		if prev == nil || prev.Spec.Type == corev1.ServiceTypeClusterIP {
			continue
		}
		names := []string{p.Name, upstreamPortName(typ, p.Name)}
		for _, want := range names {
			for _, q := range prev.Spec.Ports {
				if p.NodePort == 0 && q.Name == want && q.Protocol == p.Protocol && q.NodePort != 0 {
					p.NodePort = q.NodePort
				}
			}
		}
	}
}

// upstreamPortName is what the upstream operator (v0.29.0) names the port
// the hook names name in an adapter Service of type typ.
func upstreamPortName(typ, name string) string {
	switch name {
	case portName(typ):
		return "adapter-" + typ
	case portName(typ) + "-udp":
		return "adapter-" + typ + "-udp"
	case "portmapper":
		return "portmap"
	case "portmapper-udp":
		return "portmap-udp"
	}
	return name
}

// adapterPort is one port an adapter exposes: its Service port and the
// pod's port it targets.
type adapterPort struct {
	Name     string
	Port     int32
	Target   int32
	Protocol corev1.Protocol
}

// adapterPorts are the ports one adapter exposes, which its Services carry
// and its NetworkPolicy admits: its own port over TCP, and over UDP with
// udp; with portmapper, DittoFS's portmapper the same way, on port 111 (the
// port NFS clients ask) targeting DittoFS's 10111.
func adapterPorts(a dittofs.Adapter, shape adapterService) []adapterPort {
	name := portName(a.Type)
	out := []adapterPort{{name, a.Port, a.Port, corev1.ProtocolTCP}}
	if shape.UDP {
		out = append(out, adapterPort{name + "-udp", a.Port, a.Port, corev1.ProtocolUDP})
	}
	if shape.Portmapper {
		out = append(out, adapterPort{"portmapper", portmapperServicePort, dittofs.PortmapperPort, corev1.ProtocolTCP})
		if shape.UDP {
			out = append(out, adapterPort{"portmapper-udp", portmapperServicePort, dittofs.PortmapperPort, corev1.ProtocolUDP})
		}
	}
	return out
}

// portmapperServicePort is the portmapper's well-known port.
const portmapperServicePort = 111

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
