package node

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// The kubelet (cgroupfs driver) puts each pod in a cgroup v1 group
// kubepods/[burstable|besteffort/]pod<uid>, and each container in a group
// named by its ID under it, in every hierarchy.
const cgroupV1 = "/sys/fs/cgroup"

// ContainerStats is what the kernel accounts for one container or pod.
type ContainerStats struct {
	// CPUSeconds is the CPU time used since the group was created
	// (cpuacct.usage).
	CPUSeconds float64
	// MemoryBytes is the memory charged now (memory.usage_in_bytes, page
	// cache included); MaxMemoryBytes its peak (memory.max_usage_in_bytes).
	MemoryBytes, MaxMemoryBytes int64
	// RSSBytes is anonymous memory (memory.stat total_rss); WorkingSetBytes
	// is usage less inactive file pages, the figure the kubelet reports.
	RSSBytes, WorkingSetBytes int64
	// PIDs are the processes in the group.
	PIDs []int
}

// PodCgroup returns the cgroup of a pod's first container (container
// false: the pod's own group), relative to each hierarchy's root.
func (n *Node) PodCgroup(ns, pod string, container bool) (string, error) {
	out, err := n.KubectlErr("get", "pod", "-n", ns, pod, "-o", "jsonpath={.metadata.uid} {.status.containerStatuses[0].containerID}")
	if err != nil {
		return "", err
	}
	f := strings.Fields(out)
	if len(f) != 2 {
		return "", fmt.Errorf("pod %s/%s has no running container yet (%q)", ns, pod, out)
	}
	uid, id := f[0], f[1][strings.Index(f[1], "://")+3:]
	var podDir string
	root := filepath.Join(cgroupV1, "memory")
	_ = filepath.WalkDir(filepath.Join(root, "kubepods"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if d.Name() == "pod"+uid {
			podDir = p
			return fs.SkipAll
		}
		if strings.Count(strings.TrimPrefix(p, root), "/") > 3 {
			return fs.SkipDir
		}
		return nil
	})
	if podDir == "" {
		return "", fmt.Errorf("no cgroup for pod %s/%s (uid %s)", ns, pod, uid)
	}
	dir := podDir
	if container {
		dir = filepath.Join(podDir, id)
		if _, err := os.Stat(dir); err != nil {
			return "", fmt.Errorf("no cgroup for container %s of pod %s/%s: %w", id, ns, pod, err)
		}
	}
	return strings.TrimPrefix(dir, root), nil
}

// CgroupStats reads a cgroup's accounting (rel as PodCgroup returns it).
func CgroupStats(rel string) (ContainerStats, error) {
	var st ContainerStats
	read := func(hier, file string) (string, error) {
		b, err := os.ReadFile(filepath.Join(cgroupV1, hier, rel, file))
		return strings.TrimSpace(string(b)), err
	}
	num := func(hier, file string) (int64, error) {
		s, err := read(hier, file)
		if err != nil {
			return 0, err
		}
		return strconv.ParseInt(s, 10, 64)
	}
	cpu, err := num("cpuacct", "cpuacct.usage")
	if err != nil {
		return st, err
	}
	st.CPUSeconds = float64(cpu) / 1e9
	if st.MemoryBytes, err = num("memory", "memory.usage_in_bytes"); err != nil {
		return st, err
	}
	if st.MaxMemoryBytes, err = num("memory", "memory.max_usage_in_bytes"); err != nil {
		return st, err
	}
	stat, err := read("memory", "memory.stat")
	if err != nil {
		return st, err
	}
	var inactive int64
	for _, line := range strings.Split(stat, "\n") {
		k, v, _ := strings.Cut(line, " ")
		x, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "total_rss":
			st.RSSBytes = x
		case "total_inactive_file":
			inactive = x
		}
	}
	st.WorkingSetBytes = max(st.MemoryBytes-inactive, 0)
	procs, err := read("memory", "cgroup.procs")
	if err != nil {
		return st, err
	}
	for _, f := range strings.Fields(procs) {
		if pid, err := strconv.Atoi(f); err == nil {
			st.PIDs = append(st.PIDs, pid)
		}
	}
	return st, nil
}

// PeakRSS is a process's peak resident set (VmHWM), in bytes.
func PeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM for pid %d", pid)
}

// SignalContainer sends sig to every process of a pod's first container
// (SIGSTOP freezes a server in place, SIGCONT thaws it), found through its
// cgroup, and returns their PIDs.
func (n *Node) SignalContainer(ns, pod string, sig syscall.Signal) ([]int, error) {
	rel, err := n.PodCgroup(ns, pod, true)
	if err != nil {
		return nil, err
	}
	st, err := CgroupStats(rel)
	if err != nil {
		return nil, err
	}
	if len(st.PIDs) == 0 {
		return nil, fmt.Errorf("container of %s/%s has no process", ns, pod)
	}
	for _, pid := range st.PIDs {
		if err := syscall.Kill(pid, sig); err != nil {
			return st.PIDs, fmt.Errorf("kill -%d %d: %w", sig, pid, err)
		}
	}
	return st.PIDs, nil
}
