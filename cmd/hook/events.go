package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/dittofs-hook/dittofs-hook/hook/server"
)

// newRecorder connects to the API server for the one thing the hook does
// with it, creating Events: with --kubeconfig when given, else with the
// pod's service account (in-cluster). Without either the hook refuses to
// start rather than run without the Events it was asked to record.
func newRecorder(cfg serveConfig, metrics *server.Metrics, log *slog.Logger) (*server.Recorder, error) {
	// client-go logs through klog: into the hook's own structured log.
	klog.SetSlogLogger(log.With("component", "client-go"))
	var rc *rest.Config
	var err error
	if cfg.kubeconfig != "" {
		rc, err = clientcmd.BuildConfigFromFlags("", cfg.kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig: %w", err)
		}
	} else if rc, err = rest.InClusterConfig(); err != nil {
		if errors.Is(err, rest.ErrNotInCluster) {
			return nil, errors.New("--events needs the Kubernetes API: run in a pod with a service account token, or pass --kubeconfig; --events=false records no Events and needs no API access")
		}
		return nil, fmt.Errorf("in-cluster configuration for --events: %w", err)
	}
	rc.UserAgent = "dittofs-hook/" + version
	// Events come in bursts (a new DittoServer makes about six); the queue
	// absorbs what the rate limit holds back.
	rc.QPS, rc.Burst = 20, 50
	client, err := server.NewEventClient(rc)
	if err != nil {
		return nil, fmt.Errorf("events client: %w", err)
	}
	instance, _ := os.Hostname()
	return server.NewRecorder(server.RecorderOptions{
		Client:   client,
		Instance: instance,
		Metrics:  metrics,
		Logger:   log.With("component", "events"),
	}), nil
}
