//go:build crashpoints

package importer

// SetCrashHook makes every run call hook at each of its crash points, with
// the point's name, from whichever goroutine reaches it. It exists only in
// builds with the tag crashpoints, which the command's crash tests make to
// stop an import where a kill matters; call it before the first run.
func SetCrashHook(hook func(point string)) { crashHook = hook }
