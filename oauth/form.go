package oauth

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// MaxFormBytes bounds a form body. Signed request objects are the largest
// legitimate parameters and fit in well under this.
const MaxFormBytes = 64 << 10

// Form is a parsed application/x-www-form-urlencoded body in which every
// parameter appears at most once (RFC 6749 §3.1, §3.2).
type Form map[string]string

// Get returns the value of the parameter, or "" if it is absent.
func (f Form) Get(name string) string { return f[name] }

// Has reports whether the parameter is present, even if empty.
func (f Form) Has(name string) bool {
	_, ok := f[name]
	return ok
}

// ParseForm reads a POST body as a form. It refuses other content types,
// bodies over MaxFormBytes, malformed encoding and repeated parameters,
// each as invalid_request. Query parameters are ignored: OAuth endpoints
// take their parameters in the body.
func ParseForm(w http.ResponseWriter, r *http.Request) (Form, error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		return nil, Errorf(InvalidRequest, "the body must be application/x-www-form-urlencoded")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxFormBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, Errorf(InvalidRequest, "the body is larger than %d bytes", MaxFormBytes).WithStatus(http.StatusRequestEntityTooLarge)
		}
		return nil, Errorf(InvalidRequest, "the body could not be read").WithCause(err)
	}
	return ParseFormBody(string(body))
}

// ParseFormBody parses an application/x-www-form-urlencoded body with the
// rules of ParseForm.
func ParseFormBody(body string) (Form, error) {
	f := Form{}
	for body != "" {
		var pair string
		pair, body, _ = strings.Cut(body, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, Errorf(InvalidRequest, "the body is not valid form encoding")
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, Errorf(InvalidRequest, "the body is not valid form encoding")
		}
		if _, dup := f[key]; dup {
			return nil, Errorf(InvalidRequest, "parameter %q is repeated", Truncate(key, 64))
		}
		f[key] = val
	}
	return f, nil
}

// Truncate returns at most the first n bytes of s, cut at a character
// boundary, for echoing client input in an error description without
// echoing all of it.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
