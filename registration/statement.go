package registration

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/oauth"
)

// The error codes of RFC 7591 §3.2.2 that only registration sends.
const (
	InvalidSoftwareStatement    oauth.Code = "invalid_software_statement"
	UnapprovedSoftwareStatement oauth.Code = "unapproved_software_statement"
)

// StatementAlgs are the algorithms a software statement may be signed
// with. RFC 7591 §2.3 also allows MACs; a shared secret with every
// software publisher is not something backchannel keeps.
func StatementAlgs() []string { return []string{"ES256", "PS256", "RS256", "EdDSA"} }

// statementLeeway is the clock skew allowed on a statement's exp, nbf
// and iat.
const statementLeeway = time.Minute

// notFromStatement are the claims of a software statement that are not
// client metadata: the JWT's own claims (RFC 7519 §4.1) and the values
// the server assigns (RFC 7591 §3.2.1, RFC 7592 §3).
var notFromStatement = append([]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}, serverAssigned...)

// serverAssigned are the members the server sets and a registration
// request cannot (RFC 7591 §3.2.1, RFC 7592 §3).
var serverAssigned = []string{
	"client_id", "client_secret", "client_id_issued_at", "client_secret_expires_at",
	"registration_access_token", "registration_client_uri", "software_statement",
}

// Request is a parsed registration request (RFC 7591 §3.1).
type Request struct {
	Metadata Metadata
	// SoftwareStatement is the statement the request carried, verified,
	// or "". RFC 7591 §3.2.1 returns it unmodified in the response.
	SoftwareStatement string
}

// ParseRequest reads the JSON object of a dynamic registration request
// (RFC 7591 §3.1). Members that are not client metadata backchannel
// knows are ignored (RFC 7591 §2); a known member of the wrong type is
// invalid_client_metadata. A software_statement is verified against
// p.SoftwareStatementIssuers and its claims take precedence over the
// request's members of the same name (RFC 7591 §2.3, §3.1.1). The result
// still needs Validate.
func ParseRequest(body []byte, p Policy, now time.Time) (Request, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		return Request{}, oauth.Errorf(oauth.InvalidRequest, "the body must be a JSON object of client metadata")
	}
	for name, v := range members {
		if string(v) == "null" {
			// A null member is an absent one, not an empty value.
			delete(members, name)
		}
	}
	if err := decodeMetadata(members, &Metadata{}); err != nil {
		return Request{}, err
	}
	var req Request
	raw, ok := members["software_statement"]
	switch {
	case ok:
		if err := json.Unmarshal(raw, &req.SoftwareStatement); err != nil || req.SoftwareStatement == "" {
			return Request{}, oauth.Errorf(InvalidSoftwareStatement, "software_statement must be a JWT in a string")
		}
		claims, err := verifyStatement(req.SoftwareStatement, p, now)
		if err != nil {
			return Request{}, err
		}
		var oe *oauth.Error
		if err := decodeMetadata(claims, &Metadata{}); errors.As(err, &oe) {
			return Request{}, oauth.Errorf(InvalidSoftwareStatement, "the software statement's claims are not valid client metadata: %s", oe.Description)
		}
		for name, v := range claims {
			members[name] = v
		}
	case p.RequireSoftwareStatement:
		return Request{}, oauth.Errorf(UnapprovedSoftwareStatement, "this server registers only clients with a software statement from a trusted issuer (RFC 7591 §2.3)")
	}
	for _, name := range serverAssigned {
		// The values the server assigns are never taken from a request.
		delete(members, name)
	}
	if err := decodeMetadata(members, &req.Metadata); err != nil {
		return Request{}, err
	}
	return req, nil
}

// decodeMetadata decodes members into m, reporting a member of the wrong
// type as invalid_client_metadata.
func decodeMetadata(members map[string]json.RawMessage, m *Metadata) error {
	b, err := json.Marshal(members)
	if err != nil {
		return oauth.Errorf(oauth.InvalidRequest, "the body is not valid JSON")
	}
	if err := json.Unmarshal(b, m); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return oauth.Errorf(oauth.InvalidClientMetadata, "%s must be %s", typ.Field, jsonType(typ.Type.Kind().String()))
		}
		return oauth.Errorf(oauth.InvalidClientMetadata, "the client metadata cannot be read")
	}
	return nil
}

// jsonType names a Go kind as the JSON type a client must send.
func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "bool", "ptr":
		return "a boolean"
	case "int64", "int":
		return "a number"
	}
	return "a JSON value of another type"
}

// verifyStatement checks a software statement (RFC 7591 §2.3): a JWS
// whose iss is a trusted issuer, signed with one of that issuer's keys
// and an alg of StatementAlgs, within its exp and nbf. It returns the
// statement's metadata claims, without the JWT's own claims.
func verifyStatement(raw string, p Policy, now time.Time) (map[string]json.RawMessage, error) {
	bad := func(format string, args ...any) error {
		return oauth.Errorf(InvalidSoftwareStatement, format, args...)
	}
	// The issuer names the keys, so it is read before the signature is
	// checked; nothing else is used until then.
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256, jose.PS256, jose.RS256, jose.EdDSA})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, bad("the software statement is not a JWS signed with %v", StatementAlgs())
	}
	var unverified struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &unverified); err != nil || unverified.Issuer == "" {
		return nil, bad("the software statement has no iss claim (RFC 7591 §2.3)")
	}
	set, ok := p.SoftwareStatementIssuers[unverified.Issuer]
	if !ok {
		return nil, bad("the software statement's issuer is not trusted by this server")
	}
	_, payload, err := keys.VerifyJWS(raw, set, StatementAlgs())
	if err != nil {
		return nil, bad("the software statement's signature does not verify with its issuer's keys")
	}
	var std jwt.Claims
	if err := json.Unmarshal(payload, &std); err != nil {
		return nil, bad("the software statement's registered claims are malformed")
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Time: now}, statementLeeway); err != nil {
		return nil, bad("the software statement is not valid now: %s", statementTimeProblem(err))
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, bad("the software statement's claims are not a JSON object")
	}
	for _, name := range notFromStatement {
		delete(claims, name)
	}
	for name, v := range claims {
		if string(v) == "null" {
			delete(claims, name)
		}
	}
	return claims, nil
}

func statementTimeProblem(err error) string {
	switch {
	case errors.Is(err, jwt.ErrExpired):
		return "it has expired"
	case errors.Is(err, jwt.ErrNotValidYet):
		return "its nbf is in the future"
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return "its iat is in the future"
	}
	return "its time claims are invalid"
}
