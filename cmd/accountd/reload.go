package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/setup"
	"github.com/accountd/accountd/store"
)

// listener wraps the TCP listener: the PROXY protocol first (it comes
// before anything else on the wire), then TLS when configured.
func listener(srv *server.Server, ln net.Listener, opts serveOptions, log *slog.Logger) (net.Listener, error) {
	ln = srv.ProxyListener(ln)
	if opts.tlsCert == "" {
		return ln, nil
	}
	certs, err := server.LoadCertFiles(opts.tlsCert, opts.tlsKey, log)
	if err != nil {
		return nil, err
	}
	return tls.NewListener(ln, certs.TLSConfig()), nil
}

// reloadOnHangup unlocks the sealed config again at each SIGHUP until ctx
// ends, applies the settings a running server can change, and logs those
// that need a restart.
func reloadOnHangup(ctx context.Context, srv *server.Server, running *setup.Config, db store.Store, opts serveOptions, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if opts.reopen == nil {
			log.Warn("SIGHUP: the admin password was typed at start and cannot be read again; restart to apply changed settings (or start with --admin-password-file)")
			continue
		}
		cfg, err := opts.reopen()
		if err != nil {
			log.Error("SIGHUP: config not reloaded; the running settings stay", "err", err)
			continue
		}
		running = applySettings(srv, running, cfg, db, opts, log)
	}
}

// applySettings applies the live settings of cfg that differ from
// running's and returns the config now in force. Settings that need a
// restart are logged by key and left as they run.
func applySettings(srv *server.Server, running, cfg *setup.Config, db store.Store, opts serveOptions, log *slog.Logger) *setup.Config {
	var live, restart []string
	next := *running
	for _, s := range setup.Settings() {
		v := s.Get(cfg)
		if v == s.Get(running) {
			continue
		}
		if !s.Live {
			restart = append(restart, s.Key)
			continue
		}
		if err := s.Set(&next, v); err != nil {
			log.Error("SIGHUP: setting not applied", "setting", s.Key, "err", err)
			continue
		}
		live = append(live, s.Key)
	}
	if !slices.Equal(cfg.IdentityKey, running.IdentityKey) || !slices.Equal(cfg.PreviousIdentityKey, running.PreviousIdentityKey) || !cfg.PreviousIdentityUntil.Equal(running.PreviousIdentityUntil) {
		// An identity rotation applies to the handshakes that start
		// afterwards.
		next.IdentityKey, next.PreviousIdentityKey, next.PreviousIdentityUntil = cfg.IdentityKey, cfg.PreviousIdentityKey, cfg.PreviousIdentityUntil
		live = append(live, "identity key")
	}
	if cfg.Database != running.Database || !slices.Equal(cfg.MasterKey, running.MasterKey) || !slices.Equal(cfg.PreviousMasterKey, running.PreviousMasterKey) {
		restart = append(restart, "database or master key")
	}
	if len(live) > 0 {
		if err := srv.Reconfigure(serverConfig(&next, db, opts, log)); err != nil {
			log.Error("SIGHUP: settings not applied; the running ones stay", "settings", live, "err", err)
			next, live = *running, nil
		}
	}
	switch {
	case len(live) > 0:
		log.Info("SIGHUP: settings applied", "settings", live, "identity", next.IdentityFingerprint(), "previous_identity", next.PreviousIdentityFingerprint())
	case len(restart) == 0:
		log.Info("SIGHUP: no setting changed")
	}
	if len(restart) > 0 {
		log.Warn("SIGHUP: restart needed to apply", "settings", restart)
	}
	return &next
}
