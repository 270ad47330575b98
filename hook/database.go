package hook

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
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
	// PostgresKey is the key of PostgresSecret that may hold a connection
	// string (postgresSecretRef.key, by default connection-string).
	PostgresKey string
	// EnvSecret is the Secret DittoFS's DITTOFS_DATABASE_POSTGRES_* come
	// from in this answer: PostgresSecret, or the Secret the hook derives
	// from its connection string (EnvDerived). Set by Prepare, from what
	// is observed (see resolvePostgres).
	EnvSecret  string
	EnvDerived bool
}

// envSecret is the Secret the pod's Postgres settings come from.
func (d controlPlaneDB) envSecret() string { return cmp.Or(d.EnvSecret, d.PostgresSecret) }

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
	d.PostgresSecret = o.postgresEnvSecret()
	if sec := o.secret(d.PostgresSecret); sec != nil && sec.Annotations[annotationPostgresSource] != "" {
		// A Secret the hook derived: the user's it was derived from.
		d.PostgresSecret = sec.Annotations[annotationPostgresSource]
	} else if isDerivedPostgresSecret(cr, d.PostgresSecret) {
		d.PostgresSecret = "" // derived from a Secret no longer known
	}
	return d, true
}

// postgresEnvSecret is the Secret the observed StatefulSet's DittoFS reads
// its Postgres host from ("" for none).
func (o *observedChildren) postgresEnvSecret() string {
	if o.sts == nil {
		return ""
	}
	for _, ctr := range o.sts.Spec.Template.Spec.Containers {
		for _, e := range ctr.Env {
			if e.Name == envPostgresHost && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				return e.ValueFrom.SecretKeyRef.Name
			}
		}
	}
	return ""
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
	if was.Type == "sqlite" && now.Type == "postgres" && !now.Percona && now.TypeSaid == "sqlite" {
		// A CR stored before postgresSecretRef meant Postgres whatever
		// type says (the upstream operator's meaning).
		hint = " (database.postgresSecretRef selects Postgres whatever database.type says; remove it to stay on SQLite)"
	}
	return &SpecError{Field: "database", Problem: fmt.Sprintf("would move DittoFS from %s to %s%s, where it starts without the users, shares and adapters it has; change it back, or set spec.database.allowControlPlaneReset: true in the same change to do it anyway", was, now, hint)}
}

// The Postgres of database.postgresSecretRef, from a connection string.
//
// Upstream's docs say the Secret's key (postgresSecretRef.key, by default
// connection-string) holds a DSN; DittoFS reads none, only its settings
// host, port, database, user, password, sslmode (DITTOFS_DATABASE_POSTGRES_*).
// When the Secret lacks any of host, database, user and password and has the
// key, the hook derives DittoFS's settings from the connection string, the
// Secret's own keys winning key by key, into a Secret of its own
// <name>-postgres-conn-<hash> that the pod reads. A Secret with those four
// keys is read as it always was (its connection string, if any, unread): no
// server that runs today changes.
//
// The derived Secret is named after the version (UID and resourceVersion)
// of the user's Secret it comes from, as kustomize's secretGenerator names
// a Secret after its content: a changed connection string is a new Secret
// and a new name in the pod template, so the pod rolls (the user's Secret
// then leaves the config hash: the name rolls it), and the Secret child's
// OnDelete update strategy never has to rewrite one. The data never passes
// through a log, the status or an Event: only the Secret holds it.
//
// When the user's Secret is missing or its connection string unusable, the
// pod keeps reading the derived Secret the observed StatefulSet names, and
// every derived Secret observed stays as it is: a failure to read never
// takes DittoFS's database settings away. A derived Secret goes once the
// StatefulSet no longer names it.

// defaultPostgresKey is upstream's postgresSecretRef.key default.
const defaultPostgresKey = "connection-string"

// postgresConn is how this answer wires DittoFS to the Postgres of
// database.postgresSecretRef.
type postgresConn struct {
	// envSecret is the Secret the pod reads, derived or the user's.
	envSecret string
	derived   bool
	// fresh is the derived Secret this answer renders, nil when none.
	fresh *corev1.Secret
	// keep are the observed derived Secrets returned as they are.
	keep []string
	// condition is DatabaseReady.
	condition cond
}

// resolvePostgres decides where the pod's Postgres settings come from, for
// a server on database.postgresSecretRef (not Percona's), from the user's
// Secret (a related object, read only when in the DittoServer's namespace)
// and the observed children.
func resolvePostgres(ds *dittoServer, obs *observedChildren) postgresConn {
	db := ds.Database
	name, key := db.PostgresSecret, db.PostgresKey
	src := obs.related[name]
	if src != nil && src.Namespace != "" && src.Namespace != ds.Namespace {
		src = nil // never another namespace's Secret, whatever sent it
	}
	running := obs.postgresEnvSecret()
	if !isDerivedPostgresSecret(ds.Name, running) {
		running = ""
	}
	// failed keeps what the running pod reads: the derived Secret the
	// observed StatefulSet names, and every derived Secret observed.
	failed := func(c cond, meanwhile string) postgresConn {
		pc := postgresConn{envSecret: name, condition: c, keep: obs.derivedPostgresSecrets(ds.Name)}
		if running != "" {
			pc.envSecret, pc.derived = running, true
			meanwhile = fmt.Sprintf("; DittoFS keeps the settings of Secret %s meanwhile", running)
		}
		pc.condition.Message += meanwhile
		return pc
	}
	if src == nil {
		return failed(falseCond(CondDatabaseReady, ReasonPostgresSecretMissing, fmt.Sprintf("Secret %s (spec.database.postgresSecretRef) does not exist in namespace %s; create it with a connection string in key %s, or the keys host, database, user, password and, optionally, port and sslmode", name, ds.Namespace, key)), "")
	}
	explicit := map[string]string{}
	var missing []string
	for _, k := range postgresKeys {
		if v, ok := secretValue(src, k.key); ok {
			explicit[k.key] = v
		} else if !k.optional {
			missing = append(missing, k.key)
		}
	}
	// ready: the pod reads envSecret; a derived Secret the observed
	// StatefulSet still names stays until it names the new one.
	ready := func(pc postgresConn, msg string) postgresConn {
		if running != "" && running != pc.envSecret {
			pc.keep = []string{running}
		}
		pc.condition = trueCond(CondDatabaseReady, ReasonPostgresSecretReady, msg)
		return pc
	}
	if len(missing) == 0 {
		return ready(postgresConn{envSecret: name}, fmt.Sprintf("DittoFS reads its Postgres settings from Secret %s", name))
	}
	dsn, ok := secretValue(src, key)
	if !ok {
		return failed(falseCond(CondDatabaseReady, ReasonPostgresSecretIncomplete, fmt.Sprintf("Secret %s (spec.database.postgresSecretRef) has no connection string in key %s, and no key %s: DittoFS needs host, database, user, password (and port, sslmode) from one or the other", name, key, strings.Join(missing, ", "))), "; DittoFS cannot start until it does")
	}
	parsed, err := parseDSN(dsn)
	var settings map[string]string
	if err == nil {
		settings, err = postgresFromDSN(parsed, explicit)
	}
	if err != nil {
		// err is a dsnError: its words quote nothing of the string.
		return failed(falseCond(CondDatabaseReady, ReasonPostgresConnectionStringInvalid, fmt.Sprintf("Secret %s (spec.database.postgresSecretRef), key %s: %s", name, key, err.Error())), "; DittoFS cannot start until it is fixed")
	}
	fresh := makePostgresSecret(ds, src, settings)
	var own []string
	for _, k := range postgresKeys {
		if _, ok := explicit[k.key]; ok {
			own = append(own, k.key)
		}
	}
	msg := fmt.Sprintf("DittoFS reads its Postgres settings from Secret %s, derived from the connection string in key %s of Secret %s", fresh.Name, key, name)
	if len(own) > 0 {
		msg += " and its keys " + strings.Join(own, ", ") + ", which win"
	}
	return ready(postgresConn{envSecret: fresh.Name, derived: true, fresh: fresh}, msg)
}

// derivedPostgresSecrets are the observed derived Secrets, sorted.
func (o *observedChildren) derivedPostgresSecrets(cr string) []string {
	var out []string
	for n := range o.secrets {
		if isDerivedPostgresSecret(cr, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}
