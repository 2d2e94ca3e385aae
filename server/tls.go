package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certCheckInterval is how often, at most, CertFiles looks at the files'
// modification times: a handshake costs far more than two stats, but a
// flood of handshakes need not cost stats at all.
const certCheckInterval = time.Second

// CertFiles serves a TLS certificate and key from PEM files and loads them
// again when either file's modification time changes, so a renewed
// certificate is used without a restart. A pair that does not load (a
// renewal half written) is logged and the previous one kept until the
// files change again. Safe for concurrent use.
type CertFiles struct {
	certFile, keyFile string
	log               *slog.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	certMod   time.Time
	keyMod    time.Time
	lastCheck time.Time
}

// LoadCertFiles loads the pair once, so that a wrong path or a bad pair
// stops the server at start. log receives reload messages; nil discards.
func LoadCertFiles(certFile, keyFile string, log *slog.Logger) (*CertFiles, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &CertFiles{certFile: certFile, keyFile: keyFile, log: log}
	certMod, keyMod, err := f.modTimes()
	if err != nil {
		return nil, err
	}
	if err := f.load(certMod, keyMod); err != nil {
		return nil, err
	}
	return f, nil
}

// TLSConfig returns a server TLS configuration (TLS 1.2 or later, HTTP/1.1
// for WebSocket upgrades) that takes its certificate from f.
func (f *CertFiles) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: f.GetCertificate,
	}
}

// GetCertificate is a tls.Config.GetCertificate that returns the current
// certificate, reloading it first when the files changed.
func (f *CertFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := time.Now(); now.Sub(f.lastCheck) >= certCheckInterval {
		f.lastCheck = now
		certMod, keyMod, err := f.modTimes()
		switch {
		case err != nil:
			f.log.Warn("TLS certificate files unreadable; keeping the loaded certificate", "err", err)
		case !certMod.Equal(f.certMod) || !keyMod.Equal(f.keyMod):
			if err := f.load(certMod, keyMod); err != nil {
				f.log.Warn("TLS certificate did not load; keeping the previous one", "err", err)
			} else {
				f.log.Info("TLS certificate reloaded", "cert", f.certFile)
			}
		}
	}
	return f.cert, nil
}

func (f *CertFiles) modTimes() (cert, key time.Time, err error) {
	ci, err := os.Stat(f.certFile)
	if err != nil {
		return cert, key, fmt.Errorf("tls certificate: %w", err)
	}
	ki, err := os.Stat(f.keyFile)
	if err != nil {
		return cert, key, fmt.Errorf("tls key: %w", err)
	}
	return ci.ModTime(), ki.ModTime(), nil
}

// load reads the pair; the caller holds f.mu or owns f.
func (f *CertFiles) load(certMod, keyMod time.Time) error {
	c, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		return fmt.Errorf("tls: load %s and %s: %w", f.certFile, f.keyFile, err)
	}
	f.cert, f.certMod, f.keyMod = &c, certMod, keyMod
	return nil
}
