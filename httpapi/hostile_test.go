package httpapi_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// endless is a request body that never ends (up to limit bytes) and
// counts how much of it was read.
type endless struct {
	read  atomic.Int64
	limit int64
}

func (e *endless) Read(p []byte) (int, error) {
	if e.read.Load() >= e.limit {
		return 0, nil
	}
	for i := range p {
		p[i] = 'a'
	}
	e.read.Add(int64(len(p)))
	return len(p), nil
}

// TestOversizedBodiesRefusedEarly sends each class of endpoint a body
// far over its limit: the server answers with 413 (or 400 for a JSON
// body found malformed before the limit) and stops reading long before
// the end.
func TestOversizedBodiesRefusedEarly(t *testing.T) {
	f := newFlow(t, nil)
	tests := []struct {
		name, path, contentType string
		header                  http.Header
		want                    []int
	}{
		{"backchannel authentication", "/bc-authorize", "application/x-www-form-urlencoded", nil, []int{413}},
		{"token", "/token", "application/x-www-form-urlencoded", nil, []int{413}},
		{"introspection", "/introspect", "application/x-www-form-urlencoded", nil, []int{413}},
		{"revocation", "/revoke", "application/x-www-form-urlencoded", nil, []int{413}},
		{"device enrolment", "/device/v1/enrol", "application/json", nil, []int{400, 413}},
		{"admin JSON", "/admin/v1/clients", "application/json", http.Header{"Authorization": {"Bearer " + testAdminToken}}, []int{400, 413}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := &endless{limit: 256 << 20}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.URL+tt.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header = tt.header.Clone()
			if req.Header == nil {
				req.Header = http.Header{}
			}
			req.Header.Set("Content-Type", tt.contentType)
			if tt.header == nil {
				req.SetBasicAuth(f.clientID, f.secret)
			}
			resp, err := f.Client().Do(req)
			if err != nil {
				t.Fatalf("POST %s with an endless body: %v (after %d bytes)", tt.path, err, body.read.Load())
			}
			resp.Body.Close()
			if !slices.Contains(tt.want, resp.StatusCode) {
				t.Errorf("POST %s with an endless body = %d, want one of %v", tt.path, resp.StatusCode, tt.want)
			}
			if n := body.read.Load(); n > 16<<20 {
				t.Errorf("POST %s: the server let the client send %d bytes before refusing, want it cut early", tt.path, n)
			}
		})
	}
}

// TestOversizedParametersRefused sends parameters over their own
// limits, inside a body of acceptable size.
func TestOversizedParametersRefused(t *testing.T) {
	f := newFlow(t, nil)
	f.enrolDevice("u1")
	ok := url.Values{"scope": {"openid"}, "login_hint": {"u1"}}
	with := func(k, v string) url.Values {
		form := url.Values{}
		for kk, vv := range ok {
			form[kk] = vv
		}
		form.Set(k, v)
		return form
	}
	tests := []struct {
		name string
		form url.Values
		code string
	}{
		{"login_hint", with("login_hint", strings.Repeat("a", 257)), "invalid_request"},
		{"binding_message", with("binding_message", strings.Repeat("a", 65)), "invalid_binding_message"},
		{"acr_values", with("acr_values", strings.Repeat("urn:x ", 100)), "invalid_request"},
		{"user_code", with("user_code", strings.Repeat("1", 257)), "invalid_user_code"},
		{"scope", with("scope", "openid "+strings.Repeat("x", 20000)), "invalid_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, f.start(tt.form), http.StatusBadRequest, tt.code)
		})
	}
}
