// Package deploy_test checks what is shipped beside the code: the
// Kubernetes manifest, the container image's Dockerfile and the release
// builds of the Makefile. There is no container runtime where the tests
// run, so they check what the image and the cluster rely on: the manifest
// holds the fields the tool needs, the Dockerfile's build command makes a
// static binary, and each release target type-checks as its build sees
// it (make release-check builds them all).
package deploy_test

import (
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const dockerfilePath = "Dockerfile"

// dockerfile is what the tests read of deploy/Dockerfile.
type dockerfile struct {
	build   []string // the words of the build stage's RUN … go build … command
	base    string   // the final stage's image
	uid     string   // the final stage's USER, without its group
	workdir string   // the final stage's WORKDIR
}

// readDockerfile reads deploy/Dockerfile's instructions, lines continued
// with a backslash joined.
func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	data, err := os.ReadFile(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	var d dockerfile
	var instr string
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if instr == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			instr += cont + " "
			continue
		}
		instr += trimmed
		keyword, rest, _ := strings.Cut(instr, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(keyword) {
		case "FROM":
			words := strings.Fields(rest)
			if len(words) > 0 && strings.HasPrefix(words[0], "--platform=") {
				words = words[1:]
			}
			d.base, d.uid, d.workdir = words[0], "", ""
		case "RUN":
			if strings.Contains(rest, "go build") {
				if d.build != nil {
					t.Fatalf("%s has two go build commands", dockerfilePath)
				}
				d.build = shellWords(t, rest)
			}
		case "USER":
			d.uid, _, _ = strings.Cut(rest, ":")
		case "WORKDIR":
			d.workdir = rest
		}
		instr = ""
	}
	if d.build == nil {
		t.Fatalf("%s has no RUN … go build command", dockerfilePath)
	}
	return d
}

// shellWords splits a command as the shell does for the simple commands a
// Dockerfile's build line holds: words apart at blanks, "…" and '…'
// quoting, $NAME and ${NAME} kept for expand.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '"' || c == '\'':
			end := strings.IndexByte(s[i+1:], c)
			if end < 0 {
				t.Fatalf("%s: an unclosed %c in %s", dockerfilePath, c, s)
			}
			w.WriteString(s[i+1 : i+1+end])
			i += 1 + end
			inWord = true
		case c == ';' || c == '&' || c == '|' || c == '`':
			t.Fatalf("%s: the go build line is to be one simple command, without %c: %s", dockerfilePath, c, s)
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// expand replaces $NAME and ${NAME} in word by vars[NAME]; a name vars
// does not hold fails the test.
func expand(t *testing.T, word string, vars map[string]string) string {
	t.Helper()
	return os.Expand(word, func(name string) string {
		v, ok := vars[name]
		if !ok {
			t.Fatalf("%s: the go build line reads $%s, which the test does not know", dockerfilePath, name)
		}
		return v
	})
}

// buildSettings returns the build settings recorded in the binary at path.
func buildSettings(t *testing.T, path string) map[string]string {
	t.Helper()
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	return settings
}

// checkStaticELF fails the test unless path is an ELF executable for
// machine with no interpreter and no dynamic section: a static binary
// that runs on a base image without a C library.
func checkStaticELF(t *testing.T, path string, machine elf.Machine) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	if f.Machine != machine {
		t.Errorf("%s is for %v, want %v", path, f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s has a %v program header: it is linked dynamically", path, p.Type)
		}
	}
	if s := f.Section(".dynamic"); s != nil {
		t.Errorf("%s has a .dynamic section: it is linked dynamically", path)
	}
}

// elfMachine is the ELF machine of each Linux architecture the tests build.
var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// TestDockerfileBuildsStaticBinary runs the Dockerfile's go build command
// as the image's build stage does (in the repository's root, which has no
// .git in the image's build context) with cgo otherwise on, and checks
// that it makes a static Linux binary without the builder's paths that
// reports the version given to it. It checks as well that the image's
// final stage runs it as a non-root user on a base without a shell.
func TestDockerfileBuildsStaticBinary(t *testing.T) {
	d := readDockerfile(t)
	if !strings.HasPrefix(d.base, "gcr.io/distroless/static") && d.base != "scratch" {
		t.Errorf("the image's base is %s, want distroless static or scratch", d.base)
	}
	if d.uid == "" || d.uid == "0" || d.uid == "root" {
		t.Errorf("the image's USER is %q, want a non-root user", d.uid)
	}

	arch := runtime.GOARCH
	if _, ok := elfMachine[arch]; !ok {
		arch = "amd64"
	}
	bin := filepath.Join(t.TempDir(), "backfill")
	vars := map[string]string{"TARGETOS": "linux", "TARGETARCH": arch, "VERSION": "v1.2.3-image"}
	env := append(os.Environ(), "CGO_ENABLED=1", "GOFLAGS=-buildvcs=false")
	words := d.build
	for len(words) > 0 && strings.Contains(words[0], "=") {
		env = append(env, expand(t, words[0], vars))
		words = words[1:]
	}
	if len(words) < 2 || words[0] != "go" || words[1] != "build" {
		t.Fatalf("%s: the build line is %q, want [NAME=VALUE…] go build …", dockerfilePath, d.build)
	}
	var args []string
	for i := 2; i < len(words); i++ {
		if words[i] == "-o" && i+1 < len(words) {
			args = append(args, "-o", bin)
			i++
			continue
		}
		args = append(args, expand(t, words[i], vars))
	}
	cmd := exec.Command("go", append([]string{"build"}, args...)...)
	cmd.Dir = ".."
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", strings.Join(args, " "), err, out)
	}

	checkStaticELF(t, bin, elfMachine[arch])
	settings := buildSettings(t, bin)
	for key, want := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": "linux", "GOARCH": arch} {
		if settings[key] != want {
			t.Errorf("the binary's build setting %s is %q, want %q", key, settings[key], want)
		}
	}
	if runtime.GOOS == "linux" && runtime.GOARCH == arch {
		out, err := exec.Command(bin, "version").Output()
		if want := "backfill v1.2.3-image\n"; err != nil || !strings.HasPrefix(string(out), want) {
			t.Errorf("backfill version: %v, %q; want it to begin %q", err, out, want)
		}
	}
}

// TestImageBuildMatchesRelease checks that the Dockerfile builds the
// binary with the flags the Makefile's release builds use (STATIC_BUILD),
// so that the image holds what make release makes.
func TestImageBuildMatchesRelease(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	d := readDockerfile(t)
	vars := map[string]string{"TARGETOS": "linux", "TARGETARCH": "arm64", "VERSION": "v1.2.3"}
	var image []string
	for _, w := range d.build {
		image = append(image, expand(t, w, vars))
	}
	cmd := exec.Command("make", "-s", "-n", "static", "GO=go", "VERSION=v1.2.3", "OUT=/out/backfill")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make -n static: %v", err)
	}
	release := shellWords(t, strings.TrimSpace(string(out)))
	// The image's build names its platform; the release's takes GOOS and
	// GOARCH from the environment.
	image = slices.DeleteFunc(image, func(w string) bool {
		return strings.HasPrefix(w, "GOOS=") || strings.HasPrefix(w, "GOARCH=")
	})
	if fmt.Sprint(image) != fmt.Sprint(release) {
		t.Errorf("the image's build and the release's differ:\n  %s: %q\n  make static:  %q", dockerfilePath, image, release)
	}
}

// TestMakeImageWithoutDocker runs make image where the container runtime
// it is told to use is not installed: it stops before building anything,
// saying so.
func TestMakeImageWithoutDocker(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	cmd := exec.Command("make", "-s", "image", "DOCKER=backfill-no-such-runtime")
	cmd.Dir = ".."
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	want := "make image: backfill-no-such-runtime is not installed: the image needs a container runtime (DOCKER=podman for podman); make release builds the binaries without one\n"
	if err == nil || !strings.HasPrefix(stderr.String(), want) {
		t.Errorf("make image without a runtime: %v, stderr %q; want a failure, stderr beginning %q", err, stderr.String(), want)
	}
}
