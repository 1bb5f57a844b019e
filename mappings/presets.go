package mappings

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// presetPrefix marks a preset where LoadSpec takes a path: "preset:NAME".
const presetPrefix = "preset:"

// presetFiles are the presets: presets/NAME.yaml, mapping specs like any
// other, with comments on each line, for users to copy and edit. The
// first line of each is "# preset:NAME: " and what the preset reads.
//
//go:embed presets/*.yaml
var presetFiles embed.FS

// Presets returns the names of the built-in mapping specs, sorted, for
// LoadSpec("preset:NAME"):
//
//   - segment: rows that are Segment messages already, such as the files
//     of Segment's S3 archive (passthrough: true).
//   - mixpanel: the NDJSON of Mixpanel's raw event export.
//   - mixpanel-people: Mixpanel's user profiles (Engage API export).
//   - amplitude: Amplitude's Export API (a .zip of gzipped NDJSON).
//   - ga4: GA4's BigQuery export, as NDJSON or Parquet.
//   - posthog: PostHog's event export.
func Presets() []string {
	entries, _ := fs.ReadDir(presetFiles, "presets")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// PresetSummary returns what the preset NAME reads, in one line (the
// rest of its first line), or "" for an unknown preset.
func PresetSummary(name string) string {
	data, err := presetData(name)
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimPrefix(first, "# "+presetPrefix+name+": ")
}

// PresetSource returns the text of the preset NAME, to be saved and edited.
func PresetSource(name string) ([]byte, error) {
	return presetData(name)
}

func presetData(name string) ([]byte, error) {
	if strings.ContainsAny(name, "/\\.") || name == "" {
		return nil, fmt.Errorf("unknown mapping preset %q (want one of %s)", name, strings.Join(Presets(), ", "))
	}
	data, err := presetFiles.ReadFile("presets/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("unknown mapping preset %q (want one of %s)", name, strings.Join(Presets(), ", "))
	}
	return data, nil
}
