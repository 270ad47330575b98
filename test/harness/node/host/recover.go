package host

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// RemoveNodeDir removes the node's directory, all but its logs when keep.
func RemoveNodeDir(dir, logDir string, keep bool) {
	if !keep {
		_ = os.RemoveAll(dir)
		return
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if p := filepath.Join(dir, e.Name()); p != logDir {
			_ = os.RemoveAll(p)
		}
	}
}

// RecoverLocked cleans up after a node whose run ended without its teardown
// (the lock must be held). It returns what it could not undo.
func RecoverLocked() []string {
	st, err := readState()
	if err != nil {
		return []string{err.Error()}
	}
	if st == nil {
		return nil
	}
	fmt.Fprintf(os.Stderr, "node: cleaning up after a run that ended without its teardown (its logs: %s)\n", st.LogDir)
	errs := Restore(st.Before)
	RemoveNodeDir(st.Dir, st.LogDir, true)
	if len(errs) == 0 {
		_ = os.Remove(StatePath)
	}
	return errs
}

// RecoverNode takes the node lock and cleans up after a run that ended
// without its teardown (go test's timeout kills without cleanups);
// `go run ./test/harness/node/nodeclean` calls it. Nothing to do is no error.
func RecoverNode() error {
	f, err := os.OpenFile(LockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }()
	if errs := RecoverLocked(); len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

// SnapshotHostLocked takes a snapshot of the host while holding the node
// lock, so that no other node run (another test binary, another worktree)
// is half-way up or down in it: a test that runs a node in another process
// (the demo) compares two such snapshots.
func SnapshotHostLocked() (*HostSnapshot, error) {
	f, err := os.OpenFile(LockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return nil, err
	}
	defer func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }()
	return TakeHostSnapshot(), nil
}
