// Package deptest checks a package's dependencies in its own tests: each
// package of accountd declares what it must never depend on, and why, in a
// deps_test.go beside its code, so the dependency picture of the design
// (README, Development) stays true as the code changes.
//
// It runs `go list`, so it needs the go command on PATH.
package deptest

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Module is accountd's module path.
const Module = "github.com/accountd/accountd"

// DepChecker lists what a package must not depend on. Besides its own
// rules, every package is checked against two of the whole module:
// nothing imports a command (cmd/...), and only test helpers use the
// testing package.
type DepChecker struct {
	// BadDeps maps an import path to the reason the package must not
	// depend on it, directly or through another package. A key ending in
	// "/..." covers the path and everything below it.
	BadDeps map[string]string
	// BadImports is BadDeps for direct imports only: what the package's
	// own code must not use, though a library it uses may.
	BadImports map[string]string
	// Forbid, when set, returns why the package must not depend on dep,
	// or "": for rules a list cannot say ("the standard library only").
	Forbid func(dep string) string
	// TestHelper marks a package whose purpose is to help tests: it may
	// use the testing package.
	TestHelper bool
}

// Check fails t for every forbidden package among the non-test
// dependencies of the package in the current directory (the test's own),
// and for every rule key that matches no package, so that a renamed
// package cannot silently void a rule.
func (c DepChecker) Check(t *testing.T) {
	t.Helper()
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports,Deps", ".").Output()
	if err != nil {
		t.Fatalf("deptest: go list: %v", err)
	}
	var p struct {
		ImportPath string
		Imports    []string
		Deps       []string
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("deptest: go list: %v", err)
	}
	bad := map[string]string{Module + "/cmd/...": "nothing imports a command: cmd/* is wiring only"}
	if !c.TestHelper {
		bad["testing"] = "the testing package belongs in tests and test helpers, not in what ships"
	}
	for k, v := range c.BadDeps {
		bad[k] = v
	}
	var rules []string
	for _, m := range []map[string]string{bad, c.BadImports} {
		for rule := range m {
			rules = append(rules, rule)
		}
	}
	// One go list for every rule: each run loads the module anew.
	listed := listPackages(t, rules)
	check := func(rules map[string]string, deps []string, how string) {
		for rule, why := range rules {
			if !slices.ContainsFunc(listed, func(path string) bool { return matches(rule, path) }) {
				t.Errorf("deptest: the rule %q matches no package: fix it (%s)", rule, why)
				continue
			}
			for _, d := range deps {
				if matches(rule, d) {
					t.Errorf("%s %s %s: %s", p.ImportPath, how, d, why)
				}
			}
		}
	}
	check(bad, p.Deps, "depends on")
	check(c.BadImports, p.Imports, "imports")
	if c.Forbid != nil {
		for _, d := range p.Deps {
			if why := c.Forbid(d); why != "" {
				t.Errorf("%s depends on %s: %s", p.ImportPath, d, why)
			}
		}
	}
}

// listPackages returns the import paths of the packages that the
// patterns name and that exist.
func listPackages(t *testing.T, patterns []string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-e", "-json=ImportPath,Error"}, patterns...)...).Output()
	if err != nil {
		t.Fatalf("deptest: go list: %v", err)
	}
	var paths []string
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p struct {
			ImportPath string
			Error      *struct{ Err string }
		}
		if err := dec.Decode(&p); err == io.EOF {
			return paths
		} else if err != nil {
			t.Fatalf("deptest: go list: %v", err)
		}
		if p.Error == nil {
			paths = append(paths, p.ImportPath)
		}
	}
}

func matches(rule, dep string) bool {
	if path, ok := strings.CutSuffix(rule, "/..."); ok {
		return dep == path || strings.HasPrefix(dep, path+"/")
	}
	return dep == rule
}

// Std reports whether an import path is in the standard library (its
// first element has no dot), vendored copies included.
func Std(path string) bool {
	return !strings.Contains(strings.Split(path, "/")[0], ".")
}
