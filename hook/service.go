package hook

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
)

// makeHeadlessService renders <name>-headless, the StatefulSet's governing
// Service. It publishes the pod before it is ready, so that its DNS name
// resolves while DittoFS starts.
func makeHeadlessService(s *dittoServer, known []dittofs.Adapter, refused map[string]string) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: headlessServiceName(s.Name), Labels: labels(s.Name, "server")},
		Spec: corev1.ServiceSpec{
			Type:                     corev1.ServiceTypeClusterIP,
			ClusterIP:                corev1.ClusterIPNone,
			PublishNotReadyAddresses: true,
			Selector:                 s.PodSelector,
			Ports:                    headlessPorts(s, known, refused),
		},
	}
}

// headlessPorts are the API port, then each known enabled adapter's port
// (TCP, named as on its Service), in the order of the adapters' types: the
// per-pod names <name>-0.<name>-headless carry every adapter, for clients
// and monitoring that address a replica. The pod template is untouched (a
// Service change restarts nothing). A refused adapter gets none (it would
// publish a reserved port), and a port or a name already listed is not
// listed twice (the API server refuses a Service with duplicates: two
// unknown types share the name "adapter"; DittoFS may report two adapters
// on one port).
func headlessPorts(s *dittoServer, known []dittofs.Adapter, refused map[string]string) []corev1.ServicePort {
	api := apiPort(s)
	out := []corev1.ServicePort{api}
	names, ports := map[string]bool{api.Name: true}, map[int32]bool{api.Port: true}
	for _, a := range known {
		name := portName(a.Type)
		if _, no := refused[a.Type]; no || !a.Enabled || names[name] || ports[a.Port] {
			continue
		}
		names[name], ports[a.Port] = true, true
		out = append(out, corev1.ServicePort{Name: name, Port: a.Port, TargetPort: intstr.FromInt32(a.Port), Protocol: corev1.ProtocolTCP})
	}
	return out
}

// makeAPIService renders <name>-api, the control-plane API Service the hook
// itself calls.
func makeAPIService(s *dittoServer) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: apiServiceName(s.Name), Labels: labels(s.Name, "api"), Annotations: s.APIService.Annotations},
		Spec: corev1.ServiceSpec{
			Type:     s.APIService.Type,
			Selector: s.PodSelector,
			Ports:    []corev1.ServicePort{apiPort(s)},
		},
	}
}

func apiPort(s *dittoServer) corev1.ServicePort {
	return corev1.ServicePort{Name: "api", Port: s.APIPort, TargetPort: intstr.FromInt32(s.APIPort), Protocol: corev1.ProtocolTCP}
}
