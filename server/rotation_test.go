package server_test

import (
	"crypto/ed25519"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestVersion2Client: a client deployed before version 3 offers only
// accountd.v2; the server selects it and serves it like any other.
func TestVersion2Client(t *testing.T) {
	parallel(t)
	ts := mustServe(t, sqltest.NewSQLite(t), nil)
	w, sess, hs := mustRawHandshakeVersion(t, ts, 2)
	if !hs.IdentityKey().Equal(ts.Config.Identity.Public()) {
		t.Fatal("the version 2 hello does not present the identity key")
	}
	resp := w.roundTrip(t, sess, `{"id":1,"op":"policy"}`)
	if resp.Error != nil || !strings.Contains(string(resp.Result), "min_password_length") {
		t.Fatalf("policy over version 2: %+v %s", resp.Error, resp.Result)
	}
}

// TestRotationOverlap: while the previous identity key's overlap runs, a
// version 3 client is shown both keys and a version 2 client the previous
// one; once the server's clock passes the end, neither is shown the
// previous key, without a restart.
func TestRotationOverlap(t *testing.T) {
	parallel(t)
	previous := servertest.Identity(t)
	var until time.Time
	ts := mustServe(t, sqltest.NewSQLite(t), func(c *server.Config) {
		until = time.Now().Add(time.Hour).Truncate(time.Second)
		c.PreviousIdentity, c.PreviousIdentityUntil = previous, until
	})
	current := ts.Config.Identity.Public().(ed25519.PublicKey)
	old := previous.Public().(ed25519.PublicKey)

	_, _, hs := mustRawHandshakeVersion(t, ts, 3)
	prev, end := hs.PreviousIdentityKey()
	if !hs.IdentityKey().Equal(current) || !prev.Equal(old) || !end.Equal(until) {
		t.Fatalf("version 3 during the overlap: identity %s, previous %x until %v; want %s, %s until %v",
			protocol.Fingerprint(hs.IdentityKey()), prev, end, protocol.Fingerprint(current), protocol.Fingerprint(old), until)
	}
	w, sess, hs := mustRawHandshakeVersion(t, ts, 2)
	if !hs.IdentityKey().Equal(old) {
		t.Fatalf("version 2 during the overlap presents %s, want the previous key %s", protocol.Fingerprint(hs.IdentityKey()), protocol.Fingerprint(old))
	}
	if resp := w.roundTrip(t, sess, `{"id":1,"op":"policy"}`); resp.Error != nil {
		t.Fatalf("version 2 during the overlap: %+v", resp.Error)
	}

	ts.Clock.Advance(until.Sub(ts.Clock.Now()))
	_, _, hs = mustRawHandshakeVersion(t, ts, 3)
	if prev, _ := hs.PreviousIdentityKey(); prev != nil || !hs.IdentityKey().Equal(current) {
		t.Fatalf("version 3 at the end of the overlap: identity %s, previous %x", protocol.Fingerprint(hs.IdentityKey()), prev)
	}
	_, _, hs = mustRawHandshakeVersion(t, ts, 2)
	if !hs.IdentityKey().Equal(current) {
		t.Fatalf("version 2 at the end of the overlap presents %s, want the new key", protocol.Fingerprint(hs.IdentityKey()))
	}
}

// TestReconfigureRotatesIdentity: a running server takes a rotated
// identity at Reconfigure (SIGHUP): new handshakes and the console page
// carry the new key, the old one as previous.
func TestReconfigureRotatesIdentity(t *testing.T) {
	parallel(t)
	ts := mustServe(t, sqltest.NewSQLite(t), nil)
	old := ts.Config.Identity
	cfg := ts.Config
	cfg.Identity = servertest.Identity(t)
	cfg.PreviousIdentity, cfg.PreviousIdentityUntil = old, ts.Clock.Now().Add(720*time.Hour)
	if err := ts.Server().Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	_, _, hs := mustRawHandshakeVersion(t, ts, 3)
	prev, _ := hs.PreviousIdentityKey()
	if !hs.IdentityKey().Equal(cfg.Identity.Public()) || !prev.Equal(old.Public()) {
		t.Fatalf("after Reconfigure: identity %s, previous %x", protocol.Fingerprint(hs.IdentityKey()), prev)
	}
	resp, err := http.Get("http://" + ts.Addr + "/account/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := protocol.Fingerprint(cfg.Identity.Public().(ed25519.PublicKey)); !strings.Contains(string(page), want) {
		t.Fatalf("the console page does not carry the new fingerprint %s", want)
	}

	bad := cfg
	bad.PreviousIdentity = cfg.Identity
	if err := ts.Server().Reconfigure(bad); err == nil {
		t.Fatal("Reconfigure accepted a previous identity key equal to the identity key")
	}
	bad.PreviousIdentity, bad.PreviousIdentityUntil = old, time.Time{}
	if err := ts.Server().Reconfigure(bad); err == nil {
		t.Fatal("Reconfigure accepted a previous identity key without the end of its overlap")
	}
}
