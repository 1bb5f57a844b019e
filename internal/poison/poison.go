// Package poison is a switch for tests: with it on, memory that code
// hands back for reuse is overwritten with a pattern and never handed out
// again, so that anything still reading it after it was handed back reads
// the pattern, and a test comparing output sees it, rather than passing
// while the memory happens to be unchanged. It is off in every ordinary
// run.
package poison

import "sync/atomic"

var on atomic.Bool

// Enable turns poisoning on for the rest of the process. Tests call it
// from TestMain, before anything is read.
func Enable() { on.Store(true) }

// Enabled reports whether poisoning is on.
func Enabled() bool { return on.Load() }
