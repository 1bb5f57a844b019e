//go:build !race

package readers

// raceEnabled reports a build with the race detector.
const raceEnabled = false
