package hook

import (
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// The control-plane database: DittoFS keeps its users, shares and adapters
// there. Pointing a running server at another one (another type, SQLite
// file or Postgres Secret) starts it on an empty or foreign control plane,
// so such a change needs the spec's explicit opt-in.

// controlPlaneDB identifies a control-plane database.
type controlPlaneDB struct {
	Type string
	// SQLitePath is the database file (sqlite only).
	SQLitePath string
	// PostgresSecret names the Secret with the connection (postgres only).
	PostgresSecret string
	// Percona: PostgresSecret is the Percona user Secret (its keys host,
	// port, dbname, user, password).
	Percona bool
	// TypeSaid is spec.database.type, for messages.
	TypeSaid string
	// AllowReset is spec.database.allowControlPlaneReset: moving a running
	// server to this database is intended.
	AllowReset bool
}

func (d controlPlaneDB) String() string {
	switch d.Type {
	case "sqlite":
		return "sqlite at " + d.SQLitePath
	case "postgres":
		switch {
		case d.PostgresSecret == "":
			return "postgres"
		case d.Percona:
			return "postgres of PerconaPGCluster " + strings.TrimSuffix(d.PostgresSecret, "-pguser-"+perconaUser)
		}
		return "postgres from Secret " + d.PostgresSecret
	}
	return d.Type
}

// observedDatabase is the database the running server was given, read from
// the observed ConfigMap's config.yaml and, for postgres, the observed
// StatefulSet's environment. ok is false when there is nothing to read (the
// first sync).
func (o *observedChildren) database(cr string) (d controlPlaneDB, ok bool) {
	cm := o.configMaps[configMapName(cr)]
	if cm == nil {
		return d, false
	}
	var c dfsConfig
	if yaml.Unmarshal([]byte(cm.Data[configFileName]), &c) != nil || c.Database.Type == "" {
		return d, false
	}
	d.Type = c.Database.Type
	if c.Database.SQLite != nil {
		d.SQLitePath = c.Database.SQLite.Path
	}
	if o.sts != nil {
		for _, ctr := range o.sts.Spec.Template.Spec.Containers {
			for _, e := range ctr.Env {
				if e.Name == envPostgresHost && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					d.PostgresSecret = e.ValueFrom.SecretKeyRef.Name
				}
			}
		}
	}
	return d, true
}

// checkDatabase refuses a spec that would move a running server to another
// control-plane database without spec.database.allowControlPlaneReset. The
// CRD's transition rule refuses the same change; this catches what slipped
// through (a CRD without the rule, `hook render`), statelessly, by comparing
// with what the observed children say.
func checkDatabase(s *dittoServer, obs *observedChildren) error {
	now := s.Database
	if now.AllowReset {
		return nil
	}
	was, ok := obs.database(s.Name)
	if !ok {
		return nil
	}
	changed := was.Type != now.Type ||
		(now.Type == "sqlite" && was.SQLitePath != now.SQLitePath) ||
		(now.Type == "postgres" && was.PostgresSecret != "" && was.PostgresSecret != now.PostgresSecret)
	if !changed {
		return nil
	}
	hint := ""
	if now.Type == "postgres" && !now.Percona && now.TypeSaid == "sqlite" {
		// A CR stored before postgresSecretRef meant Postgres whatever
		// type says (the upstream operator's meaning).
		hint = " (database.postgresSecretRef selects Postgres whatever database.type says; remove it to stay on SQLite)"
	}
	return &SpecError{Field: "database", Problem: fmt.Sprintf("would move DittoFS from %s to %s%s, where it starts without the users, shares and adapters it has; change it back, or set spec.database.allowControlPlaneReset: true in the same change to do it anyway", was, now, hint)}
}
