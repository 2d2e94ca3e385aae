package protocol

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"sync"
	"testing"
)

// recordingReader is crypto/rand that keeps the buffers it filled, so a
// test can see what became of them.
type recordingReader struct {
	mu   sync.Mutex
	bufs [][]byte
}

func (r *recordingReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	r.bufs = append(r.bufs, p)
	r.mu.Unlock()
	return rand.Read(p)
}

// TestHandshakeClearsSecrets: once a handshake has made its session,
// neither side still holds client_secret or server_secret, so a later
// dump of the process does not give up a connection's keys.
func TestHandshakeClearsSecrets(t *testing.T) {
	tk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, id, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&tk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	srand, crand := &recordingReader{}, &recordingReader{}
	sh, err := NewServerHandshake(Version, ServerIdentity{Key: id}, tk, der, srand)
	if err != nil {
		t.Fatal(err)
	}
	chs, err := NewClientHandshake(Version, sh.Hello(), ck, crand)
	if err != nil {
		t.Fatal(err)
	}
	// The client's first read is its secret; the server's first read in
	// Finish is its own.
	clientSecret := crand.bufs[0]
	if len(clientSecret) != SecretSize || bytes.Equal(clientSecret, make([]byte, SecretSize)) {
		t.Fatalf("client's first random read: %d bytes, want its 32-byte secret", len(clientSecret))
	}
	before := len(srand.bufs)
	frame, _, err := sh.Finish(chs.ClientHello())
	if err != nil {
		t.Fatal(err)
	}
	serverSecret := srand.bufs[before]
	if len(serverSecret) != SecretSize {
		t.Fatalf("server's first random read in Finish: %d bytes, want its 32-byte secret", len(serverSecret))
	}
	if !bytes.Equal(serverSecret, make([]byte, SecretSize)) {
		t.Error("the server still holds server_secret after Finish")
	}
	if _, err := chs.Finish(frame); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(clientSecret, make([]byte, SecretSize)) {
		t.Error("the client still holds client_secret after Finish")
	}
}
