//go:build !unix

package importer

import "os"

// processAlive reports whether a process with id pid exists on this host:
// where a process cannot be looked up without a handle to it, one that
// cannot be found is gone, and any other answer counts as alive, so that
// a lock is then taken over only once its heartbeat is stale.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}
