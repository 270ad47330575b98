package hook

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPostgresFromDSN: the settings DittoFS gets from a connection string,
// in URL and key=value form, merged with the Secret's own keys (which win),
// with libpq's defaults; and what is refused, in words that quote nothing
// of the string.
func TestPostgresFromDSN(t *testing.T) {
	settings := func(host, port, db, user, password, sslmode string) map[string]string {
		m := map[string]string{"host": host, "port": port, "database": db, "user": user, "sslmode": sslmode}
		if password != "" {
			m["password"] = password
		}
		return m
	}
	for _, c := range []struct {
		name, dsn string
		explicit  map[string]string
		want      map[string]string
		err       string
	}{
		// URL form.
		{name: "upstream's sample", dsn: "postgres://user:password@host:5432/dittofs?sslmode=disable",
			want: settings("host", "5432", "dittofs", "user", "password", "disable")},
		{name: "postgresql scheme, defaults", dsn: "postgresql://dittofs:pw@db.example.com/ditto",
			want: settings("db.example.com", "5432", "ditto", "dittofs", "pw", "prefer")},
		{name: "percent-encoded password", dsn: "postgres://app:p%40ss%3Aw%2Frd%25%20x+y@db:6432/fs?sslmode=verify-full&sslrootcert=%2Fetc%2Fssl%2Fca.pem",
			want: map[string]string{"host": "db", "port": "6432", "database": "fs", "user": "app", "password": "p@ss:w/rd% x+y", "sslmode": "verify-full", "sslrootcert": "/etc/ssl/ca.pem"}},
		{name: "an unencoded @ in the password (the last @ ends it, as net/url reads it)", dsn: "postgres://app:p@ss@db/fs",
			want: settings("db", "5432", "fs", "app", "p@ss", "prefer")},
		{name: "IPv6 host", dsn: "postgres://app:pw@[2001:db8::1]:5433/fs",
			want: settings("[2001:db8::1]", "5433", "fs", "app", "pw", "prefer")},
		{name: "IPv6 loopback, no port", dsn: "postgres://app:pw@[::1]/fs",
			want: settings("[::1]", "5432", "fs", "app", "pw", "prefer")},
		{name: "missing database: the user's name, as libpq", dsn: "postgres://app:pw@db:5432",
			want: settings("db", "5432", "app", "app", "pw", "prefer")},
		{name: "missing database, a slash", dsn: "postgres://app:pw@db/?sslmode=require",
			want: settings("db", "5432", "app", "app", "pw", "require")},
		{name: "query parameters override, ssl=true, ignored ones", dsn: "postgres://db/fs?user=app&password=a%26b&host=db2&application_name=x&connect_timeout=5&ssl=true",
			want: settings("db2", "5432", "fs", "app", "a&b", "require")},
		{name: "no password (trust or peer)", dsn: "postgres://app@db/fs",
			want: settings("db", "5432", "fs", "app", "", "prefer")},
		{name: "a trailing newline (echo without -n)", dsn: "postgres://app:pw@db/fs\n",
			want: settings("db", "5432", "fs", "app", "pw", "prefer")},

		// key=value form.
		{name: "key=value", dsn: "host=db port=5433 dbname=fs user=app password=pw sslmode=require",
			want: settings("db", "5433", "fs", "app", "pw", "require")},
		{name: "key=value, quoting and escapes", dsn: `host = db  user=app password='it\'s a\\b c' dbname=my\ db`,
			want: settings("db", "5432", "my db", "app", "it's a\\b c", "prefer")},
		{name: "key=value, empty quoted password, the last of a keyword wins", dsn: "host=a host=db user=app password='' dbname=fs",
			want: settings("db", "5432", "fs", "app", "", "prefer")},
		{name: "key=value, IPv6 host", dsn: "host=2001:db8::7 user=app dbname=fs",
			want: settings("[2001:db8::7]", "5432", "fs", "app", "", "prefer")},
		{name: "key=value, hostaddr for host", dsn: "hostaddr=10.0.0.5 user=app",
			want: settings("10.0.0.5", "5432", "app", "app", "", "prefer")},
		{name: "key=value, missing database", dsn: "host=db user=app password=pw",
			want: settings("db", "5432", "app", "app", "pw", "prefer")},

		// The Secret's own keys win, key by key.
		{name: "explicit keys win", dsn: "postgres://app:old@db:5432/fs?sslmode=disable",
			explicit: map[string]string{"password": "new", "sslmode": "verify-ca", "host": "other"},
			want:     settings("other", "5432", "fs", "app", "new", "verify-ca")},
		{name: "an explicit user names the default database", dsn: "host=db", explicit: map[string]string{"user": "bob"},
			want: settings("db", "5432", "bob", "bob", "", "prefer")},

		// Refused, quoting nothing.
		{name: "empty", dsn: "  ", err: "the connection string is empty"},
		{name: "another scheme", dsn: "mysql://u:secretpw@h/db", err: "the connection string is a URL of a scheme other than postgres:// or postgresql://"},
		{name: "bad escape in the password", dsn: "postgres://u:pa%zzsecretpw@h/db", err: "the connection string has a malformed %-escape in the password (a % must be followed by two hexadecimal digits; write %25 for %)"},
		{name: "several hosts", dsn: "postgres://u:secretpw@h1:5432,h2:5432/db", err: "the connection string names several hosts; DittoFS connects to one"},
		{name: "unbracketed IPv6", dsn: "postgres://u:secretpw@::1/db", err: "the connection string has an IPv6 host without brackets (write [::1]:5432)"},
		{name: "unclosed bracket", dsn: "postgres://u:secretpw@[::1/db", err: "the connection string has an IPv6 host without its closing ]"},
		{name: "no host", dsn: "postgres://u:secretpw@/db", err: "no host is named (libpq would use a Unix socket, which DittoFS in a pod does not have)"},
		{name: "a Unix socket", dsn: "host=/var/run/postgresql user=u password=secretpw", err: "the host is a Unix socket, which DittoFS in a pod does not have; name a host or an IP address"},
		{name: "no user", dsn: "host=db password=secretpw", err: "no user is named (libpq would take the operating system's user, which DittoFS's pod does not share)"},
		{name: "a bad port", dsn: "postgres://u:secretpw@h:54x2/db", err: "the port is not a number from 1 to 65535 (in a URL, an IPv6 host goes in brackets: [::1]:5432)"},
		{name: "a bad sslmode", dsn: "postgres://u:secretpw@h/db?sslmode=on", err: "the sslmode is not one of disable, allow, prefer, require, verify-ca, verify-full"},
		{name: "a password where a keyword belongs", dsn: "host=h user=u secretpw", err: "the connection string has no = after the keyword of parameter 3 (keyword = value pairs, separated by spaces)"},
		{name: "an unknown keyword", dsn: "host=h user=u secretpw=x", err: "the connection string has a keyword libpq does not know (parameter 3)"},
		{name: "an unterminated quote", dsn: "host=h user=u password='secretpw", err: "the connection string has an unterminated quoted value in parameter 3"},
		{name: "a client certificate", dsn: "host=h user=u password=secretpw sslcert=/c.pem", err: "the connection string sets sslcert, which DittoFS v0.29.0 cannot pass to Postgres"},
		{name: "a query parameter without =", dsn: "postgres://u:secretpw@h/db?sslmode", err: "the connection string has a query parameter without = (parameter 1)"},
		{name: "host and hostaddr", dsn: "host=h hostaddr=10.0.0.1 user=u password=secretpw", err: "the connection string sets both host and hostaddr; DittoFS connects by host alone"},
		{name: "a host name with a slash", dsn: "postgres://u:secretpw@a%2Fb/db", err: "the host is neither a host name nor an IP address"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dsn, err := parseDSN(c.dsn)
			var got map[string]string
			if err == nil {
				got, err = postgresFromDSN(dsn, c.explicit)
			}
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				if strings.Contains(err.Error(), "secretpw") {
					t.Fatalf("the error quotes the string: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(c.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// FuzzDSN: whatever a connection string holds, reading it never panics, and
// an error never quotes the password it carries, in either form.
func FuzzDSN(f *testing.F) {
	for _, seed := range []string{"postgres://u:%s@h:5432/db?sslmode=disable", "host=h user=u password=%s", "host=h password='%s' x", "postgres://u:%s@[::1/db", "%s"} {
		f.Add(seed)
	}
	const marker = "Zq8PasswordMarker"
	f.Fuzz(func(t *testing.T, s string) {
		for _, dsn := range []string{strings.ReplaceAll(s, "%s", marker), "postgres://u:" + marker + "@" + s, s + " password=" + marker, "password=" + marker + " " + s} {
			settings, err := parseDSN(dsn)
			if err == nil {
				_, err = postgresFromDSN(settings, nil)
			}
			if err != nil && strings.Contains(err.Error(), marker) {
				t.Fatalf("%q: the error quotes the password: %v", dsn, err)
			}
		}
	})
}
