package server_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// Each test here sends what an attacker or a broken client would, over a
// real socket to a real server, and checks the outcome a user would see:
// the HTTP status or the WebSocket close code, and that the server goes on
// serving everyone else.

var subprotocolHeader = http.Header{"Sec-WebSocket-Protocol": {protocol.Subprotocol}}

// mustRawHandshake upgrades a raw connection and completes the protocol
// handshake on it.
func mustRawHandshake(tb testing.TB, ts *testServer) (*rawWS, *protocol.Session) {
	tb.Helper()
	w, sess, _ := mustRawHandshakeVersion(tb, ts, protocol.Version)
	return w, sess
}

// mustRawHandshakeVersion is mustRawHandshake for a client that offers
// only version; it also returns the client's side of the handshake.
func mustRawHandshakeVersion(tb testing.TB, ts *testServer, version int) (*rawWS, *protocol.Session, *protocol.ClientHandshake) {
	tb.Helper()
	w, resp := dialRawWS(tb, ts.Addr, http.Header{"Sec-WebSocket-Protocol": {protocol.SubprotocolOf(version)}})
	if resp.StatusCode != http.StatusSwitchingProtocols {
		tb.Fatalf("upgrade: %s", resp.Status)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != protocol.SubprotocolOf(version) {
		tb.Fatalf("the server selected %q", got)
	}
	op, hello, err := w.readFrame()
	if err != nil || op != opText {
		tb.Fatalf("hello: op %d, %v", op, err)
	}
	_, ck := mustKeys(tb)
	hs, err := protocol.NewClientHandshake(version, hello, ck, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := w.writeFrame(opText, hs.ClientHello()); err != nil {
		tb.Fatal(err)
	}
	op, sk, err := w.readFrame()
	if err != nil || op != opText {
		tb.Fatalf("server_key: op %d, %v", op, err)
	}
	sess, err := hs.Finish(sk)
	if err != nil {
		tb.Fatal(err)
	}
	return w, sess, hs
}

// sendSealed seals plaintext, sends it and returns the raw packet sent.
func (w *rawWS) sendSealed(tb testing.TB, sess *protocol.Session, plaintext string) []byte {
	tb.Helper()
	p, err := sess.Seal([]byte(plaintext))
	if err != nil {
		tb.Fatal(err)
	}
	if err := w.writeFrame(opBinary, p); err != nil {
		tb.Fatal(err)
	}
	return p
}

// readResponse reads and opens one response packet; it also returns the
// raw packet.
func (w *rawWS) readResponse(tb testing.TB, sess *protocol.Session) (*protocol.Response, []byte) {
	tb.Helper()
	op, p, err := w.readFrame()
	if err != nil {
		tb.Fatalf("reading a response: %v", err)
	}
	if op != opBinary {
		tb.Fatalf("response frame op %d (%q)", op, p)
	}
	plain, err := sess.Open(p)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := protocol.DecodeResponse(plain)
	if err != nil {
		tb.Fatalf("%v: %s", err, plain)
	}
	return resp, p
}

// roundTrip sends one request plaintext and returns the response.
func (w *rawWS) roundTrip(tb testing.TB, sess *protocol.Session, plaintext string) *protocol.Response {
	tb.Helper()
	w.sendSealed(tb, sess, plaintext)
	resp, _ := w.readResponse(tb, sess)
	return resp
}

// mustStillServe checks that a new connection completes the handshake and
// gets an answer.
func mustStillServe(tb testing.TB, ts *testServer) {
	tb.Helper()
	w, sess := mustRawHandshake(tb, ts)
	resp := w.roundTrip(tb, sess, `{"id":1,"op":"authenticate","body":{"token":"x.y.z"}}`)
	if resp.Error == nil || resp.Error.Code != protocol.CodeInvalidToken {
		tb.Fatalf("server no longer answers: %+v", resp)
	}
}

func TestNonWebSocketRequestToWS(t *testing.T) {
	parallel(t)
	ts := mustServe(t, sqltest.NewSQLite(t), nil)
	// A slow-header client is cut off by the HTTP server itself.
	if ts.HTTP().ReadHeaderTimeout != 5*time.Second || ts.HTTP().MaxHeaderBytes != 16<<10 {
		t.Fatalf("ReadHeaderTimeout %v, MaxHeaderBytes %d; SPEC.md §7 says 5s and 16 KiB", ts.HTTP().ReadHeaderTimeout, ts.HTTP().MaxHeaderBytes)
	}
	for _, tt := range []struct {
		method string
		header http.Header
		want   int
	}{
		{"GET", nil, http.StatusUpgradeRequired},
		{"GET", http.Header{"Sec-WebSocket-Protocol": {protocol.Subprotocol}}, http.StatusUpgradeRequired},
		{"POST", nil, http.StatusUpgradeRequired},
		{"GET", http.Header{"Upgrade": {"h2c"}, "Connection": {"Upgrade"}, "Sec-WebSocket-Protocol": {protocol.Subprotocol}}, http.StatusUpgradeRequired},
	} {
		t.Run(fmt.Sprintf("%s %v", tt.method, tt.header), func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctxT(t), tt.method, "http://"+ts.Addr+"/ws", strings.NewReader(""))
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %s (%s), want %d", resp.Status, body, tt.want)
			}
		})
	}
	mustStillServe(t, ts)
}

func TestSubprotocolRequired(t *testing.T) {
	parallel(t)
	ts := mustServe(t, sqltest.NewSQLite(t), nil)
	for name, header := range map[string]http.Header{
		"missing":      nil,
		"version 1":    {"Sec-WebSocket-Protocol": {"accountd.v1"}},
		"wrong case":   {"Sec-WebSocket-Protocol": {"Accountd.V2, ACCOUNTD.V3"}},
		"other and v0": {"Sec-WebSocket-Protocol": {"chat, accountd.v0"}},
		"version 4":    {"Sec-WebSocket-Protocol": {"accountd.v4"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, resp := dialRawWS(t, ts.Addr, header)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %s, want 400", resp.Status)
			}
		})
	}
	t.Run("a version 1 client is told which version to speak", func(t *testing.T) {
		_, resp := dialRawWS(t, ts.Addr, http.Header{"Sec-WebSocket-Protocol": {"accountd.v1"}})
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		if want := "accountd: subprotocol accountd.v3 (or accountd.v2) required"; resp.StatusCode != http.StatusBadRequest || strings.TrimSpace(string(body)) != want {
			t.Fatalf("status %s, body %q; want 400 %q", resp.Status, body, want)
		}
	})
	for _, tt := range []struct{ offered, selected string }{
		{"accountd.v4, accountd.v1, accountd.v3", "accountd.v3"},
		{"accountd.v2, accountd.v3", "accountd.v3"}, // the server's preference wins
		{"accountd.v1, accountd.v2", "accountd.v2"}, // a client deployed before version 3
		{"chat, accountd.v2", "accountd.v2"},
	} {
		t.Run("offered "+tt.offered, func(t *testing.T) {
			_, resp := dialRawWS(t, ts.Addr, http.Header{"Sec-WebSocket-Protocol": {tt.offered}})
			if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Protocol") != tt.selected {
				t.Fatalf("status %s, subprotocol %q; want 101 %s", resp.Status, resp.Header.Get("Sec-WebSocket-Protocol"), tt.selected)
			}
		})
	}
	mustStillServe(t, ts)
}

func TestHandshakeDeadline(t *testing.T) {
	// Mostly waiting: it runs beside the tests that keep the cores busy,
	// and its last handshake must still finish within the deadline.
	t.Parallel()
	const deadline = 2 * time.Second
	ts := mustServe(t, sqltest.NewSQLite(t), func(c *server.Config) { c.HandshakeTimeout = deadline })
	for _, tt := range []struct {
		name string
		stop func(t *testing.T, w *rawWS) // what the client does before falling silent
	}{
		{"silent after the hello", func(t *testing.T, w *rawWS) {
			if op, _, err := w.readFrame(); err != nil || op != opText {
				t.Fatalf("hello: %d %v", op, err)
			}
		}},
		{"half a client_hello", func(t *testing.T, w *rawWS) {
			w.readFrame()
			mask, err := w.writeHeader(opText, 1000)
			if err != nil {
				t.Fatal(err)
			}
			w.conn.Write(maskBytes(mask, 0, bytes.Repeat([]byte("{"), 100)))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			w, resp := dialRawWS(t, ts.Addr, subprotocolHeader)
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatal(resp.Status)
			}
			tt.stop(t, w)
			code, _ := w.readClose(t)
			elapsed := time.Since(start)
			if code != protocol.CloseHandshakeTimeout {
				t.Fatalf("close code %d, want %d", code, protocol.CloseHandshakeTimeout)
			}
			if elapsed < deadline {
				t.Fatalf("closed after %v, before the %v deadline", elapsed, deadline)
			}
		})
	}
	// A handshake that finishes in time is not cut off afterwards.
	w, sess := mustRawHandshake(t, ts)
	time.Sleep(2 * deadline)
	if resp := w.roundTrip(t, sess, `{"id":1,"op":"logout","body":{"token":"a.b.c"}}`); resp.Error == nil || resp.Error.Code != protocol.CodeInvalidToken {
		t.Fatalf("after the deadline: %+v", resp)
	}
}

// TestOversizedFrame announces a frame far over the limit and sends only a
// little more than the limit: the server must close with 1009 without
// waiting for the rest, so it never holds the whole frame.
func TestOversizedFrame(t *testing.T) {
	parallel(t)
	ts := mustServe(t, sqltest.NewSQLite(t), nil)
	const announced = 1 << 30 // 1 GiB, never sent
	sendOversized := func(t *testing.T, w *rawWS, op byte) {
		mask, err := w.writeHeader(op, announced)
		if err != nil {
			t.Fatal(err)
		}
		chunk := make([]byte, protocol.MaxFrame+4096)
		w.conn.Write(maskBytes(mask, 0, chunk))
	}
	t.Run("during the handshake", func(t *testing.T) {
		w, _ := dialRawWS(t, ts.Addr, subprotocolHeader)
		w.readFrame() // hello
		sendOversized(t, w, opText)
		if code, _ := w.readClose(t); code != protocol.CloseMessageTooBig {
			t.Fatalf("close code %d, want 1009", code)
		}
	})
	t.Run("after the handshake", func(t *testing.T) {
		w, _ := mustRawHandshake(t, ts)
		sendOversized(t, w, opBinary)
		if code, _ := w.readClose(t); code != protocol.CloseMessageTooBig {
			t.Fatalf("close code %d, want 1009", code)
		}
	})
	t.Run("one byte over", func(t *testing.T) {
		w, sess := mustRawHandshake(t, ts)
		w.writeFrame(opBinary, make([]byte, protocol.MaxFrame+1))
		if code, _ := w.readClose(t); code != protocol.CloseMessageTooBig {
			t.Fatalf("close code %d, want 1009", code)
		}
		_ = sess
	})
	t.Run("exactly the limit is read and judged", func(t *testing.T) {
		w, _ := mustRawHandshake(t, ts)
		w.writeFrame(opBinary, make([]byte, protocol.MaxFrame))
		if code, _ := w.readClose(t); code != protocol.ClosePolicyViolation {
			t.Fatalf("close code %d, want 1008 (a packet that does not open)", code)
		}
	})
	mustStillServe(t, ts)
}

// TestBadCiphertext sends packets that do not open. Each closes the
// connection with 1008 and no reason; a bystander connection and the next
// connection are unaffected.
func TestBadCiphertext(t *testing.T) {
	parallel(t)
	ts := mustServe(t, sqltest.NewSQLite(t), nil)
	bystander, bsess := mustRawHandshake(t, ts)
	const req = `{"id":1,"op":"authenticate","body":{"token":"x.y.z"}}`
	for _, tt := range []struct {
		name   string
		attack func(t *testing.T, w *rawWS, sess *protocol.Session)
	}{
		{"garbage", func(t *testing.T, w *rawWS, sess *protocol.Session) {
			g := make([]byte, 200)
			rand.Read(g)
			w.writeFrame(opBinary, g)
		}},
		{"empty", func(t *testing.T, w *rawWS, sess *protocol.Session) {
			w.writeFrame(opBinary, nil)
		}},
		{"truncated", func(t *testing.T, w *rawWS, sess *protocol.Session) {
			p, _ := sess.Seal([]byte(req))
			w.writeFrame(opBinary, p[:len(p)-1])
		}},
		{"flipped bit", func(t *testing.T, w *rawWS, sess *protocol.Session) {
			p, _ := sess.Seal([]byte(req))
			p[5] ^= 0x40
			w.writeFrame(opBinary, p)
		}},
		{"replayed", func(t *testing.T, w *rawWS, sess *protocol.Session) {
			p := w.sendSealed(t, sess, req)
			if resp, _ := w.readResponse(t, sess); resp.ID != 1 {
				t.Fatalf("first copy: %+v", resp)
			}
			w.writeFrame(opBinary, p)
		}},
		{"reordered", func(t *testing.T, w *rawWS, sess *protocol.Session) {
			sess.Seal([]byte(req)) // packet 0, never sent
			p1, _ := sess.Seal([]byte(req))
			w.writeFrame(opBinary, p1)
		}},
		{"reflected", func(t *testing.T, w *rawWS, sess *protocol.Session) {
			w.sendSealed(t, sess, req)
			_, reply := w.readResponse(t, sess)
			w.writeFrame(opBinary, reply)
		}},
		{"sealed with another connection's keys", func(t *testing.T, w *rawWS, sess *protocol.Session) {
			_, other := mustRawHandshake(t, ts)
			p, _ := other.Seal([]byte(req))
			w.writeFrame(opBinary, p)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w, sess := mustRawHandshake(t, ts)
			tt.attack(t, w, sess)
			code, reason := w.readClose(t)
			if code != protocol.ClosePolicyViolation || reason != "" {
				t.Fatalf("close %d %q, want 1008 with no reason", code, reason)
			}
			mustStillServe(t, ts)
		})
	}
	if resp := bystander.roundTrip(t, bsess, req); resp.ID != 1 || resp.Error.Code != protocol.CodeInvalidToken {
		t.Fatalf("bystander: %+v", resp)
	}
}

// TestBadHandshakeFrames covers the close codes of the handshake.
func TestBadHandshakeFrames(t *testing.T) {
	parallel(t)
	ts := mustServe(t, sqltest.NewSQLite(t), nil)
	_, ck := mustKeys(t)
	for _, tt := range []struct {
		name string
		op   byte
		edit func(ch *protocol.ClientHello) []byte
		want int
	}{
		{"version 1", opText, func(ch *protocol.ClientHello) []byte { ch.Version = 1; return mustJSON(t, ch) }, protocol.CloseVersion},
		{"not JSON", opText, func(ch *protocol.ClientHello) []byte { return []byte("hello?") }, protocol.CloseProtocolError},
		{"unknown field", opText, func(ch *protocol.ClientHello) []byte {
			return bytes.Replace(mustJSON(t, ch), []byte(`{`), []byte(`{"x":1,`), 1)
		}, protocol.CloseProtocolError},
		{"binary frame", opBinary, func(ch *protocol.ClientHello) []byte { return mustJSON(t, ch) }, protocol.CloseProtocolError},
		{"secret flipped", opText, func(ch *protocol.ClientHello) []byte { ch.Secret[0] ^= 1; return mustJSON(t, ch) }, protocol.ClosePolicyViolation},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w, _ := dialRawWS(t, ts.Addr, subprotocolHeader)
			_, hello, err := w.readFrame()
			if err != nil {
				t.Fatal(err)
			}
			hs, err := protocol.NewClientHandshake(protocol.Version, hello, ck, nil)
			if err != nil {
				t.Fatal(err)
			}
			var ch protocol.ClientHello
			json.Unmarshal(hs.ClientHello(), &ch)
			w.writeFrame(tt.op, tt.edit(&ch))
			code, reason := w.readClose(t)
			if code != tt.want {
				t.Fatalf("close %d %q, want %d", code, reason, tt.want)
			}
			if tt.want == protocol.ClosePolicyViolation && reason != "" {
				t.Fatalf("close reason %q tells the peer why decryption failed", reason)
			}
		})
	}
	t.Run("text frame after the handshake", func(t *testing.T) {
		w, _ := mustRawHandshake(t, ts)
		w.writeFrame(opText, []byte(`{"id":1,"op":"login"}`))
		if code, _ := w.readClose(t); code != protocol.CloseProtocolError {
			t.Fatalf("close %d, want 1002", code)
		}
	})
	mustStillServe(t, ts)
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestBadRequestsKeepConnection sends well-sealed packets whose JSON is
// wrong: each gets an error reply and the connection goes on.
func TestBadRequestsKeepConnection(t *testing.T) {
	parallel(t)
	ts := mustServe(t, sqltest.NewSQLite(t), nil)
	w, sess := mustRawHandshake(t, ts)
	for _, tt := range []struct {
		plain   string
		id      uint64
		code    string
		message string
	}{
		{`not json`, 0, protocol.CodeBadRequest, "invalid JSON"},
		{``, 0, protocol.CodeBadRequest, "invalid JSON"},
		{`[1,2]`, 0, protocol.CodeBadRequest, ""},
		{`{"id":2,"op":"frobnicate"}`, 2, protocol.CodeUnsupportedOp, `"frobnicate"`},
		{`{"id":3,"op":"LOGIN","body":{}}`, 3, protocol.CodeUnsupportedOp, ""},
		{`{"id":4}`, 4, protocol.CodeBadRequest, "op is required"},
		{`{"id":"5","op":"login"}`, 0, protocol.CodeBadRequest, `field "id" must be a number`},
		{`{"id":6,"op":"login","body":{"username":7,"password":"x"}}`, 6, protocol.CodeBadRequest, `field "username" must be a string`},
		{`{"id":7,"op":"login","body":{"username":"alice"}}`, 7, protocol.CodeBadRequest, "required"},
		{`{"id":8,"op":"login","body":{"username":"alice","password":"p","admin":true}}`, 8, protocol.CodeBadRequest, `unknown field "admin"`},
		{`{"id":9,"op":"authenticate","body":[]}`, 9, protocol.CodeBadRequest, "body must be an object"},
		{`{"id":10,"op":"authenticate"}`, 10, protocol.CodeBadRequest, "token is required"},
		{`{"id":11,"op":"refresh","body":{"token":null}}`, 11, protocol.CodeBadRequest, "token is required"},
		{`{"id":12,"op":"signup","body":{"username":"ab"}}`, 12, protocol.CodeBadRequest, "username"},
		{`{"id":13,"op":"signup","extra":1}`, 13, protocol.CodeBadRequest, `unknown field "extra"`},
		{`{"id":14,"op":"logout"} trailing`, 0, protocol.CodeBadRequest, "trailing"},
		{`{"id":0,"op":"logout"}`, 0, protocol.CodeBadRequest, "id must be"},
	} {
		resp := w.roundTrip(t, sess, tt.plain)
		if resp.ID != tt.id || resp.Error == nil || resp.Error.Code != tt.code || !strings.Contains(resp.Error.Message, tt.message) {
			t.Errorf("%s: got id %d %+v; want id %d %s containing %q", tt.plain, resp.ID, resp.Error, tt.id, tt.code, tt.message)
		}
	}
	// The connection still works: a real signup and login.
	resp := w.roundTrip(t, sess, `{"id":100,"op":"signup","body":{"username":"mallory","password":"`+goodPassword+`"}}`)
	if resp.ID != 100 || resp.Error != nil {
		t.Fatalf("signup after bad requests: %+v %+v", resp, resp.Error)
	}
	resp = w.roundTrip(t, sess, `{"id":101,"op":"login","body":{"username":"mallory","password":"`+goodPassword+`"}}`)
	var tok protocol.TokenResult
	if resp.Error != nil || json.Unmarshal(resp.Result, &tok) != nil || tok.Token == "" {
		t.Fatalf("login after bad requests: %+v", resp)
	}
}

func TestCrossOriginUpgrade(t *testing.T) {
	parallel(t)
	open := mustServe(t, sqltest.NewSQLite(t), nil)
	allowing := mustServe(t, sqltest.NewSQLite(t), func(c *server.Config) { c.AllowedOrigins = []string{"app.example.com", "https://chat.example"} })
	for _, tt := range []struct {
		name   string
		ts     *testServer
		origin string
		want   int
	}{
		{"no Origin (not a browser)", open, "", http.StatusSwitchingProtocols},
		{"same origin", open, "http://" + open.Addr, http.StatusSwitchingProtocols},
		{"other origin refused", open, "https://evil.example.net", http.StatusForbidden},
		{"allowed origin", allowing, "https://app.example.com", http.StatusSwitchingProtocols},
		{"origin not in the allowed list", allowing, "https://evil.example.net", http.StatusForbidden},
		{"allowed host on another port", allowing, "https://app.example.com:8443", http.StatusForbidden},
		{"Origin null", open, "null", http.StatusForbidden},
		{"allowed scheme and host", allowing, "https://chat.example", http.StatusSwitchingProtocols},
		{"allowed host with another scheme", allowing, "http://chat.example", http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Sec-WebSocket-Protocol": {protocol.Subprotocol}}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			w, resp := dialRawWS(t, tt.ts.Addr, h)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %s, want %d", resp.Status, tt.want)
			}
			if tt.want == http.StatusSwitchingProtocols {
				if op, _, err := w.readFrame(); err != nil || op != opText {
					t.Fatalf("no hello after the upgrade: %d %v", op, err)
				}
			}
		})
	}
}

// TestDeadPeerClosed: a connection whose peer stops answering pings is
// closed with 1008 after one ping interval; one that answers stays open.
func TestDeadPeerClosed(t *testing.T) {
	t.Parallel()
	// The live connection answers a ping within a tenth of the interval
	// and a round trip: a loaded machine may delay that by 0.9 s.
	const interval = time.Second
	ts := mustServe(t, sqltest.NewSQLite(t), func(c *server.Config) { c.PingInterval = interval })

	dead, _ := mustRawHandshake(t, ts)
	dead.ignorePings = true
	start := time.Now()
	pings := 0
	var code int
	var reason string
	for {
		op, p, err := dead.readFrame()
		if err != nil {
			t.Fatalf("after %d pings: %v", pings, err)
		}
		if op == opPing {
			pings++
			continue
		}
		if op == opClose && len(p) >= 2 {
			code, reason = int(p[0])<<8|int(p[1]), string(p[2:])
			break
		}
	}
	if code != protocol.ClosePolicyViolation || reason != "ping timeout" || pings < 1 || time.Since(start) < interval {
		t.Fatalf("close %d %q after %d pings and %v", code, reason, pings, time.Since(start))
	}
	// A connection that keeps reading answers its pings (readFrame does)
	// and stays open through several intervals.
	alive, asess := mustRawHandshake(t, ts)
	for id, end := 1, time.Now().Add(4*interval); time.Now().Before(end); id++ {
		req := fmt.Sprintf(`{"id":%d,"op":"authenticate","body":{"token":"a.b.c"}}`, id)
		if resp := alive.roundTrip(t, asess, req); resp.Error == nil || resp.Error.Code != protocol.CodeInvalidToken {
			t.Fatalf("live connection: %+v", resp)
		}
		time.Sleep(interval / 10)
	}
}

// TestPipelinedRequests: requests sent without waiting are answered one
// each, in order (SPEC.md §5.1).
func TestPipelinedRequests(t *testing.T) {
	parallel(t)
	ts := mustServe(t, sqltest.NewSQLite(t), nil)
	w, sess := mustRawHandshake(t, ts)
	reqs := []string{
		`{"id":1,"op":"authenticate","body":{"token":"a.b.c"}}`,
		`not json`,
		`{"id":3,"op":"frobnicate"}`,
		`{"id":4,"op":"logout","body":{"token":"a.b.c"}}`,
	}
	for _, r := range reqs {
		w.sendSealed(t, sess, r)
	}
	for i, want := range []struct {
		id   uint64
		code string
	}{{1, protocol.CodeInvalidToken}, {0, protocol.CodeBadRequest}, {3, protocol.CodeUnsupportedOp}, {4, protocol.CodeInvalidToken}} {
		resp, _ := w.readResponse(t, sess)
		if resp.ID != want.id || resp.Error == nil || resp.Error.Code != want.code {
			t.Fatalf("response %d: id %d %+v, want id %d %s", i, resp.ID, resp.Error, want.id, want.code)
		}
	}
}
