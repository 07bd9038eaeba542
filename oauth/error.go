package oauth

import (
	"fmt"
	"net/http"
)

// Code is an OAuth 2.0 error code (RFC 6749 §5.2, CIBA Core §11 and §13).
type Code string

// The error codes backchannel sends.
const (
	InvalidRequest        Code = "invalid_request"
	InvalidClient         Code = "invalid_client"
	InvalidGrant          Code = "invalid_grant"
	UnauthorizedClient    Code = "unauthorized_client"
	UnsupportedGrantType  Code = "unsupported_grant_type"
	InvalidScope          Code = "invalid_scope"
	AccessDenied          Code = "access_denied"
	ExpiredToken          Code = "expired_token"
	AuthorizationPending  Code = "authorization_pending"
	SlowDown              Code = "slow_down"
	ExpiredLoginHintToken Code = "expired_login_hint_token"
	UnknownUserID         Code = "unknown_user_id"
	MissingUserCode       Code = "missing_user_code"
	InvalidUserCode       Code = "invalid_user_code"
	InvalidBindingMessage Code = "invalid_binding_message"
	InvalidClientMetadata Code = "invalid_client_metadata"
	InvalidToken          Code = "invalid_token"
	InsufficientScope     Code = "insufficient_scope" // RFC 6750 §3.1
	InvalidRequestObject  Code = "invalid_request_object"
	// InvalidAuthorizationDetails is RFC 9396 §5's error.
	InvalidAuthorizationDetails Code = "invalid_authorization_details"
	TemporarilyUnavailable      Code = "temporarily_unavailable"
	ServerError                 Code = "server_error"
	NotFound                    Code = "not_found" // admin and device APIs only
	UnsupportedResponseType     Code = "unsupported_response_type"
)

// Error is an OAuth error response. Code and Description go to the
// client; Cause goes only to the log.
type Error struct {
	Code        Code
	Description string
	// Status is the HTTP status. Zero means the default for Code: 401 for
	// invalid_client and invalid_token, 500 for server_error, 503 for
	// temporarily_unavailable, 400 otherwise.
	Status int
	Cause  error // never serialized
}

// Errorf returns an *Error with code and a formatted description.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Description: fmt.Sprintf(format, args...)}
}

// WithStatus sets the HTTP status and returns e, for endpoints where the
// default status of the code is wrong (CIBA Core §13: access_denied is
// 403 at the backchannel authentication endpoint).
func (e *Error) WithStatus(status int) *Error {
	e.Status = status
	return e
}

// WithCause sets the logged cause and returns e.
func (e *Error) WithCause(err error) *Error {
	e.Cause = err
	return e
}

func (e *Error) Error() string {
	s := string(e.Code)
	if e.Description != "" {
		s += ": " + e.Description
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Cause }

// HTTPStatus returns the status the error is sent with.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	switch e.Code {
	case InvalidClient, InvalidToken:
		return http.StatusUnauthorized
	case ServerError:
		return http.StatusInternalServerError
	case TemporarilyUnavailable:
		return http.StatusServiceUnavailable
	case NotFound:
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}
