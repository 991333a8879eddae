package webhook

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"

	"github.com/mentor-ai/mentor/errs"
)

// Guard keeps deliveries away from the server's own network: loopback, private, link-local
// and other non-public addresses are refused unless an administrator allowed them with
// --webhooks-allow-private (a receiver on the same host or LAN). It checks a URL when an
// endpoint is registered, and every connection again when it is dialled, after DNS
// resolution, so that a name that later resolves to 127.0.0.1 or 169.254.169.254 (the
// cloud metadata service) is refused too.
type Guard struct {
	AllowPrivate bool
	Resolver     *net.Resolver // nil: net.DefaultResolver
}

// refused reports whether deliveries to ip are refused when private addresses are not
// allowed, and why.
func refused(ip netip.Addr) (string, bool) {
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		return "a loopback address", true
	case ip.IsPrivate():
		return "a private address", true
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "a link-local address", true
	case ip.IsUnspecified(), ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "not a unicast address", true
	case cgnat.Contains(ip), thisNetwork.Contains(ip):
		return "a private address", true
	}
	return "", false
}

var (
	cgnat       = netip.MustParsePrefix("100.64.0.0/10") // carrier-grade NAT: private in practice
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
)

// CheckURL parses raw as an endpoint URL and resolves its host. Its errors are
// Unprocessable (422) and name the field "url".
func (g Guard) CheckURL(ctx context.Context, raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, unprocessable(errs.Field("url", "must not be empty"))
	}
	if len(raw) > 2000 {
		return nil, unprocessable(errs.Field("url", "must be at most 2000 bytes"))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, unprocessable(errs.Field("url", "%q is not a URL", raw))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, unprocessable(errs.Field("url", "must be an http or https URL, got %q", raw))
	}
	if u.Hostname() == "" {
		return nil, unprocessable(errs.Field("url", "must name a host, got %q", raw))
	}
	if u.User != nil {
		return nil, unprocessable(errs.Field("url", "must not hold a user name or password: the signature authenticates deliveries"))
	}
	if g.AllowPrivate {
		return u, nil
	}
	host := u.Hostname()
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		r := g.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		if addrs, err = r.LookupNetIP(ctx, "ip", host); err != nil {
			return nil, unprocessable(errs.Field("url", "host %s cannot be resolved: %v", host, err))
		}
	}
	for _, ip := range addrs {
		if why, bad := refused(ip); bad {
			return nil, unprocessable(errs.Field("url", "%s resolves to %s, %s: deliveries there are refused unless the server runs with --webhooks-allow-private", host, ip, why))
		}
	}
	return u, nil
}

// control is a net.Dialer Control function: it runs after DNS resolution, on the address
// actually being dialled.
func (g Guard) control(network, address string, _ syscall.RawConn) error {
	if g.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook delivery: cannot check address %q: %w", address, err)
	}
	if why, bad := refused(ap.Addr()); bad {
		return fmt.Errorf("delivery to %s refused: %s (allow with --webhooks-allow-private)", ap.Addr(), why)
	}
	return nil
}

// unprocessable makes a field error a 422: the URL is well-formed JSON, but not an address
// Mentor will deliver to.
func unprocessable(e *errs.Error) *errs.Error {
	e.Kind = errs.Unprocessable
	return e
}
