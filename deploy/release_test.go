package deploy_test

import (
	"crypto/sha256"
	"debug/macho"
	"debug/pe"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// releaseTargets are the platforms released as static binaries.
var releaseTargets = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64", "windows/arm64"}

// makeIn runs make with args in the repository's root, with the
// environment env added, and returns its output.
func makeIn(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("make", append([]string{"-s"}, args...)...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// crosscheck builds deploy/crosscheck, the type-checker of a package for
// a platform, once for the tests, and returns its path.
func crosscheck(t *testing.T) string {
	t.Helper()
	crosscheckOnce.Do(func() {
		dir, err := os.MkdirTemp("", "crosscheck-")
		if err != nil {
			crosscheckErr = err
			return
		}
		crosscheckBin = filepath.Join(dir, "crosscheck")
		cmd := exec.Command("go", "build", "-o", crosscheckBin, "./deploy/crosscheck")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			crosscheckErr = fmt.Errorf("go build ./deploy/crosscheck: %w: %s", err, out)
		}
	})
	if crosscheckErr != nil {
		t.Fatal(crosscheckErr)
	}
	return crosscheckBin
}

// TestMain removes what crosscheck built once the tests are done.
func TestMain(m *testing.M) {
	code := m.Run()
	if crosscheckBin != "" {
		os.RemoveAll(filepath.Dir(crosscheckBin))
	}
	os.Exit(code)
}

var (
	crosscheckOnce sync.Once
	crosscheckBin  string
	crosscheckErr  error
)

// TestReleaseTargetsTypeCheck type-checks the command and everything it
// imports for each release target, as the target's static build sees them
// (its build constraints, no cgo). A build of each target from a cold
// cache takes about 250 s of CPU, too long for make test; type-checking
// takes about 6 s and finds what breaks a cross-compile in the code: a
// call that exists on one system only, a file left out by its build
// constraints, a dependency that needs cgo. make release-check builds the
// targets for real (TestReleaseCrossCompiles).
func TestReleaseTargetsTypeCheck(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	if got := strings.Fields(makeIn(t, nil, "release-targets")); !slices.Equal(got, releaseTargets) {
		t.Fatalf("make release-targets: %q, want %q", got, releaseTargets)
	}
	bin := crosscheck(t)
	for _, target := range releaseTargets {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			goos, goarch, _ := strings.Cut(target, "/")
			cmd := exec.Command(bin, "-os", goos, "-arch", goarch, "./cmd/backfill")
			cmd.Dir = ".."
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.HasSuffix(string(out), " packages type-checked\n") {
				t.Errorf("crosscheck %s: %v\n%s", target, err, out)
			}
		})
	}
}

// TestCrosscheckFindsPlatformErrors type-checks a module that calls
// syscall.Flock, which Windows does not have, for Linux and for Windows:
// the check passes on one and names the call on the other.
func TestCrosscheckFindsPlatformErrors(t *testing.T) {
	bin := crosscheck(t)
	dir := t.TempDir()
	for name, text := range map[string]string{
		"go.mod":  "module example.com/probe\n\ngo 1.26\n",
		"main.go": "package main\n\nimport \"syscall\"\n\nfunc main() { _ = syscall.Flock(0, syscall.LOCK_EX) }\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-os", "linux", "-arch", "amd64", ".")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "linux/amd64: ") || !strings.HasSuffix(string(out), " packages type-checked\n") {
		t.Errorf("crosscheck linux/amd64: %v, %q; want the packages counted", err, out)
	}
	cmd = exec.Command(bin, "-os", "windows", "-arch", "amd64", ".")
	cmd.Dir = dir
	out, err = cmd.CombinedOutput()
	main := filepath.Join(dir, "main.go")
	want := "windows/amd64: " + main + ":5:27: undefined: syscall.Flock\n" +
		"windows/amd64: " + main + ":5:44: undefined: syscall.LOCK_EX\n"
	if err == nil || string(out) != want {
		t.Errorf("crosscheck windows/amd64: %v, %q; want exit status 1, %q", err, out, want)
	}
}

// TestReleaseCrossCompiles builds the binary of each release target with
// the Makefile's static build (make static GOOS=… GOARCH=…) and checks
// that each is an executable of its platform, built without cgo and
// without the builder's paths; the Linux ones static. From a cold cache
// it takes about 250 s of CPU a target, so it runs only when
// BACKFILL_RELEASE_BUILDS=1, as make release-check sets it.
func TestReleaseCrossCompiles(t *testing.T) {
	if os.Getenv("BACKFILL_RELEASE_BUILDS") != "1" {
		t.Skip("builds every release target: run with BACKFILL_RELEASE_BUILDS=1 (make release-check)")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	dir := t.TempDir()
	for _, target := range releaseTargets {
		goos, goarch, _ := strings.Cut(target, "/")
		bin := filepath.Join(dir, "backfill-"+goos+"-"+goarch)
		makeIn(t, []string{"GOOS=" + goos, "GOARCH=" + goarch, "CGO_ENABLED=1", "GOFLAGS=-buildvcs=false"}, "static", "OUT="+bin, "VERSION=v1.2.3-release")

		settings := buildSettings(t, bin)
		for key, want := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": goos, "GOARCH": goarch} {
			if settings[key] != want {
				t.Errorf("%s: the build setting %s is %q, want %q", target, key, settings[key], want)
			}
		}
		switch goos {
		case "linux":
			checkStaticELF(t, bin, elfMachine[goarch])
		case "darwin":
			f, err := macho.Open(bin)
			if err != nil {
				t.Fatalf("%s: %v", target, err)
			}
			want := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[goarch]
			if f.Type != macho.TypeExec || f.Cpu != want {
				t.Errorf("%s: a Mach-O file of type %v for %v, want an executable for %v", target, f.Type, f.Cpu, want)
			}
			f.Close()
		case "windows":
			f, err := pe.Open(bin)
			if err != nil {
				t.Fatalf("%s: %v", target, err)
			}
			want := map[string]uint16{"amd64": pe.IMAGE_FILE_MACHINE_AMD64, "arm64": pe.IMAGE_FILE_MACHINE_ARM64}[goarch]
			if f.Machine != want || f.Characteristics&pe.IMAGE_FILE_EXECUTABLE_IMAGE == 0 {
				t.Errorf("%s: a PE file for machine %#x (characteristics %#x), want an executable for %#x", target, f.Machine, f.Characteristics, want)
			}
			f.Close()
		}
	}
}

// TestReleaseChecksums runs make release for this machine's platform
// alone and checks what it leaves in the release folder: the binary,
// which reports the version given, and SHA256SUMS with its checksum.
func TestReleaseChecksums(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	if _, err := exec.LookPath("sha256sum"); err != nil {
		if _, err := exec.LookPath("shasum"); err != nil {
			t.Skip("neither sha256sum nor shasum is installed")
		}
	}
	dir := t.TempDir()
	target := runtime.GOOS + "/" + runtime.GOARCH
	makeIn(t, []string{"GOFLAGS=-buildvcs=false"}, "release", "RELEASE="+dir, "RELEASE_TARGETS="+target, "VERSION=v1.2.3-release")

	name := "backfill-" + runtime.GOOS + "-" + runtime.GOARCH
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"SHA256SUMS", name}; !slices.Equal(names, want) {
		t.Fatalf("make release wrote %q, want %q", names, want)
	}
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(sum[:]) + "  " + name + "\n"; string(sums) != want {
		t.Errorf("SHA256SUMS is %q, want %q", sums, want)
	}
	out, err := exec.Command(filepath.Join(dir, name), "version").Output()
	if want := "backfill v1.2.3-release\n"; err != nil || !strings.HasPrefix(string(out), want) {
		t.Errorf("backfill version: %v, %q; want it to begin %q", err, out, want)
	}
}
