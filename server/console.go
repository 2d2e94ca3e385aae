package server

import (
	"crypto/ed25519"
	"html"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"

	js "github.com/accountd/accountd/client/js"
	"github.com/accountd/accountd/protocol"
)

// consoleCSP lets the console load only its own files and open a
// WebSocket to its own origin ('self' covers ws: and wss: to the same
// host and port); nothing inline, nothing third-party, no framing.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

var sdkFile = regexp.MustCompile(`^[a-z]+\.js$`)

// consoleHandler serves the account console under /account/: the page,
// its script and style, and the SDK under /account/sdk/. The page carries
// this server's identity fingerprint, so the console pins the server it
// was served by.
func (s *Server) consoleHandler() http.Handler {
	files := js.Files()
	page, err := fs.ReadFile(files, "console/index.html")
	if err != nil {
		panic("server: console page missing from the embedded files: " + err.Error())
	}

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", consoleCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-cache")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "accountd: method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, "/account/")
		var body []byte
		var ctype string
		switch {
		case name == "" || name == "index.html":
			// The key in force now: Reconfigure may have rotated it.
			fp := protocol.Fingerprint(s.current().Identity.Public().(ed25519.PublicKey))
			body = []byte(strings.Replace(string(page), js.FingerprintPlaceholder, html.EscapeString(fp), 1))
			ctype = "text/html; charset=utf-8"
		case name == "console.js" || name == "console.css":
			body, _ = fs.ReadFile(files, "console/"+name)
			ctype = "text/javascript; charset=utf-8"
			if path.Ext(name) == ".css" {
				ctype = "text/css; charset=utf-8"
			}
		case strings.HasPrefix(name, "sdk/") && sdkFile.MatchString(strings.TrimPrefix(name, "sdk/")):
			body, _ = fs.ReadFile(files, "src/"+strings.TrimPrefix(name, "sdk/"))
			ctype = "text/javascript; charset=utf-8"
		}
		if body == nil {
			http.NotFound(w, r)
			return
		}
		h.Set("Content-Type", ctype)
		if r.Method == http.MethodGet {
			w.Write(body)
		}
	})
}
