package clientauth

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/mtls"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// authenticateCertificate authenticates a tls_client_auth or
// self_signed_tls_client_auth client (RFC 8705 §2) by the certificate
// chain it presented, leaf first, and the client_id of the form.
func (a *Authenticator) authenticateCertificate(ctx context.Context, chain []*x509.Certificate, form oauth.Form) (store.Client, error) {
	// RFC 8705 §2: the certificate does not name the client, so the
	// request must.
	id := form.Get("client_id")
	if id == "" {
		return store.Client{}, invalidClient("client_id is required when authenticating with a client certificate (RFC 8705 §2)", errors.New("client certificate without client_id"))
	}
	c, err := a.loadClient(ctx, id)
	if err != nil {
		return store.Client{}, err
	}
	if c.ID != id {
		return store.Client{}, failed(fmt.Errorf("client %q found as %q", truncate(id, 64), c.ID))
	}
	switch method := registeredMethod(c); method {
	case oauth.AuthTLS:
		err = a.verifyPKI(c, chain)
	case oauth.AuthSelfSignedTLS:
		err = a.verifySelfSigned(ctx, c, chain[0])
	default:
		err = failed(fmt.Errorf("client %q is registered for %s, not a mutual TLS method", c.ID, method))
	}
	if err != nil {
		return store.Client{}, err
	}
	return c, nil
}

// verifyPKI checks a tls_client_auth client's certificate (RFC 8705
// §2.1): its chain leads to one of ClientCAs, it may authenticate a TLS
// client, and it carries the name the client registered.
func (a *Authenticator) verifyPKI(c store.Client, chain []*x509.Certificate) error {
	if a.ClientCAs == nil {
		return failed(fmt.Errorf("client %q uses tls_client_auth, but no client CAs are configured", c.ID))
	}
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, cert := range chain[1:] {
		inter.AddCert(cert)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         a.ClientCAs,
		Intermediates: inter,
		CurrentTime:   a.now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return failed(fmt.Errorf("client %q: certificate %q: %w", c.ID, truncate(leaf.Subject.String(), 128), err))
	}
	if err := matchName(c, leaf); err != nil {
		return failed(fmt.Errorf("client %q: %w", c.ID, err))
	}
	return nil
}

// matchName checks that leaf carries the one name that tls_client_auth
// client c registered (RFC 8705 §2.1.2).
func matchName(c store.Client, leaf *x509.Certificate) error {
	type name struct{ kind, value string }
	var names []name
	for _, n := range []name{
		{"tls_client_auth_subject_dn", c.TLSClientAuthSubjectDN},
		{"tls_client_auth_san_dns", c.TLSClientAuthSANDNS},
		{"tls_client_auth_san_uri", c.TLSClientAuthSANURI},
		{"tls_client_auth_san_ip", c.TLSClientAuthSANIP},
		{"tls_client_auth_san_email", c.TLSClientAuthSANEmail},
	} {
		if n.value != "" {
			names = append(names, n)
		}
	}
	if len(names) != 1 {
		return fmt.Errorf("%d certificate names registered, want exactly one", len(names))
	}
	n := names[0]
	var ok bool
	switch n.kind {
	case "tls_client_auth_subject_dn":
		// RFC 8705 §2.1.2: compared as DNs, not as strings, so that
		// case, spacing and escaping do not matter.
		want, err := mtls.ParseDN(n.value)
		if err != nil {
			return fmt.Errorf("registered %s: %w", n.kind, err)
		}
		got, err := mtls.SubjectDN(leaf)
		if err != nil {
			return err
		}
		ok = mtls.EqualDN(got, want)
	case "tls_client_auth_san_dns":
		// DNS names are case-insensitive (RFC 4343).
		for _, d := range leaf.DNSNames {
			ok = ok || strings.EqualFold(d, n.value)
		}
	case "tls_client_auth_san_uri":
		for _, u := range leaf.URIs {
			ok = ok || u.String() == n.value
		}
	case "tls_client_auth_san_ip":
		want, err := netip.ParseAddr(n.value)
		if err != nil {
			return fmt.Errorf("registered %s: %w", n.kind, err)
		}
		for _, ip := range leaf.IPAddresses {
			got, valid := netip.AddrFromSlice(ip)
			ok = ok || valid && got.Unmap() == want.Unmap()
		}
	case "tls_client_auth_san_email":
		for _, e := range leaf.EmailAddresses {
			ok = ok || equalEmail(e, n.value)
		}
	}
	if !ok {
		return fmt.Errorf("certificate %q lacks the registered %s %q", truncate(leaf.Subject.String(), 128), n.kind, truncate(n.value, 128))
	}
	return nil
}

// equalEmail compares addresses with an exact local part and a
// case-insensitive domain (RFC 5321 §2.4).
func equalEmail(a, b string) bool {
	al, ad, aok := strings.Cut(a, "@")
	bl, bd, bok := strings.Cut(b, "@")
	return aok && bok && al == bl && strings.EqualFold(ad, bd)
}

// verifySelfSigned checks a self_signed_tls_client_auth client's
// certificate (RFC 8705 §2.2): no PKI path validation, but its public key
// must be one of the keys the client registered in jwks or jwks_uri. A
// key the client's cached set lacks sends it to be refreshed once, so
// that a client can rotate its certificate (RFC 8705 §2.2.2).
func (a *Authenticator) verifySelfSigned(ctx context.Context, c store.Client, leaf *x509.Certificate) error {
	if a.Keys == nil {
		return fmt.Errorf("clientauth: no KeySource for self_signed_tls_client_auth client %q", c.ID)
	}
	set, err := a.Keys.Keys(ctx, c)
	if err != nil {
		return failed(fmt.Errorf("client %q: keys: %w", c.ID, err))
	}
	if hasKey(set, leaf.PublicKey) {
		return nil
	}
	set, err = a.Keys.Refresh(ctx, c)
	if err != nil {
		return failed(fmt.Errorf("client %q: refresh keys: %w", c.ID, err))
	}
	if hasKey(set, leaf.PublicKey) {
		return nil
	}
	return failed(fmt.Errorf("client %q: the key of certificate %q (x5t#S256 %s) is not registered", c.ID, truncate(leaf.Subject.String(), 128), mtls.Thumbprint(leaf)))
}

// hasKey reports whether set holds pub as a public key that is not
// reserved for encryption.
func hasKey(set *jose.JSONWebKeySet, pub crypto.PublicKey) bool {
	if set == nil {
		return false
	}
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		jwk := k.Public()
		if !jwk.Valid() || !jwk.IsPublic() {
			continue
		}
		if eq, ok := jwk.Key.(interface{ Equal(crypto.PublicKey) bool }); ok && eq.Equal(pub) {
			return true
		}
	}
	return false
}
