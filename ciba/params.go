package ciba

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// Scopes are the scope values the server supports.
func Scopes() []string {
	return []string{"openid", "profile", "email", "phone", "address", "offline_access"}
}

// RequestObjectAlgs are the algorithms a signed authentication request
// may use when the client registered none (CIBA Core §7.1.1: never none,
// and symmetric algorithms are not supported here).
func RequestObjectAlgs() []string { return []string{"ES256", "PS256", "RS256", "EdDSA"} }

// clientAuthParams may accompany a signed request object (CIBA Core §7.1.1).
var clientAuthParams = []string{"client_id", "client_secret", "client_assertion", "client_assertion_type"}

// params are the validated parameters of a backchannel request.
type params struct {
	scopes            []string
	acrValues         []string
	loginHint         string
	loginHintToken    string
	idTokenHint       string
	bindingMessage    string
	userCode          string
	notificationToken string
	requestedExpiry   time.Duration
	// authorizationDetails is the validated, normalised
	// authorization_details (RFC 9396), or nil.
	authorizationDetails json.RawMessage
}

func (s *Service) parseParams(ctx context.Context, c store.Client, form oauth.Form, now time.Time) (params, error) {
	lim := s.Limits.withDefaults()
	if form.Has("request") {
		for k := range form {
			if k != "request" && !slices.Contains(clientAuthParams, k) {
				return params{}, oauth.Errorf(oauth.InvalidRequest, "with a signed request, parameter %q must be inside the request object", oauth.Truncate(k, 64))
			}
		}
		var err error
		if form, err = s.requestObject(ctx, c, form.Get("request"), now); err != nil {
			return params{}, err
		}
	} else if c.RequestSigningAlg != "" {
		return params{}, oauth.Errorf(oauth.InvalidRequest, "the client registered backchannel_authentication_request_signing_alg, so the request must be signed")
	} else if s.fapi(c) {
		return params{}, oauth.Errorf(oauth.InvalidRequest, "FAPI-CIBA requires a signed authentication request (CIBA Core §7.1.1)")
	}

	var p params
	scope, ok := form["scope"]
	if !ok || strings.TrimSpace(scope) == "" {
		return params{}, oauth.Errorf(oauth.InvalidRequest, "scope is required")
	}
	p.scopes = strings.Fields(scope)
	if !slices.Contains(p.scopes, "openid") {
		return params{}, oauth.Errorf(oauth.InvalidScope, "scope must contain openid")
	}
	allowed := Scopes()
	if c.Scope != "" {
		allowed = strings.Fields(c.Scope)
	}
	for _, sc := range p.scopes {
		if !slices.Contains(allowed, sc) || !slices.Contains(Scopes(), sc) {
			return params{}, oauth.Errorf(oauth.InvalidScope, "scope %q is not available to this client", oauth.Truncate(sc, 64))
		}
	}
	p.scopes = uniq(p.scopes)

	// CIBA Core §7.1: exactly one of login_hint_token, id_token_hint and
	// login_hint.
	p.loginHint, p.loginHintToken, p.idTokenHint = form.Get("login_hint"), form.Get("login_hint_token"), form.Get("id_token_hint")
	n := 0
	for _, h := range []string{p.loginHint, p.loginHintToken, p.idTokenHint} {
		if h != "" {
			n++
		}
	}
	if n != 1 {
		return params{}, oauth.Errorf(oauth.InvalidRequest, "exactly one of login_hint, login_hint_token and id_token_hint is required")
	}
	if len(p.loginHint) > 256 {
		return params{}, oauth.Errorf(oauth.InvalidRequest, "login_hint is too long")
	}

	if v := form.Get("acr_values"); v != "" {
		p.acrValues = uniq(strings.Fields(v))
		if len(p.acrValues) > 10 || len(v) > 512 {
			return params{}, oauth.Errorf(oauth.InvalidRequest, "acr_values is too long")
		}
	}

	if form.Has("binding_message") {
		p.bindingMessage = form.Get("binding_message")
		if err := checkBindingMessage(p.bindingMessage, lim.MaxBindingMessage); err != nil {
			return params{}, err
		}
	}

	if form.Has("authorization_details") {
		d, err := s.authorizationDetails(form.Get("authorization_details"))
		if err != nil {
			return params{}, err
		}
		p.authorizationDetails = d
	}
	if s.fapi(c) && p.bindingMessage == "" && p.authorizationDetails == nil {
		// FAPI-CIBA §5.2.2 (2): a unique authorization context, or a
		// binding_message.
		return params{}, oauth.Errorf(oauth.InvalidRequest, "FAPI-CIBA requires a binding_message when the request has no authorization_details")
	}

	p.userCode = form.Get("user_code")
	if len(p.userCode) > 256 {
		return params{}, oauth.Errorf(oauth.InvalidUserCode, "user_code is too long")
	}

	p.notificationToken = form.Get("client_notification_token")
	if c.DeliveryMode == store.Ping || c.DeliveryMode == store.Push {
		// CIBA Core §7.1: required for ping and push; RFC 6750 §2.1 syntax.
		if p.notificationToken == "" {
			return params{}, oauth.Errorf(oauth.InvalidRequest, "client_notification_token is required for %s mode", c.DeliveryMode)
		}
		if len(p.notificationToken) > lim.MaxNotificationToken {
			return params{}, oauth.Errorf(oauth.InvalidRequest, "client_notification_token is longer than %d bytes", lim.MaxNotificationToken)
		}
		if !isB64Token(p.notificationToken) {
			return params{}, oauth.Errorf(oauth.InvalidRequest, "client_notification_token must have the bearer token syntax of RFC 6750 §2.1")
		}
	}

	if v, ok := form["requested_expiry"]; ok {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs <= 0 {
			return params{}, oauth.Errorf(oauth.InvalidRequest, "requested_expiry must be a positive integer")
		}
		if secs > int64(math.MaxInt64/time.Second) {
			secs = int64(math.MaxInt64 / time.Second)
		}
		p.requestedExpiry = time.Duration(secs) * time.Second
	}
	return p, nil
}

// checkBindingMessage enforces CIBA Core §7.1's "relatively small" binding
// message as text a person can compare at a glance: at most max
// characters, printable, and free of the invisible and direction-changing
// characters that could make two different messages look the same.
func checkBindingMessage(m string, max int) error {
	if !utf8.ValidString(m) {
		return oauth.Errorf(oauth.InvalidBindingMessage, "binding_message must be UTF-8 text")
	}
	if strings.TrimSpace(m) == "" {
		return oauth.Errorf(oauth.InvalidBindingMessage, "binding_message is empty")
	}
	if utf8.RuneCountInString(m) > max {
		return oauth.Errorf(oauth.InvalidBindingMessage, "binding_message is longer than %d characters", max)
	}
	for _, r := range m {
		if r != ' ' && (!unicode.IsPrint(r) || unicode.Is(unicode.Cf, r)) {
			return oauth.Errorf(oauth.InvalidBindingMessage, "binding_message contains a control, format or invisible character")
		}
	}
	return nil
}

// isB64Token reports whether s has the b64token syntax of RFC 6750 §2.1.
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for _, r := range body {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("-._~+/", r):
		default:
			return false
		}
	}
	return true
}

// requestObject verifies a signed authentication request (CIBA Core
// §7.1.1) and returns its claims as the request's parameters.
func (s *Service) requestObject(ctx context.Context, c store.Client, jws string, now time.Time) (oauth.Form, error) {
	lim := s.Limits.withDefaults()
	bad := func(format string, args ...any) *oauth.Error {
		return oauth.Errorf(oauth.InvalidRequest, "request object: "+format, args...)
	}
	algs := RequestObjectAlgs()
	if c.RequestSigningAlg != "" {
		algs = []string{c.RequestSigningAlg}
	}
	fapi := s.fapi(c)
	if fapi {
		// FAPI 1 Advanced §8.6: PS256 or ES256 only.
		algs = slices.DeleteFunc(algs, func(a string) bool { return !slices.Contains(FAPIAlgs(), a) })
		if len(algs) == 0 {
			return nil, bad("FAPI-CIBA allows only PS256 and ES256, and the client registered %s", c.RequestSigningAlg)
		}
	}
	set, err := s.ClientKeys.Keys(ctx, c)
	if err != nil {
		return nil, bad("the client's keys could not be loaded").WithCause(err)
	}
	_, payload, err := keys.VerifyJWS(jws, set, algs)
	if errors.Is(err, keys.ErrUnknownKey) {
		if set, err = s.ClientKeys.Refresh(ctx, c); err == nil {
			_, payload, err = keys.VerifyJWS(jws, set, algs)
		}
	}
	if err != nil {
		return nil, bad("the signature is not valid, or the alg is not the client's registered one").WithCause(err)
	}
	var claims map[string]any
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return nil, bad("the payload is not a JSON object")
	}
	if iss, _ := claims["iss"].(string); iss != c.ID {
		return nil, bad("iss must be the client_id")
	}
	if !audienceContains(claims["aud"], s.Issuer) {
		return nil, bad("aud must be the issuer %s", s.Issuer)
	}
	exp, ok := numericDate(claims["exp"])
	if !ok {
		return nil, bad("exp is required")
	}
	if !now.Before(exp.Add(lim.Skew)) {
		return nil, bad("the request object has expired")
	}
	iat, ok := numericDate(claims["iat"])
	if !ok {
		return nil, bad("iat is required")
	}
	if iat.After(now.Add(lim.Skew)) {
		return nil, bad("iat is in the future")
	}
	nbf, ok := numericDate(claims["nbf"])
	if !ok {
		return nil, bad("nbf is required")
	}
	if nbf.After(now.Add(lim.Skew)) {
		return nil, bad("the request object is not valid yet (nbf)")
	}
	if fapi {
		// FAPI 1 Advanced §5.2.2 (13, 17): a request object lives at most
		// 60 minutes, and nbf is at most 60 minutes in the past.
		if exp.Sub(nbf) > time.Hour {
			return nil, bad("FAPI-CIBA allows at most 60 minutes between nbf and exp")
		}
		if nbf.Before(now.Add(-time.Hour)) {
			return nil, bad("FAPI-CIBA refuses an nbf more than 60 minutes in the past")
		}
	}
	jti, _ := claims["jti"].(string)
	if jti == "" {
		return nil, bad("jti is required")
	}
	if err := s.Store.UseOnce(ctx, "request_object:"+c.ID+":"+jti, exp.Add(lim.Skew)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, bad("the request object was already used (jti)")
		}
		return nil, fmt.Errorf("record request object jti: %w", err)
	}

	form := oauth.Form{}
	for _, name := range []string{"scope", "client_notification_token", "acr_values", "login_hint_token", "id_token_hint", "login_hint", "binding_message", "user_code", "requested_expiry", "authorization_details"} {
		v, ok := claims[name]
		if !ok {
			continue
		}
		switch v := v.(type) {
		case string:
			form[name] = v
		case []any:
			if name != "authorization_details" {
				return nil, bad("%s must be a string", name)
			}
			b, err := json.Marshal(v)
			if err != nil {
				return nil, bad("authorization_details cannot be encoded")
			}
			form[name] = string(b)
		case json.Number:
			if name != "requested_expiry" {
				return nil, bad("%s must be a string", name)
			}
			form[name] = v.String()
		default:
			return nil, bad("%s must be a string", name)
		}
	}
	return form, nil
}

// resolveUser finds the user the request names (CIBA Core §7.1). Unknown
// users are unknown_user_id; an expired login_hint_token is
// expired_login_hint_token.
func (s *Service) resolveUser(ctx context.Context, c store.Client, p params, now time.Time) (store.User, error) {
	unknown := oauth.Errorf(oauth.UnknownUserID, "no user matches the hint")
	lookup := func(hint string) (store.User, error) {
		u, err := s.Store.UserByHint(ctx, hint)
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
			return store.User{}, unknown
		}
		if err != nil {
			return store.User{}, fmt.Errorf("find user by hint: %w", err)
		}
		return u, nil
	}
	bySubject := func(sub string) (store.User, error) {
		u, err := s.Store.User(ctx, sub)
		if errors.Is(err, store.ErrNotFound) {
			return store.User{}, unknown
		}
		if err != nil {
			return store.User{}, fmt.Errorf("load user: %w", err)
		}
		return u, nil
	}
	switch {
	case p.loginHint != "":
		return lookup(p.loginHint)
	case p.idTokenHint != "":
		sub, err := s.idTokenHintSubject(c, p.idTokenHint)
		if err != nil {
			return store.User{}, err
		}
		return bySubject(sub)
	default:
		h, err := s.loginHintToken(ctx, c, p.loginHintToken, now)
		if err != nil {
			return store.User{}, err
		}
		if h.subject != "" {
			return bySubject(h.subject)
		}
		return lookup(h.hint)
	}
}

// idTokenHintSubject verifies an id_token_hint: an ID token this server
// issued to this client. Its expiry is not checked: an ID token names its
// user long after it stops being proof of a login, which is all a hint
// needs (OIDC Core §3.1.2.1).
func (s *Service) idTokenHintSubject(c store.Client, hint string) (string, error) {
	invalid := oauth.Errorf(oauth.InvalidRequest, "id_token_hint is not an ID token this server issued to the client")
	payload, err := s.Keys.Verify(hint)
	if err != nil {
		return "", invalid.WithCause(err)
	}
	var claims struct {
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Aud any    `json:"aud"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Iss != s.Issuer || claims.Sub == "" || !audienceContains(claims.Aud, c.ID) {
		return "", invalid
	}
	return claims.Sub, nil
}

type hint struct {
	subject string // a subject of this server
	hint    string // a value to match like a login_hint
}

// loginHintToken verifies a login_hint_token, a JWT signed by the client
// or by a configured trusted issuer, and returns the user it names: by
// RFC 9493 sub_id (email, phone_number, opaque, iss_sub with our issuer)
// or by a "login_hint" or "sub" claim.
func (s *Service) loginHintToken(ctx context.Context, c store.Client, tok string, now time.Time) (hint, error) {
	lim := s.Limits.withDefaults()
	invalid := func(why string) *oauth.Error {
		return oauth.Errorf(oauth.InvalidRequest, "login_hint_token: %s", why)
	}
	payload, err := s.verifyHintToken(ctx, c, tok)
	if err != nil {
		return hint{}, invalid("not signed by the client or a trusted issuer").WithCause(err)
	}
	var claims struct {
		Aud       any             `json:"aud"`
		Exp       *json.Number    `json:"exp"`
		Sub       string          `json:"sub"`
		LoginHint string          `json:"login_hint"`
		SubID     json.RawMessage `json:"sub_id"`
	}
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return hint{}, invalid("the payload is not a JSON object")
	}
	if claims.Aud != nil && !audienceContains(claims.Aud, s.Issuer) {
		return hint{}, invalid("aud does not name this server")
	}
	if claims.Exp != nil {
		exp, ok := numericDate(*claims.Exp)
		if !ok {
			return hint{}, invalid("exp is not a number")
		}
		if !now.Before(exp.Add(lim.Skew)) {
			return hint{}, oauth.Errorf(oauth.ExpiredLoginHintToken, "login_hint_token has expired")
		}
	}
	if len(claims.SubID) > 0 {
		var id map[string]string
		if err := json.Unmarshal(claims.SubID, &id); err != nil {
			return hint{}, invalid("sub_id must be an object of strings")
		}
		switch id["format"] {
		case "email":
			return hint{hint: id["email"]}, nil
		case "phone_number":
			return hint{hint: id["phone_number"]}, nil
		case "opaque":
			return hint{hint: id["id"]}, nil
		case "iss_sub":
			if id["iss"] != s.Issuer {
				return hint{}, invalid("sub_id names another issuer")
			}
			return hint{subject: id["sub"]}, nil
		}
		return hint{}, invalid("unsupported sub_id format")
	}
	if claims.LoginHint != "" {
		return hint{hint: claims.LoginHint}, nil
	}
	if claims.Sub != "" {
		return hint{hint: claims.Sub}, nil
	}
	return hint{}, invalid("it names no user (sub_id, login_hint or sub)")
}

// verifyHintToken checks a login_hint_token's signature against the keys
// of the issuer it claims: the client itself or a trusted issuer.
func (s *Service) verifyHintToken(ctx context.Context, c store.Client, tok string) ([]byte, error) {
	var unverified struct {
		Iss string `json:"iss"`
	}
	if err := peekClaims(tok, &unverified); err != nil {
		return nil, err
	}
	for _, ti := range s.LoginHintTokenIssuers {
		if ti.Issuer == unverified.Iss {
			_, payload, err := keys.VerifyJWS(tok, ti.Keys, RequestObjectAlgs())
			return payload, err
		}
	}
	if unverified.Iss != c.ID {
		return nil, fmt.Errorf("issuer %q is neither the client nor trusted", oauth.Truncate(unverified.Iss, 64))
	}
	set, err := s.ClientKeys.Keys(ctx, c)
	if err != nil {
		return nil, err
	}
	_, payload, err := keys.VerifyJWS(tok, set, RequestObjectAlgs())
	return payload, err
}

// checkUserCode checks the user_code of a client that registered
// backchannel_user_code_parameter (CIBA Core §7.1). Wrong codes are
// counted; at the limit the user's code locks until an administrator
// unlocks it, so a client cannot guess it.
func (s *Service) checkUserCode(ctx context.Context, u store.User, code string) error {
	lim := s.Limits.withDefaults()
	if code == "" {
		return oauth.Errorf(oauth.MissingUserCode, "user_code is required for this client")
	}
	wrong := oauth.Errorf(oauth.InvalidUserCode, "user_code is not valid")
	if len(u.UserCodeHash) == 0 {
		return wrong
	}
	_, err := s.Store.UpdateUser(ctx, u.Subject, func(u *store.User) error {
		if u.UserCodeFailures >= lim.MaxUserCodeFailures {
			return oauth.Errorf(oauth.InvalidUserCode, "user_code is locked after too many failed attempts")
		}
		if subtle.ConstantTimeCompare(hashString(code), u.UserCodeHash) == 1 {
			u.UserCodeFailures = 0
			return nil
		}
		u.UserCodeFailures++
		return nil
	})
	if err != nil {
		var oe *oauth.Error
		if errors.As(err, &oe) {
			return oe
		}
		return fmt.Errorf("check user code: %w", err)
	}
	if subtle.ConstantTimeCompare(hashString(code), u.UserCodeHash) != 1 {
		return wrong
	}
	return nil
}

// HashUserCode returns the stored hash of a user_code.
func HashUserCode(code string) []byte { return hashString(code) }

func audienceContains(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, v := range a {
			if s, ok := v.(string); ok && s == want {
				return true
			}
		}
	}
	return false
}

func numericDate(v any) (time.Time, bool) {
	var f float64
	switch n := v.(type) {
	case json.Number:
		var err error
		if f, err = n.Float64(); err != nil {
			return time.Time{}, false
		}
	case float64:
		f = n
	default:
		return time.Time{}, false
	}
	if math.IsNaN(f) || f < 0 || f > 1<<40 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0).UTC(), true
}

// peekClaims decodes a compact JWS's payload without verifying it, only to
// learn which keys to verify it with.
func peekClaims(tok string, v any) error {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return errors.New("not a compact JWS")
	}
	b, err := base64RawURL(parts[1])
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func uniq(s []string) []string {
	out := make([]string, 0, len(s))
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
