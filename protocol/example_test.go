package protocol_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"

	"github.com/accountd/accountd/protocol"
)

// A whole handshake in memory: the caller moves the three frames over its
// WebSocket, then seals and opens packets.
func Example() {
	_, identity, _ := ed25519.GenerateKey(rand.Reader)
	transport, _ := rsa.GenerateKey(rand.Reader, 2048) // 3072 bits in production
	transportDER, _ := x509.MarshalPKIXPublicKey(&transport.PublicKey)
	clientKey, _ := rsa.GenerateKey(rand.Reader, 2048)

	// Server: a fresh hello per connection.
	srv, _ := protocol.NewServerHandshake(protocol.Version, protocol.ServerIdentity{Key: identity}, transport, transportDER, nil)
	hello := srv.Hello()

	// Client: check the hello and the identity against the pinned key,
	// then answer.
	cli, err := protocol.NewClientHandshake(protocol.Version, hello, clientKey, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("pinned identity:", cli.IdentityKey().Equal(identity.Public()))

	// The server signs the whole transcript with its identity key; the
	// client verifies that signature before it trusts anything else.
	serverKey, serverSession, _ := srv.Finish(cli.ClientHello())
	clientSession, err := cli.Finish(serverKey)
	if err != nil {
		panic(err) // protocol.ErrBadSignature: not the pinned server
	}

	packet, _ := clientSession.Seal([]byte(`{"id":1,"op":"authenticate","body":{"token":"..."}}`))
	plain, _ := serverSession.Open(packet)
	fmt.Println(string(plain))

	// The same packet again is a replay: it does not open.
	_, err = serverSession.Open(packet)
	fmt.Println(err)
	// Output:
	// pinned identity: true
	// {"id":1,"op":"authenticate","body":{"token":"..."}}
	// protocol: decryption failed
}

func ExampleFingerprint() {
	fmt.Println(protocol.Fingerprint(make(ed25519.PublicKey, ed25519.PublicKeySize)))
	// Output: SHA256:Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU
}
