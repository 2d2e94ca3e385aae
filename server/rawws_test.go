package server_test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// rawWS is a hand-written RFC 6455 client: it can send what a well-behaved
// library never would (a header that announces more than it sends, frames
// over the limit), so tests can see the server's answer to hostile bytes.
type rawWS struct {
	conn net.Conn
	br   *bufio.Reader
	// ignorePings makes readFrame return pings instead of answering
	// them, like a peer that is gone.
	ignorePings bool
}

// dialRawWS opens a TCP connection to addr and upgrades it at /ws with the
// given extra headers. It returns the response for every status; the
// connection is usable only after 101.
func dialRawWS(tb testing.TB, addr string, header http.Header) (*rawWS, *http.Response) {
	tb.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	key := make([]byte, 16)
	rand.Read(key)
	req := fmt.Sprintf("GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n",
		addr, base64.StdEncoding.EncodeToString(key))
	for k, vs := range header {
		for _, v := range vs {
			req += k + ": " + v + "\r\n"
		}
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		tb.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &rawWS{conn: conn, br: br}, resp
}

// Opcodes.
const (
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xA
)

// writeHeader writes a final, masked frame header announcing length bytes
// and returns the mask to apply to the payload.
func (w *rawWS) writeHeader(op byte, length uint64) ([4]byte, error) {
	hdr := []byte{0x80 | op}
	switch {
	case length < 126:
		hdr = append(hdr, 0x80|byte(length))
	case length <= 0xFFFF:
		hdr = append(hdr, 0x80|126)
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(length))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, length)
	}
	var mask [4]byte
	rand.Read(mask[:])
	hdr = append(hdr, mask[:]...)
	_, err := w.conn.Write(hdr)
	return mask, err
}

func maskBytes(mask [4]byte, offset int, p []byte) []byte {
	out := make([]byte, len(p))
	for i, b := range p {
		out[i] = b ^ mask[(offset+i)%4]
	}
	return out
}

// writeFrame sends one complete masked frame.
func (w *rawWS) writeFrame(op byte, payload []byte) error {
	mask, err := w.writeHeader(op, uint64(len(payload)))
	if err != nil {
		return err
	}
	_, err = w.conn.Write(maskBytes(mask, 0, payload))
	return err
}

// readFrame reads one unfragmented frame from the server, answering pings.
func (w *rawWS) readFrame() (op byte, payload []byte, err error) {
	for {
		var h [2]byte
		if _, err := io.ReadFull(w.br, h[:]); err != nil {
			return 0, nil, err
		}
		if h[0]&0x80 == 0 || h[1]&0x80 != 0 {
			return 0, nil, fmt.Errorf("unexpected frame header %x", h)
		}
		n := uint64(h[1] & 0x7F)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(w.br, b[:]); err != nil {
				return 0, nil, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(w.br, b[:]); err != nil {
				return 0, nil, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		if n > 1<<20 {
			return 0, nil, fmt.Errorf("server frame of %d bytes", n)
		}
		payload = make([]byte, n)
		if _, err := io.ReadFull(w.br, payload); err != nil {
			return 0, nil, err
		}
		op = h[0] & 0x0F
		if op == opPing && !w.ignorePings {
			if err := w.writeFrame(opPong, payload); err != nil {
				return 0, nil, err
			}
			continue
		}
		return op, payload, nil
	}
}

// readClose reads frames until a close frame and returns its code and
// reason.
func (w *rawWS) readClose(tb testing.TB) (code int, reason string) {
	tb.Helper()
	for {
		op, p, err := w.readFrame()
		if err != nil {
			tb.Fatalf("waiting for a close frame: %v", err)
		}
		if op != opClose {
			continue
		}
		if len(p) < 2 {
			tb.Fatalf("close frame without a code: %x", p)
		}
		return int(binary.BigEndian.Uint16(p)), string(p[2:])
	}
}
