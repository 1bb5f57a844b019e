package sink

import (
	"os"
	"testing"
)

// testLibraryVersion is the version of context.library in the tests'
// messages. A test binary's build records no version of its own
// ((devel)), so the tests pin one: the messages they expect, and their
// sizes against the caps, do not depend on how the tests were built.
const testLibraryVersion = "0.1.0"

func TestMain(m *testing.M) {
	Version = testLibraryVersion
	os.Exit(m.Run())
}
