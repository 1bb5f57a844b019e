//go:build crashpoints

package readers

// SetFileEndHook makes every reader of a regular file call hook with the
// file's path when it reaches the end the file had when it was opened,
// before it checks that the file did not change. It exists only in builds
// with the tag crashpoints, whose tests change a file at that point; call
// it before the first file is opened.
func SetFileEndHook(hook func(path string)) { atFileEnd = hook }
