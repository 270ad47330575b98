package hook

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// makeMetricsService renders <name>-metrics, the Service of DittoFS's
// metrics listener, with the prometheus.io annotations that
// annotation-based discovery reads, as the upstream operator renders it.
func makeMetricsService(s *dittoServer) *corev1.Service {
	m := s.Metrics
	return &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{
			Name:   metricsServiceName(s.Name),
			Labels: labels(s.Name, "metrics"),
			Annotations: map[string]string{
				"prometheus.io/scrape": "true",
				"prometheus.io/port":   strconv.Itoa(int(m.Port)),
				"prometheus.io/path":   m.Path,
			},
		},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: s.PodSelector,
			Ports:    []corev1.ServicePort{{Name: "metrics", Port: m.Port, TargetPort: intstr.FromInt32(m.Port), Protocol: corev1.ProtocolTCP}},
		},
	}
}

// makeServiceMonitor renders the ServiceMonitor <name>-metrics
// (monitoring.coreos.com/v1) that points prometheus-operator at the metrics
// Service, with the bearer token DittoFS requires when it requires one.
// It is built as an unstructured object: the hook does not depend on
// prometheus-operator's Go types for one small object.
func makeServiceMonitor(s *dittoServer) *unstructured.Unstructured {
	m := s.Metrics
	l := map[string]any{}
	for k, v := range m.Labels {
		l[k] = v
	}
	for k, v := range labels(s.Name, "metrics") {
		l[k] = v // the hook's own labels win
	}
	endpoint := map[string]any{"port": "metrics", "path": m.Path}
	if m.Interval != "" {
		endpoint["interval"] = m.Interval
	}
	if m.Token != nil {
		endpoint["bearerTokenSecret"] = map[string]any{"name": m.Token.Name, "key": m.Token.Key}
	}
	selector := map[string]any{}
	for k, v := range labels(s.Name, "metrics") {
		selector[k] = v
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "monitoring.coreos.com/v1",
		"kind":       "ServiceMonitor",
		"metadata":   map[string]any{"name": serviceMonitorName(s.Name), "labels": l},
		"spec": map[string]any{
			"selector":          map[string]any{"matchLabels": selector},
			"namespaceSelector": map[string]any{"matchNames": []any{s.Namespace}},
			"endpoints":         []any{endpoint},
		},
	}}
}
