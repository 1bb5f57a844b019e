// Package version tells which build of backfill is running, from the
// build's own information (runtime/debug.ReadBuildInfo): the module
// version that go install and go build record, the version control
// revision of a build from a checkout, and the Go toolchain. It is read
// once per process. It must not know about rows, messages or files.
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
)

// ModulePath is the path of backfill's module, which a program that embeds
// the library lists among its dependencies.
const ModulePath = "github.com/backfillhq/backfill"

// devel is what Go records as the version of a module built from a
// folder rather than downloaded at a version.
const devel = "(devel)"

// stamp is the version a release build gives at link time
// (-ldflags "-X github.com/backfillhq/backfill/internal/version.stamp=v1.2.3"),
// for a build whose own information has none: one outside a checkout, as
// in a container build, or with -buildvcs=false. The build's information
// wins when it has a version (go install …@v1.2.3, go build in a checkout).
var stamp string

// Info is what a build of backfill knows about itself.
type Info struct {
	// Version is backfill's module version: v1.2.3 for go install …@v1.2.3,
	// a pseudo-version (v0.0.0-20261206055701-5c3d1b8a1f2e+dirty) for go
	// build in a checkout, the version stamped at link time, or (devel)
	// when none of them is known.
	Version string
	// Revision, Time and Modified describe the checkout the program was
	// built from (vcs.revision, vcs.time, vcs.modified); empty when it was
	// not built from one, or when backfill is a library of another program.
	Revision string
	Time     string // RFC 3339, the revision's commit time
	Modified bool   // the checkout had uncommitted changes
	// GoVersion is the Go toolchain that built the program (go1.26.0).
	GoVersion string
	// Platform is the operating system and architecture, GOOS/GOARCH.
	Platform string
}

var current = sync.OnceValue(func() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return fromBuildInfo(bi, stamp)
})

// Get returns the running build's Info, read once per process. It is safe
// for concurrent use.
func Get() Info { return current() }

// fromBuildInfo returns the Info of bi (nil when the program has none),
// with stamped as the version when bi records none.
func fromBuildInfo(bi *debug.BuildInfo, stamped string) Info {
	info := Info{Version: devel, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		if stamped != "" {
			info.Version = stamped
		}
		return info
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	var goos, goarch string
	for _, s := range bi.Settings {
		switch s.Key {
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	if goos != "" && goarch != "" {
		info.Platform = goos + "/" + goarch
	}
	mod := &bi.Main
	if mod.Path != ModulePath {
		mod = nil
		for _, dep := range bi.Deps {
			if dep.Path == ModulePath {
				mod = dep
				if dep.Replace != nil && dep.Replace.Version != "" {
					mod = dep.Replace
				}
				break
			}
		}
	}
	if mod != nil && mod.Version != "" && mod.Version != devel {
		info.Version = mod.Version
	} else if stamped != "" {
		info.Version = stamped
	}
	if bi.Main.Path != ModulePath {
		return info // the settings of the checkout are another program's
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is Info as backfill version prints it: the version on the first
// line, then the revision, its time and whether the checkout was modified
// (each only when known), and the Go toolchain and platform, one
// "name value" pair a line.
func (i Info) String() string {
	var b strings.Builder
	b.WriteString("backfill " + i.Version + "\n")
	if i.Revision != "" {
		b.WriteString("  revision  " + i.Revision + "\n")
		if i.Time != "" {
			b.WriteString("  time      " + i.Time + "\n")
		}
		if i.Modified {
			b.WriteString("  modified  true\n")
		} else {
			b.WriteString("  modified  false\n")
		}
	}
	b.WriteString("  go        " + i.GoVersion + " " + i.Platform + "\n")
	return b.String()
}
