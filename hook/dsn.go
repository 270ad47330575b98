package hook

import (
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// A Postgres connection string (a DSN), as libpq reads it, turned into the
// settings DittoFS v0.29.0 has: its database.postgres section is host,
// port, database, user, password, sslmode and ssl_root_cert (and pool sizes,
// which no DSN states), from which it builds a postgres:// URL for pgx
// (pkg/controlplane/store/gorm.go, PostgresConfig.DSN). DittoFS itself
// reads no connection string.
//
// Hand-written rather than pgx's pgconn.ParseConfig: that is a driver (TLS
// configuration, service and password files read from disk, environment
// defaults) where the hook needs a lexer; and it reports errors that quote
// the string, password and all. Every error here names what is wrong and
// where, never a value.
//
// The two forms, as libpq's conninfo_parse and conninfo_uri_parse read
// them (PostgreSQL docs, "Connection Strings"):
//   - URL: postgres[ql]://[user[:password]@][host][:port][/dbname][?k=v&…],
//     each part percent-decoded ('+' is a plus, not a space); an IPv6 host
//     in brackets. The user information ends at the last '@' of the
//     authority, as Go's net/url (and so pgx) reads it.
//   - key=value: keyword = value pairs separated by white space; a value in
//     single quotes may hold spaces; a backslash escapes the next character,
//     quoted or not.
//
// What DittoFS cannot do is refused rather than dropped: several hosts, a
// Unix socket, client certificates, a service file, server options. What
// changes neither where nor how it connects is ignored (application_name,
// connect_timeout, keepalives, …).

// dsnSetting is one setting a connection string gave, by libpq keyword.
type dsnSettings map[string]string

// The libpq keywords the hook reads, those it ignores because they change
// neither where nor how DittoFS connects, and those it refuses because
// DittoFS could not honour them. A keyword outside the three lists is one
// libpq does not know either: libpq refuses the string, and so does the hook
// (without quoting it: a password written where a keyword was expected
// would otherwise land in a condition).
var (
	dsnRead    = []string{"host", "hostaddr", "port", "dbname", "user", "password", "sslmode", "sslrootcert", "requiressl"}
	dsnIgnored = []string{"application_name", "fallback_application_name", "connect_timeout", "client_encoding", "keepalives",
		"keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout", "target_session_attrs", "load_balance_hosts", "sslcompression"}
	dsnRefused = []string{"passfile", "require_auth", "channel_binding", "options", "replication", "gssencmode", "sslnegotiation",
		"sslcert", "sslkey", "sslpassword", "sslcertmode", "sslcrl", "sslcrldir", "sslsni", "requirepeer", "ssl_min_protocol_version",
		"ssl_max_protocol_version", "min_protocol_version", "max_protocol_version", "krbsrvname", "gsslib", "gssdelegation", "service",
		"oauth_issuer", "oauth_client_id", "oauth_client_secret", "oauth_scope"}
)

// sslModes are libpq's, all of which pgx (and so DittoFS) accepts.
var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// dsnError is a connection string the hook cannot use. Its text never holds
// any part of the string.
type dsnError struct{ problem string }

func (e *dsnError) Error() string { return e.problem }

func dsnErrorf(format string, args ...any) error { return &dsnError{fmt.Sprintf(format, args...)} }

// parseDSN reads a connection string in either form. White space around it
// (a Secret written with echo, without -n) is not part of it. An error is a
// clause about "the connection string", quoting none of it.
func parseDSN(s string) (dsnSettings, error) {
	out, err := parseDSNForms(s)
	if e, ok := err.(*dsnError); ok {
		return nil, &dsnError{"the connection string " + e.problem}
	}
	return out, err
}

func parseDSNForms(s string) (dsnSettings, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, dsnErrorf("is empty")
	}
	for _, scheme := range []string{"postgresql://", "postgres://"} {
		if rest, ok := strings.CutPrefix(s, scheme); ok {
			return parseDSNURL(rest)
		}
	}
	if strings.Contains(s, "://") {
		return nil, dsnErrorf("is a URL of a scheme other than postgres:// or postgresql://")
	}
	return parseDSNKeywords(s)
}

// parseDSNURL reads what follows postgres[ql]://.
func parseDSNURL(rest string) (dsnSettings, error) {
	out := dsnSettings{}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		user, password, hasPassword := strings.Cut(authority[:at], ":")
		if err := decodeInto(out, "user", user, "the user name"); err != nil {
			return nil, err
		}
		if hasPassword {
			if err := decodeInto(out, "password", password, "the password"); err != nil {
				return nil, err
			}
		}
		authority = authority[at+1:]
	}
	if strings.Contains(authority, ",") {
		return nil, dsnErrorf("names several hosts; DittoFS connects to one")
	}
	host, port := authority, ""
	if strings.HasPrefix(authority, "[") {
		end := strings.Index(authority, "]")
		if end < 0 {
			return nil, dsnErrorf("has an IPv6 host without its closing ]")
		}
		host, port = authority[1:end], authority[end+1:]
		if port != "" && !strings.HasPrefix(port, ":") {
			return nil, dsnErrorf("has characters after the IPv6 host's ] that are not a :port")
		}
		port = strings.TrimPrefix(port, ":")
		if host == "" {
			return nil, dsnErrorf("has an empty IPv6 host []")
		}
	} else if strings.Count(authority, ":") > 1 {
		return nil, dsnErrorf("has an IPv6 host without brackets (write [::1]:5432)")
	} else if h, p, ok := strings.Cut(authority, ":"); ok {
		host, port = h, p
	}
	if err := decodeInto(out, "host", host, "the host"); err != nil {
		return nil, err
	}
	if port != "" {
		out["port"] = port // digits only: checked with the settings
	}
	if path, ok := strings.CutPrefix(tail, "/"); ok {
		db, _, _ := strings.Cut(path, "?")
		if err := decodeInto(out, "dbname", db, "the database name"); err != nil {
			return nil, err
		}
	}
	if _, query, ok := strings.Cut(tail, "?"); ok {
		for i, pair := range strings.Split(query, "&") {
			if pair == "" {
				continue
			}
			k, v, ok := strings.Cut(pair, "=")
			if !ok {
				return nil, dsnErrorf("has a query parameter without = (parameter %d)", i+1)
			}
			key, err1 := url.PathUnescape(k)
			value, err2 := url.PathUnescape(v)
			if err1 != nil || err2 != nil {
				return nil, dsnErrorf("has a malformed %%-escape in query parameter %d", i+1)
			}
			if key == "ssl" && value == "true" { // libpq's JDBC spelling
				key, value = "sslmode", "require"
			}
			if err := setKeyword(out, key, value, fmt.Sprintf("query parameter %d", i+1)); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// decodeInto percent-decodes one part of a URL into out[key]; an empty part
// sets nothing.
func decodeInto(out dsnSettings, key, raw, what string) error {
	if raw == "" {
		return nil
	}
	v, err := url.PathUnescape(raw)
	if err != nil {
		return dsnErrorf("has a malformed %%-escape in %s (a %% must be followed by two hexadecimal digits; write %%25 for %%)", what)
	}
	out[key] = v
	return nil
}

// parseDSNKeywords reads the keyword = value form, with libpq's quoting.
func parseDSNKeywords(s string) (dsnSettings, error) {
	out := dsnSettings{}
	space := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' }
	i, n := 0, 0
	for {
		for i < len(s) && space(s[i]) {
			i++
		}
		if i == len(s) {
			return out, nil
		}
		n++
		start := i
		for i < len(s) && s[i] != '=' && !space(s[i]) {
			i++
		}
		key := s[start:i]
		for i < len(s) && space(s[i]) {
			i++
		}
		if i == len(s) || s[i] != '=' {
			return nil, dsnErrorf("has no = after the keyword of parameter %d (keyword = value pairs, separated by spaces)", n)
		}
		i++
		for i < len(s) && space(s[i]) {
			i++
		}
		var v strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			for {
				if i == len(s) {
					return nil, dsnErrorf("has an unterminated quoted value in parameter %d", n)
				}
				c := s[i]
				i++
				if c == '\\' && i < len(s) {
					v.WriteByte(s[i])
					i++
					continue
				}
				if c == '\'' {
					break
				}
				v.WriteByte(c)
			}
		} else {
			for i < len(s) && !space(s[i]) {
				if s[i] == '\\' {
					i++
					if i == len(s) {
						break
					}
				}
				v.WriteByte(s[i])
				i++
			}
		}
		if err := setKeyword(out, key, v.String(), fmt.Sprintf("parameter %d", n)); err != nil {
			return nil, err
		}
	}
}

// setKeyword records one keyword's value (the last one given wins, as in
// libpq), ignores the keywords that do not matter to DittoFS, and refuses
// the rest. where says where the keyword is, for a keyword not to be quoted.
func setKeyword(out dsnSettings, key, value, where string) error {
	switch {
	case key == "":
		return dsnErrorf("has an empty keyword (%s)", where)
	case slices.Contains(dsnRead, key):
		if key == "requiressl" { // deprecated libpq spelling of sslmode=require
			if value == "1" {
				out["sslmode"] = "require"
			}
			return nil
		}
		out[key] = value
	case slices.Contains(dsnIgnored, key):
	case slices.Contains(dsnRefused, key):
		return dsnErrorf("sets %s, which DittoFS v0.29.0 cannot pass to Postgres", key)
	default:
		return dsnErrorf("has a keyword libpq does not know (%s)", where)
	}
	return nil
}

// postgresSettings are DittoFS's Postgres settings: the derived Secret's
// keys, in order, with the DITTOFS_DATABASE_POSTGRES_<setting> each feeds,
// and the libpq keyword each comes from.
var postgresSettings = []struct{ key, setting, keyword string }{
	{"host", "HOST", "host"},
	{"port", "PORT", "port"},
	{"database", "DATABASE", "dbname"},
	{"user", "USER", "user"},
	{"password", "PASSWORD", "password"},
	{"sslmode", "SSLMODE", "sslmode"},
	{"sslrootcert", "SSL_ROOT_CERT", "sslrootcert"},
}

var hostNameRE = regexp.MustCompile(`^[A-Za-z0-9_]([-A-Za-z0-9_.]*[A-Za-z0-9_.])?$`)

// postgresFromDSN merges a connection string with the Secret's own keys
// (explicit, which win key by key) into DittoFS's settings, with libpq's
// defaults where neither says: port 5432, sslmode prefer, the database named
// after the user. It checks each value as far as DittoFS would need it.
func postgresFromDSN(dsn dsnSettings, explicit map[string]string) (map[string]string, error) {
	out := map[string]string{}
	dsn = maps.Clone(dsn)
	if h, ok := dsn["hostaddr"]; ok {
		if _, both := dsn["host"]; both {
			return nil, dsnErrorf("the connection string sets both host and hostaddr; DittoFS connects by host alone")
		}
		dsn["host"] = h
	}
	for _, k := range postgresSettings {
		if v, ok := explicit[k.key]; ok {
			out[k.key] = v
		} else if v, ok := dsn[k.keyword]; ok && v != "" {
			out[k.key] = v
		}
	}
	if _, ok := out["port"]; !ok {
		out["port"] = "5432"
	}
	if _, ok := out["sslmode"]; !ok {
		out["sslmode"] = "prefer"
	}
	if _, ok := out["database"]; !ok && out["user"] != "" {
		out["database"] = out["user"]
	}
	for k, v := range out {
		if strings.ContainsRune(v, 0) {
			return nil, dsnErrorf("the %s holds a NUL character", k)
		}
	}
	host := out["host"]
	switch {
	case host == "":
		return nil, dsnErrorf("no host is named (libpq would use a Unix socket, which DittoFS in a pod does not have)")
	case strings.Contains(host, ","):
		return nil, dsnErrorf("several hosts are named; DittoFS connects to one")
	case strings.HasPrefix(host, "/") || strings.HasPrefix(host, "@"):
		return nil, dsnErrorf("the host is a Unix socket, which DittoFS in a pod does not have; name a host or an IP address")
	}
	if addr, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if addr.Zone() != "" {
			return nil, dsnErrorf("the host is an IPv6 address with a zone, which DittoFS cannot use")
		}
		if addr.Is6() && !addr.Is4In6() {
			// DittoFS joins host and port with fmt.Sprintf("%s:%d") into
			// its URL: an IPv6 literal must come bracketed.
			out["host"] = "[" + addr.String() + "]"
		} else {
			out["host"] = addr.String()
		}
	} else if !hostNameRE.MatchString(host) || len(host) > 253 {
		return nil, dsnErrorf("the host is neither a host name nor an IP address")
	}
	if p, err := strconv.Atoi(out["port"]); err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != out["port"] {
		return nil, dsnErrorf("the port is not a number from 1 to 65535 (in a URL, an IPv6 host goes in brackets: [::1]:5432)")
	}
	if !slices.Contains(sslModes, out["sslmode"]) {
		return nil, dsnErrorf("the sslmode is not one of %s", strings.Join(sslModes, ", "))
	}
	if out["user"] == "" {
		return nil, dsnErrorf("no user is named (libpq would take the operating system's user, which DittoFS's pod does not share)")
	}
	return out, nil
}
