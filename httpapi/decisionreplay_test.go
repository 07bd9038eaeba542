package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backchannel/backchannel/device/agent"
	"github.com/backchannel/backchannel/store"
)

// recorder is a transport that keeps a copy of the last decision call.
type recorder struct {
	mu     sync.Mutex
	header http.Header
	body   []byte
	url    string
}

func (rec *recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/decision") {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec.mu.Lock()
		rec.header, rec.body, rec.url = r.Header.Clone(), body, r.URL.String()
		rec.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestDecisionCallReplay: the decision call's proof is used up in the
// decision's own transaction; the same call sent again changes nothing,
// and its proof cannot be used again.
func TestDecisionCallReplay(t *testing.T) {
	f := newFlow(t, nil)
	dev := f.enrolDevice("u1")
	rec := &recorder{}
	replaying, err := agent.New(t.Context(), &http.Client{Transport: rec}, dev.Credentials())
	if err != nil {
		t.Fatal(err)
	}
	replaying.Now = f.clock.Now
	r := f.start(url.Values{"scope": {"openid"}, "login_hint": {"hana"}})
	if r.status != http.StatusOK {
		t.Fatalf("bc-authorize = %d %v", r.status, r.body)
	}
	pending, err := replaying.Pending(t.Context())
	if err != nil || len(pending) != 1 {
		t.Fatalf("Pending = %v, %v", pending, err)
	}
	if err := replaying.Decide(t.Context(), pending[0], false); err != nil {
		t.Fatalf("Decide: %v", err)
	}

	// The identical call again: the request is decided, nothing changes.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, rec.url, bytes.NewReader(rec.body))
	req.Header = rec.header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("replayed decision call = %d, want 409", resp.StatusCode)
	}
	got, err := f.store.Request(t.Context(), pending[0].RequestID)
	if err != nil || got.State != "denied" {
		t.Errorf("request after the replay = %+v, %v; want it denied as decided", got.State, err)
	}
	// Both single-use values were recorded with the decision: the
	// proof's jti and the decision's.
	id := dev.Credentials().DeviceID
	proof := strings.TrimPrefix(rec.header.Get("Authorization"), "Device ")
	for key, jws := range map[string]string{"device:" + id + ":": proof, "decision:" + id + ":": string(rec.body)} {
		err := f.store.UseOnce(t.Context(), key+jtiOf(t, jws), time.Now().Add(time.Hour))
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("UseOnce(%s jti) = %v, want ErrConflict: recorded with the decision", key, err)
		}
	}
}

// jtiOf returns the jti claim of a compact JWS, unverified.
func jtiOf(t *testing.T, jws string) string {
	t.Helper()
	parts := strings.Split(strings.TrimSpace(jws), ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a compact JWS", jws)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.JTI == "" {
		t.Fatalf("claims %s: %v", payload, err)
	}
	return c.JTI
}
