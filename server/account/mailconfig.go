package account

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/accountd/accountd/server/internal/mailer"
)

// SMTP TLS modes (MailConfig.TLS).
const (
	// SMTPStartTLS upgrades with STARTTLS and refuses a server without it.
	SMTPStartTLS = mailer.TLSStartTLS
	// SMTPImplicitTLS speaks TLS from the first byte (port 465).
	SMTPImplicitTLS = mailer.TLSImplicit
	// SMTPNoTLS sends in clear: for a relay on the same host or network.
	SMTPNoTLS = mailer.TLSNone
)

// SMTPTLSModes lists the values MailConfig.TLS may take.
var SMTPTLSModes = mailer.TLSModes

// MailConfig says how the Service reaches its SMTP server.
type MailConfig struct {
	// Host is the SMTP server; "" turns mail off.
	Host string
	// Port defaults to 587, or 465 with SMTPImplicitTLS.
	Port int
	// Username and Password authenticate when Username is set.
	Username string
	Password string
	// From is the sender: an address, optionally with a display name.
	// Required with Host.
	From string
	// TLS is one of SMTPTLSModes. Default SMTPStartTLS.
	TLS string
	// TLSConfig, when set, replaces the default TLS settings (a private
	// CA's roots).
	TLSConfig *tls.Config
	// Timeout bounds one send. Default 30 s.
	Timeout time.Duration
	// TemplatesDir, when set, holds templates that replace the built-in
	// ones of the same name (NAME.txt, NAME.html).
	TemplatesDir string
}

// Enabled reports whether mail is configured.
func (m MailConfig) Enabled() bool { return m.Host != "" }

func (m MailConfig) check() error {
	if !m.Enabled() {
		return nil
	}
	if err := ValidateSMTPFrom(m.From); err != nil {
		return err
	}
	if m.TLS != "" && !slices.Contains(SMTPTLSModes, m.TLS) {
		return fmt.Errorf("smtp tls must be one of %s", strings.Join(SMTPTLSModes, ", "))
	}
	if m.Port < 0 || m.Port > 65535 {
		return errors.New("smtp port must be between 1 and 65535")
	}
	return nil
}

// ValidateSMTPFrom checks a sender address: required with mail, one
// address with an optional display name, no control character.
func ValidateSMTPFrom(from string) error {
	if from == "" {
		return errors.New("smtp from address is required with an smtp host")
	}
	if strings.ContainsFunc(from, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return errors.New("smtp from address holds a control character")
	}
	if _, err := mail.ParseAddress(from); err != nil {
		return fmt.Errorf("smtp from address: %w", err)
	}
	return nil
}

func (m MailConfig) senderConfig() mailer.Config {
	return mailer.Config{Host: m.Host, Port: m.Port, Username: m.Username, Password: m.Password,
		From: m.From, TLS: m.TLS, TLSConfig: m.TLSConfig, Timeout: m.Timeout}
}
