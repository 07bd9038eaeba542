package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// OAuth error codes a relying party acts on (RFC 6749 §5.2, CIBA Core
// §11 and §13, RFC 6749 §4.1.2.1 for temporarily_unavailable).
const (
	AuthorizationPending   = "authorization_pending"
	SlowDown               = "slow_down"
	AccessDenied           = "access_denied"
	ExpiredToken           = "expired_token"
	InvalidGrant           = "invalid_grant"
	InvalidClient          = "invalid_client"
	InvalidRequest         = "invalid_request"
	UnknownUserID          = "unknown_user_id"
	TemporarilyUnavailable = "temporarily_unavailable"
)

// Error is an OAuth error response from the server (RFC 6749 §5.2). A
// response that is not an OAuth error document (an HTML error page from a
// proxy, say) also becomes an *Error: its Code is empty and its
// Description holds the start of the body.
type Error struct {
	Code        string // the "error" member; empty if the body was not an OAuth error
	Description string // the "error_description" member, or the start of a non-JSON body
	URI         string // the "error_uri" member
	StatusCode  int    // the HTTP status; 0 for an error the client made itself
}

// Error returns "code: description (HTTP status)".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Code != "" {
		b.WriteString(e.Code)
	} else {
		b.WriteString("unexpected response")
	}
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	}
	return b.String()
}

// ErrorCode returns the OAuth error code of the first *Error in err's
// chain, or "" if there is none.
func ErrorCode(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return ""
}

// snippetLen bounds how much of a non-JSON error body goes into an error.
const snippetLen = 200

// responseError turns an error response into an *Error.
func responseError(status int, body []byte) *Error {
	var doc struct {
		Code        string `json:"error"`
		Description string `json:"error_description"`
		URI         string `json:"error_uri"`
	}
	if json.Unmarshal(body, &doc) == nil && doc.Code != "" {
		return &Error{Code: doc.Code, Description: doc.Description, URI: doc.URI, StatusCode: status}
	}
	desc := http.StatusText(status)
	if s := snippet(body); s != "" {
		desc += ": " + s
	}
	return &Error{Description: desc, StatusCode: status}
}

// snippet returns the start of body as one printable line, so an
// unexpected response can be shown without flooding or corrupting a
// terminal.
func snippet(body []byte) string {
	s := strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case !unicode.IsPrint(r):
			return -1
		}
		return r
	}, string(body))
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > snippetLen {
		cut := snippetLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
