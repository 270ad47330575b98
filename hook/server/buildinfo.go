package server

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// NewBuildInfo is dittofs_hook_build_info: always 1, labelled with what was
// built (version, the VCS revision when the build recorded one) and how (Go
// version, OS, architecture), as prometheus_build_info is. A dashboard lists
// the versions running; a query joins on it to break a rollout down by
// version.
func NewBuildInfo(version string) prometheus.Collector {
	revision := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				revision = s.Value
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dittofs_hook_build_info",
		Help: "Always 1, labelled with the hook's version, VCS revision, Go version, OS and architecture.",
		ConstLabels: prometheus.Labels{
			"version":   version,
			"revision":  revision,
			"goversion": runtime.Version(),
			"goos":      runtime.GOOS,
			"goarch":    runtime.GOARCH,
		},
	})
	g.Set(1)
	return g
}
