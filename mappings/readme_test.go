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

// readmeFragmentBase completes a README yaml block that shows only some
// keys of a mapping (a timestamp:, say) into a whole mapping, for a block
// without a type of its own.
const readmeFragmentBase = "type: track\nuserId: user_id\nevent: {value: Signed Up}\n"

// readmeSkip lists the README's yaml blocks that are not mappings at all,
// by their first line, with the reason. None is, today.
var readmeSkip = map[string]string{}

// TestREADMEEveryMappingCompiles parses and compiles every ```yaml block of
// the README: a whole mapping as it is, a fragment (no type:) completed
// with readmeFragmentBase. A block that is no mapping must be listed in
// readmeSkip with a reason.
func TestREADMEEveryMappingCompiles(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	blocks := 0
	for {
		open := strings.Index(s, "```yaml\n")
		if open < 0 {
			break
		}
		line := 1 + strings.Count(string(b[:len(b)-len(s)+open]), "\n")
		s = s[open+len("```yaml\n"):]
		yaml, rest, ok := strings.Cut(s, "```")
		if !ok {
			t.Fatalf("README.md:%d: the yaml block does not end", line)
		}
		s = rest
		blocks++
		first, _, _ := strings.Cut(yaml, "\n")
		if reason, ok := readmeSkip[first]; ok {
			t.Logf("README.md:%d: not compiled: %s", line, reason)
			continue
		}
		if !strings.HasPrefix(yaml, "type:") && !strings.Contains(yaml, "\ntype:") && !strings.Contains(yaml, "\nmessages:") {
			yaml = readmeFragmentBase + yaml
		}
		spec, err := ParseSpec([]byte(yaml), "README.md")
		if err != nil {
			t.Errorf("README.md:%d: the yaml block: %v\n%s", line, err, yaml)
			continue
		}
		if _, err := spec.Compile(nil, Options{}); err != nil {
			t.Errorf("README.md:%d: the yaml block does not compile: %v\n%s", line, err, yaml)
		}
	}
	if blocks < 4 {
		t.Fatalf("the README has %d yaml blocks, want at least the 4 it had", blocks)
	}
}
