package mappings

import (
	"strings"
	"testing"
)

func TestPresets(t *testing.T) {
	names := Presets()
	if strings.Join(names, ",") != "amplitude,ga4,mixpanel,mixpanel-people,posthog,segment" {
		t.Fatalf("Presets() = %q", names)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			s, err := LoadSpec("preset:" + name)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name() != "preset:"+name {
				t.Errorf("Name() = %q", s.Name())
			}
			src, err := PresetSource(name)
			if err != nil {
				t.Fatal(err)
			}
			// A copy of the preset, edited or not, is a mapping like any other.
			copied, err := ParseSpec(src, name+".yaml")
			if err != nil {
				t.Fatal(err)
			}
			if copied.Fingerprint() != s.Fingerprint() {
				t.Errorf("the preset and its text have different fingerprints")
			}
			if !strings.HasPrefix(string(src), "# preset:"+name+": ") {
				t.Errorf("the preset does not start with a comment naming it")
			}
			if sum := PresetSummary(name); sum == "" || strings.HasPrefix(sum, "#") || len(sum) > 90 {
				t.Errorf("PresetSummary(%q) = %q, want what it reads in one short line", name, sum)
			}
			if _, err := s.Compile(nil, Options{}); err != nil {
				t.Errorf("Compile: %v", err)
			}
			if ok, _ := goldenRowsIfAny(goldenDir + "/preset_" + name); !ok {
				t.Errorf("no golden case testdata/mappings/preset_%s", name)
			}
		})
	}
	if !mustLoad(t, "preset:segment").Passthrough() {
		t.Errorf("preset:segment is not passthrough")
	}
}

func mustLoad(t *testing.T, path string) *Spec {
	t.Helper()
	s, err := LoadSpec(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestUnknownPreset(t *testing.T) {
	for _, name := range []string{"preset:heap", "preset:", "preset:../spec", "preset:segment.yaml"} {
		_, err := LoadSpec(name)
		if err == nil || !strings.Contains(err.Error(), "unknown mapping preset") || !strings.Contains(err.Error(), "amplitude, ga4, mixpanel, mixpanel-people, posthog, segment") {
			t.Errorf("LoadSpec(%q) = %v", name, err)
		}
	}
	if _, err := PresetSource("nope"); err == nil {
		t.Errorf("PresetSource of an unknown preset: no error")
	}
}

// TestPresetSchemaCheck makes sure a preset refuses, before any
// row, a file that is not of its kind.
func TestPresetSchemaCheck(t *testing.T) {
	s := mustLoad(t, "preset:amplitude")
	_, err := s.Compile([]string{"user_id", "ts", "event"}, Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "preset:amplitude:") || !strings.Contains(err.Error(), "is not in the file") {
		t.Errorf("Compile with a foreign schema: %v", err)
	}
}

// TestPresetPathsInGoldenRows shows each NDJSON preset's golden rows to
// a PathObserver, as an import does before it sends anything: every
// column a preset names and does not list as optional occurs in them, so
// that an export like them is not refused.
func TestPresetPathsInGoldenRows(t *testing.T) {
	for _, name := range Presets() {
		t.Run(name, func(t *testing.T) {
			s := mustLoad(t, "preset:"+name)
			rows, schema := goldenRows(t, goldenDir+"/preset_"+name)
			if schema != nil {
				t.Skip("a CSV case: its header is checked by Compile")
			}
			o := s.NewPathObserver()
			for _, row := range rows {
				o.Observe(row)
			}
			if err := o.Err(); err != nil {
				t.Errorf("the golden rows: %v", err)
			}
			if len(rows) < 20 {
				t.Errorf("%d golden rows, want at least 20 realistic lines of the export", len(rows))
			}
		})
	}
}
