package dpop

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// The error codes of RFC 9449 §12.2, used at the token endpoint (§5) and
// in a protected resource's DPoP challenge (§7.1).
const (
	// InvalidProof: the DPoP proof is missing where required, malformed
	// or fails a check of §4.3.
	InvalidProof oauth.Code = "invalid_dpop_proof"
	// UseNonce: the proof lacks the server's current nonce; the answer
	// carries one in the DPoP-Nonce header (§8, §9).
	UseNonce oauth.Code = "use_dpop_nonce"
)

// The HTTP header names of RFC 9449 §4.1 and §8.1.
const (
	Header      = "DPoP"
	NonceHeader = "DPoP-Nonce"
)

// TokenType is the token_type of a DPoP-bound access token in a token
// response and an introspection response (RFC 9449 §5, §6.2), and the
// authorization scheme that presents it (§7.1).
const TokenType = "DPoP"

// proofType is the typ header of a proof (RFC 9449 §4.2).
const proofType = "dpop+jwt"

// DefaultIATWindow is how far a proof's iat may lie from now when
// Verifier.IATWindow is zero. RFC 9449 §11.1 leaves it to the server; a
// minute tolerates ordinary clock skew while keeping the jti cache short.
const DefaultIATWindow = 60 * time.Second

// MaxProofBytes caps the DPoP header: a proof with an RSA key is about
// 1.5 KiB, so anything larger is not a proof.
const MaxProofBytes = 8 << 10

// maxJTI caps the jti claim; RFC 9449 §4.2 asks for 96 bits of entropy,
// which a few dozen characters carry.
const maxJTI = 256

// defaultAlgs are the algs accepted when Verifier.Algs is empty: those we
// sign with ourselves. "none" and the HMAC algs can never be added (RFC
// 9449 §4.3 step 5: an asymmetric alg).
var defaultAlgs = []string{keys.ES256, keys.PS256, keys.RS256, keys.EdDSA}

// DefaultAlgs returns the algs a Verifier accepts by default, for
// dpop_signing_alg_values_supported (RFC 9449 §5.1).
func DefaultAlgs() []string { return slices.Clone(defaultAlgs) }

// JTIStore records the jti of accepted proofs until they expire.
// UseOnce returns an error wrapping store.ErrConflict for a key already
// recorded and not expired. store.Store implements it, sharing the record
// across instances; MemoryJTIStore keeps it in one process, for a
// resource server without a database.
type JTIStore interface {
	UseOnce(ctx context.Context, key string, expiresAt time.Time) error
}

// Verifier checks DPoP proofs. Store is required; zero values of the
// other fields get defaults. A Verifier is safe for concurrent use.
type Verifier struct {
	// Store records each proof's jti, so that a proof is accepted once
	// (RFC 9449 §11.1).
	Store JTIStore
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
	// Algs are the JWS algs a proof may use. Empty means DefaultAlgs.
	// "none" and the HMAC algs are refused whatever Algs says.
	Algs []string
	// IATWindow is how far a proof's iat may be from now, either way.
	// Defaults to DefaultIATWindow.
	IATWindow time.Duration
	// Nonces, when set, makes a server-provided nonce mandatory in every
	// proof (RFC 9449 §8, §9). Nil accepts proofs without one.
	Nonces *NonceSource
}

// AcceptedAlgs returns the algs v accepts, for
// dpop_signing_alg_values_supported (RFC 9449 §5.1) and the algs
// parameter of a protected resource's DPoP challenge (§7.1).
func (v *Verifier) AcceptedAlgs() []string {
	var out []string
	for _, a := range v.algs() {
		if isAsymmetric(a) && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// claims are the proof claims of RFC 9449 §4.2.
type claims struct {
	JTI   string   `json:"jti"`
	HTM   string   `json:"htm"`
	HTU   string   `json:"htu"`
	IAT   *float64 `json:"iat"`
	ATH   *string  `json:"ath"`
	Nonce *string  `json:"nonce"`
}

// Verify checks the DPoP proof of r (RFC 9449 §4.3) and returns the
// RFC 7638 thumbprint of its key, the jkt. htu is the URI the request
// was meant for, as this server names it (the token endpoint or a
// resource URL from the issuer, so that proxies in front of it do not
// matter); the proof's htu must be the same after normalization, query
// and fragment aside. accessToken is the token the request presents to a
// protected resource, whose hash the proof must carry in ath (§4.2, §7);
// at the token endpoint it is "".
//
// A refused proof is an *oauth.Error with code InvalidProof or UseNonce
// and status 400; any other error is a store failure. The jti of a proof
// is recorded only after every other check passed, so a proof refused for
// its nonce does not use up its jti.
func (v *Verifier) Verify(r *http.Request, htu, accessToken string) (string, error) {
	// §4.3 step 1: exactly one DPoP header.
	values := r.Header.Values(Header)
	switch {
	case len(values) == 0:
		return "", invalid("a DPoP proof is required")
	case len(values) > 1:
		return "", invalid("exactly one DPoP header is allowed")
	case len(values[0]) > MaxProofBytes:
		return "", invalid("the DPoP proof is too large")
	}
	raw := strings.TrimSpace(values[0])

	// Steps 2, 4 and 5: one well-formed JWS, typed dpop+jwt, with an
	// accepted asymmetric alg.
	algs := v.algs()
	var sigAlgs []jose.SignatureAlgorithm
	for _, a := range algs {
		if isAsymmetric(a) {
			sigAlgs = append(sigAlgs, jose.SignatureAlgorithm(a))
		}
	}
	jws, err := jose.ParseSignedCompact(raw, sigAlgs)
	if err != nil {
		return "", invalid("the DPoP proof is not a compact JWS with an accepted alg").WithCause(err)
	}
	if len(jws.Signatures) != 1 {
		return "", invalid("the DPoP proof must have one signature")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders["typ"].(string); typ != proofType {
		return "", invalid("the DPoP proof's typ must be %s", proofType)
	}

	// Steps 6 and 7: the jwk header is a public key, and it signed the
	// proof.
	if h.JSONWebKey == nil {
		return "", invalid("the DPoP proof has no jwk header")
	}
	if !h.JSONWebKey.IsPublic() || !h.JSONWebKey.Valid() {
		return "", invalid("the DPoP proof's jwk must be a valid public key")
	}
	if hasPrivateMembers(raw) {
		return "", invalid("the DPoP proof's jwk must not hold private key material")
	}
	jwk := *h.JSONWebKey
	jwk.KeyID = h.KeyID // keys.VerifyJWS matches a kid header against the key
	_, payload, err := keys.VerifyJWS(raw, &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk}}, algs)
	if err != nil {
		return "", invalid("the DPoP proof's signature does not verify with its jwk").WithCause(err)
	}
	jkt, err := keys.Thumbprint(jwk)
	if err != nil {
		return "", invalid("the DPoP proof's jwk has no thumbprint").WithCause(err)
	}

	// Step 3: the required claims.
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", invalid("the DPoP proof's claims are not a JSON object").WithCause(err)
	}
	switch {
	case c.JTI == "":
		return "", invalid("the DPoP proof has no jti")
	case len(c.JTI) > maxJTI:
		return "", invalid("the DPoP proof's jti is too long")
	case c.HTM == "":
		return "", invalid("the DPoP proof has no htm")
	case c.HTU == "":
		return "", invalid("the DPoP proof has no htu")
	case c.IAT == nil || math.IsInf(*c.IAT, 0) || math.IsNaN(*c.IAT):
		return "", invalid("the DPoP proof has no iat")
	}

	// Steps 8 and 9: the request's method and URI.
	if c.HTM != r.Method {
		return "", invalid("the DPoP proof's htm does not match the request method")
	}
	if !SameURI(c.HTU, htu) {
		return "", invalid("the DPoP proof's htu does not match the request URI")
	}

	// Step 12: ath for a protected resource request (§7).
	if accessToken != "" {
		if c.ATH == nil {
			return "", invalid("the DPoP proof has no ath for the access token")
		}
		if *c.ATH != AccessTokenHash(accessToken) {
			return "", invalid("the DPoP proof's ath does not match the access token")
		}
	}

	// Step 11: creation time within the window.
	now := v.now()
	window := v.window()
	iat := time.Unix(int64(*c.IAT), 0)
	if iat.Before(now.Add(-window)) || iat.After(now.Add(window)) {
		return "", invalid("the DPoP proof's iat is outside the accepted window")
	}

	// Step 10: the server's nonce (§8, §9).
	if v.Nonces != nil {
		if c.Nonce == nil {
			return "", useNonce("the DPoP proof must carry the server's nonce")
		}
		if !v.Nonces.Valid(*c.Nonce) {
			return "", useNonce("the DPoP proof's nonce is stale or unknown")
		}
	}

	// §11.1: a proof is used once. The key is scoped to the proof's key,
	// so one client cannot burn another's jti, and lives while the proof
	// could still pass the iat check.
	sum := sha256.Sum256([]byte(jkt + "\x00" + c.JTI))
	key := "dpop:" + base64.RawURLEncoding.EncodeToString(sum[:])
	err = v.Store.UseOnce(r.Context(), key, iat.Add(window+time.Second))
	if errors.Is(err, store.ErrConflict) {
		return "", invalid("the DPoP proof was already used")
	}
	if err != nil {
		return "", fmt.Errorf("record DPoP proof jti: %w", err)
	}
	return jkt, nil
}

// AccessTokenHash returns the ath of accessToken: the base64url
// (unpadded) SHA-256 of its ASCII text (RFC 9449 §4.2).
func AccessTokenHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// SameURI reports whether a proof's htu names the URI want, comparing
// them as RFC 9449 §4.3 asks: without query and fragment, after the
// syntax-based and scheme-based normalization of RFC 3986 §6.2.2 and
// §6.2.3 (case-insensitive scheme and host, default ports dropped, an
// empty path as "/", percent-encoding of unreserved characters decoded).
func SameURI(htu, want string) bool {
	a, ok := normalize(htu)
	if !ok {
		return false
	}
	b, ok := normalize(want)
	return ok && a == b
}

func normalize(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" || u.User != nil {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") { // an IPv6 literal
		host = "[" + host + "]"
	}
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	path := normalizePercent(u.EscapedPath())
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
}

// normalizePercent decodes the percent-encoded unreserved characters of
// an escaped path and upper-cases the hex digits of the others (RFC 3986
// §6.2.2.1, §6.2.2.2), so that %7E and ~ compare equal while an encoded
// "/" stays distinct from a separator.
func normalizePercent(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' || i+2 >= len(p) {
			b.WriteByte(p[i])
			continue
		}
		hex := strings.ToUpper(p[i+1 : i+3])
		c, err := strconv.ParseUint(hex, 16, 8)
		if err != nil {
			b.WriteByte(p[i])
			continue
		}
		if isUnreserved(byte(c)) {
			b.WriteByte(byte(c))
		} else {
			b.WriteString("%" + hex)
		}
		i += 2
	}
	return b.String()
}

// isUnreserved reports whether c is an unreserved character of RFC 3986
// §2.3.
func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// hasPrivateMembers reports whether the jwk header of the compact JWS
// raw carries private or symmetric key members (RFC 9449 §4.3 step 7).
// go-jose would read a private key there as a key pair; looking at the
// members themselves catches it whatever the kty.
func hasPrivateMembers(raw string) bool {
	head, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return true
	}
	var h struct {
		JWK map[string]json.RawMessage `json:"jwk"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return true
	}
	for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
		if _, ok := h.JWK[m]; ok {
			return true
		}
	}
	return false
}

// isAsymmetric reports whether alg is a JWS alg with a public key (RFC
// 7518 §3.1, RFC 8037): never "none" or an HMAC alg.
func isAsymmetric(alg string) bool {
	switch alg {
	case "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA":
		return true
	}
	return false
}

func (v *Verifier) algs() []string {
	if len(v.Algs) > 0 {
		return v.Algs
	}
	return defaultAlgs
}

func (v *Verifier) window() time.Duration {
	if v.IATWindow > 0 {
		return v.IATWindow
	}
	return DefaultIATWindow
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func invalid(format string, args ...any) *oauth.Error {
	return oauth.Errorf(InvalidProof, format, args...)
}

func useNonce(format string, args ...any) *oauth.Error {
	return oauth.Errorf(UseNonce, format, args...)
}

// Nonce returns the nonce to send in the DPoP-Nonce header (RFC 9449
// §8.1), or "" when v requires none.
func (v *Verifier) Nonce() string {
	if v.Nonces == nil {
		return ""
	}
	return v.Nonces.Nonce()
}
