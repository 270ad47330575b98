package dittofs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dittofs-hook/dittofs-hook/dittofs"
)

// TestSnapshotPoliciesErrorUnwraps: a partial failure of the snapshot
// policies unwraps to each share's cause (errors.Is, errors.As, the
// status), reads as what DittoFS said rather than "network error", and
// stays bounded however many shares failed. Before, it had no Unwrap, and
// Describe, finding no cause, called every such failure a network error.
func TestSnapshotPoliciesErrorUnwraps(t *testing.T) {
	var failures []dittofs.SnapshotPolicyFailure
	failures = append(failures, dittofs.SnapshotPolicyFailure{Share: "/a", Err: &dittofs.APIError{Op: "put snapshot policy", Status: 404, Message: "share not found"}})
	failures = append(failures, dittofs.SnapshotPolicyFailure{Share: "/b", Err: &dittofs.TransportError{Op: "put snapshot policy", Err: context.DeadlineExceeded}})
	for i := range 600 {
		failures = append(failures, dittofs.SnapshotPolicyFailure{Share: fmt.Sprintf("/share-%04d-%s", i, strings.Repeat("x", 900)), Err: &dittofs.APIError{Op: "put snapshot policy", Status: 500}})
	}
	err := error(&dittofs.SnapshotPoliciesError{Failures: failures})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Error("errors.Is does not reach a share's cause")
	}
	var apiErr *dittofs.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 404 {
		t.Errorf("errors.As: %v", apiErr)
	}
	d := dittofs.Describe(err)
	if strings.Contains(d, "network error") || !strings.Contains(d, "share /a: put snapshot policy: HTTP 404: share not found") {
		t.Errorf("Describe: %.300s", d)
	}
	for what, s := range map[string]string{"Error": err.Error(), "Describe": d} {
		if len(s) > 2048 || strings.Contains(s, "\n") {
			t.Errorf("%s: %d bytes, want one line of at most 2048", what, len(s))
		}
	}
	if !strings.Contains(err.Error(), "and 599 more") {
		t.Errorf("Error does not say how many it left out: …%s", err.Error()[max(0, len(err.Error())-80):])
	}
}
