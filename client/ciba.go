package client

import (
	"context"
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
)

// AuthRequest holds the backchannel authentication request parameters
// (CIBA Core §7.1).
type AuthRequest struct {
	// Scopes are the requested scopes; "openid" is added if missing.
	Scopes []string
	// Exactly one of LoginHint, LoginHintToken and IDTokenHint identifies
	// the user (CIBA Core §7.1), unless Request is set.
	LoginHint      string
	LoginHintToken string
	IDTokenHint    string
	// BindingMessage is shown on both the consumption device and the
	// authentication device, so the user can tell the requests apart.
	BindingMessage string
	// UserCode is a secret the user knows, for OPs that ask for one
	// (backchannel_user_code_parameter_supported).
	UserCode string
	// ACRValues are the requested authentication context classes, in
	// order of preference.
	ACRValues []string
	// RequestedExpiry asks for an expires_in; 0 omits it. It is sent as
	// whole seconds, rounded up.
	RequestedExpiry time.Duration
	// ClientNotificationToken is the bearer token the OP presents to the
	// client's notification endpoint in ping and push modes.
	ClientNotificationToken string
	// Request is a signed request object (CIBA Core §7.1.1, see
	// Client.RequestObject). When it is set, only it and the client's
	// credentials are sent: the other fields are ignored.
	Request string
	// Extra holds other parameters, such as authorization_details. The
	// fields above take precedence over Extra.
	Extra url.Values
}

// Started is the response of CIBA Core §7.3: the OP has accepted the
// request and is asking the user.
type Started struct {
	// AuthReqID identifies the request at the token endpoint. It is a
	// secret of the client: never log or display it.
	AuthReqID string
	// ExpiresIn is how long the request stays valid.
	ExpiresIn time.Duration
	// Interval is the minimum time between polls; 0 if the OP sent none
	// (Poll then waits 5 seconds, CIBA Core §7.3).
	Interval time.Duration
	// ExpiresAt is when the request expires: the time just before the
	// request was sent, plus ExpiresIn.
	ExpiresAt time.Time
	// MatchingNumber is the number to show the user when the OP runs
	// number matching (backchannel's ciba.number_matching): the user
	// picks it among others on their device. Empty otherwise.
	MatchingNumber string
}

// Tokens is a successful token response (RFC 6749 §5.1, CIBA Core
// §10.1.1) whose ID token has been verified.
type Tokens struct {
	AccessToken  string
	TokenType    string
	RefreshToken string
	IDToken      string
	Scope        string
	// ExpiresIn is the access token's lifetime; 0 if the OP sent none.
	ExpiresIn time.Duration
	// Claims is the verified ID token.
	Claims *IDToken
	// Raw is the whole response, with any members not listed above.
	Raw map[string]any
	// Pushed reports whether the OP pushed the tokens to the client's
	// notification endpoint (CIBA Core §10.3) rather than returning them
	// from the token endpoint.
	Pushed bool
}

// Initiate sends a backchannel authentication request (CIBA Core §7.1)
// and returns the OP's acknowledgement (§7.3). An error response comes
// back as an *Error (CIBA Core §13).
func (c *Client) Initiate(ctx context.Context, req AuthRequest) (Started, error) {
	form, err := authForm(req)
	if err != nil {
		return Started{}, err
	}
	sent := c.now()
	status, body, err := c.postForm(ctx, c.meta.BackchannelAuthenticationEndpoint, form)
	if err != nil {
		return Started{}, fmt.Errorf("backchannel authentication request: %w", err)
	}
	if status != http.StatusOK {
		return Started{}, responseError(status, body)
	}
	var resp struct {
		AuthReqID      string      `json:"auth_req_id"`
		ExpiresIn      json.Number `json:"expires_in"`
		Interval       json.Number `json:"interval"`
		MatchingNumber string      `json:"matching_number"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return Started{}, fmt.Errorf("backchannel authentication response: %w", err)
	}
	// CIBA Core §7.3: auth_req_id and expires_in are REQUIRED, interval
	// OPTIONAL; both are positive integers.
	expires, err := seconds(resp.ExpiresIn)
	if err != nil || expires <= 0 {
		return Started{}, fmt.Errorf("backchannel authentication response: expires_in %q is not a positive number of seconds", resp.ExpiresIn)
	}
	if resp.AuthReqID == "" {
		return Started{}, errors.New("backchannel authentication response: no auth_req_id")
	}
	var interval time.Duration
	if resp.Interval != "" {
		if interval, err = seconds(resp.Interval); err != nil || interval < 0 {
			return Started{}, fmt.Errorf("backchannel authentication response: interval %q is not a number of seconds", resp.Interval)
		}
	}
	return Started{
		AuthReqID: resp.AuthReqID,
		ExpiresIn: expires,
		Interval:  interval,
		ExpiresAt: sent.Add(expires),

		MatchingNumber: resp.MatchingNumber,
	}, nil
}

// authForm returns the form parameters of req (CIBA Core §7.1).
func authForm(req AuthRequest) (url.Values, error) {
	if req.Request != "" {
		// CIBA Core §7.1.1: with a signed request, the parameters travel
		// only inside it.
		return url.Values{"request": {req.Request}}, nil
	}
	form, err := authParams(req)
	if err != nil {
		return nil, err
	}
	out := url.Values{}
	for k, v := range req.Extra {
		out[k] = slices.Clone(v)
	}
	for k, v := range form {
		out.Set(k, v)
	}
	return out, nil
}

// authParams returns the single-valued parameters of req, keyed by their
// CIBA Core §7.1 names. It checks what the client can check itself, so a
// mistake gets a clear error instead of a round trip.
func authParams(req AuthRequest) (map[string]string, error) {
	hints := 0
	for _, h := range []string{req.LoginHint, req.LoginHintToken, req.IDTokenHint} {
		if h != "" {
			hints++
		}
	}
	if hints != 1 {
		// CIBA Core §7.1: exactly one of the three hints is REQUIRED.
		return nil, errors.New("an authentication request needs exactly one of login_hint, login_hint_token and id_token_hint")
	}
	if req.RequestedExpiry < 0 {
		return nil, fmt.Errorf("requested expiry %v is negative", req.RequestedExpiry)
	}
	p := map[string]string{"scope": strings.Join(scopes(req.Scopes), " ")}
	for k, v := range map[string]string{
		"login_hint":                req.LoginHint,
		"login_hint_token":          req.LoginHintToken,
		"id_token_hint":             req.IDTokenHint,
		"binding_message":           req.BindingMessage,
		"user_code":                 req.UserCode,
		"acr_values":                strings.Join(req.ACRValues, " "),
		"client_notification_token": req.ClientNotificationToken,
	} {
		if v != "" {
			p[k] = v
		}
	}
	if req.RequestedExpiry > 0 {
		p["requested_expiry"] = strconv.FormatInt(wholeSeconds(req.RequestedExpiry), 10)
	}
	return p, nil
}

// scopes returns s with "openid" first, added if missing: CIBA Core §7.1
// requires it, as this is an OpenID Connect request.
func scopes(s []string) []string {
	out := []string{"openid"}
	for _, v := range s {
		for _, f := range strings.Fields(v) {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// wholeSeconds returns d in seconds, rounded up.
func wholeSeconds(d time.Duration) int64 {
	return int64(math.Ceil(d.Seconds()))
}

// seconds parses a JSON number of seconds. Fractions are tolerated and
// kept, though the specifications send integers.
func seconds(n json.Number) (time.Duration, error) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > math.MaxInt64/float64(time.Second) {
		return 0, fmt.Errorf("bad number of seconds %q", n)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// RequestObject returns a signed authentication request (CIBA Core
// §7.1.1) carrying the parameters of req, valid for lifetime. It is
// signed with Config.PrivateKey; send it as AuthRequest.Request.
func (c *Client) RequestObject(req AuthRequest, lifetime time.Duration) (string, error) {
	if c.cfg.PrivateKey == nil {
		return "", errors.New("request object: no private key configured")
	}
	if lifetime <= 0 {
		return "", fmt.Errorf("request object: lifetime %v is not positive", lifetime)
	}
	params, err := authParams(req)
	if err != nil {
		return "", fmt.Errorf("request object: %w", err)
	}
	claims := map[string]any{}
	for k, v := range req.Extra {
		if len(v) == 1 {
			claims[k] = v[0]
		} else {
			claims[k] = v
		}
	}
	for k, v := range params {
		claims[k] = v
	}
	if req.RequestedExpiry > 0 {
		// CIBA Core §7.1.1 allows requested_expiry as a JSON number in a
		// request object.
		claims["requested_expiry"] = wholeSeconds(req.RequestedExpiry)
	}
	// CIBA Core §7.1.1: iss is the client ID, aud the OP's issuer
	// identifier; exp, iat, nbf and jti are REQUIRED.
	now := c.now()
	claims["iss"] = c.cfg.ClientID
	claims["aud"] = c.cfg.Issuer
	claims["iat"] = now.Unix()
	claims["nbf"] = now.Unix()
	claims["exp"] = now.Add(lifetime).Unix()
	claims["jti"] = newJTI()
	s, err := c.signJWT(claims)
	if err != nil {
		return "", fmt.Errorf("request object: %w", err)
	}
	return s, nil
}

// Token makes one token request with the CIBA grant (CIBA Core §10.1).
// authorization_pending, slow_down and every other error response come
// back as an *Error; Poll makes the repeated requests of poll mode. On
// success the ID token has been verified (see VerifyIDToken).
func (c *Client) Token(ctx context.Context, authReqID string) (*Tokens, error) {
	if authReqID == "" {
		return nil, errors.New("token request: no auth_req_id")
	}
	form := url.Values{"grant_type": {GrantCIBA}, "auth_req_id": {authReqID}}
	status, body, err := c.postForm(ctx, c.meta.TokenEndpoint, form)
	if err != nil {
		return nil, fmt.Errorf("token request: %w", err)
	}
	if status != http.StatusOK {
		return nil, responseError(status, body)
	}
	t, err := parseTokens(body)
	if err != nil {
		return nil, fmt.Errorf("token response: %w", err)
	}
	if t.Claims, err = c.VerifyIDToken(ctx, t.IDToken, t.AccessToken); err != nil {
		return nil, err
	}
	return t, nil
}

// parseTokens decodes a successful token response (RFC 6749 §5.1).
func parseTokens(body []byte) (*Tokens, error) {
	var resp struct {
		AccessToken  string      `json:"access_token"`
		TokenType    string      `json:"token_type"`
		RefreshToken string      `json:"refresh_token"`
		IDToken      string      `json:"id_token"`
		Scope        string      `json:"scope"`
		ExpiresIn    json.Number `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, err
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, err
	}
	var problems []error
	if resp.AccessToken == "" {
		problems = append(problems, errors.New("no access_token"))
	}
	if resp.TokenType == "" {
		problems = append(problems, errors.New("no token_type"))
	}
	// CIBA Core §10.1.1: the successful response carries an ID token.
	if resp.IDToken == "" {
		problems = append(problems, errors.New("no id_token"))
	}
	var expires time.Duration
	if resp.ExpiresIn != "" {
		var err error
		if expires, err = seconds(resp.ExpiresIn); err != nil || expires < 0 {
			problems = append(problems, fmt.Errorf("expires_in %q is not a number of seconds", resp.ExpiresIn))
		}
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	return &Tokens{
		AccessToken:  resp.AccessToken,
		TokenType:    resp.TokenType,
		RefreshToken: resp.RefreshToken,
		IDToken:      resp.IDToken,
		Scope:        resp.Scope,
		ExpiresIn:    expires,
		Raw:          raw,
	}, nil
}

// Polling timings.
const (
	// defaultInterval is the wait between polls when the OP sent no
	// interval (CIBA Core §7.3).
	defaultInterval = 5 * time.Second
	// slowDownStep is added to the interval on every slow_down (CIBA Core
	// §11, RFC 8628 §3.5).
	slowDownStep = 5 * time.Second
	// maxBackoff caps the wait after repeated 503s or
	// temporarily_unavailable answers.
	maxBackoff = time.Minute
)

// Poll polls the token endpoint until the tokens arrive, the user denies
// the request, the request expires, or ctx ends (CIBA Core §10.1, poll
// mode). Before each request it waits the interval (5 seconds if the OP
// sent none); a slow_down adds 5 seconds to it for this and every later
// request (CIBA Core §11, RFC 8628 §3.5). A 503 or temporarily_unavailable
// answer doubles the wait each time, up to a minute, and the next
// authorization_pending restores the interval; once the request has
// expired, such an answer ends polling with its *Error. Any other error ends
// polling: access_denied and expired_token come back as an *Error. If the
// OP still answers authorization_pending at or after s.ExpiresAt, Poll
// gives up with an *Error whose Code is expired_token and StatusCode 0.
// The returned ID token has been verified.
func (c *Client) Poll(ctx context.Context, s Started) (*Tokens, error) {
	interval := s.Interval
	if interval <= 0 {
		interval = defaultInterval
	}
	wait := interval
	for {
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
		t, err := c.Token(ctx, s.AuthReqID)
		if err == nil {
			return t, nil
		}
		e, ok := errors.AsType[*Error](err)
		switch {
		case !ok:
			return nil, err
		case e.Code == AuthorizationPending:
			wait = interval
		case e.Code == SlowDown:
			interval += slowDownStep
			wait = interval
		case e.Code == TemporarilyUnavailable || e.StatusCode == http.StatusServiceUnavailable:
			// The OP is overloaded: back off exponentially, never below
			// the interval, whether or not it sent Retry-After.
			if c.expired(s) {
				return nil, err
			}
			wait = min(max(2*wait, interval), max(maxBackoff, interval))
			continue
		default:
			return nil, err
		}
		if c.expired(s) {
			return nil, &Error{Code: ExpiredToken, Description: "the request expired before the user answered it"}
		}
	}
}

// expired reports whether s has expired by the client's clock.
func (c *Client) expired(s Started) bool {
	return !s.ExpiresAt.IsZero() && !c.now().Before(s.ExpiresAt)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
