// Package mailer sends accountd's mail through an SMTP server
// (github.com/wneessen/go-mail: STARTTLS or implicit TLS, SMTP auth,
// timeouts) and renders the messages from templates an operator can
// replace: a plain-text body (whose first line is the subject) and an
// HTML body for each message.
//
// Everything here is safe for concurrent use.
package mailer
