package mappings

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEMappingReferenceParses keeps the README's annotated mapping,
// which lists every key, a mapping that ParseSpec accepts.
func TestREADMEMappingReferenceParses(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	at := strings.Index(s, "\n## The mapping\n")
	if at < 0 {
		t.Fatal("README has no section \"The mapping\"")
	}
	s = s[at:]
	open := strings.Index(s, "```yaml\n")
	if open < 0 {
		t.Fatal("the section \"The mapping\" has no yaml block")
	}
	s = s[open+len("```yaml\n"):]
	yaml, _, ok := strings.Cut(s, "```")
	if !ok || !strings.Contains(yaml, "optional:") {
		t.Fatalf("the mapping reference is not where it was:\n%s", yaml)
	}
	if _, err := ParseSpec([]byte(yaml), "README.md"); err != nil {
		t.Fatalf("the README's mapping reference: %v", err)
	}
}
