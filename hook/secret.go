package hook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SecretSource derives the values of the Secrets the hook generates.
//
// A value is HMAC-SHA256(key, parent UID, Secret name, Secret key), with a
// key drawn from crypto/rand when the hook starts. So within one hook process
// the same request gets the same answer (retries and duplicate syncs agree,
// the answer stays a pure function of its input), while no one without the
// key can predict a value. A value is used only until the Secret exists:
// from then on the observed value is returned unchanged, and the Secret's
// OnDelete update strategy keeps Metacontroller from rewriting it.
type SecretSource struct{ key []byte }

// NewSecretSource returns a source keyed from crypto/rand.
func NewSecretSource() (*SecretSource, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("seed secret source: %w", err)
	}
	return &SecretSource{key: key}, nil
}

// NewFixedSecretSource returns a source with a given key, for tests and for
// `hook render`, whose output must be reproducible.
func NewFixedSecretSource(key string) *SecretSource { return &SecretSource{key: []byte(key)} }

// value returns 256 bits as 43 URL-safe characters: valid as a DittoFS
// password and longer than the 32 characters a JWT signing key needs.
func (g *SecretSource) value(uid, secret, key string) []byte {
	m := hmac.New(sha256.New, g.key)
	m.Write([]byte(uid + "\x00" + secret + "\x00" + key))
	return []byte(base64.RawURLEncoding.EncodeToString(m.Sum(nil)))
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
		sec.Data[k] = gen.value(s.UID, name, k)
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
		out = append(out, makeSecret(s, n, "admin", obs.secret(n), []string{keyPassword}, map[string]string{keyUsername: s.Identity.AdminUsername}, gen))
	}
	n := operatorSecretName(s.Name)
	out = append(out, makeSecret(s, n, "operator", obs.secret(n), []string{keyPassword}, map[string]string{keyUsername: OperatorUsername}, gen))
	return out
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
