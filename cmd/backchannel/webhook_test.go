package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/webhook"
)

// TestServeWebhook runs serve --dev with a webhook: the demo user, who
// has no device, is asked through the webhook, the receiver's signed
// callback approves, and the client gets its tokens.
func TestServeWebhook(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("webhook-secret-0123456789abcdefghij")
	got := make(chan ciba.WebhookNotification, 4)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if _, err := webhook.Verify(secret, r.Header.Get(webhook.Header), b, time.Now(), webhook.DefaultTolerance); err != nil {
			t.Errorf("notification signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var n ciba.WebhookNotification
		json.Unmarshal(b, &n)
		got <- n
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rc.Close()
	t.Setenv("BACKCHANNEL_WEBHOOK_URL", rc.URL+"/hook")
	t.Setenv("BACKCHANNEL_WEBHOOK_SECRET", string(secret))
	srv := startDevServer(t, bin, t.TempDir())

	meta := getJSON(t, http.DefaultClient, srv.issuer+"/.well-known/openid-configuration")
	bcEndpoint, _ := meta["backchannel_authentication_endpoint"].(string)
	tokenEndpoint, _ := meta["token_endpoint"].(string)
	post := func(u string, form url.Values) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("demo-client", srv.clientSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	status, started := post(bcEndpoint, url.Values{"scope": {"openid"}, "login_hint": {"demo"}, "binding_message": {"W 1"}})
	if status != http.StatusOK {
		t.Fatalf("bc-authorize = %d %v", status, started)
	}
	var n ciba.WebhookNotification
	select {
	case n = <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("no webhook notification within 20 s")
	}
	if n.Event != ciba.WebhookRequestCreated || n.BindingMessage != "W 1" {
		t.Fatalf("notification = %+v", n)
	}
	body, _ := json.Marshal(map[string]any{"decision": "approve", "summary": n.Summary})
	req, _ := http.NewRequest(http.MethodPost, srv.issuer+"/webhook/v1/requests/"+n.RequestID+"/decision", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.Header, webhook.Sign(secret, time.Now(), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("callback = %d, want 204", resp.StatusCode)
	}
	status, tok := post(tokenEndpoint, url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {started["auth_req_id"].(string)}})
	if status != http.StatusOK || tok["access_token"] == nil {
		t.Fatalf("token = %d %v", status, tok)
	}
}
