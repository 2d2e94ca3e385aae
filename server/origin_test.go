package server_test

import (
	"net/http"
	"testing"

	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestProbeReadableByAllowedOrigins: a plain GET of /ws answers 426, and
// 429 with Retry-After over the rate; pages of the server's own origin
// and of allowed origins may read either (CORS), other origins may not.
// It is how a page tells apart the refusals a browser shows as 1006.
func TestProbeReadableByAllowedOrigins(t *testing.T) {
	parallel(t)
	ts := mustServe(t, sqltest.NewSQLite(t), func(c *server.Config) {
		c.AllowedOrigins = []string{"*.app.example", "http://localhost:3000"}
		c.RateLimit, c.RateBurst = 1, 5
	})
	probe := func(origin string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctxT(t), "GET", "http://"+ts.Addr+"/ws", nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, tt := range []struct {
		origin string
		allow  bool
	}{
		{"https://chat.app.example", true},
		{"http://localhost:3000", true}, // a pattern with a scheme
		{"https://localhost:3000", false},
		{"http://" + ts.Addr, true}, // same origin
		{"https://evil.example", false},
	} {
		resp := probe(tt.origin)
		if resp.StatusCode != http.StatusUpgradeRequired {
			t.Errorf("%s: status %d, want 426", tt.origin, resp.StatusCode)
		}
		got := resp.Header.Get("Access-Control-Allow-Origin")
		if (got == tt.origin) != tt.allow || (!tt.allow && got != "") {
			t.Errorf("%s: Access-Control-Allow-Origin %q, want it only for an allowed origin", tt.origin, got)
		}
	}
	// The burst of 5 is spent: the next probe is over the rate (the
	// test clock is stopped, so no token comes back).
	resp := probe("https://chat.app.example")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the rate: status %d, Retry-After %q; want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://chat.app.example" || resp.Header.Get("Access-Control-Expose-Headers") != "Retry-After" {
		t.Errorf("429 to an allowed origin: CORS headers %v", resp.Header)
	}
	if resp := probe("https://evil.example"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("429 to another origin carries Access-Control-Allow-Origin")
	}
}
