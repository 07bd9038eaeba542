package client_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// FuzzReceiver sends arbitrary notifications to a Receiver expecting one
// request. In authz, {tok} stands for the expected notification token;
// in body, {id_token} stands for a valid pushed ID token of areq-1, so
// the fuzzer can reach the push checks with the rest of the body
// mutated.
func FuzzReceiver(f *testing.F) {
	push := `{"auth_req_id":"areq-1","access_token":"` + pushedAT + `","token_type":"Bearer","expires_in":600,"refresh_token":"` + pushedRT + `","scope":"openid","id_token":"{id_token}"}`
	f.Add("POST", "Bearer {tok}", "application/json", []byte(`{"auth_req_id":"areq-1"}`))
	f.Add("POST", "Bearer {tok}", "application/json; charset=utf-8", []byte(push))
	f.Add("POST", "bearer  {tok}", "application/json", []byte(`{"auth_req_id":"areq-1","error":"access_denied","error_description":"no"}`))
	f.Add("POST", "Bearer {tok}", "application/json", []byte(`{"auth_req_id":"areq-1","error":"x","access_token":"a"}`))
	f.Add("POST", "Bearer {tok}", "application/json", []byte(`{"auth_req_id":"other","id_token":"{id_token}","access_token":"wrong"}`))
	f.Add("POST", "Bearer wrong", "application/json", []byte(`{"auth_req_id":"areq-1"}`))
	f.Add("GET", "", "", []byte(nil))
	f.Add("POST", "Bearer {tok}", "text/plain", []byte(`[]`))
	f.Add("POST", "Basic {tok}", "application/json", []byte(`{`))
	f.Fuzz(func(t *testing.T, method, authz, contentType string, body []byte) {
		if method == "" || strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") {
			return // not a method the server would parse
		}
		r := newRig(t)
		idToken := r.op.pushBody("areq-1", nil)["id_token"].(string)
		body = bytes.ReplaceAll(body, []byte("{id_token}"), []byte(idToken))
		req := httptest.NewRequest(http.MethodPost, "https://rp.example/cb", bytes.NewReader(body))
		req.Method = method
		if authz != "" {
			req.Header.Set("Authorization", strings.ReplaceAll(authz, "{tok}", r.tok))
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		r.recv.ServeHTTP(rec, req)
		allowed := []int{http.StatusNoContent, http.StatusBadRequest, http.StatusUnauthorized, http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable}
		if !slices.Contains(allowed, rec.Code) {
			t.Fatalf("ServeHTTP(%s, %q, %q, %q) = %d, want one of %v", method, authz, contentType, body, rec.Code, allowed)
		}
		if rec.Code == http.StatusNoContent && !strings.Contains(authz, "{tok}") {
			t.Fatalf("ServeHTTP accepted a notification without the notification token: %q", authz)
		}
	})
}
