package servertest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// MailServer is a real SMTP server on loopback (github.com/emersion/go-smtp)
// that keeps every message it accepts. It can be stopped and started
// again on the same port, to play an SMTP outage.
type MailServer struct {
	// Host and Port are where it listens.
	Host string
	Port int
	// TLSConfig trusts its certificate (with StartTLS).
	TLSConfig *tls.Config

	opts MailServerOptions
	cert tls.Certificate

	mu     sync.Mutex
	srv    *smtp.Server
	done   chan struct{}
	mails  []Mail
	notify chan struct{}
}

// MailServerOptions shape a MailServer.
type MailServerOptions struct {
	// StartTLS offers STARTTLS with a fresh self-signed certificate for
	// 127.0.0.1 (TLSConfig trusts it).
	StartTLS bool
	// Username and Password, when set, are required (AUTH PLAIN).
	Username, Password string
	// Dir, when set, receives each accepted message as a file
	// NNNNNN.eml, for a client in another process to read.
	Dir string
}

// Mail is one accepted message.
type Mail struct {
	From string
	To   []string
	// Header is the message's header; Text its plain-text part, HTML its
	// HTML part, both decoded.
	Header mail.Header
	Text   string
	HTML   string
	Raw    []byte
}

var codeRE = regexp.MustCompile(`\b\d{8}\b`)

// Code returns the first 8-digit code of the plain-text part, or "".
func (m Mail) Code() string { return codeRE.FindString(m.Text) }

// StartMailServer starts a MailServer on 127.0.0.1 and stops it when the
// test ends.
func StartMailServer(tb testing.TB, opts MailServerOptions) *MailServer {
	tb.Helper()
	m, err := NewMailServer(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(m.Stop)
	return m
}

// NewMailServer starts a MailServer on 127.0.0.1; the caller stops it.
func NewMailServer(opts MailServerOptions) (*MailServer, error) {
	m := &MailServer{Host: "127.0.0.1", opts: opts, notify: make(chan struct{})}
	if opts.StartTLS {
		var err error
		if m.cert, m.TLSConfig, err = selfSigned(); err != nil {
			return nil, err
		}
	}
	// A port from below the kernel's ephemeral range (sqltest.FreePort),
	// so that after Stop no other test's listener or connection is given
	// it before Start listens on it again.
	var ln net.Listener
	for range 10 {
		port, err := sqltest.FreePort()
		if err != nil {
			return nil, err
		}
		if ln, err = net.Listen("tcp", net.JoinHostPort(m.Host, strconv.Itoa(port))); err == nil {
			m.Port = port
			break
		}
	}
	if ln == nil {
		return nil, errors.New("servertest: no port for the mail server")
	}
	m.serve(ln)
	return m, nil
}

// ReadMail parses a raw message the way the MailServer does.
func ReadMail(raw []byte) (Mail, error) {
	ml := Mail{Raw: raw}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return ml, err
	}
	ml.Header = msg.Header
	err = readParts(&ml, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	return ml, err
}

func (m *MailServer) serve(ln net.Listener) {
	s := smtp.NewServer(backend{m})
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.MaxMessageBytes = 1 << 20
	s.AllowInsecureAuth = !m.opts.StartTLS
	if m.opts.StartTLS {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{m.cert}}
	}
	done := make(chan struct{})
	m.mu.Lock()
	m.srv, m.done = s, done
	m.mu.Unlock()
	go func() {
		defer close(done)
		_ = s.Serve(ln)
	}()
}

// Stop closes the listener and every connection; mail sent meanwhile is
// refused.
func (m *MailServer) Stop() {
	m.mu.Lock()
	s, done := m.srv, m.done
	m.srv = nil
	m.mu.Unlock()
	if s != nil {
		_ = s.Close()
		<-done
	}
}

// Start listens again on the same port after Stop.
func (m *MailServer) Start(tb testing.TB) {
	tb.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(m.Host, strconv.Itoa(m.Port)))
	if err != nil {
		tb.Fatalf("listen again on the mail port: %v", err)
	}
	m.serve(ln)
}

// Mails returns the messages accepted so far.
func (m *MailServer) Mails() []Mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Mail(nil), m.mails...)
}

// WaitFor waits until n messages to address (in any case) have arrived
// and returns them, or fails the test at ctx's end.
func (m *MailServer) WaitFor(tb testing.TB, ctx context.Context, address string, n int) []Mail {
	tb.Helper()
	for {
		m.mu.Lock()
		var got []Mail
		for _, ml := range m.mails {
			for _, to := range ml.To {
				if strings.EqualFold(to, address) {
					got = append(got, ml)
				}
			}
		}
		wake := m.notify
		m.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-wake:
		case <-ctx.Done():
			tb.Fatalf("waiting for %d mails to %s: got %d before the deadline", n, address, len(got))
		}
	}
}

func (m *MailServer) add(ml Mail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.opts.Dir != "" {
		name := filepath.Join(m.opts.Dir, fmt.Sprintf("%06d.eml", len(m.mails)))
		if err := os.WriteFile(name+".tmp", ml.Raw, 0o600); err != nil {
			return err
		}
		if err := os.Rename(name+".tmp", name); err != nil {
			return err
		}
	}
	m.mails = append(m.mails, ml)
	close(m.notify)
	m.notify = make(chan struct{})
	return nil
}

type backend struct{ m *MailServer }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{m: b.m}, nil }

type session struct {
	m      *MailServer
	authed bool
	from   string
	to     []string
}

func (s *session) AuthMechanisms() []string {
	if s.m.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.m.opts.Username || password != s.m.opts.Password {
			return errors.New("invalid credentials")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.m.opts.Username != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ml, err := ReadMail(raw)
	if err != nil {
		return err
	}
	ml.From, ml.To = s.from, s.to
	return s.m.add(ml)
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// readParts decodes a body into ml.Text and ml.HTML, walking multiparts.
func readParts(ml *Mail, contentType, encoding string, body io.Reader) error {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := readParts(ml, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
	}
	if strings.EqualFold(encoding, "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	switch mt {
	case "text/plain":
		ml.Text += string(b)
	case "text/html":
		ml.HTML += string(b)
	}
	return nil
}

func selfSigned() (tls.Certificate, *tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
