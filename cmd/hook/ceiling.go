package main

import (
	"flag"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/dittofs-hook/dittofs-hook/hook"
)

// ceilingFlags registers the flags of the ceiling, what the cluster's
// administrator lets a DittoServer ask of its pod (serve and render take
// the same), and returns what reads them once parsed.
func ceilingFlags(fs *flag.FlagSet) func() (hook.Ceiling, error) {
	level := fs.String("pod-security-ceiling", hook.LevelRestricted, "the most a DittoServer may ask of its pod, as a Pod Security Standard: restricted, baseline, or privileged (no check at all); beyond it the DittoServer is InvalidSpec and its pod stays as it is")
	classes := fs.String("allowed-priority-classes", "", "priority classes a DittoServer may name in spec.priorityClassName (comma-separated; none by default; any under --pod-security-ceiling=privileged)")
	reserved := fs.String("reserved-node-keys", strings.Join(hook.DefaultReservedNodeKeys, ","), "taint and label keys of nodes DittoServers keep off: no toleration of such a taint (nor of every taint), no nodeSelector on such a label (comma-separated; empty: none)")
	selector := fs.String("secret-selector", "", "a label selector every Secret a DittoServer's pod reads must match (empty: any Secret of its namespace but a service account's token)")
	return func() (hook.Ceiling, error) {
		var c hook.Ceiling
		var err error
		if c.Level, err = hook.ParseLevel(*level); err != nil {
			return c, fmt.Errorf("--pod-security-ceiling %w", err)
		}
		c.PriorityClasses = splitList(*classes)
		c.ReservedNodeKeys = splitList(*reserved)
		if c.ReservedNodeKeys == nil {
			c.ReservedNodeKeys = []string{} // none, not the default
		}
		if *selector != "" {
			if c.SecretSelector, err = labels.Parse(*selector); err != nil {
				return c, fmt.Errorf("--secret-selector: %w", err)
			}
		}
		return c, nil
	}
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
