package oauth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/oauth"
)

func TestParseFormBody(t *testing.T) {
	tests := []struct {
		name string
		body string
		want oauth.Form
		err  bool
	}{
		{"simple", "a=1&b=two", oauth.Form{"a": "1", "b": "two"}, false},
		{"encoded", "scope=openid+email&x=%2F%3D", oauth.Form{"scope": "openid email", "x": "/="}, false},
		{"empty value kept", "a=&b=1", oauth.Form{"a": "", "b": "1"}, false},
		{"empty pairs skipped", "&&a=1&", oauth.Form{"a": "1"}, false},
		{"empty body", "", oauth.Form{}, false},
		{"repeated", "a=1&a=2", nil, true},
		{"repeated empty", "a=&a=", nil, true},
		{"bad escape in value", "a=%zz", nil, true},
		{"bad escape in key", "%zz=1", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := oauth.ParseFormBody(tt.body)
			if tt.err {
				var oe *oauth.Error
				if !errorAs(err, &oe) || oe.Code != oauth.InvalidRequest {
					t.Fatalf("ParseFormBody(%q) error = %v, want invalid_request", tt.body, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFormBody(%q) = %v", tt.body, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseFormBody(%q) diff (-want +got):\n%s", tt.body, diff)
			}
		})
	}
}

func errorAs(err error, target **oauth.Error) bool {
	oe, ok := err.(*oauth.Error)
	if ok {
		*target = oe
	}
	return ok
}

func TestParseForm(t *testing.T) {
	post := func(ct, body string) (*oauth.Error, oauth.Form) {
		r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		f, err := oauth.ParseForm(httptest.NewRecorder(), r)
		if err != nil {
			return err.(*oauth.Error), nil
		}
		return nil, f
	}
	if err, f := post("application/x-www-form-urlencoded; charset=UTF-8", "a=1"); err != nil || f.Get("a") != "1" {
		t.Errorf("form with charset = %v, %v", err, f)
	}
	if err, _ := post("application/json", "{}"); err == nil || err.Code != oauth.InvalidRequest || err.HTTPStatus() != 400 {
		t.Errorf("JSON body error = %v, want invalid_request 400", err)
	}
	if err, _ := post("application/x-www-form-urlencoded", "a="+strings.Repeat("x", oauth.MaxFormBytes)); err == nil || err.HTTPStatus() != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body error = %v, want 413", err)
	}
}

func TestWriteError(t *testing.T) {
	tests := []struct {
		err        *oauth.Error
		status     int
		challenge  bool
		wantDesc   string
		wantNoLeak string
	}{
		{oauth.Errorf(oauth.InvalidClient, "client authentication failed"), 401, true, "client authentication failed", ""},
		{oauth.Errorf(oauth.InvalidRequest, "bad"), 400, false, "bad", ""},
		{oauth.Errorf(oauth.AccessDenied, "no").WithStatus(403), 403, false, "no", ""},
		{&oauth.Error{Code: oauth.ServerError, Cause: errString("db password=hunter2")}, 500, false, "the server could not complete the request", "hunter2"},
		{oauth.Errorf(oauth.SlowDown, "wait"), 400, false, "wait", ""},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		oauth.WriteError(rec, tt.err)
		if rec.Code != tt.status {
			t.Errorf("%s: status = %d, want %d", tt.err.Code, rec.Code, tt.status)
		}
		if got := rec.Header().Get("WWW-Authenticate") != ""; got != tt.challenge {
			t.Errorf("%s: WWW-Authenticate present = %v, want %v", tt.err.Code, got, tt.challenge)
		}
		if rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s: headers = %v", tt.err.Code, rec.Header())
		}
		var body map[string]string
		json.Unmarshal(rec.Body.Bytes(), &body)
		if body["error"] != string(tt.err.Code) || body["error_description"] != tt.wantDesc {
			t.Errorf("%s: body = %v", tt.err.Code, body)
		}
		if tt.wantNoLeak != "" && strings.Contains(rec.Body.String(), tt.wantNoLeak) {
			t.Errorf("%s: the cause leaked into the response", tt.err.Code)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func FuzzParseFormBody(f *testing.F) {
	for _, s := range []string{"a=1&b=2", "scope=openid+email&login_hint=a%40b", "a=1&a=2", "%zz", "&&=&=", "request=eyJ.eyJ.sig"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		form, err := oauth.ParseFormBody(body)
		if err != nil {
			if _, ok := err.(*oauth.Error); !ok {
				t.Fatalf("error %v is not an *oauth.Error", err)
			}
			return
		}
		// A parsed form survives a round trip through url.Values.
		v := url.Values{}
		for k, val := range form {
			v.Set(k, val)
		}
		again, err := oauth.ParseFormBody(v.Encode())
		if err != nil {
			t.Fatalf("re-encoded form does not parse: %v", err)
		}
		if diff := cmp.Diff(form, again); diff != "" {
			t.Fatalf("round trip diff:\n%s", diff)
		}
	})
}
