package server

import (
	"context"
	"net/netip"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
)

// allowServiceRequest applies the limits of a request on a connection
// that presented a service key, or that names an end user's IP: the
// service key's own bucket instead of the connection IP's, and, when the
// request names the end user's IP (client_ip), that IP's bucket too, so a
// backend cannot launder one user's flood. It returns the context and IP
// the request runs under: the end user's when given, else connIP.
func (s *Server) allowServiceRequest(ctx context.Context, req *protocol.Request, connIP string) (context.Context, string, error) {
	svc := account.ConnectionFrom(ctx).Service()
	if svc == nil {
		return ctx, connIP, account.NewError(protocol.CodeForbidden, "client_ip needs a connection authenticated with service_auth")
	}
	ip := connIP
	if req.ClientIP != "" {
		a, err := netip.ParseAddr(req.ClientIP)
		if err != nil || a.Zone() != "" {
			return ctx, connIP, account.NewError(protocol.CodeBadRequest, "client_ip must be an IPv4 or IPv6 address")
		}
		ip = a.Unmap().String()
		ctx = account.WithClientIP(ctx, ip)
	}
	if ok, wait := s.serviceLimiter.allow("service:"+svc.ID, s.cfg.Now()); !ok {
		s.svc.RateLimited(ctx, ip, req.Op)
		return ctx, ip, account.ErrRateLimited(wait)
	}
	if req.ClientIP != "" {
		if refused := s.allowRequest(ctx, ip, req.Op); refused != nil {
			return ctx, ip, refused
		}
	}
	return ctx, ip, nil
}
