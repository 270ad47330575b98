package harness

// T is what the harness needs of its caller: a *testing.T or *testing.B in
// tests, or the demo's own implementation (cmd-less: test/demo).
type T interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Fatal(args ...any)
	Skipf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}
