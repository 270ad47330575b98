package hook

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// makeHeadlessService renders <name>-headless, the StatefulSet's governing
// Service. It publishes the pod before it is ready, so that its DNS name
// resolves while DittoFS starts.
func makeHeadlessService(s *dittoServer) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: headlessServiceName(s.Name), Labels: labels(s.Name, "server")},
		Spec: corev1.ServiceSpec{
			Type:                     corev1.ServiceTypeClusterIP,
			ClusterIP:                corev1.ClusterIPNone,
			PublishNotReadyAddresses: true,
			Selector:                 s.PodSelector,
			Ports:                    []corev1.ServicePort{apiPort(s)},
		},
	}
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
