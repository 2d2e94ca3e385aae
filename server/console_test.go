package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestConsoleServed: the account console is at /account/ by default, with
// a strict Content-Security-Policy and the server's fingerprint in the
// page, and DisableConsole turns it off.
func TestConsoleServed(t *testing.T) {
	parallel(t)
	on := mustServe(t, sqltest.NewSQLite(t), nil)
	resp, err := http.Get("http://" + on.Addr + "/account/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") ||
		!strings.Contains(string(body), on.Fingerprint()) {
		t.Fatalf("/account/: %s, CSP %q; want 200, a default-src 'none' policy and the fingerprint %s in the page",
			resp.Status, resp.Header.Get("Content-Security-Policy"), on.Fingerprint())
	}
	off := mustServe(t, sqltest.NewSQLite(t), func(c *server.Config) { c.DisableConsole = true })
	resp, err = http.Get("http://" + off.Addr + "/account/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/account/ with the console off: %s, want 404", resp.Status)
	}
}
