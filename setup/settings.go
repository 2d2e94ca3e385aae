package setup

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/accountd/accountd/server/account"
)

// Setting is one server setting of the sealed config: what `accountd
// config get/set` read and change, and what a setup flag (Flag) and
// environment variable (Env) give at the first run. Per-instance options
// (TLS files, the hash concurrency, timeouts) are serve flags instead.
type Setting struct {
	// Key names the setting, e.g. "min_password_length".
	Key string
	// Help says what it is, with its unit.
	Help string
	// Live is true when a running server applies a change on SIGHUP;
	// otherwise the change waits for a restart.
	Live bool
	// FromFile marks a secret: its value is given as the name of a file
	// that holds it (flag --KEY-file, env ACCOUNTD_KEY_FILE), and Get
	// shows REDACTED.
	FromFile bool

	get func(*Config) string
	set func(*Config, string) error
}

// Flag is the setting's setup flag name, e.g. "min-password-length"
// ("smtp-password-file" for a FromFile setting).
func (s Setting) Flag() string {
	f := strings.ReplaceAll(s.Key, "_", "-")
	if s.FromFile {
		f += "-file"
	}
	return f
}

// Env is the setting's environment variable, e.g.
// "ACCOUNTD_MIN_PASSWORD_LENGTH" ("ACCOUNTD_SMTP_PASSWORD_FILE" for a
// FromFile setting).
func (s Setting) Env() string {
	e := "ACCOUNTD_" + strings.ToUpper(s.Key)
	if s.FromFile {
		e += "_FILE"
	}
	return e
}

// Get returns the setting's value in c, or "" when c leaves it to the
// default.
func (s Setting) Get(c *Config) string { return s.get(c) }

// IsDefault reports whether c leaves the setting to the server's default.
func (s Setting) IsDefault(c *Config) bool { return s.get(c) == "" }

// Set parses value into c's setting without checking it against the
// other settings; "" restores the default. Config.Set checks too.
func (s Setting) Set(c *Config, value string) error {
	if err := s.set(c, strings.TrimSpace(value)); err != nil {
		return fmt.Errorf("setup: %s: %w", s.Key, err)
	}
	return nil
}

// ErrUnknownSetting is returned for a key that names no Setting.
var ErrUnknownSetting = errors.New("setup: unknown setting")

// LookupSetting returns the setting named key.
func LookupSetting(key string) (Setting, error) {
	for _, s := range Settings() {
		if s.Key == key {
			return s, nil
		}
	}
	return Setting{}, fmt.Errorf("%w %q (run 'accountd config show' for the list)", ErrUnknownSetting, key)
}

// Set changes the setting key to value ("" restores the default) and
// checks the whole config; on an error c is unchanged.
func (c *Config) Set(key, value string) error {
	s, err := LookupSetting(key)
	if err != nil {
		return err
	}
	next := *c
	next.Server.AllowedOrigins = append([]string(nil), c.Server.AllowedOrigins...)
	next.Server.TrustedProxies = append([]string(nil), c.Server.TrustedProxies...)
	if c.Server.Argon2 != nil {
		a := *c.Server.Argon2
		next.Server.Argon2 = &a
	}
	if err := s.Set(&next, value); err != nil {
		return err
	}
	if err := next.Validate(); err != nil {
		return err
	}
	*c = next
	return nil
}

// ParseTrustedProxies parses networks in CIDR notation; a single address
// stands for itself (/32 or /128).
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("setup: trusted proxy %q is not a network (CIDR, e.g. 10.0.0.0/8) or an address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Settings returns every setting, in the order `config show` lists them.
func Settings() []Setting {
	return []Setting{
		{Key: "listen", Help: "address to listen on, host:port (default " + DefaultListen + ")",
			get: func(c *Config) string { return unlessDefault(c.Listen, DefaultListen) },
			set: func(c *Config, v string) error {
				if v == "" {
					v = DefaultListen
				}
				c.Listen = v
				return nil
			}},
		{Key: "issuer", Help: `JWT "iss" claim (default accountd)`,
			get: func(c *Config) string { return c.Server.Issuer },
			set: func(c *Config, v string) error { c.Server.Issuer = v; return nil }},
		{Key: "audience", Help: `JWT "aud" claim; empty: none`,
			get: func(c *Config) string { return c.Server.Audience },
			set: func(c *Config, v string) error { c.Server.Audience = v; return nil }},
		{Key: "service_name", Help: "name users know the service by, in mail and authenticator apps (default " + account.DefaultServiceName + ")",
			get: func(c *Config) string { return c.Server.ServiceName },
			set: func(c *Config, v string) error {
				if err := account.ValidateServiceName(v); err != nil {
					return err
				}
				c.Server.ServiceName = v
				return nil
			}},
		{Key: "smtp_host", Help: "SMTP server for mail (verification codes, password reset, notices); empty: mail off",
			get: func(c *Config) string { return c.Server.SMTPHost },
			set: func(c *Config, v string) error {
				if strings.ContainsAny(v, " /\t\r\n") {
					return fmt.Errorf("%q is not a host name or address", v)
				}
				c.Server.SMTPHost = v
				return nil
			}},
		{Key: "smtp_port", Help: "SMTP server port (default 587, or 465 with smtp_tls tls)",
			get: func(c *Config) string {
				if c.Server.SMTPPort == 0 {
					return ""
				}
				return strconv.Itoa(c.Server.SMTPPort)
			},
			set: func(c *Config, v string) error {
				if v == "" {
					c.Server.SMTPPort = 0
					return nil
				}
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 65535 {
					return fmt.Errorf("%q is not a port (1 to 65535)", v)
				}
				c.Server.SMTPPort = n
				return nil
			}},
		{Key: "smtp_username", Help: "SMTP login; empty: no SMTP authentication",
			get: func(c *Config) string { return c.Server.SMTPUsername },
			set: func(c *Config, v string) error { c.Server.SMTPUsername = v; return nil }},
		{Key: "smtp_password", Help: "SMTP password, read from the file named here (the config keeps it sealed); empty: none", FromFile: true,
			get: func(c *Config) string {
				if c.Server.SMTPPassword == "" {
					return ""
				}
				return "REDACTED"
			},
			set: func(c *Config, v string) error {
				if v == "" {
					c.Server.SMTPPassword = ""
					return nil
				}
				b, err := os.ReadFile(v)
				if err != nil {
					return fmt.Errorf("read the password file: %w", err)
				}
				pw := strings.TrimRight(string(b), "\r\n")
				if pw == "" || strings.ContainsAny(pw, "\r\n\x00") || len(pw) > 1024 {
					return errors.New("the password file must hold one line of at most 1024 bytes")
				}
				c.Server.SMTPPassword = pw
				return nil
			}},
		{Key: "smtp_from", Help: `sender of the mail, e.g. "Example <accounts@example.com>"; required with smtp_host`,
			get: func(c *Config) string { return c.Server.SMTPFrom },
			set: func(c *Config, v string) error {
				if v != "" {
					if err := account.ValidateSMTPFrom(v); err != nil {
						return err
					}
				}
				c.Server.SMTPFrom = v
				return nil
			}},
		{Key: "smtp_tls", Help: "how mail reaches the SMTP server: starttls (default), tls (implicit, port 465) or none (a local relay only)",
			get: func(c *Config) string { return c.Server.SMTPTLS },
			set: func(c *Config, v string) error {
				if v != "" && !slices.Contains(account.SMTPTLSModes, v) {
					return fmt.Errorf("%q is not one of %s", v, strings.Join(account.SMTPTLSModes, ", "))
				}
				c.Server.SMTPTLS = v
				return nil
			}},
		{Key: "mail_templates", Help: "folder of mail templates (NAME.txt, NAME.html) replacing the built-in ones; empty: built-in only",
			get: func(c *Config) string { return c.Server.MailTemplates },
			set: func(c *Config, v string) error { c.Server.MailTemplates = v; return nil }},
		boolSetting("require_verified_email", "refuse login until the account's email is verified: true or false (needs smtp_host)", false,
			func(c *Config) *bool { return &c.Server.RequireVerifiedEmail }),
		{Key: "signing_algorithm", Help: "JWT signature algorithm of new signing keys, " + strings.Join(account.SigningAlgorithms, ", ") +
			"; takes effect at the next key rotation (new setups: " + NewSigningAlgorithm + "; empty: " + LegacySigningAlgorithm + ")",
			get: func(c *Config) string { return c.Server.SigningAlgorithm },
			set: func(c *Config, v string) error { c.Server.SigningAlgorithm = v; return nil }},
		durationSetting("token_lifetime", "how long a token is valid", false, func(c *Config) *Duration { return &c.Server.TokenLifetime }),
		durationSetting("session_lifetime", "absolute lifetime of a session, refreshes included", true, func(c *Config) *Duration { return &c.Server.SessionLifetime }),
		intSetting("min_password_length", fmt.Sprintf("shortest account password, %d to %d characters", account.MinPasswordLengthFloor, account.MaxMinPasswordLength), true, func(c *Config) *int { return &c.Server.MinPasswordLength }),
		intSetting("throttle_after", "failed logins in a row after which each attempt waits (1 s, doubling)", true, func(c *Config) *int { return &c.Server.ThrottleAfter }),
		durationSetting("throttle_max_delay", "longest wait between login attempts on one account", true, func(c *Config) *Duration { return &c.Server.ThrottleMaxDelay }),
		intSetting("lock_after", fmt.Sprintf("failed logins in a row that lock an account, 1 to %d", account.MaxLockAfter), true, func(c *Config) *int { return &c.Server.LockAfter }),
		{Key: "rate_limit", Help: "requests per second per client IP", Live: true,
			get: func(c *Config) string {
				if c.Server.RateLimit == 0 {
					return ""
				}
				return strconv.FormatFloat(c.Server.RateLimit, 'g', -1, 64)
			},
			set: func(c *Config, v string) error {
				if v == "" {
					c.Server.RateLimit = 0
					return nil
				}
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || f <= 0 {
					return fmt.Errorf("%q is not a positive number", v)
				}
				c.Server.RateLimit = f
				return nil
			}},
		intSetting("rate_burst", "requests a client IP may make at once", true, func(c *Config) *int { return &c.Server.RateBurst }),
		intSetting("service_rate_limit", "requests per second per service key (application backends), instead of their IP's", true, func(c *Config) *int { return &c.Server.ServiceRateLimit }),
		intSetting("service_rate_burst", "requests a service key may make at once", true, func(c *Config) *int { return &c.Server.ServiceRateBurst }),
		durationSetting("audit_retention", "how long the audit log keeps an event (at least 1h)", true, func(c *Config) *Duration { return &c.Server.AuditRetention }),
		listSetting("allowed_origins", "browser origins (host patterns) allowed to open /ws, comma-separated; empty: same origin only", func(c *Config) *[]string { return &c.Server.AllowedOrigins }),
		listSetting("trusted_proxies", "networks of the proxies whose forwarding headers are believed (CIDR, comma-separated); empty: none", func(c *Config) *[]string { return &c.Server.TrustedProxies }),
		{Key: "client_ip_header", Help: "header the trusted proxies set: X-Forwarded-For or Forwarded", Live: true,
			get: func(c *Config) string { return c.Server.ClientIPHeader },
			set: func(c *Config, v string) error { c.Server.ClientIPHeader = v; return nil }},
		boolSetting("proxy_protocol", "accept a PROXY protocol header from the trusted proxies: true or false", true,
			func(c *Config) *bool { return &c.Server.ProxyProtocol }),
		{Key: "account_console", Help: "serve the account console at /account/: on or off",
			get: func(c *Config) string {
				if c.Server.DisableConsole {
					return "off"
				}
				return ""
			},
			set: func(c *Config, v string) error {
				switch v {
				case "", "on":
					c.Server.DisableConsole = false
				case "off":
					c.Server.DisableConsole = true
				default:
					return fmt.Errorf("%q is not on or off", v)
				}
				return nil
			}},
		argon2Setting("argon2_time", "Argon2id passes for new password hashes", func(a *Argon2Params) *uint32 { return &a.Time }),
		argon2Setting("argon2_memory_kib", "Argon2id memory for new password hashes, KiB", func(a *Argon2Params) *uint32 { return &a.MemoryKiB }),
		{Key: "argon2_threads", Help: "Argon2id parallelism for new password hashes",
			get: func(c *Config) string {
				if c.Server.Argon2 == nil {
					return ""
				}
				return strconv.Itoa(int(c.Server.Argon2.Threads))
			},
			set: func(c *Config, v string) error {
				return setArgon2(c, v, func(a *Argon2Params, n uint64) error {
					if n > 255 {
						return fmt.Errorf("%d is more than 255", n)
					}
					a.Threads = uint8(n)
					return nil
				})
			}},
	}
}

// unlessDefault returns v, or "" when it is def.
func unlessDefault(v, def string) string {
	if v == def {
		return ""
	}
	return v
}

func durationSetting(key, help string, live bool, field func(*Config) *Duration) Setting {
	return Setting{Key: key, Help: help + ", e.g. 1h30m", Live: live,
		get: func(c *Config) string {
			if d := *field(c); d != 0 {
				return time.Duration(d).String()
			}
			return ""
		},
		set: func(c *Config, v string) error {
			if v == "" {
				*field(c) = 0
				return nil
			}
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf("%q is not a positive duration such as 15m or 24h", v)
			}
			*field(c) = Duration(d)
			return nil
		}}
}

// boolSetting is a true-or-false setting whose default is false.
func boolSetting(key, help string, live bool, field func(*Config) *bool) Setting {
	return Setting{Key: key, Help: help, Live: live,
		get: func(c *Config) string {
			if !*field(c) {
				return ""
			}
			return "true"
		},
		set: func(c *Config, v string) error {
			if v == "" {
				v = "false"
			}
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%q is not true or false", v)
			}
			*field(c) = b
			return nil
		}}
}

func intSetting(key, help string, live bool, field func(*Config) *int) Setting {
	return Setting{Key: key, Help: help, Live: live,
		get: func(c *Config) string {
			if n := *field(c); n != 0 {
				return strconv.Itoa(n)
			}
			return ""
		},
		set: func(c *Config, v string) error {
			if v == "" {
				*field(c) = 0
				return nil
			}
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return fmt.Errorf("%q is not a positive whole number", v)
			}
			*field(c) = n
			return nil
		}}
}

// listSetting is a comma-separated list; changes apply live.
func listSetting(key, help string, field func(*Config) *[]string) Setting {
	return Setting{Key: key, Help: help, Live: true,
		get: func(c *Config) string { return strings.Join(*field(c), ",") },
		set: func(c *Config, v string) error {
			var list []string
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					list = append(list, s)
				}
			}
			*field(c) = list
			return nil
		}}
}

// argon2Setting is one of the Argon2 parameters; setting one when none is
// set starts from the defaults. Changes apply at a restart.
func argon2Setting(key, help string, field func(*Argon2Params) *uint32) Setting {
	return Setting{Key: key, Help: help,
		get: func(c *Config) string {
			if c.Server.Argon2 == nil {
				return ""
			}
			return strconv.FormatUint(uint64(*field(c.Server.Argon2)), 10)
		},
		set: func(c *Config, v string) error {
			return setArgon2(c, v, func(a *Argon2Params, n uint64) error {
				*field(a) = uint32(n)
				return nil
			})
		}}
}

// setArgon2 parses v and stores it with store; "" returns every Argon2
// parameter to the default.
func setArgon2(c *Config, v string, store func(*Argon2Params, uint64) error) error {
	if v == "" {
		c.Server.Argon2 = nil
		return nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 0 {
		return fmt.Errorf("%q is not a positive whole number", v)
	}
	if c.Server.Argon2 == nil {
		d := account.DefaultArgon2
		c.Server.Argon2 = &Argon2Params{Time: d.Time, MemoryKiB: d.MemoryKiB, Threads: d.Threads}
	}
	return store(c.Server.Argon2, n)
}
