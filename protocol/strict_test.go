package protocol_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/accountd/accountd/protocol"
)

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// setTrailingBits rewrites the last character before the padding of a
// padded base64 string so that the bits after the last byte are not zero:
// the bytes decoded stay the same.
func setTrailingBits(s string) string {
	i := strings.IndexByte(s, '=') - 1
	v := strings.IndexByte(b64Alphabet, s[i])
	return s[:i] + string(b64Alphabet[v|1]) + s[i+1:]
}

// TestStrictBase64 checks that a frame whose bytes are base64 with a line
// break or with non-zero trailing bits is malformed (SPEC.md §0), though
// a lenient decoder reads the same bytes from it.
func TestStrictBase64(t *testing.T) {
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Handshake struct {
			Hello       string `json:"hello"`
			ClientHello string `json:"client_hello"`
		} `json:"handshake"`
		V3 struct {
			Rotation struct {
				Hello string `json:"hello"`
			} `json:"rotation"`
		} `json:"v3"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	edit := func(frame, member string, f func(string) string) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(frame), &m); err != nil {
			t.Fatal(err)
		}
		m[member] = f(m[member].(string))
		out, _ := json.Marshal(m)
		return string(out)
	}
	lineBreak := func(s string) string { return s[:20] + "\r\n" + s[20:] }
	if _, _, err := protocol.ParseHello(2, []byte(v.Handshake.Hello)); err != nil {
		t.Fatalf("the vector hello itself: %v", err)
	}
	if err := parseHelloV3([]byte(v.V3.Rotation.Hello)); err != nil {
		t.Fatalf("the version 3 rotation hello itself: %v", err)
	}
	for _, c := range []struct {
		name  string
		parse func([]byte) error
		frame string
	}{
		{"hello transport_key with a line break", parseHello, edit(v.Handshake.Hello, "transport_key", lineBreak)},
		{"hello nonce with non-zero trailing bits", parseHello, edit(v.Handshake.Hello, "nonce", setTrailingBits)},
		{"hello identity_key with non-zero trailing bits", parseHello, edit(v.Handshake.Hello, "identity_key", setTrailingBits)},
		{"version 3 hello previous_identity_key with non-zero trailing bits", parseHelloV3, edit(v.V3.Rotation.Hello, "previous_identity_key", setTrailingBits)},
		{"version 3 hello previous_identity_key with a line break", parseHelloV3, edit(v.V3.Rotation.Hello, "previous_identity_key", lineBreak)},
		{"client_hello client_key with a line break", parseClientHello, edit(v.Handshake.ClientHello, "client_key", lineBreak)},
		{"client_hello secret with a line break", parseClientHello, edit(v.Handshake.ClientHello, "secret", lineBreak)},
	} {
		if err := c.parse([]byte(c.frame)); !errors.Is(err, protocol.ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", c.name, err)
		}
	}
}

func parseHello(b []byte) error       { _, _, err := protocol.ParseHello(2, b); return err }
func parseHelloV3(b []byte) error     { _, _, err := protocol.ParseHello(3, b); return err }
func parseClientHello(b []byte) error { _, _, err := protocol.ParseClientHello(2, b); return err }
