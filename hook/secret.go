package hook

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SecretSource draws the values of the Secrets the hook generates.
//
// Every value is fresh randomness, drawn per answer: nothing a caller can
// send reproduces one. (Values used to be an HMAC of the parent's UID under
// a per-process key, so that one process answered a request the same way
// twice; anyone who could post to /sync and knew a DittoServer's name,
// namespace and UID then got back the JWT signing key and the passwords
// generated for it, by sending a request showing no observed Secrets.)
// Nothing else in an answer depends on a generated value (the pod reads
// them by name, the config hash never reads them), so answers that differ
// only in them change nothing once the Secrets exist: from then on the
// observed values are returned unchanged, and the Secrets' OnDelete update
// strategy keeps Metacontroller from rewriting one. The first value created
// stays.
//
// Safe for concurrent use.
type SecretSource struct {
	mu sync.Mutex
	r  io.Reader
}

// NewSecretSource draws values from r: crypto/rand.Reader for the service.
func NewSecretSource(r io.Reader) *SecretSource { return &SecretSource{r: r} }

// NewSeededSecretSource is a deterministic stream of values (ChaCha8 keyed
// by the seed's SHA-256), for tests and for `hook render`, whose output
// must be reproducible. Never for the service: whoever knows the seed knows
// every value.
func NewSeededSecretSource(seed string) *SecretSource {
	return NewSecretSource(mathrand.NewChaCha8(sha256.Sum256([]byte(seed))))
}

// value returns 256 random bits as 43 URL-safe characters: valid as a
// DittoFS password and longer than the 32 characters a JWT signing key
// needs. Neither crypto/rand nor ChaCha8 fails; a reader that does must
// never give a weak value, so it panics (net/http then closes the call's
// connection, and Metacontroller changes nothing).
func (g *SecretSource) value() []byte {
	var b [32]byte
	g.mu.Lock()
	_, err := io.ReadFull(g.r, b[:])
	g.mu.Unlock()
	if err != nil {
		panic(fmt.Sprintf("secret source: %v", err))
	}
	return []byte(base64.RawURLEncoding.EncodeToString(b[:]))
}

// makeSecret returns a generated Secret: the observed one's data unchanged
// when it exists, else fresh values for keys (fixed values in preset).
func makeSecret(s *dittoServer, name, component string, observed *corev1.Secret, keys []string, preset map[string]string, gen *SecretSource) *corev1.Secret {
	sec := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels(s.Name, component)},
		Type:       corev1.SecretTypeOpaque,
	}
	if observed != nil {
		sec.Data = observed.Data
		return sec
	}
	sec.Data = make(map[string][]byte, len(keys)+len(preset))
	for _, k := range keys {
		sec.Data[k] = gen.value()
	}
	for k, v := range preset {
		sec.Data[k] = []byte(v)
	}
	return sec
}

// makeSecrets renders the generated Secrets: the JWT signing key and the
// administrator's password unless the user supplies them, and always the
// operator account's credentials.
func makeSecrets(s *dittoServer, obs *observedChildren, gen *SecretSource) []*corev1.Secret {
	var out []*corev1.Secret
	if s.Identity.GeneratedJWTSecret {
		n := jwtSecretName(s.Name)
		out = append(out, makeSecret(s, n, "jwt", obs.secret(n), []string{keyJWTSecret}, nil, gen))
	}
	if s.Identity.GeneratedAdminSecret {
		n := adminSecretName(s.Name)
		sec := makeSecret(s, n, "admin", obs.secret(n), []string{keyPassword}, map[string]string{keyUsername: s.Identity.AdminUsername}, gen)
		if legacy := adoptedAdminData(s, obs); legacy != nil {
			sec.Data = legacy
		}
		out = append(out, sec)
	}
	n := operatorSecretName(s.Name)
	out = append(out, makeSecret(s, n, "operator", obs.secret(n), []string{keyPassword}, map[string]string{keyUsername: OperatorUsername}, gen))
	return out
}

// adoptedAdminData is the data of the upstream operator's legacy admin
// Secret <name>-admin-credentials (its name before v0.29.0 renamed it
// <name>-admin-bootstrap-credentials), adopted as upstream adopts it: when
// the bootstrap Secret does not exist yet and the legacy one, a child (the
// move labels every Secret of the DittoServer), holds a password, the
// bootstrap Secret is created with its password and username ("admin" when
// it has none). DittoFS read that password at its first start and knows no
// other: a fresh one would lock the hook out of repairing its account.
// Nil otherwise.
func adoptedAdminData(s *dittoServer, obs *observedChildren) map[string][]byte {
	if obs.secret(adminSecretName(s.Name)) != nil {
		return nil
	}
	legacy := obs.secret(legacyAdminSecretName(s.Name))
	password, ok := secretValue(legacy, keyPassword)
	if !ok || password == "" {
		return nil
	}
	username, _ := secretValue(legacy, keyUsername)
	if username == "" {
		username = "admin"
	}
	return map[string][]byte{keyUsername: []byte(username), keyPassword: []byte(password)}
}

// keepLegacyAdminSecret says whether the observed legacy admin Secret stays:
// until the bootstrap Secret exists with its password. Then it goes (the
// answer leaves it out), as upstream deletes it once adopted; one holding
// another password than the bootstrap Secret's is never deleted.
func keepLegacyAdminSecret(s *dittoServer, obs *observedChildren) bool {
	legacy := obs.secret(legacyAdminSecretName(s.Name))
	if legacy == nil {
		return false
	}
	if !s.Identity.GeneratedAdminSecret {
		return true
	}
	was, _ := secretValue(legacy, keyPassword)
	now, ok := secretValue(obs.secret(adminSecretName(s.Name)), keyPassword)
	return !ok || now != was
}

// makePostgresSecret is the Secret derived from a connection string (see
// resolvePostgres): DittoFS's settings, one key each (postgresSettings),
// named after the version of the user's Secret src.
func makePostgresSecret(ds *dittoServer, src *corev1.Secret, settings map[string]string) *corev1.Secret {
	sec := &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        derivedPostgresSecretName(ds.Name, src),
			Labels:      labels(ds.Name, "postgres"),
			Annotations: map[string]string{annotationPostgresSource: src.Name},
		},
		Type: corev1.SecretTypeOpaque,
		Data: make(map[string][]byte, len(settings)),
	}
	for k, v := range settings {
		sec.Data[k] = []byte(v)
	}
	return sec
}

// secretValue reads one key of a Secret. ok is false when the Secret or the key is missing.
func secretValue(sec *corev1.Secret, key string) (string, bool) {
	if sec == nil {
		return "", false
	}
	v, ok := sec.Data[key]
	if !ok {
		if sv, ok := sec.StringData[key]; ok {
			return sv, true
		}
		return "", false
	}
	return string(v), true
}
