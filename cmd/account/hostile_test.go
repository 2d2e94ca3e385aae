package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/accountd/accountd/protocol"
)

// hostileText is what a malicious server sent: a window title, a screen
// clear, an OSC 52 clipboard write, a C1 CSI, a right-to-left override
// and a zero-width space.
const hostileText = "x\x1b]0;pwned\x07\x1b[2J\x1b]52;c;ZWNobyBwd25lZA==\x07\u009b31m\u202egnp\u200b"

// hostileServer speaks the protocol with a fresh identity and answers
// every request with answer(op).
func hostileServer(t *testing.T, answer func(op string) *protocol.Response) string {
	t.Helper()
	_, identity, _ := ed25519.GenerateKey(rand.Reader)
	tk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&tk.PublicKey)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.Subprotocol}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		hs, err := protocol.NewServerHandshake(protocol.Version, protocol.ServerIdentity{Key: identity}, tk, der, nil)
		if err != nil || c.Write(ctx, websocket.MessageText, hs.Hello()) != nil {
			return
		}
		_, ch, err := c.Read(ctx)
		if err != nil {
			return
		}
		reply, sess, err := hs.Finish(ch)
		if err != nil || c.Write(ctx, websocket.MessageText, reply) != nil {
			return
		}
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			plain, err := sess.Open(data)
			if err != nil {
				return
			}
			req, err := protocol.DecodeRequest(plain)
			if err != nil {
				return
			}
			resp := answer(req.Op)
			resp.ID = req.ID
			out, _ := json.Marshal(resp)
			sealed, _ := sess.Seal(out)
			if c.Write(ctx, websocket.MessageBinary, sealed) != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// noTerminalControls fails t when out holds a character a terminal would
// act on.
func noTerminalControls(t *testing.T, what, out string) {
	t.Helper()
	for _, r := range out {
		if (r < 0x20 && r != '\n') || (r >= 0x7f && r <= 0x9f) || r == 0x202e || r == 0x200b {
			t.Errorf("%s holds %U:\n%q", what, r, out)
			return
		}
	}
}

// TestHostileServerStrings: a server's error message, username and
// generated password reach the terminal escaped, in text and in --json.
func TestHostileServerStrings(t *testing.T) {
	addr := hostileServer(t, func(op string) *protocol.Response {
		if op == protocol.OpSignup {
			res, _ := json.Marshal(protocol.SignupResult{
				Account:           protocol.Account{ID: hostileText, Username: hostileText, Email: hostileText},
				GeneratedPassword: hostileText,
			})
			return &protocol.Response{Result: res}
		}
		return &protocol.Response{Error: &protocol.Error{Code: protocol.CodeBadRequest, Message: hostileText}}
	})
	known := filepath.Join(t.TempDir(), "known_servers")
	ctx := context.Background()
	for _, args := range [][]string{
		{"login", "--username", "alice", "--password-stdin"},
		{"signup", "--username", "alice", "--generate-password"},
		{"signup", "--username", "alice", "--generate-password", "--json"},
	} {
		var stdout, stderr bytes.Buffer
		full := append(args, "--server", addr, "--known-servers", known, "--device-tokens", filepath.Join(filepath.Dir(known), "device_tokens"), "--trust-on-first-use")
		Run(ctx, full, strings.NewReader("a password\n"), &stdout, &stderr)
		if !strings.Contains(stdout.String()+stderr.String(), "pwned") {
			t.Fatalf("%v: the server's text is not shown at all:\nstdout %q\nstderr %q", args, stdout.String(), stderr.String())
		}
		noTerminalControls(t, strings.Join(args, " ")+" stdout", stdout.String())
		noTerminalControls(t, strings.Join(args, " ")+" stderr", stderr.String())
	}
}
