package version

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	settings := []debug.BuildSetting{
		{Key: "CGO_ENABLED", Value: "0"},
		{Key: "GOARCH", Value: "arm64"},
		{Key: "GOOS", Value: "darwin"},
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "5c3d1b8a1f2e0c7d9b6a5e4f3d2c1b0a9f8e7d6c"},
		{Key: "vcs.time", Value: "2026-12-06T05:57:01Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	here := runtime.GOOS + "/" + runtime.GOARCH
	for _, c := range []struct {
		name    string
		bi      *debug.BuildInfo
		stamped string
		want    Info
	}{
		{
			name: "go install at a version",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: ModulePath, Version: "v1.2.3"}, Settings: settings[:3]},
			want: Info{Version: "v1.2.3", GoVersion: "go1.26.0", Platform: "darwin/arm64"},
		},
		{
			name:    "the build's version wins over the stamped one",
			bi:      &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: ModulePath, Version: "v1.2.3"}},
			stamped: "v9.9.9",
			want:    Info{Version: "v1.2.3", GoVersion: "go1.26.0", Platform: here},
		},
		{
			name: "go build in a modified checkout",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: ModulePath, Version: "v0.0.0-20261206055701-5c3d1b8a1f2e+dirty"}, Settings: settings},
			want: Info{Version: "v0.0.0-20261206055701-5c3d1b8a1f2e+dirty", Revision: "5c3d1b8a1f2e0c7d9b6a5e4f3d2c1b0a9f8e7d6c", Time: "2026-12-06T05:57:01Z", Modified: true, GoVersion: "go1.26.0", Platform: "darwin/arm64"},
		},
		{
			name:    "a container build, stamped at link time",
			bi:      &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: ModulePath, Version: "(devel)"}, Settings: settings[:3]},
			stamped: "v1.2.3",
			want:    Info{Version: "v1.2.3", GoVersion: "go1.26.0", Platform: "darwin/arm64"},
		},
		{
			name: "built from a folder, not stamped",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: ModulePath, Version: "(devel)"}},
			want: Info{Version: "(devel)", GoVersion: "go1.26.0", Platform: here},
		},
		{
			name: "a library of another program",
			bi: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "example.com/app", Version: "v0.4.0"}, Settings: settings,
				Deps: []*debug.Module{{Path: "golang.org/x/sync", Version: "v0.25.0"}, {Path: ModulePath, Version: "v1.2.3"}}},
			want: Info{Version: "v1.2.3", GoVersion: "go1.26.0", Platform: "darwin/arm64"},
		},
		{
			name: "a library replaced by another version",
			bi: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "example.com/app"},
				Deps: []*debug.Module{{Path: ModulePath, Version: "v1.2.3", Replace: &debug.Module{Path: "example.com/fork", Version: "v1.2.4-fix"}}}},
			want: Info{Version: "v1.2.4-fix", GoVersion: "go1.26.0", Platform: here},
		},
		{
			name: "a library replaced by a folder",
			bi: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "example.com/app"},
				Deps: []*debug.Module{{Path: ModulePath, Version: "v1.2.3", Replace: &debug.Module{Path: "../backfill"}}}},
			want: Info{Version: "v1.2.3", GoVersion: "go1.26.0", Platform: here},
		},
		{
			name:    "no build information",
			stamped: "v1.2.3",
			want:    Info{Version: "v1.2.3", GoVersion: runtime.Version(), Platform: here},
		},
		{
			name: "no build information, not stamped",
			want: Info{Version: "(devel)", GoVersion: runtime.Version(), Platform: here},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := fromBuildInfo(c.bi, c.stamped); got != c.want {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestInfoString(t *testing.T) {
	for _, c := range []struct {
		info Info
		want string
	}{
		{
			Info{Version: "v1.2.3", GoVersion: "go1.26.0", Platform: "linux/amd64"},
			"backfill v1.2.3\n  go        go1.26.0 linux/amd64\n",
		},
		{
			Info{Version: "v0.0.0-20261206055701-5c3d1b8a1f2e+dirty", Revision: "5c3d1b8a1f2e0c7d9b6a5e4f3d2c1b0a9f8e7d6c", Time: "2026-12-06T05:57:01Z", Modified: true, GoVersion: "go1.26.0", Platform: "darwin/arm64"},
			"backfill v0.0.0-20261206055701-5c3d1b8a1f2e+dirty\n" +
				"  revision  5c3d1b8a1f2e0c7d9b6a5e4f3d2c1b0a9f8e7d6c\n" +
				"  time      2026-12-06T05:57:01Z\n" +
				"  modified  true\n" +
				"  go        go1.26.0 darwin/arm64\n",
		},
		{
			Info{Version: "v1.2.3", Revision: "5c3d1b8a1f2e0c7d9b6a5e4f3d2c1b0a9f8e7d6c", GoVersion: "go1.26.0", Platform: "windows/arm64"},
			"backfill v1.2.3\n" +
				"  revision  5c3d1b8a1f2e0c7d9b6a5e4f3d2c1b0a9f8e7d6c\n" +
				"  modified  false\n" +
				"  go        go1.26.0 windows/arm64\n",
		},
	} {
		if got := c.info.String(); got != c.want {
			t.Errorf("%+v:\ngot\n%s\nwant\n%s", c.info, got, c.want)
		}
	}
}

// TestGetOnce reads the running test binary's information, which Go
// records without a version, and returns the same Info every time.
func TestGetOnce(t *testing.T) {
	a, b := Get(), Get()
	if a != b {
		t.Errorf("Get changed: %+v, then %+v", a, b)
	}
	want := Info{Version: "(devel)", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if stamp != "" {
		want.Version = stamp
	}
	if a.Version != want.Version || a.GoVersion != want.GoVersion || a.Platform != want.Platform {
		t.Errorf("Get() = %+v, want the version, Go and platform of %+v", a, want)
	}
}
