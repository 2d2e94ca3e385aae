package server

import (
	"testing"
	"time"
)

// TestTransportLimitDefaults pins the defaults SPEC.md and the README
// promise; tests elsewhere shorten them through Config.
func TestTransportLimitDefaults(t *testing.T) {
	t.Parallel()
	var c Config
	c.setDefaults()
	if c.HandshakeTimeout != 10*time.Second {
		t.Errorf("handshake deadline %v, want 10s", c.HandshakeTimeout)
	}
	if c.PingInterval != 30*time.Second {
		t.Errorf("ping interval %v, want 30s", c.PingInterval)
	}
	if c.RequestTimeout != 15*time.Second {
		t.Errorf("request timeout %v, want 15s", c.RequestTimeout)
	}
	if c.AllowedOrigins != nil {
		t.Errorf("allowed origins %v, want none", c.AllowedOrigins)
	}
}
