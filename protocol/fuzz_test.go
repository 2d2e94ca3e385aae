package protocol_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/accountd/accountd/protocol"
)

// The fuzz targets cover every decoder that reads bytes from the network.
// Their property: no panic; on error, no result; and for what decodes,
// decode → encode → decode gives the same value and the same encoding.
// `make fuzz` runs each for FUZZTIME; inputs that failed are kept under
// testdata/fuzz and run with every `go test`.

// seedFrames adds every handshake frame of the vectors (loadVectors fails
// when a section is empty).
func seedFrames(f *testing.F) {
	v := loadVectors(f)
	for _, s := range []string{v.Handshake.Hello, v.Handshake.ClientHello, v.Handshake.ServerKey} {
		f.Add([]byte(s))
	}
	for _, bf := range v.BadFrames {
		f.Add([]byte(bf.Data))
	}
	for _, hs := range []vectorHandshake{v.V3.Handshake, v.V3.Rotation.vectorHandshake} {
		for _, s := range []string{hs.Hello, hs.ClientHello, hs.ServerKey} {
			f.Add([]byte(s))
		}
	}
	for _, bf := range v.V3.BadFrames {
		f.Add([]byte(bf.Data))
	}
}

// checkRoundTrip re-encodes a decoded frame, decodes it again and
// compares both encodings.
func checkRoundTrip[T any](t *testing.T, first *T, decode func([]byte) (*T, error)) {
	t.Helper()
	enc, err := json.Marshal(first)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	second, err := decode(enc)
	if err != nil {
		t.Fatalf("re-decoding %s: %v", enc, err)
	}
	enc2, err := json.Marshal(second)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if !bytes.Equal(enc, enc2) {
		t.Fatalf("unstable round trip:\n%s\n%s", enc, enc2)
	}
}

func FuzzParseHello(f *testing.F) {
	seedFrames(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, version := range protocol.Versions {
			h, pub, err := protocol.ParseHello(version, data)
			if err != nil {
				if h != nil || pub != nil {
					t.Fatalf("result with error %v", err)
				}
				continue
			}
			if pub == nil {
				t.Fatal("no transport key without error")
			}
			checkRoundTrip(t, h, func(b []byte) (*protocol.Hello, error) {
				h, _, err := protocol.ParseHello(version, b)
				return h, err
			})
		}
	})
}

func FuzzParseClientHello(f *testing.F) {
	seedFrames(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, version := range protocol.Versions {
			fuzzClientHello(t, version, data)
		}
	})
}

func fuzzClientHello(t *testing.T, version int, data []byte) {
	ch, pub, err := protocol.ParseClientHello(version, data)
	if err != nil {
		if ch != nil || pub != nil {
			t.Fatalf("result with error %v", err)
		}
		return
	}
	if pub == nil {
		t.Fatal("no client key without error")
	}
	checkRoundTrip(t, ch, func(b []byte) (*protocol.ClientHello, error) {
		ch, _, err := protocol.ParseClientHello(version, b)
		return ch, err
	})
}

func FuzzParseServerKey(f *testing.F) {
	seedFrames(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, version := range protocol.Versions {
			sk, err := protocol.ParseServerKey(version, data)
			if err != nil {
				if sk != nil {
					t.Fatalf("result with error %v", err)
				}
				continue
			}
			checkRoundTrip(t, sk, func(b []byte) (*protocol.ServerKey, error) { return protocol.ParseServerKey(version, b) })
		}
	})
}

// FuzzOpen feeds packets to a receiver holding the vector keys. What
// opens must be exactly what a sender with the same key and counter seals.
func FuzzOpen(f *testing.F) {
	v := loadVectors(f)
	for _, p := range v.Packets {
		f.Add([]byte(p.Packet))
	}
	for _, seq := range v.BadPacket {
		for _, p := range seq.Packets {
			f.Add([]byte(p))
		}
	}
	hs := v.Handshake
	f.Fuzz(func(t *testing.T, data []byte) {
		recv := mustSession(t, 2, hs.S2CKey, hs.C2SKey)
		pt, err := recv.Open(data)
		if err != nil {
			if pt != nil || !errors.Is(err, protocol.ErrDecrypt) {
				t.Fatalf("Open: %q, %v", pt, err)
			}
			// A failed session stays failed.
			if _, err := recv.Open(data); err == nil {
				t.Fatal("opened after a failure")
			}
			return
		}
		send := mustSession(t, 2, hs.C2SKey, hs.S2CKey)
		again, err := send.Seal(pt)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("resealing gives %x, %v; want %x", again, err, data)
		}
	})
}

func seedRequests(f *testing.F) {
	v := loadVectors(f)
	for _, r := range v.Requests {
		f.Add([]byte(r.Plaintext))
	}
	for _, p := range v.Packets {
		f.Add([]byte(p.Plaintext))
	}
}

func FuzzDecodeRequest(f *testing.F) {
	seedRequests(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := protocol.DecodeRequest(data)
		if err != nil {
			if r != nil || !errors.Is(err, protocol.ErrBadRequest) {
				t.Fatalf("DecodeRequest: %v, %v", r, err)
			}
			if bytes.Contains([]byte(err.Error()), data) && len(data) > 8 {
				t.Fatalf("error echoes the input: %v", err)
			}
			return
		}
		if r.ID == 0 || r.ID > protocol.MaxRequestID || r.Op == "" {
			t.Fatalf("accepted %+v", r)
		}
		checkRoundTrip(t, r, protocol.DecodeRequest)
	})
}

func FuzzDecodeResponse(f *testing.F) {
	seedRequests(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := protocol.DecodeResponse(data)
		if err != nil {
			if r != nil {
				t.Fatalf("result with error %v", err)
			}
			return
		}
		if (r.Error == nil) == (len(r.Result) == 0) {
			t.Fatalf("accepted %s", data)
		}
		checkRoundTrip(t, r, protocol.DecodeResponse)
	})
}

// FuzzDecodeBody decodes request bodies into each operation's body type.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		`{"username":"alice","password":"correct horse battery staple","email":"a@example.com"}`,
		`{"username":"alice"}`, `{"token":"eyJ.e30.c2ln"}`, `{}`, `{"token":7}`, `{"username":null}`,
	} {
		f.Add([]byte(s))
	}
	seedRequests(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, newBody := range []func() any{
			func() any { return new(protocol.SignupRequest) },
			func() any { return new(protocol.LoginRequest) },
			func() any { return new(protocol.TokenRequest) },
		} {
			b := newBody()
			if err := protocol.DecodeBody(data, b); err != nil {
				if !errors.Is(err, protocol.ErrBadRequest) {
					t.Fatalf("DecodeBody: %v", err)
				}
				continue
			}
			enc, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			b2 := newBody()
			if err := protocol.DecodeBody(enc, b2); err != nil {
				t.Fatalf("re-decoding %s: %v", enc, err)
			}
			if enc2, _ := json.Marshal(b2); !bytes.Equal(enc, enc2) {
				t.Fatalf("unstable round trip:\n%s\n%s", enc, enc2)
			}
		}
	})
}
