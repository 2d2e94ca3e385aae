package setup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSettingsRoundTrip: every setting takes a valid value through
// Config.Set, reads it back with Get, survives sealing and opening, and
// returns to its default with "".
func TestSettingsRoundTrip(t *testing.T) {
	valid := map[string]string{
		"listen": "0.0.0.0:9090", "issuer": "https://auth.example", "audience": "app", "service_name": "Chat Ünlimited",
		"signing_algorithm": "RS256", "token_lifetime": "30m0s", "session_lifetime": "12h0m0s",
		"min_password_length": "20", "throttle_after": "3", "throttle_max_delay": "5m0s",
		"lock_after": "50", "rate_limit": "2.5", "rate_burst": "7", "audit_retention": "48h0m0s",
		"service_rate_limit": "2000", "service_rate_burst": "300",
		"allowed_origins": "https://a.example,https://b.example", "trusted_proxies": "10.0.0.0/8,192.0.2.1",
		"client_ip_header": "Forwarded", "proxy_protocol": "true", "account_console": "off",
		"argon2_time": "3", "argon2_memory_kib": "32768", "argon2_threads": "2",
		"smtp_host": "smtp.example.com", "smtp_port": "465", "smtp_username": "mailer", "smtp_tls": "tls",
		"smtp_from": "Example <accounts@example.com>", "mail_templates": "/etc/accountd/mail", "require_verified_email": "true",
	}
	pwFile := filepath.Join(t.TempDir(), "smtp-password")
	if err := os.WriteFile(pwFile, []byte("s3cret mail password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	valid["smtp_password"] = pwFile
	cfg := MustConfig(t)
	seen := map[string]bool{}
	for _, s := range Settings() {
		seen[s.Key] = true
		v, ok := valid[s.Key]
		if !ok {
			t.Errorf("setting %s has no test value", s.Key)
			continue
		}
		suffix, envSuffix := "", ""
		if s.FromFile {
			suffix, envSuffix = "-file", "_FILE"
		}
		if s.Flag() != strings.ReplaceAll(s.Key, "_", "-")+suffix || s.Env() != "ACCOUNTD_"+strings.ToUpper(s.Key)+envSuffix {
			t.Errorf("setting %s: flag %q, env %q", s.Key, s.Flag(), s.Env())
		}
		if fresh := MustConfig(t); !s.IsDefault(fresh) {
			t.Errorf("setting %s is not the default in a fresh config: %q", s.Key, s.Get(fresh))
		}
		if err := cfg.Set(s.Key, v); err != nil {
			t.Fatalf("Set(%s, %q): %v", s.Key, v, err)
		}
		if s.FromFile {
			v = "REDACTED"
		}
		if got := s.Get(cfg); got != v && !(s.Key == "trusted_proxies" && got == "10.0.0.0/8,192.0.2.1") {
			t.Errorf("Get(%s) = %q after Set %q", s.Key, got, v)
		}
	}
	for k := range valid {
		if !seen[k] {
			t.Errorf("test value for %s, which is no setting", k)
		}
	}
	if cfg.Server.SMTPPassword != "s3cret mail password" {
		t.Errorf("smtp_password from its file = %q", cfg.Server.SMTPPassword)
	}
	if strings.Contains(cfg.Redacted(), "s3cret") {
		t.Error("Redacted shows the SMTP password")
	}
	sealed, err := SealConfig(cfg, testPassword, cheapKDF)
	if err != nil {
		t.Fatal(err)
	}
	opened, err := OpenConfig(sealed, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Settings() {
		if s.Get(opened) != s.Get(cfg) {
			t.Errorf("%s = %q after sealing, want %q", s.Key, s.Get(opened), s.Get(cfg))
		}
	}
	for _, s := range Settings() {
		if err := opened.Set(s.Key, ""); err != nil {
			t.Fatalf("Set(%s, \"\"): %v", s.Key, err)
		}
		if !s.IsDefault(opened) {
			t.Errorf("%s = %q after Set \"\", want the default", s.Key, s.Get(opened))
		}
	}
}

// TestSettingsRefused: a bad value is refused with the key named and
// leaves the config unchanged.
func TestSettingsRefused(t *testing.T) {
	cfg := MustConfig(t)
	for key, v := range map[string]string{
		"min_password_length": "7", "lock_after": "101", "token_lifetime": "-1h", "rate_limit": "fast",
		"trusted_proxies": "10.0.0.0/33", "argon2_threads": "300", "proxy_protocol": "maybe", "listen": "nowhere", "account_console": "maybe", "service_name": "Bad\r\nBcc: x@evil.example",
		"smtp_from": "a@example.com\r\nBcc: x@evil.example", "smtp_tls": "ssl", "smtp_port": "70000", "smtp_host": "a b",
		"smtp_password": "/nonexistent/password-file", "require_verified_email": "maybe",
	} {
		before := cfg.Redacted()
		err := cfg.Set(key, v)
		if err == nil {
			t.Errorf("Set(%s, %q) succeeded", key, v)
			continue
		}
		if cfg.Redacted() != before {
			t.Errorf("Set(%s, %q) failed (%v) but changed the config", key, v, err)
		}
	}
	if err := cfg.Set("nonsense", "1"); !errors.Is(err, ErrUnknownSetting) {
		t.Errorf("Set(nonsense) = %v, want ErrUnknownSetting", err)
	}
}
