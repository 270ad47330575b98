package dittofstest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dittofs-hook/dittofs-hook/test/harness"
)

// Postgres is a real PostgreSQL server, Debian's postgresql package
// (/usr/lib/postgresql/<major>/bin), started by a test on the addresses it
// names and stopped when the test ends. It logs every connection
// (log_connections), so a test can show who connected to which database.
// Password authentication is scram-sha-256 over TCP; the test's own
// statements go through the Unix socket in its directory.
type Postgres struct {
	// Port it listens on, at every address of Listen.
	Port int
	// Dir holds the data directory, the socket and postgres.log.
	Dir  string
	proc *harness.Process
	bin  string
	cred *syscall.Credential
}

// PostgresPackage is the Debian package StartPostgres runs; the node tier
// installs it (test/run.sh).
const PostgresPackage = "postgresql"

// postgresBin is the newest installed major version's bin directory.
func postgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return va - vb
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "postgres")); err == nil {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("no PostgreSQL server under /usr/lib/postgresql (Debian package %s)", PostgresPackage)
}

// PostgresOptions configure StartPostgres.
type PostgresOptions struct {
	// Listen are the addresses it listens on (e.g. 127.0.0.1 and ::1).
	Listen []string
	// Clients are the networks, besides loopback, whose clients may log
	// in with a password (CIDRs: pg_hba.conf's host lines), e.g. the
	// node's pod network.
	Clients []string
}

// StartPostgres initialises a fresh cluster and starts it at a free port.
// PostgreSQL refuses to run as root: as root, it runs as the postgres user
// the Debian package made.
func StartPostgres(t harness.T, o PostgresOptions) *Postgres {
	t.Helper()
	listen := o.Listen
	bin, err := postgresBin()
	if err != nil {
		t.Fatalf("%v: apt-get install %s", err, PostgresPackage)
	}
	p := &Postgres{bin: bin, Port: freePortOn(t, listen)}
	// Not t.TempDir(): its parents are the test's, mode 0700, which the
	// postgres user may not enter.
	if p.Dir, err = os.MkdirTemp("", "dittofs-hook-postgres-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(p.Dir) })
	if os.Getuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, PostgreSQL needs the postgres user (Debian package %s): %v", PostgresPackage, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(p.Dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(p.Dir, "data")
	p.run(t, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-E", "UTF8", "--no-locale",
		"--auth-local=trust", "--auth-host=scram-sha-256")
	if len(o.Clients) > 0 {
		hba := filepath.Join(data, "pg_hba.conf")
		f, err := os.OpenFile(hba, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, cidr := range o.Clients {
			fmt.Fprintf(f, "host all all %s scram-sha-256\n", cidr)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	p.proc = harness.StartWithAttr(t, p.Dir, "postgres", filepath.Join(bin, "postgres"), nil, func(a *syscall.SysProcAttr) { a.Credential = p.cred },
		"-D", data, "-p", strconv.Itoa(p.Port), "-k", p.Dir, "-c", "listen_addresses="+strings.Join(listen, ","),
		"-c", "log_connections=on", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if p.proc.Exited() {
			t.Fatalf("PostgreSQL exited at start:\n%s", p.proc.Tail())
		}
		if out, err := p.command(filepath.Join(bin, "pg_isready"), "-h", p.Dir, "-p", strconv.Itoa(p.Port)).CombinedOutput(); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL not ready within 60 s: %s\n%s", out, p.proc.Tail())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return p
}

// freePortOn is a TCP port free on every address a moment ago.
func freePortOn(t harness.T, addrs []string) int {
	t.Helper()
	for range 20 {
		port := harness.FreePort(t)
		free := true
		for _, a := range addrs {
			ln, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(port)))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return port
		}
	}
	t.Fatalf("no port free on %v", addrs)
	return 0
}

func (p *Postgres) command(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	cmd.Dir = p.Dir
	return cmd
}

func (p *Postgres) run(t harness.T, bin string, args ...string) string {
	t.Helper()
	out, err := p.command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// SQL runs statements as the superuser in database db (postgres when
// empty), through the Unix socket, and returns psql's unaligned output.
func (p *Postgres) SQL(t harness.T, db, sql string) string {
	t.Helper()
	if db == "" {
		db = "postgres"
	}
	psql := "/usr/bin/psql"
	if _, err := os.Stat(filepath.Join(p.bin, "psql")); err == nil {
		psql = filepath.Join(p.bin, "psql")
	}
	return strings.TrimSpace(p.run(t, psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", p.Dir, "-p", strconv.Itoa(p.Port), "-U", "postgres", "-d", db, "-c", sql))
}

// Log is PostgreSQL's log so far.
func (p *Postgres) Log() string {
	b, _ := os.ReadFile(p.proc.Log)
	return string(b)
}
