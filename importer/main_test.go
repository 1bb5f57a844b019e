package importer

import (
	"os"
	"testing"

	"github.com/backfillhq/backfill/internal/poison"
)

// TestMain runs every test with the memory of rows poisoned once the
// assemble stage releases it (see assembler.take): whatever still reads a
// row after that reads a pattern, and the test comparing the output fails,
// rather than passing while the memory happens to be unchanged.
func TestMain(m *testing.M) {
	poison.Enable()
	os.Exit(m.Run())
}
