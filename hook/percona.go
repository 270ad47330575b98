package hook

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The PerconaPGCluster (pgv2.percona.com/v2) the control plane runs on,
// with percona.enabled. Metacontroller creates it once and never rewrites
// it (its child type's update strategy is OnDelete, in
// manifests/components/percona): crVersion, postgresVersion and instances
// are then Percona's to upgrade, with its own procedures.

// Percona's settings the upstream operator (v0.29.0) renders.
const (
	perconaCRVersion       = "2.8.0"
	perconaPostgresVersion = 16
	// perconaReady is the PerconaPGCluster's status.state once it serves.
	perconaReady = "ready"
)

// makePerconaPGCluster renders <name>-postgres as the upstream operator
// does: one instance set, the user dittofs owning the database, pgBackRest
// backups to S3 when asked for and explicitly off otherwise (Percona turns
// them on when the field is absent). It is built as an unstructured
// object: the hook does not depend on Percona's Go types.
func makePerconaPGCluster(s *dittoServer) *unstructured.Unstructured {
	pc := s.Percona.Spec
	claim := map[string]any{
		"accessModes": []any{"ReadWriteOnce"},
		"resources":   map[string]any{"requests": map[string]any{"storage": pc.StorageSize}},
	}
	if pc.StorageClassName != nil {
		claim["storageClassName"] = *pc.StorageClassName
	}
	backups := map[string]any{"enabled": false}
	if b := pc.Backup; b != nil && b.Enabled {
		pgbackrest := map[string]any{
			"global": map[string]any{
				"repo1-path":               "/pgbackrest/" + s.Name + "/repo1",
				"repo1-s3-uri-style":       "path",
				"repo1-storage-verify-tls": "y",
			},
			"repos": []any{map[string]any{
				"name":      "repo1",
				"s3":        map[string]any{"bucket": b.Bucket, "endpoint": b.Endpoint, "region": b.Region},
				"schedules": map[string]any{"full": b.FullSchedule, "incremental": b.IncrSchedule},
			}},
		}
		if b.CredentialsSecretRef != nil {
			pgbackrest["configuration"] = []any{map[string]any{"secret": map[string]any{"name": b.CredentialsSecretRef.Name}}}
		}
		backups = map[string]any{"enabled": true, "pgbackrest": pgbackrest}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "pgv2.percona.com/v2",
		"kind":       "PerconaPGCluster",
		"metadata":   map[string]any{"name": perconaClusterName(s.Name), "labels": stringMap(labels(s.Name, "database"))},
		"spec": map[string]any{
			"crVersion":       perconaCRVersion,
			"postgresVersion": int64(perconaPostgresVersion),
			"instances": []any{map[string]any{
				"name":                "instance1",
				"replicas":            int64(*pc.Replicas),
				"dataVolumeClaimSpec": claim,
			}},
			"users":   []any{map[string]any{"name": perconaUser, "databases": []any{pc.DatabaseName}}},
			"backups": backups,
		},
	}}
}

// stringMap makes labels a JSON object of an unstructured object.
func stringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
