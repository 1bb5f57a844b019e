// Command crosscheck type-checks a package and every package it imports,
// the standard library's included, for one platform as a release build
// sees them (GOOS, GOARCH, CGO_ENABLED=0, the platform's build
// constraints), from source and without compiling: what a cross-compile
// checks of the code, at a few seconds of CPU instead of the minutes of a
// build from a cold cache. The tests of deploy run it for each release
// target; make release builds them for real.
//
//	go run ./deploy/crosscheck -os windows -arch arm64 ./cmd/backfill
//
// It prints each error (the first 20) and exits with 1 if there is one.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// listed is what go list says of a package.
type listed struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	CgoFiles   []string
	ImportMap  map[string]string
	Module     *struct{ GoVersion string }
	Error      *struct{ Err string }
}

func main() {
	goos := flag.String("os", "", "the platform's `GOOS`")
	goarch := flag.String("arch", "", "the platform's `GOARCH`")
	flag.Parse()
	if *goos == "" || *goarch == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: crosscheck -os GOOS -arch GOARCH PACKAGE")
		os.Exit(64)
	}
	errs, n, err := check(*goos, *goarch, flag.Arg(0))
	if err != nil {
		fmt.Fprintf(os.Stderr, "crosscheck %s/%s: %v\n", *goos, *goarch, err)
		os.Exit(1)
	}
	for i, e := range errs {
		if i == 20 {
			fmt.Printf("%s/%s: and %d more\n", *goos, *goarch, len(errs)-i)
			break
		}
		fmt.Printf("%s/%s: %s\n", *goos, *goarch, e)
	}
	if len(errs) > 0 {
		os.Exit(1)
	}
	fmt.Printf("%s/%s: %d packages type-checked\n", *goos, *goarch, n)
}

// check lists pkg and its dependencies for goos/goarch without cgo and
// type-checks them in the order go list gives (dependencies first). It
// returns the errors found in the code and the number of packages, or an
// error if the packages cannot be listed.
func check(goos, goarch, pkg string) (found []string, n int, err error) {
	sizes := types.SizesFor("gc", goarch)
	if sizes == nil {
		return nil, 0, fmt.Errorf("unknown GOARCH %q", goarch)
	}
	cmd := exec.Command("go", "list", "-e", "-deps", "-json=ImportPath,Dir,GoFiles,CgoFiles,ImportMap,Module,Error", pkg)
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, 0, fmt.Errorf("go list: %w: %s", err, stderr.Bytes())
	}
	fset := token.NewFileSet()
	checked := map[string]*types.Package{"unsafe": types.Unsafe}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, 0, fmt.Errorf("go list: %w", err)
		}
		if p.ImportPath == "unsafe" {
			continue
		}
		n++
		if p.Error != nil {
			found = append(found, fmt.Sprintf("%s: %s", p.ImportPath, p.Error.Err))
			continue
		}
		if len(p.CgoFiles) > 0 {
			found = append(found, fmt.Sprintf("%s: needs cgo (%s), which a static build leaves out", p.ImportPath, p.CgoFiles[0]))
		}
		var files []*ast.File
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				found = append(found, err.Error())
				continue
			}
			files = append(files, f)
		}
		conf := types.Config{
			Sizes: sizes,
			Importer: importer(func(path string) (*types.Package, error) {
				if to, ok := p.ImportMap[path]; ok {
					path = to
				}
				if tp, ok := checked[path]; ok && tp != nil {
					return tp, nil
				}
				return nil, fmt.Errorf("%s is not type-checked", path)
			}),
			Error: func(err error) { found = append(found, err.Error()) },
		}
		if p.Module != nil && p.Module.GoVersion != "" {
			conf.GoVersion = "go" + p.Module.GoVersion
		}
		checked[p.ImportPath], _ = conf.Check(p.ImportPath, fset, files, nil)
	}
	return found, n, nil
}

// importer is a types.Importer made of a function.
type importer func(path string) (*types.Package, error)

// Import returns the package at path.
func (f importer) Import(path string) (*types.Package, error) { return f(path) }
