package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/accountd/accountd"

// TestDependencyDirection keeps the package picture of the design true:
// it fails when a package imports what it must not, and says why.
func TestDependencyDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	type pkg struct {
		ImportPath string
		Imports    []string
		Deps       []string
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 8 {
		t.Fatalf("listed only %d packages", len(pkgs))
	}
	stdlib := func(path string) bool { return !strings.Contains(strings.Split(path, "/")[0], ".") }
	for _, p := range pkgs {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, imp := range p.Imports {
			switch {
			case rel == "protocol" && !stdlib(imp) && !strings.HasPrefix(imp, "golang.org/x/crypto/"):
				t.Errorf("protocol imports %s: the wire format depends on the standard library (and x/crypto) only, so other implementations can follow it", imp)
			case rel == "store" && !stdlib(imp):
				t.Errorf("store imports %s: records and the Store interface stay standard-library only", imp)
			case strings.HasPrefix(imp, module+"/cmd"):
				t.Errorf("%s imports %s: nothing imports cmd", rel, imp)
			case strings.HasPrefix(imp, "github.com/charmbracelet/huh") && rel != "client/menu" && rel != "setup/wizard":
				t.Errorf("%s imports huh: terminal forms live in client/menu and setup/wizard only", rel)
			}
		}
		if rel == "client" || strings.HasPrefix(rel, "client/") {
			for _, d := range p.Deps {
				for _, bad := range []string{"/server", "/store", "/setup"} {
					if d == module+bad || strings.HasPrefix(d, module+bad+"/") {
						t.Errorf("%s depends on %s: the SDK speaks the protocol only and must not pull in the server side", rel, d)
					}
				}
			}
		}
		if rel == "server" || strings.HasPrefix(rel, "server/") {
			for _, d := range p.Deps {
				if d == module+"/client/js" {
					continue // embedded console and SDK files, no code
				}
				if strings.HasPrefix(d, module+"/setup") || strings.HasPrefix(d, module+"/client") {
					t.Errorf("%s depends on %s: the server's rules take their config from cmd, not from setup or the SDK", rel, d)
				}
			}
		}
	}
}
