package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrRefused is wrapped by every refusal, so callers and logs can tell it
// from network errors.
var ErrRefused = errors.New("egress: destination refused")

// ErrTooLarge is wrapped by the error ReadLimited returns for a body
// longer than its limit.
var ErrTooLarge = errors.New("egress: body too large")

// Policy says which destinations a client may reach beyond public https
// addresses.
type Policy struct {
	// AllowInsecure (--dev only) allows http URLs and every address.
	AllowInsecure bool
	// Allow lists CIDRs (e.g. "10.1.2.0/24"), single IP addresses, or
	// exact host names that may be reached even though they resolve to
	// refused addresses. A host name entry trusts whatever that name
	// resolves to; it matches the URL's host case-insensitively.
	Allow []string
}

// Validate reports every Allow entry that is neither a CIDR, an IP
// address nor a host name, joined into one error.
func (p Policy) Validate() error {
	var errs []error
	for i, e := range p.Allow {
		if _, _, err := parseAllow(e); err != nil {
			errs = append(errs, fmt.Errorf("egress allow[%d] %q: %w", i, e, err))
		}
	}
	return errors.Join(errs...)
}

// parseAllow parses one Allow entry into a prefix or a normalized host
// name.
func parseAllow(e string) (netip.Prefix, string, error) {
	if strings.Contains(e, "/") {
		p, err := netip.ParsePrefix(e)
		if err != nil {
			return netip.Prefix{}, "", errors.New("not a CIDR")
		}
		if p != p.Masked() {
			// "10.1.2.3/24" is more likely a typo than a wish for the
			// whole /24: make the operator say which.
			return netip.Prefix{}, "", fmt.Errorf("host bits set; did you mean %s?", p.Masked())
		}
		return p, "", nil
	}
	if a, err := netip.ParseAddr(e); err == nil {
		if a.Zone() != "" {
			return netip.Prefix{}, "", errors.New("zoned addresses are not supported")
		}
		return netip.PrefixFrom(a, a.BitLen()), "", nil
	}
	h := normalizeHost(e)
	if !isHostName(h) {
		return netip.Prefix{}, "", errors.New("not a CIDR, IP address or host name")
	}
	return netip.Prefix{}, h, nil
}

// normalizeHost lower-cases a host name and drops a trailing dot, so that
// "API.example.com." and "api.example.com" match.
func normalizeHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// isHostName reports whether h is a syntactically valid DNS host name
// (RFC 1123 §2.1): dot-separated labels of letters, digits and hyphens,
// none starting or ending with a hyphen. Underscores are tolerated, as
// some internal zones use them.
func isHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// guard holds a parsed Policy.
type guard struct {
	insecure bool
	prefixes []netip.Prefix
	hosts    map[string]bool
}

func newGuard(p Policy) *guard {
	g := &guard{insecure: p.AllowInsecure, hosts: map[string]bool{}}
	for _, e := range p.Allow {
		// Entries Validate rejects are skipped: an unusable entry can
		// only make the policy stricter, never looser.
		prefix, host, err := parseAllow(e)
		switch {
		case err != nil:
		case host != "":
			g.hosts[host] = true
		default:
			g.prefixes = append(g.prefixes, prefix)
		}
	}
	return g
}

// allowed reports whether the policy's Allow list covers a. Both a and
// its IPv4-unmapped form are tried, so "127.0.0.1/32" also admits
// ::ffff:127.0.0.1.
func (g *guard) allowed(a netip.Addr) bool {
	for _, p := range g.prefixes {
		if p.Contains(a) || p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// checkAddr is the net.Dialer Control function: it runs after name
// resolution and socket creation but before connect(2), with the very
// address about to be dialled, so no later re-resolution can slip past
// it.
func (g *guard) checkAddr(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparsable address %q", ErrRefused, address)
	}
	a := ap.Addr().WithZone("")
	if g.allowed(a) {
		return nil
	}
	if why := refusedClass(a); why != "" {
		return fmt.Errorf("%w: %s is %s", ErrRefused, a, why)
	}
	return nil
}

// NewClient returns an *http.Client for client-chosen URLs under policy
// p. It refuses non-https URLs (unless p.AllowInsecure), and checks the
// resolved IP of every connection at dial time against the classes
// refusedClass lists (unless p.AllowInsecure, or p.Allow covers the
// address or names the URL's host). It never follows redirects: a 3xx
// comes back as the response. timeout bounds each whole request,
// including reading the body. TLS is 1.2 or later, and proxy settings in
// the environment are ignored, as a proxy would dial on our behalf and
// bypass the check.
//
// Entries of p.Allow that Validate rejects are ignored; call Validate
// first to report them.
func NewClient(p Policy, timeout time.Duration) *http.Client {
	g := newGuard(p)
	checked := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !g.insecure {
		checked.Control = g.checkAddr
	}
	trusted := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err == nil && g.hosts[normalizeHost(host)] {
			return trusted.DialContext(ctx, network, addr)
		}
		return checked.DialContext(ctx, network, addr)
	}
	t := &http.Transport{
		Proxy:       nil, // never from the environment: see above
		DialContext: dial,
		// A custom DialContext turns HTTP/2 off unless asked for.
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		// A relying party may be sent a notification from every
		// delivery slot at once (notify.concurrency, 64 by default):
		// keep that many connections to it, not one per delivery.
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{
		Transport: &schemeCheck{insecure: g.insecure, next: t},
		// A redirect could lead anywhere, and would resend the request
		// body; callers see the 3xx instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       timeout,
	}
}

// schemeCheck refuses requests whose scheme the policy does not allow
// before the transport sees them.
type schemeCheck struct {
	insecure bool
	next     *http.Transport
}

func (s *schemeCheck) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" && !(s.insecure && r.URL.Scheme == "http") {
		if r.Body != nil {
			r.Body.Close() // RoundTrip must close the body, even on errors
		}
		return nil, fmt.Errorf("%w: scheme %q is not https", ErrRefused, r.URL.Scheme)
	}
	return s.next.RoundTrip(r)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport.
func (s *schemeCheck) CloseIdleConnections() { s.next.CloseIdleConnections() }

// ReadLimited reads r to its end and returns what it read, or an error
// wrapping ErrTooLarge if r holds more than n bytes.
func ReadLimited(r io.Reader, n int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, n+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > n {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, n)
	}
	return b, nil
}
