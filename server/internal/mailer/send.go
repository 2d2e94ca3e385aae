package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLS modes of Config.TLS.
const (
	// TLSStartTLS upgrades the connection with STARTTLS and refuses a
	// server that does not offer it (port 587).
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (port 465).
	TLSImplicit = "tls"
	// TLSNone sends in clear: a relay on the same host or network only.
	TLSNone = "none"
)

// TLSModes lists the values Config.TLS may take.
var TLSModes = []string{TLSStartTLS, TLSImplicit, TLSNone}

// DefaultTimeout bounds one send (connect, TLS, auth and data).
const DefaultTimeout = 30 * time.Second

// Config says how to reach the SMTP server.
type Config struct {
	// Host is the SMTP server's name or address. Required.
	Host string
	// Port defaults to 587, or 465 with TLSImplicit.
	Port int
	// Username and Password authenticate when Username is set (the best
	// mechanism the server offers).
	Username string
	Password string
	// From is the sender address (it may carry a display name). Required.
	From string
	// TLS is one of TLSModes. Default TLSStartTLS.
	TLS string
	// TLSConfig, when set, replaces the default TLS settings (a private
	// CA's roots). ServerName defaults to Host.
	TLSConfig *tls.Config
	// Timeout bounds one send. Default DefaultTimeout.
	Timeout time.Duration
}

// Message is one mail to one recipient.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// Sender sends mail through one SMTP server.
type Sender struct {
	cfg Config
}

// NewSender checks cfg and returns a Sender; it does not connect.
func NewSender(cfg Config) (*Sender, error) {
	if cfg.Host == "" {
		return nil, errors.New("mailer: host is required")
	}
	if cfg.From == "" {
		return nil, errors.New("mailer: from address is required")
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	if cfg.Port == 0 {
		cfg.Port = 587
		if cfg.TLS == TLSImplicit {
			cfg.Port = 465
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	switch cfg.TLS {
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return nil, fmt.Errorf("mailer: tls must be one of starttls, tls, none, not %q", cfg.TLS)
	}
	m := gomail.NewMsg()
	if err := m.From(cfg.From); err != nil {
		return nil, fmt.Errorf("mailer: from address: %w", err)
	}
	return &Sender{cfg: cfg}, nil
}

// Send delivers m, within the timeout and ctx. Header values are encoded
// by go-mail, and addresses are parsed, so no field can add a header.
func (s *Sender) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.cfg.From); err != nil {
		return fmt.Errorf("mailer: from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("mailer: recipient: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	opts := []gomail.Option{gomail.WithPort(s.cfg.Port), gomail.WithTimeout(s.cfg.Timeout)}
	switch s.cfg.TLS {
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.cfg.TLSConfig != nil {
		tc := s.cfg.TLSConfig.Clone()
		if tc.ServerName == "" {
			tc.ServerName = s.cfg.Host
		}
		opts = append(opts, gomail.WithTLSConfig(tc))
	}
	if s.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	c, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("mailer: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("mailer: send: %w", err)
	}
	return nil
}
