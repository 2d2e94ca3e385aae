package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/setup"
)

// serveOptions are the operational flags of `accountd serve`: they may
// differ between instances sharing one sealed config.
type serveOptions struct {
	listen          string
	shutdownTimeout time.Duration
	dbTimeout       time.Duration
	keyRotation     time.Duration
	keyLead         time.Duration
	jwksMaxAge      time.Duration
	// rateLimit and rateBurst override the sealed config's per-IP limit
	// on this instance (0: the config's, or the default).
	rateLimit float64
	rateBurst int
	// hashConcurrency is how many Argon2 hashes run at once on this
	// instance (0: as many as the cores hold, a core per lane): it
	// depends on the machine, not on the deployment.
	hashConcurrency int
	// tlsCert and tlsKey are PEM files; set, the listener serves
	// https/wss with them, reloaded when they change.
	tlsCert, tlsKey string
	// reopen unlocks the sealed config again on SIGHUP; nil when the
	// admin password was typed and so cannot be read again.
	reopen func() (*setup.Config, error)
	// hashRate, hashBurst, hashesPerClient and handshakesPerClient
	// override the server's per-IP limits on expensive work (0: the
	// default).
	hashRate            float64
	hashBurst           int
	hashesPerClient     int
	handshakesPerClient int
	// maxConns, maxConnsPerIP and idleTimeout set the connection caps
	// (0: the server's defaults).
	maxConns      int
	maxConnsPerIP int
	idleTimeout   time.Duration
	// metricsListen is where GET /metrics is served; "" serves it
	// nowhere.
	metricsListen string
}

func defaultServeOptions() serveOptions {
	return serveOptions{
		shutdownTimeout: 10 * time.Second,
		dbTimeout:       10 * time.Second,
		keyRotation:     30 * 24 * time.Hour,
		keyLead:         10 * time.Minute,
		jwksMaxAge:      5 * time.Minute,
	}
}

func (o *serveOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.listen, "listen", "", "address to listen on, host:port (default: the one in the config)")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", o.shutdownTimeout, "on SIGINT/SIGTERM, how long requests in flight may take before connections are cut")
	fs.DurationVar(&o.dbTimeout, "db-timeout", o.dbTimeout, "bound on each database call; past it the operation answers unavailable")
	fs.DurationVar(&o.keyRotation, "key-rotation-interval", o.keyRotation, "how long a signing key signs before the next one is made")
	fs.DurationVar(&o.keyLead, "key-publish-lead", o.keyLead, "how long a new signing key is in the JWKS before it signs (more than --jwks-max-age)")
	fs.DurationVar(&o.jwksMaxAge, "jwks-max-age", o.jwksMaxAge, "Cache-Control max-age of /.well-known/jwks.json")
	fs.Float64Var(&o.rateLimit, "rate-limit", 0, "requests per second allowed per client IP on this instance (default: the config's, else 10)")
	fs.IntVar(&o.rateBurst, "rate-burst", 0, "requests a client IP may make at once on this instance (default: the config's, else 20)")
	fs.IntVar(&o.hashConcurrency, "hash-concurrency", 0, "Argon2 hashes run at once on this instance (default: as many as the cores hold, a core per lane)")
	fs.StringVar(&o.tlsCert, "tls-cert", os.Getenv("ACCOUNTD_TLS_CERT"), "PEM certificate (chain) file: serve https and wss, reloaded when it changes (env ACCOUNTD_TLS_CERT; needs --tls-key)")
	fs.StringVar(&o.tlsKey, "tls-key", os.Getenv("ACCOUNTD_TLS_KEY"), "PEM private key file of --tls-cert (env ACCOUNTD_TLS_KEY)")
	fs.Float64Var(&o.hashRate, "hash-rate", 0, fmt.Sprintf("logins and signups per second allowed per client IP, on top of --rate-limit (default %g)", server.DefaultHashRate))
	fs.IntVar(&o.hashBurst, "hash-burst", 0, fmt.Sprintf("logins and signups a client IP may make at once (default %d)", server.DefaultHashBurst))
	fs.IntVar(&o.hashesPerClient, "hashes-per-client", 0, "password hashes one client IP may have running, and as many waiting (default 1)")
	fs.IntVar(&o.handshakesPerClient, "handshakes-per-client", 0, "handshake decryptions one client IP may have running, and as many waiting (default 1)")
	fs.IntVar(&o.maxConns, "max-conns", 0, "TCP connections open at once; more are closed at accept (default: the open-file limit, raised to its maximum at start, less 256)")
	fs.IntVar(&o.maxConnsPerIP, "max-conns-per-ip", 0, fmt.Sprintf("TCP connections one client IP (IPv6: one /64) may have open at once (default %d)", server.DefaultMaxConnsPerIP))
	fs.StringVar(&o.metricsListen, "metrics-listen", "", "address for GET /metrics (Prometheus), host:port, apart from the public listener (default: metrics are not served)")
	fs.DurationVar(&o.idleTimeout, "idle-timeout", 0, fmt.Sprintf("close a connection with no request for this long (default %v)", server.DefaultIdleTimeout))
}

func (o *serveOptions) check() error {
	if o.listen != "" {
		if err := setup.ValidateListen(o.listen); err != nil {
			return usageError{fmt.Sprintf("--listen: %v", err)}
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"shutdown-timeout", o.shutdownTimeout}, {"db-timeout", o.dbTimeout},
		{"key-rotation-interval", o.keyRotation}, {"key-publish-lead", o.keyLead}, {"jwks-max-age", o.jwksMaxAge},
	} {
		if d.v <= 0 {
			return usageError{fmt.Sprintf("--%s must be positive, got %v", d.name, d.v)}
		}
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usageError{"--tls-cert and --tls-key go together"}
	}
	if o.hashConcurrency < 0 || o.hashConcurrency > 4096 {
		return usageError{"--hash-concurrency must be between 0 and 4096"}
	}
	if o.rateLimit < 0 || o.rateLimit > 1e6 || o.rateBurst < 0 || o.rateBurst > 1e6 {
		return usageError{"--rate-limit and --rate-burst must be between 0 and 1000000"}
	}
	if o.hashRate < 0 || o.hashRate > 1e6 || o.hashBurst < 0 || o.hashBurst > 1e6 {
		return usageError{"--hash-rate and --hash-burst must be between 0 and 1000000"}
	}
	if o.metricsListen != "" {
		if err := setup.ValidateListen(o.metricsListen); err != nil {
			return usageError{fmt.Sprintf("--metrics-listen: %v", err)}
		}
	}
	if o.maxConns < 0 || o.maxConnsPerIP < 0 || o.idleTimeout < 0 {
		return usageError{"--max-conns, --max-conns-per-ip and --idle-timeout must not be negative"}
	}
	if o.hashesPerClient < 0 || o.hashesPerClient > 1e6 || o.handshakesPerClient < 0 || o.handshakesPerClient > 1e6 {
		return usageError{"--hashes-per-client and --handshakes-per-client must be between 0 and 1000000"}
	}
	return nil
}
