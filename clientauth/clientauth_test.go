package clientauth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/clientauth"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// The descriptions the tests expect verbatim. failed is the one answer
// for unknown clients, wrong credentials and method mismatches.
const (
	failed          = "client authentication failed"
	required        = "client authentication is required"
	twoMethods      = "the request uses more than one client authentication method"
	badBasic        = "the Authorization header does not hold valid Basic client credentials (RFC 6749 §2.3.1)"
	noClientID      = "client_id is missing"
	notJWT          = "client_assertion is not a JWT signed with a supported algorithm"
	badClaims       = "client_assertion does not hold a valid JWT claims set"
	expired         = "client_assertion has expired"
	noExp           = "client_assertion has no exp"
	tooFar          = "client_assertion expires too far in the future: exp may be at most 10m0s ahead"
	notYet          = "client_assertion is not valid yet (nbf is in the future)"
	issuedFuture    = "client_assertion was issued in the future (iat)"
	wrongSub        = "sub of client_assertion must equal its iss, the client_id"
	wrongAud        = "aud of client_assertion must contain the issuer identifier or the URL of this endpoint"
	noJTI           = "client_assertion has no jti"
	longJTI         = "jti of client_assertion is longer than 256 octets"
	noIss           = "client_assertion has no iss"
	clientIDvsIss   = "client_id does not match the iss of client_assertion"
	clientIDvsBasic = "client_id does not match the client of the Authorization header"
	replayed        = "client_assertion replayed: its jti was already used"
	badType         = "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	noType          = "client_assertion_type is missing"
	noAssertion     = "client_assertion is missing"
)

func TestAuthenticate(t *testing.T) {
	e, lastErr := serve(t, func(endpoint string) *env { return newEnv(t, endpoint) })

	// ok and the two error shapes, for brevity in the table.
	ok := func(id string) response { return response{status: http.StatusOK, clientID: id} }
	invalidClient := func(desc string) response {
		return response{status: http.StatusUnauthorized, code: oauth.InvalidClient, desc: desc, wwwAuth: `Basic realm="backchannel"`}
	}
	invalidRequest := func(desc string) response {
		return response{status: http.StatusBadRequest, code: oauth.InvalidRequest, desc: desc}
	}
	// pk signs claims of pk-client (or others) with one of its keys.
	pk := func(alg jose.SignatureAlgorithm, c map[string]any) url.Values {
		switch alg {
		case jose.ES256:
			return assertion(sign(t, alg, e.ec, "ec-1", c))
		case jose.EdDSA:
			return assertion(sign(t, alg, e.ed, "ed-1", c))
		}
		return assertion(sign(t, alg, e.rsa, "rsa-1", c))
	}
	hs := func(alg jose.SignatureAlgorithm, secret string, c map[string]any) url.Values {
		return assertion(sign(t, alg, []byte(secret), "", c))
	}
	pkc := func() map[string]any { return e.claims("pk-client") }
	jsonSerialized := func() string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: e.ec}, nil)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := signer.Sign([]byte(`{"iss":"pk-client"}`))
		if err != nil {
			t.Fatal(err)
		}
		return obj.FullSerialize()
	}

	tests := []struct {
		name string
		req  func() request
		want response
	}{
		// client_secret_basic (RFC 6749 §2.3.1).
		{"basic", func() request {
			return request{authz: []string{basic("basic-client", basicSecret)}}
		}, ok("basic-client")},
		{"basic is the default method (RFC 7591 §2)", func() request {
			return request{authz: []string{basic("default-client", basicSecret)}}
		}, ok("default-client")},
		{"basic scheme is case-insensitive", func() request {
			return request{authz: []string{"bAsIc " + strings.TrimPrefix(basic("basic-client", basicSecret), "Basic ")}}
		}, ok("basic-client")},
		{"basic form-url-encoded special characters", func() request {
			return request{authz: []string{basic(specialID, specialSecret)}}
		}, ok(specialID)},
		{"basic special characters not form-url-encoded", func() request {
			// "%&" is no valid escape.
			return request{authz: []string{rawBasic(specialID + ":" + specialSecret)}}
		}, invalidClient(badBasic)},
		{"basic plus in secret not form-url-encoded", func() request {
			// A raw "+" decodes to a space, so the secret is wrong.
			return request{authz: []string{rawBasic(url.QueryEscape(specialID) + ":" + strings.ReplaceAll(url.QueryEscape(specialSecret), "%2B", "+"))}}
		}, invalidClient(failed)},
		{"basic plus in secret means space", func() request {
			// The secret's space encoded as %20 and as + are the same.
			enc := strings.ReplaceAll(url.QueryEscape(specialSecret), "+", "%20")
			return request{authz: []string{rawBasic(url.QueryEscape(specialID) + ":" + enc)}}
		}, ok(specialID)},
		{"basic wrong secret", func() request {
			return request{authz: []string{basic("basic-client", basicSecret+"x")}}
		}, invalidClient(failed)},
		{"basic unknown client", func() request {
			return request{authz: []string{basic("no-such-client", basicSecret)}}
		}, invalidClient(failed)},
		{"basic bad base64", func() request {
			return request{authz: []string{"Basic !!!not-base64!!!"}}
		}, invalidClient(badBasic)},
		{"basic without colon", func() request {
			return request{authz: []string{rawBasic("basic-client")}}
		}, invalidClient(badBasic)},
		{"basic bad percent-encoding", func() request {
			return request{authz: []string{rawBasic("basic-client:%zz")}}
		}, invalidClient(badBasic)},
		{"basic empty scheme parameter", func() request {
			return request{authz: []string{"Basic"}}
		}, invalidClient(badBasic)},
		{"basic empty client_id", func() request {
			return request{authz: []string{basic("", basicSecret)}}
		}, invalidClient(noClientID)},
		{"basic for a client_secret_post client", func() request {
			return request{authz: []string{basic("post-client", postSecret)}}
		}, invalidClient(failed)},
		{"basic for a private_key_jwt client", func() request {
			return request{authz: []string{basic("pk-client", "anything")}}
		}, invalidClient(failed)},
		{"basic for a client_secret_jwt client with its secret", func() request {
			return request{authz: []string{basic("jwt-client", jwtSecret)}}
		}, invalidClient(failed)},
		{"basic for a public client", func() request {
			return request{authz: []string{basic("public-client", "")}}
		}, invalidClient(failed)},
		{"basic client_id found under another spelling", func() request {
			return request{authz: []string{basic("BASIC-CLIENT", basicSecret)}}
		}, invalidClient(failed)},
		{"basic for a client without a secret", func() request {
			return request{authz: []string{basic("nosecret-client", "")}}
		}, invalidClient(failed)},
		{"basic with the same client_id in the body", func() request {
			return request{authz: []string{basic("basic-client", basicSecret)}, form: url.Values{"client_id": {"basic-client"}}}
		}, ok("basic-client")},
		{"basic with another client_id in the body", func() request {
			return request{authz: []string{basic("basic-client", basicSecret)}, form: url.Values{"client_id": {"post-client"}}}
		}, invalidClient(clientIDvsBasic)},
		{"two Authorization headers", func() request {
			return request{authz: []string{basic("basic-client", basicSecret), basic("basic-client", basicSecret)}}
		}, invalidRequest("the request has more than one Authorization header")},

		// client_secret_post (RFC 6749 §2.3.1).
		{"post", func() request {
			return request{form: url.Values{"client_id": {"post-client"}, "client_secret": {postSecret}}}
		}, ok("post-client")},
		{"post wrong secret", func() request {
			return request{form: url.Values{"client_id": {"post-client"}, "client_secret": {basicSecret}}}
		}, invalidClient(failed)},
		{"post empty secret", func() request {
			return request{form: url.Values{"client_id": {"post-client"}, "client_secret": {""}}}
		}, invalidClient(failed)},
		{"post unknown client", func() request {
			return request{form: url.Values{"client_id": {"no-such-client"}, "client_secret": {postSecret}}}
		}, invalidClient(failed)},
		{"post without client_id", func() request {
			return request{form: url.Values{"client_secret": {postSecret}}}
		}, invalidClient(noClientID)},
		{"post for a client_secret_basic client", func() request {
			return request{form: url.Values{"client_id": {"basic-client"}, "client_secret": {basicSecret}}}
		}, invalidClient(failed)},

		// More than one method, or none (RFC 6749 §2.3).
		{"basic and post", func() request {
			return request{authz: []string{basic("basic-client", basicSecret)}, form: url.Values{"client_id": {"basic-client"}, "client_secret": {basicSecret}}}
		}, invalidRequest(twoMethods)},
		{"basic and assertion", func() request {
			return request{authz: []string{basic("basic-client", basicSecret)}, form: pk(jose.ES256, pkc())}
		}, invalidRequest(twoMethods)},
		{"post and assertion", func() request {
			return request{form: withForm(pk(jose.ES256, pkc()), "client_id", "pk-client", "client_secret", postSecret)}
		}, invalidRequest(twoMethods)},
		{"no authentication", func() request {
			return request{}
		}, invalidClient(required)},
		{"client_id only (public client)", func() request {
			return request{form: url.Values{"client_id": {"public-client"}}}
		}, invalidClient(required)},
		{"bearer is not client authentication", func() request {
			return request{authz: []string{"Bearer " + basicSecret}, form: url.Values{"client_id": {"basic-client"}}}
		}, invalidClient(required)},

		// client_secret_jwt (RFC 7523 §2.2, OIDC Core §9).
		{"client_secret_jwt HS256", func() request {
			return request{form: hs(jose.HS256, jwtSecret, e.claims("jwt-client"))}
		}, ok("jwt-client")},
		{"client_secret_jwt HS384", func() request {
			return request{form: hs(jose.HS384, jwt512Secret, e.claims("jwt-client"))}
		}, invalidClient(failed)}, // signed with another client's secret
		{"client_secret_jwt registered HS512", func() request {
			return request{form: hs(jose.HS512, jwt512Secret, e.claims("jwt512-client"))}
		}, ok("jwt512-client")},
		{"client_secret_jwt registered HS512 sends HS256", func() request {
			return request{form: hs(jose.HS256, jwt512Secret, e.claims("jwt512-client"))}
		}, invalidClient(failed)},
		{"client_secret_jwt wrong secret", func() request {
			return request{form: hs(jose.HS256, jwtSecret+"x", e.claims("jwt-client"))}
		}, invalidClient(failed)},
		{"client_secret_jwt signed with a key", func() request {
			return request{form: assertion(sign(t, jose.ES256, e.ec, "ec-1", e.claims("jwt-client")))}
		}, invalidClient(failed)},
		{"assertion for a client_secret_basic client", func() request {
			return request{form: hs(jose.HS256, basicSecret, e.claims("basic-client"))}
		}, invalidClient(failed)},

		// private_key_jwt (RFC 7523 §2.2, OIDC Core §9).
		{"private_key_jwt RS256", func() request { return request{form: pk(jose.RS256, pkc())} }, ok("pk-client")},
		{"private_key_jwt PS256", func() request { return request{form: pk(jose.PS256, pkc())} }, ok("pk-client")},
		{"private_key_jwt ES256", func() request { return request{form: pk(jose.ES256, pkc())} }, ok("pk-client")},
		{"private_key_jwt EdDSA", func() request { return request{form: pk(jose.EdDSA, pkc())} }, ok("pk-client")},
		{"private_key_jwt without kid", func() request {
			return request{form: assertion(sign(t, jose.EdDSA, e.ed, "", pkc()))}
		}, ok("pk-client")},
		{"private_key_jwt RS384 not registered", func() request { return request{form: pk(jose.RS384, pkc())} }, invalidClient(failed)},
		{"private_key_jwt registered ES256", func() request {
			return request{form: pk(jose.ES256, e.claims("pk-es256-client"))}
		}, ok("pk-es256-client")},
		{"private_key_jwt wrong registered alg", func() request {
			return request{form: pk(jose.PS256, e.claims("pk-es256-client"))}
		}, invalidClient(failed)},
		{"private_key_jwt key alg differs from JWS alg", func() request {
			// rsa-rs256 is published with "alg":"RS256" (RFC 7517 §4.4):
			// a PS256 signature by the same RSA key must not verify.
			return request{form: assertion(sign(t, jose.PS256, e.rsa, "rsa-rs256", pkc()))}
		}, invalidClient(failed)},
		{"private_key_jwt key alg matches JWS alg", func() request {
			return request{form: assertion(sign(t, jose.RS256, e.rsa, "rsa-rs256", pkc()))}
		}, ok("pk-client")},
		{"HS256 assertion for a private_key_jwt client", func() request {
			return request{form: hs(jose.HS256, jwtSecret, pkc())}
		}, invalidClient(failed)},
		{"bad signature", func() request {
			return request{form: assertion(sign(t, jose.ES256, e.other, "ec-1", pkc()))}
		}, invalidClient(failed)},
		{"bad signature without kid", func() request {
			return request{form: assertion(sign(t, jose.ES256, e.other, "", pkc()))}
		}, invalidClient(failed)},
		{"tampered payload", func() request {
			tok := sign(t, jose.ES256, e.ec, "ec-1", pkc())
			parts := strings.Split(tok, ".")
			parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"pk-client","sub":"pk-client","aud":"` + issuer + `","exp":1999999999,"jti":"x"}`))
			return request{form: assertion(strings.Join(parts, "."))}
		}, invalidClient(failed)},
		{"key for encryption only", func() request {
			return request{form: pk(jose.ES256, e.claims("pk-enc-client"))}
		}, invalidClient(failed)},
		{"keys cannot be loaded", func() request {
			return request{form: pk(jose.ES256, e.claims("pk-broken-client"))}
		}, invalidClient(failed)},
		{"assertion names another existing client", func() request {
			return request{form: pk(jose.ES256, e.claims("pk-es256-client"))}
		}, ok("pk-es256-client")}, // same keys registered: control for the next case
		{"assertion of a client not holding the key", func() request {
			return request{form: pk(jose.ES256, e.claims("jwt-client"))}
		}, invalidClient(failed)},

		{"iss found under another spelling", func() request {
			return request{form: pk(jose.ES256, e.claims("PK-CLIENT"))}
		}, invalidClient("iss of client_assertion must be the client_id")},

		// Malformed assertions.
		{"alg none", func() request { return request{form: assertion(unsigned(t, pkc()))} }, invalidClient(notJWT)},
		{"not a JWT", func() request { return request{form: assertion("not-a-jwt")} }, invalidClient(notJWT)},
		{"JWS JSON serialization", func() request { return request{form: assertion(jsonSerialized())} }, invalidClient(notJWT)},
		{"payload is not a claims set", func() request {
			return request{form: assertion(sign(t, jose.ES256, e.ec, "ec-1", []string{"pk-client"}))}
		}, invalidClient(badClaims)},
		{"exp is a string", func() request {
			return request{form: pk(jose.ES256, with(pkc(), "exp", "tomorrow"))}
		}, invalidClient(badClaims)},
		{"iss missing", func() request { return request{form: pk(jose.ES256, with(pkc(), "iss", nil))} }, invalidClient(noIss)},
		{"iss unknown", func() request {
			return request{form: pk(jose.ES256, with(pkc(), "iss", "no-such-client", "sub", "no-such-client"))}
		}, invalidClient(failed)},
		{"client_assertion_type wrong", func() request {
			return request{form: withForm(pk(jose.ES256, pkc()), "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")}
		}, invalidRequest(badType)},
		{"client_assertion_type missing", func() request {
			f := pk(jose.ES256, pkc())
			f.Del("client_assertion_type")
			return request{form: f}
		}, invalidRequest(noType)},
		{"client_assertion missing", func() request {
			return request{form: url.Values{"client_assertion_type": {oauth.ClientAssertionJWT}}}
		}, invalidRequest(noAssertion)},
		{"client_assertion empty", func() request { return request{form: assertion("")} }, invalidRequest(noAssertion)},
		{"client_id in the body matches", func() request {
			return request{form: withForm(pk(jose.ES256, pkc()), "client_id", "pk-client")}
		}, ok("pk-client")},
		{"client_id in the body differs", func() request {
			return request{form: withForm(pk(jose.ES256, pkc()), "client_id", "pk-es256-client")}
		}, invalidClient(clientIDvsIss)},

		// Claims (RFC 7523 §3).
		{"expired", func() request {
			return request{form: pk(jose.ES256, with(pkc(), "exp", e.now.Add(-61*time.Second).Unix()))}
		}, invalidClient(expired)},
		{"expired within skew", func() request {
			return request{form: pk(jose.ES256, with(pkc(), "exp", e.now.Add(-60*time.Second).Unix()))}
		}, ok("pk-client")},
		{"exp missing", func() request { return request{form: pk(jose.ES256, with(pkc(), "exp", nil))} }, invalidClient(noExp)},
		{"exp too far", func() request {
			return request{form: pk(jose.ES256, with(pkc(), "exp", e.now.Add(11*time.Minute+time.Second).Unix()))}
		}, invalidClient(tooFar)},
		{"exp at the limit with skew", func() request {
			return request{form: pk(jose.ES256, with(pkc(), "exp", e.now.Add(11*time.Minute).Unix()))}
		}, ok("pk-client")},
		{"nbf in the future", func() request {
			return request{form: pk(jose.ES256, with(pkc(), "nbf", e.now.Add(61*time.Second).Unix()))}
		}, invalidClient(notYet)},
		{"nbf within skew", func() request {
			return request{form: pk(jose.ES256, with(pkc(), "nbf", e.now.Add(60*time.Second).Unix()))}
		}, ok("pk-client")},
		{"iat in the future", func() request {
			return request{form: pk(jose.ES256, with(pkc(), "iat", e.now.Add(61*time.Second).Unix()))}
		}, invalidClient(issuedFuture)},
		{"iat missing", func() request { return request{form: pk(jose.ES256, with(pkc(), "iat", nil))} }, ok("pk-client")},
		{"sub differs from iss", func() request {
			return request{form: pk(jose.ES256, with(pkc(), "sub", "pk-es256-client"))}
		}, invalidClient(wrongSub)},
		{"sub missing", func() request { return request{form: pk(jose.ES256, with(pkc(), "sub", nil))} }, invalidClient(wrongSub)},
		{"aud wrong", func() request {
			return request{form: pk(jose.ES256, with(pkc(), "aud", "https://other.example.com"))}
		}, invalidClient(wrongAud)},
		{"aud issuer with trailing slash", func() request {
			return request{form: pk(jose.ES256, with(pkc(), "aud", issuer+"/"))}
		}, invalidClient(wrongAud)},
		{"aud missing", func() request { return request{form: pk(jose.ES256, with(pkc(), "aud", nil))} }, invalidClient(wrongAud)},
		{"aud is the endpoint URL", func() request {
			return request{form: pk(jose.ES256, with(pkc(), "aud", e.endpoint))}
		}, ok("pk-client")},
		{"aud array with the issuer", func() request {
			return request{form: pk(jose.ES256, with(pkc(), "aud", []string{"https://other.example.com", issuer}))}
		}, ok("pk-client")},
		{"aud array with the endpoint URL", func() request {
			return request{form: pk(jose.ES256, with(pkc(), "aud", []string{e.endpoint}))}
		}, ok("pk-client")},
		{"aud array without this server", func() request {
			return request{form: pk(jose.ES256, with(pkc(), "aud", []string{"https://other.example.com", "https://third.example.com"}))}
		}, invalidClient(wrongAud)},
		{"jti missing", func() request { return request{form: pk(jose.ES256, with(pkc(), "jti", nil))} }, invalidClient(noJTI)},
		{"jti too long", func() request {
			return request{form: pk(jose.ES256, with(pkc(), "jti", strings.Repeat("j", 257)))}
		}, invalidClient(longJTI)},
	}
	secrets := []string{basicSecret, postSecret, jwtSecret, jwt512Secret, specialSecret}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := post(t, e.endpoint, tt.req())
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(response{})); diff != "" {
				t.Errorf("response mismatch (-want +got):\n%s", diff)
			}
			err := lastErr()
			if tt.want.status == http.StatusOK {
				if err != nil {
					t.Errorf("Authenticate() = %v, want nil", err)
				}
				return
			}
			var oe *oauth.Error
			if !errors.As(err, &oe) {
				t.Fatalf("Authenticate() = %v, want an *oauth.Error", err)
			}
			// The precise reason of an authentication failure is logged,
			// never sent; and no secret reaches either.
			if oe.Code == oauth.InvalidClient && oe.Cause == nil {
				t.Errorf("Authenticate() error %q has no cause", oe)
			}
			for _, s := range secrets {
				if strings.Contains(oe.Error(), s) {
					t.Errorf("Authenticate() error %q contains a secret", oe)
				}
			}
		})
	}
}

func TestAuthenticateReplay(t *testing.T) {
	e, _ := serve(t, func(endpoint string) *env { return newEnv(t, endpoint) })
	c := e.claims("pk-client")
	tok := sign(t, jose.ES256, e.ec, "ec-1", c)

	if got := post(t, e.endpoint, request{form: assertion(tok)}); got.status != http.StatusOK {
		t.Fatalf("first use: status = %d (%s), want 200", got.status, got.desc)
	}
	// RFC 7523 §3 item 7: the jti is kept until the assertion could no
	// longer pass the exp check, skew included.
	key := "client_assertion:pk-client:" + c["jti"].(string)
	until, ok := e.store.usedUntil(key)
	if !ok {
		t.Fatalf("UseOnce was not called with %q", key)
	}
	if want := time.Unix(c["exp"].(int64), 0).Add(clientauth.DefaultSkew); !until.Equal(want) {
		t.Errorf("UseOnce(%q) expiry = %v, want %v", key, until, want)
	}

	got := post(t, e.endpoint, request{form: assertion(tok)})
	want := response{status: http.StatusUnauthorized, code: oauth.InvalidClient, desc: replayed, wwwAuth: `Basic realm="backchannel"`}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(response{})); diff != "" {
		t.Errorf("replay response mismatch (-want +got):\n%s", diff)
	}

	// The same jti from another client is another key.
	other := with(e.claims("pk-es256-client"), "jti", c["jti"])
	if got := post(t, e.endpoint, request{form: assertion(sign(t, jose.ES256, e.ec, "ec-1", other))}); got.status != http.StatusOK {
		t.Errorf("same jti, other client: status = %d (%s), want 200", got.status, got.desc)
	}
}

// TestAuthenticateFailedAssertionKeepsJTI checks that an assertion refused
// for its claims or signature does not burn its jti.
func TestAuthenticateFailedAssertionKeepsJTI(t *testing.T) {
	e := newEnv(t, "https://op.example.com/token")
	c := e.claims("pk-client")
	bad := sign(t, jose.ES256, e.other, "ec-1", c)
	if _, err := e.auth.Authenticate(formRequest(t, "", assertion(bad)), formOf(assertion(bad)), e.endpoint); err == nil {
		t.Fatal("Authenticate(forged) = nil error, want invalid_client")
	}
	good := sign(t, jose.ES256, e.ec, "ec-1", c)
	if _, err := e.auth.Authenticate(formRequest(t, "", assertion(good)), formOf(assertion(good)), e.endpoint); err != nil {
		t.Errorf("Authenticate(genuine with the forged jti) = %v, want nil", err)
	}
}

func TestAuthenticateRefreshesUnknownKID(t *testing.T) {
	tests := []struct {
		name        string
		kid         string
		refreshed   func(e *env) (*jose.JSONWebKeySet, error)
		wantStatus  int
		wantRefresh int
	}{
		{
			name:        "known kid",
			kid:         "old",
			refreshed:   func(e *env) (*jose.JSONWebKeySet, error) { return nil, errors.New("must not refresh") },
			wantStatus:  http.StatusOK,
			wantRefresh: 0,
		},
		{
			name: "unknown kid, refresh finds it",
			kid:  "new",
			refreshed: func(e *env) (*jose.JSONWebKeySet, error) {
				return &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &e.ec.PublicKey, KeyID: "new"}}}, nil
			},
			wantStatus:  http.StatusOK,
			wantRefresh: 1,
		},
		{
			name: "unknown kid, refresh does not find it",
			kid:  "new",
			refreshed: func(e *env) (*jose.JSONWebKeySet, error) {
				return &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &e.ec.PublicKey, KeyID: "old"}}}, nil
			},
			wantStatus:  http.StatusUnauthorized,
			wantRefresh: 1,
		},
		{
			name:        "unknown kid, refresh fails",
			kid:         "new",
			refreshed:   func(e *env) (*jose.JSONWebKeySet, error) { return nil, errors.New("rate limited") },
			wantStatus:  http.StatusUnauthorized,
			wantRefresh: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var refreshes int // the server handles one request at a time here
			e, _ := serve(t, func(endpoint string) *env {
				e := newEnv(t, endpoint)
				e.auth.Keys = fakeKeys{
					keys: func(context.Context, store.Client) (*jose.JSONWebKeySet, error) {
						return &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &e.ec.PublicKey, KeyID: "old"}}}, nil
					},
					refresh: func(context.Context, store.Client) (*jose.JSONWebKeySet, error) {
						refreshes++
						return tt.refreshed(e)
					},
				}
				return e
			})
			got := post(t, e.endpoint, request{form: assertion(sign(t, jose.ES256, e.ec, tt.kid, e.claims("pk-client")))})
			if got.status != tt.wantStatus {
				t.Errorf("status = %d (%s), want %d", got.status, got.desc, tt.wantStatus)
			}
			if got.status == http.StatusUnauthorized && got.desc != failed {
				t.Errorf("description = %q, want %q", got.desc, failed)
			}
			if refreshes != tt.wantRefresh {
				t.Errorf("Refresh called %d times, want %d", refreshes, tt.wantRefresh)
			}
		})
	}
}

// TestAuthenticateServerFaults checks that failures that are not the
// client's are not reported as invalid_client.
func TestAuthenticateServerFaults(t *testing.T) {
	dbDown := errors.New("database is down")
	tests := []struct {
		name    string
		setup   func(e *env)
		form    func(e *env) url.Values
		authz   func(e *env) string
		wantErr error
	}{
		{
			name:    "store fails loading a Basic client",
			setup:   func(e *env) { e.store.clientErr = dbDown },
			authz:   func(*env) string { return basic("basic-client", basicSecret) },
			wantErr: dbDown,
		},
		{
			name:    "store fails loading an assertion client",
			setup:   func(e *env) { e.store.clientErr = dbDown },
			form:    func(e *env) url.Values { return assertion(sign(t, jose.ES256, e.ec, "ec-1", e.claims("pk-client"))) },
			wantErr: dbDown,
		},
		{
			name:    "store fails recording the jti",
			setup:   func(e *env) { e.store.useOnceErr = dbDown },
			form:    func(e *env) url.Values { return assertion(sign(t, jose.ES256, e.ec, "ec-1", e.claims("pk-client"))) },
			wantErr: dbDown,
		},
		{
			name:  "no KeySource",
			setup: func(e *env) { e.auth.Keys = nil },
			form:  func(e *env) url.Values { return assertion(sign(t, jose.ES256, e.ec, "ec-1", e.claims("pk-client"))) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "https://op.example.com/token")
			tt.setup(e)
			var form url.Values
			if tt.form != nil {
				form = tt.form(e)
			}
			var authz string
			if tt.authz != nil {
				authz = tt.authz(e)
			}
			_, err := e.auth.Authenticate(formRequest(t, authz, form), formOf(form), e.endpoint)
			var oe *oauth.Error
			if err == nil || errors.As(err, &oe) {
				t.Fatalf("Authenticate() = %v, want a non-OAuth error", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Authenticate() = %v, want it to wrap %v", err, tt.wantErr)
			}
		})
	}
}

func TestAuthenticateDefaults(t *testing.T) {
	e := newEnv(t, "https://op.example.com/token")
	// Now defaults to time.Now, Skew to 60 s, MaxAssertionLifetime to 10 min.
	e.auth.Now = nil
	e.now = time.Now()
	tests := []struct {
		name   string
		claims map[string]any
		want   string // description; "" for success
	}{
		{"fresh", e.claims("pk-client"), ""},
		{"expired past default skew", with(e.claims("pk-client"), "exp", e.now.Add(-2*time.Minute).Unix()), expired},
		{"too far past default lifetime", with(e.claims("pk-client"), "exp", e.now.Add(12*time.Minute).Unix()), tooFar},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := assertion(sign(t, jose.ES256, e.ec, "ec-1", tt.claims))
			_, err := e.auth.Authenticate(formRequest(t, "", form), formOf(form), e.endpoint)
			if got := description(err); got != tt.want {
				t.Errorf("Authenticate() = %v, want description %q", err, tt.want)
			}
		})
	}
}

func TestAuthenticateConfiguredLimits(t *testing.T) {
	e := newEnv(t, "https://op.example.com/token")
	e.auth.Skew = 5 * time.Second
	e.auth.MaxAssertionLifetime = time.Minute
	tests := []struct {
		name   string
		claims map[string]any
		want   string
	}{
		{"within skew", with(e.claims("pk-client"), "exp", e.now.Add(-5*time.Second).Unix()), ""},
		{"past skew", with(e.claims("pk-client"), "exp", e.now.Add(-6*time.Second).Unix()), expired},
		{"within lifetime", with(e.claims("pk-client"), "exp", e.now.Add(time.Minute).Unix()), ""},
		{"past lifetime", with(e.claims("pk-client"), "exp", e.now.Add(time.Minute+6*time.Second).Unix()), "client_assertion expires too far in the future: exp may be at most 1m0s ahead"},
		{"nbf past skew", with(e.claims("pk-client"), "exp", e.now.Add(30*time.Second).Unix(), "nbf", e.now.Add(6*time.Second).Unix()), notYet},
		{"nbf within skew", with(e.claims("pk-client"), "exp", e.now.Add(30*time.Second).Unix(), "nbf", e.now.Add(5*time.Second).Unix()), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := assertion(sign(t, jose.ES256, e.ec, "ec-1", tt.claims))
			_, err := e.auth.Authenticate(formRequest(t, "", form), formOf(form), e.endpoint)
			if got := description(err); got != tt.want {
				t.Errorf("Authenticate() = %v, want description %q", err, tt.want)
			}
		})
	}
}

// TestAuthenticateAudience checks which audiences name this server when
// the issuer or the endpoint is not known.
func TestAuthenticateAudience(t *testing.T) {
	tests := []struct {
		name     string
		issuer   string
		endpoint string
		aud      any
		want     string
	}{
		{"issuer", issuer, "https://op.example.com/bc-authorize", issuer, ""},
		{"endpoint", issuer, "https://op.example.com/bc-authorize", "https://op.example.com/bc-authorize", ""},
		{"token endpoint at another endpoint", issuer, "https://op.example.com/bc-authorize", "https://op.example.com/token", wrongAud},
		{"empty aud never matches an empty issuer", "", "https://op.example.com/token", "", wrongAud},
		{"empty aud never matches an empty endpoint", issuer, "", []string{""}, wrongAud},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.endpoint)
			e.auth.Issuer = tt.issuer
			form := assertion(sign(t, jose.ES256, e.ec, "ec-1", with(e.claims("pk-client"), "aud", tt.aud)))
			_, err := e.auth.Authenticate(formRequest(t, "", form), formOf(form), tt.endpoint)
			if got := description(err); got != tt.want {
				t.Errorf("Authenticate() = %v, want description %q", err, tt.want)
			}
		})
	}
}

func TestNewSecret(t *testing.T) {
	secret, hash, err := clientauth.NewSecret()
	if err != nil {
		t.Fatalf("NewSecret() error = %v", err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(secret)
	if err != nil {
		t.Fatalf("NewSecret() secret %q is not unpadded base64url: %v", secret, err)
	}
	if len(raw) != 32 {
		t.Errorf("NewSecret() secret has %d bytes of entropy, want 32", len(raw))
	}
	if diff := cmp.Diff(clientauth.HashSecret(secret), hash); diff != "" {
		t.Errorf("NewSecret() hash mismatch (-HashSecret +got):\n%s", diff)
	}
	again, _, err := clientauth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if again == secret {
		t.Errorf("NewSecret() returned %q twice", secret)
	}

	// A new secret authenticates a client that stores its hash.
	e := newEnv(t, "https://op.example.com/token")
	e.store.clients["new-client"] = store.Client{ID: "new-client", TokenEndpointAuthMethod: oauth.AuthSecretBasic, SecretHash: hash}
	if _, err := e.auth.Authenticate(formRequest(t, basic("new-client", secret), nil), oauth.Form{}, e.endpoint); err != nil {
		t.Errorf("Authenticate(new secret) = %v, want nil", err)
	}
}

func TestHashSecret(t *testing.T) {
	tests := []struct {
		secret string
		want   string // base64url of SHA-256 (FIPS 180-4 test vectors)
	}{
		{"", "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"},
		{"abc", "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"},
	}
	for _, tt := range tests {
		got := base64.RawURLEncoding.EncodeToString(clientauth.HashSecret(tt.secret))
		if got != tt.want {
			t.Errorf("HashSecret(%q) = %s, want %s", tt.secret, got, tt.want)
		}
	}
}

// formRequest returns a POST request with authz (if set) and form as its
// body, for calling Authenticate directly.
func formRequest(tb testing.TB, authz string, form url.Values) *http.Request {
	tb.Helper()
	r := httptest.NewRequest(http.MethodPost, "https://op.example.com/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	return r
}

// formOf returns v as an oauth.Form (the first value of each parameter).
func formOf(v url.Values) oauth.Form {
	f := oauth.Form{}
	for k, vs := range v {
		f[k] = vs[0]
	}
	return f
}

// description returns the description of an *oauth.Error, "" for nil, and
// the error text for any other error.
func description(err error) string {
	if err == nil {
		return ""
	}
	var oe *oauth.Error
	if errors.As(err, &oe) {
		return oe.Description
	}
	return "non-OAuth error: " + err.Error()
}
