// Package dittofstest starts real DittoFS v0.29.0 servers on loopback
// (StartDittoFS, StartDittoFSTLS: the API over plain HTTP, TLS or mutual
// TLS, its control plane on SQLite or on Postgres), PostgreSQL from
// Debian's package (StartPostgres), and a fault proxy between the hook and
// a DittoFS (StartFaultProxy). DittoFSAPI is an administrator's client of
// a DittoFS API that runs elsewhere (a pod of the node tier). It is named
// after net/http/httptest (and the repository's hooktest) so that it sits
// beside the hook's DittoFS client, package dittofs, without an alias.
//
// How it stops: each server is stopped by its PID (SIGTERM, then SIGKILL
// after 10 s) in a t.Cleanup when the test ends, or sooner with
// DittoFS.Stop (DittoFS.Restart starts it again on its data); the fault
// proxy's listener is closed in a t.Cleanup. Starting a DittoFS holds a
// machine-wide file lock under the temporary directory while its adapters
// still bind their default ports (with DittoFSOptions.DefaultPorts, until
// the test ends).
package dittofstest
