package protocol_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"testing"
	"time"

	"github.com/accountd/accountd/protocol"
)

// BenchmarkHandshake is one connection's handshake, both sides (RSA-3072
// transport key, RSA-2048 client key); the server's share is one OAEP
// decryption and one encryption.
func BenchmarkHandshake(b *testing.B) {
	_, id, _ := ed25519.GenerateKey(rand.Reader)
	benchHandshake(b, protocol.ServerIdentity{Key: id})
}

// BenchmarkHandshakeRotation is BenchmarkHandshake during an identity
// rotation's overlap: one more Ed25519 signature on the server and one
// more verification on the client.
func BenchmarkHandshakeRotation(b *testing.B) {
	_, cur, _ := ed25519.GenerateKey(rand.Reader)
	_, prev, _ := ed25519.GenerateKey(rand.Reader)
	benchHandshake(b, protocol.ServerIdentity{Key: cur, Previous: prev, PreviousUntil: time.Now().Add(time.Hour)})
}

// benchHandshake runs whole handshakes of a server with identity id.
func benchHandshake(b *testing.B, id protocol.ServerIdentity) {
	tk, ck := mustKeys(b)
	der, _ := x509.MarshalPKIXPublicKey(&tk.PublicKey)
	for b.Loop() {
		sh, _ := protocol.NewServerHandshake(protocol.Version, id, tk, der, nil)
		ch, err := protocol.NewClientHandshake(protocol.Version, sh.Hello(), ck, nil)
		if err != nil {
			b.Fatal(err)
		}
		sk, _, err := sh.Finish(ch.ClientHello())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ch.Finish(sk); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPacket seals and opens one typical request (about 100 bytes).
func BenchmarkPacket(b *testing.B) {
	ss, cs, _ := mustHandshake(b)
	msg := []byte(`{"id":1,"op":"login","body":{"username":"alice","password":"correct horse battery staple"}}`)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		p, _ := cs.Seal(msg)
		if _, err := ss.Open(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeRequest is the strict request decoder on the same request.
func BenchmarkDecodeRequest(b *testing.B) {
	msg := []byte(`{"id":1,"op":"login","body":{"username":"alice","password":"correct horse battery staple"}}`)
	for b.Loop() {
		if _, err := protocol.DecodeRequest(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServerHandshake is the server's share of one handshake: one
// RSA-3072 OAEP decryption and one encryption to the client key.
func BenchmarkServerHandshake(b *testing.B) {
	tk, ck := mustKeys(b)
	der, _ := x509.MarshalPKIXPublicKey(&tk.PublicKey)
	_, id, _ := ed25519.GenerateKey(rand.Reader)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		sh, err := protocol.NewServerHandshake(protocol.Version, protocol.ServerIdentity{Key: id}, tk, der, nil)
		if err != nil {
			b.Fatal(err)
		}
		ch, err := protocol.NewClientHandshake(protocol.Version, sh.Hello(), ck, nil)
		if err != nil {
			b.Fatal(err)
		}
		hello := ch.ClientHello()
		b.StartTimer()
		if _, _, err := sh.Finish(hello); err != nil {
			b.Fatal(err)
		}
	}
}
