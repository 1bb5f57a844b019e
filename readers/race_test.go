//go:build race

package readers

// raceEnabled reports a build with the race detector, whose bookkeeping
// makes heap measurements meaningless and large reads slow.
const raceEnabled = true
