//go:build tools

// Package tools pins govulncheck and the Go vulnerability database it reads.
// The database is built offline: golang.org/x/vulndb's module zip (served by
// the Go module proxy) holds every report as OSV JSON under data/osv, and its
// cmd/indexdb writes them as a v1 database (index/db.json,
// index/modules.json, index/vulns.json, ID/<id>.json) that govulncheck reads
// with -db file://DIR. The vulndb version pinned here is the database's date.
// vulnsummary (the project's own, beside this file) reads govulncheck's JSON
// and fails on a called vulnerability in a required module.
package tools

import (
	_ "golang.org/x/vuln/cmd/govulncheck"
	_ "golang.org/x/vulndb/cmd/indexdb"
)
