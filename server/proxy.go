package server

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/pires/go-proxyproto"
)

// trusted reports whether a is in one of the trusted proxy networks.
func trusted(nets []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedClient is the client address a request from a trusted proxy
// (peer) carries in header h: walking the hops from the right, the first
// address that is not a trusted proxy. Every hop left of it was written
// by someone no trusted proxy vouches for. A hop that is not an address
// ("unknown", an obfuscated name) ends the walk at the last address read.
func forwardedClient(r *http.Request, h string, nets []netip.Prefix, peer netip.Addr) netip.Addr {
	var hops []string
	if h == HeaderForwarded {
		hops = forwardedFor(r.Header.Values("Forwarded"))
	} else {
		for _, v := range r.Header.Values("X-Forwarded-For") {
			hops = append(hops, strings.Split(v, ",")...)
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break
		}
		client = a
		if !trusted(nets, a) {
			break
		}
	}
	return client
}

// parseHop reads one address of a forwarding header: an IP, an IP with
// a port, or a bracketed IPv6 address with or without a port.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return a.Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

// forwardedFor returns the for= values of RFC 7239 Forwarded headers, in
// order, unquoted. An element without for= counts as an unknown hop.
func forwardedFor(values []string) []string {
	var out []string
	for _, v := range values {
		for _, elem := range splitQuoted(v, ',') {
			hop := "unknown"
			for _, pair := range splitQuoted(elem, ';') {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "for") {
					hop = strings.Trim(strings.TrimSpace(val), `"`)
				}
			}
			out = append(out, hop)
		}
	}
	return out
}

// splitQuoted splits s at sep outside double-quoted strings.
func splitQuoted(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && quoted:
			i++
		case s[i] == '"':
			quoted = !quoted
		case s[i] == sep && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// ProxyListener wraps ln so that, while Config.ProxyProtocol is on, a
// connection from a trusted proxy may start with a PROXY protocol (v1 or
// v2) header giving the client's address; a connection from any other
// peer that sends one is refused. With ProxyProtocol off connections are
// passed through untouched. Both settings are read at each accept, so a
// Reconfigure applies to the next connection. Wrap the TCP listener, under
// any TLS.
func (s *Server) ProxyListener(ln net.Listener) net.Listener {
	return &proxyproto.Listener{
		Listener:          ln,
		ReadHeaderTimeout: s.cfg.HandshakeTimeout,
		ConnPolicy: func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			cfg := s.current()
			if !cfg.ProxyProtocol {
				return proxyproto.SKIP, nil
			}
			if ap, err := netip.ParseAddrPort(o.Upstream.String()); err == nil && trusted(cfg.TrustedProxies, ap.Addr()) {
				return proxyproto.USE, nil
			}
			return proxyproto.REJECT, nil
		},
	}
}
