package mappings

import (
	"os"
	"testing"

	"github.com/backfillhq/backfill/sink"
)

// goldenLibraryVersion is the version of context.library in the golden
// files and the examples. A test binary's build records no version of its
// own ((devel)), so the tests pin the one the writer reports.
const goldenLibraryVersion = "0.1.0"

func TestMain(m *testing.M) {
	sink.Version = goldenLibraryVersion
	os.Exit(m.Run())
}
