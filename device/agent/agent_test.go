package agent_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/device/agent"
	"github.com/backchannel/backchannel/oauth"
)

func TestCredentialsSaveLoad(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := &agent.Credentials{Server: "https://op.example.com", DeviceID: "d1", Subject: "alice", Key: key}
	path := filepath.Join(t.TempDir(), "device.json")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	got, err := agent.LoadCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, got, cmp.Comparer(func(a, b *ecdsa.PrivateKey) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("LoadCredentials (-saved +loaded):\n%s", diff)
	}
	// Saving again replaces the file.
	c.Subject = "bob"
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	if got, err := agent.LoadCredentials(path); err != nil || got.Subject != "bob" {
		t.Errorf("LoadCredentials after a second Save = %+v, %v, want subject bob", got, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d files after two saves, want 1 (no temporary files left)", len(entries))
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.LoadCredentials(path); err == nil || !strings.Contains(err.Error(), "accessible by others") {
		t.Errorf("LoadCredentials of a 0644 file = %v, want a refusal", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"server":"x","device_id":"d","key":{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}}`), 0o600)
	if _, err := agent.LoadCredentials(bad); err == nil {
		t.Error("LoadCredentials of a file without a valid private key = nil, want an error")
	}
	if err := (&agent.Credentials{}).Save(filepath.Join(t.TempDir(), "x")); err == nil {
		t.Error("Save of empty credentials = nil, want an error")
	}
}

func TestDiscovery(t *testing.T) {
	var meta map[string]string
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			oauth.WriteError(w, oauth.Errorf(oauth.NotFound, "no"))
			return
		}
		oauth.WriteJSON(w, status, meta)
	}))
	defer srv.Close()
	iss := srv.URL
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	creds := func(server string) *agent.Credentials {
		return &agent.Credentials{Server: server, DeviceID: "d", Key: key}
	}
	tests := []struct {
		name   string
		server string
		meta   map[string]string
		status int
		want   string // part of the error; "" for success
	}{
		{"good", iss, map[string]string{"issuer": iss, "device_api_uri": iss + "/device/v1"}, 200, ""},
		{"issuer mismatch", iss, map[string]string{"issuer": "https://other.example", "device_api_uri": iss + "/device/v1"}, 200, "issuer"},
		{"no device api", iss, map[string]string{"issuer": iss}, 200, "no device_api_uri"},
		{"device api elsewhere", iss, map[string]string{"issuer": iss, "device_api_uri": "http://127.0.0.2:1/device/v1"}, 200, "origin"},
		{"device api over http on a public host", iss, map[string]string{"issuer": iss, "device_api_uri": "http://example.com/device/v1"}, 200, "loopback"},
		{"http issuer on a public host", "http://example.com", nil, 200, "loopback"},
		{"ftp issuer", "ftp://example.com", nil, 200, "https"},
		{"server error", iss, nil, 500, "HTTP 500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta, status = tt.meta, tt.status
			_, err := agent.New(t.Context(), srv.Client(), creds(tt.server))
			if tt.want == "" {
				if err != nil {
					t.Errorf("New = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error about %q", err, tt.want)
			}
		})
	}
}
