package registration

import (
	"net/mail"
	"net/netip"
	"net/url"
	"strings"

	"github.com/backchannel/backchannel/mtls"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// AuthMethods returns the token_endpoint_auth_method values p supports:
// those of the package's AuthMethods, and the RFC 8705 methods when p.MTLS
// says client certificates reach the server.
func (p Policy) AuthMethods() []string {
	if !p.MTLS {
		return AuthMethods()
	}
	return append(AuthMethods(), mtlsAuthMethods()...)
}

func mtlsAuthMethods() []string { return []string{oauth.AuthTLS, oauth.AuthSelfSignedTLS} }

// checkTLSClientAuth checks the certificate names of a tls_client_auth
// client (RFC 8705 §2.1.2), copies them into c, and returns the
// problems found.
func checkTLSClientAuth(c *store.Client, m Metadata) []string {
	var problems []string
	bad := func(s string) { problems = append(problems, s) }
	c.TLSClientAuthSANDNS = m.TLSClientAuthSANDNS
	c.TLSClientAuthSANURI = m.TLSClientAuthSANURI
	c.TLSClientAuthSANIP = m.TLSClientAuthSANIP
	c.TLSClientAuthSANEmail = m.TLSClientAuthSANEmail

	names := 0
	for _, v := range []string{c.TLSClientAuthSubjectDN, c.TLSClientAuthSANDNS, c.TLSClientAuthSANURI, c.TLSClientAuthSANIP, c.TLSClientAuthSANEmail} {
		if v != "" {
			names++
		}
	}
	if c.TokenEndpointAuthMethod != oauth.AuthTLS {
		if names > 0 {
			bad("tls_client_auth_subject_dn and tls_client_auth_san_* are only used with token_endpoint_auth_method tls_client_auth (RFC 8705 §2.1.2)")
		}
		return problems
	}
	// RFC 8705 §2.1.2: a client registers exactly one of the five, and
	// the server matches the certificate on that one alone.
	if names != 1 {
		bad("tls_client_auth needs exactly one of tls_client_auth_subject_dn, tls_client_auth_san_dns, tls_client_auth_san_uri, tls_client_auth_san_ip and tls_client_auth_san_email (RFC 8705 §2.1.2)")
	}
	if dn := c.TLSClientAuthSubjectDN; dn != "" {
		if _, err := mtls.ParseDN(dn); err != nil {
			bad("tls_client_auth_subject_dn is not an RFC 4514 distinguished name: " + err.Error())
		}
	}
	if dns := c.TLSClientAuthSANDNS; dns != "" && !validDNSName(dns) {
		bad("tls_client_auth_san_dns is not a DNS name")
	}
	if u := c.TLSClientAuthSANURI; u != "" {
		if p, err := url.Parse(u); err != nil || !p.IsAbs() {
			bad("tls_client_auth_san_uri is not an absolute URI")
		}
	}
	if ip := c.TLSClientAuthSANIP; ip != "" {
		// RFC 8705 §2.1.2: dotted decimal for IPv4, RFC 5952 text for
		// IPv6; the certificate's address is compared as an address.
		if _, err := netip.ParseAddr(ip); err != nil || strings.Contains(ip, "%") {
			bad("tls_client_auth_san_ip is not an IPv4 or IPv6 address")
		}
	}
	if e := c.TLSClientAuthSANEmail; e != "" {
		if a, err := mail.ParseAddress(e); err != nil || a.Address != e || a.Name != "" {
			bad("tls_client_auth_san_email is not an email address (RFC 822 addr-spec)")
		}
	}
	return problems
}

// validDNSName reports whether s is a DNS name of letters, digits and
// hyphens (with a leading "*." wildcard label allowed, as certificates
// may carry one).
func validDNSName(s string) bool {
	s = strings.TrimPrefix(s, "*.")
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
