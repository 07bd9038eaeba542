package clientauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/backchannel/backchannel/store"
)

// secretBytes is the entropy of a generated secret: 256 bits, so that a
// single fast hash is a safe way to store it (store.Client.SecretHash).
const secretBytes = 32

// NewSecret returns a new client secret with 256 bits of entropy,
// base64url-encoded without padding (RFC 4648 §5), and its hash as stored
// in store.Client.SecretHash. Its 43 octets key HS256 but are too short
// for HS384 and HS512 (RFC 7518 §3.2).
func NewSecret() (secret string, hash []byte, err error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("read random secret: %w", err)
	}
	secret = base64.RawURLEncoding.EncodeToString(b)
	return secret, HashSecret(secret), nil
}

// HashSecret returns the stored hash of a client secret: SHA-256 of its
// UTF-8 octets.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// authenticateSecret authenticates a client_secret_basic or
// client_secret_post request (RFC 6749 §2.3.1, OIDC Core §9).
func (a *Authenticator) authenticateSecret(ctx context.Context, cr credentials) (store.Client, error) {
	c, err := a.loadClient(ctx, cr.clientID)
	var authErr error
	// An unknown client is compared with a dummy hash, so that it costs
	// the same work as a wrong secret.
	var dummy [sha256.Size]byte
	want := dummy[:]
	switch {
	case err != nil && !isOAuth(err):
		return store.Client{}, err
	case err != nil:
		authErr = err
	case c.ID != cr.clientID:
		// RFC 6749 §2.2 client identifiers are compared exactly, whatever
		// the collation of the store.
		authErr = failed(fmt.Errorf("client %q found as %q", truncate(cr.clientID, 64), c.ID))
	case registeredMethod(c) != cr.method:
		authErr = failed(fmt.Errorf("client %q is registered for %s, not %s", c.ID, registeredMethod(c), cr.method))
	case len(c.SecretHash) == 0:
		authErr = failed(fmt.Errorf("client %q has no secret hash", c.ID))
	default:
		want = c.SecretHash
	}
	// Hash and compare in every case, in constant time, so that the time
	// taken tells an unknown client from a wrong secret as little as
	// possible.
	match := subtle.ConstantTimeCompare(HashSecret(cr.secret), want) == 1
	if authErr != nil {
		return store.Client{}, authErr
	}
	if !match {
		return store.Client{}, failed(fmt.Errorf("client %q: wrong secret", c.ID))
	}
	return c, nil
}

// parseBasic decodes Basic credentials (RFC 7617 §2). RFC 6749 §2.3.1:
// the client_id and secret are each form-urlencoded (Appendix B) before
// being joined with a colon, so both are unescaped after the split. The
// errors never include the credentials.
func parseBasic(token string) (id, secret string, err error) {
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		return "", "", errors.New("basic credentials are not valid base64")
	}
	encID, encSecret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", errors.New("basic credentials have no colon")
	}
	if id, err = url.QueryUnescape(encID); err != nil {
		return "", "", errors.New("basic user-id is not valid form encoding")
	}
	if secret, err = url.QueryUnescape(encSecret); err != nil {
		return "", "", errors.New("basic password is not valid form encoding")
	}
	return id, secret, nil
}
