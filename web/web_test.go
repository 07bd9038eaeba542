package web_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/backchannel/backchannel/web"
)

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	demo := &web.Demo{Issuer: "http://127.0.0.1:1", ClientID: "c", ClientSecret: "s", Log: slog.New(slog.DiscardHandler)}
	mux := http.NewServeMux()
	mux.Handle("GET /device", web.DeviceApp())
	mux.Handle("GET /device/{file}", web.DeviceApp())
	mux.Handle("GET /demo", web.DemoPages())
	mux.Handle("GET /demo/{file}", web.DemoPages())
	mux.Handle("POST /demo/api/requests", demo.Start())
	mux.Handle("GET /demo/api/requests/{id}", demo.Get())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestPages(t *testing.T) {
	srv := newServer(t)
	for _, tt := range []struct {
		path, contentType string
		status            int
	}{
		{"/device", "text/html; charset=utf-8", 200},
		{"/device/app.js", "text/javascript; charset=utf-8", 200},
		{"/device/sw.js", "text/javascript; charset=utf-8", 200},
		{"/device/manifest.webmanifest", "application/manifest+json", 200},
		{"/device/style.css", "text/css; charset=utf-8", 200},
		{"/demo", "text/html; charset=utf-8", 200},
		{"/demo/demo.js", "text/javascript; charset=utf-8", 200},
		{"/device/missing.js", "", 404},
		{"/device/..%2fdemo%2findex.html", "", 404},
	} {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("GET %s = %d, want %d", tt.path, resp.StatusCode, tt.status)
			}
			if tt.status != 200 {
				return
			}
			if got := resp.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tt.contentType)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("Content-Security-Policy = %q, want default-src 'self' and no inline script", csp)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
			}
		})
	}
}

func TestServiceWorkerScope(t *testing.T) {
	resp, err := http.Get(newServer(t).URL + "/device/sw.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Service-Worker-Allowed"); got != "/device" {
		t.Errorf("Service-Worker-Allowed = %q, want /device", got)
	}
}

// TestPagesHaveNoInlineScript keeps the pages within the CSP: scripts
// only from files, and no inline event handlers.
func TestPagesHaveNoInlineScript(t *testing.T) {
	srv := newServer(t)
	for _, path := range []string{"/device", "/demo"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page := string(b)
		if strings.Contains(page, "<script>") || strings.Contains(page, " onclick=") || strings.Contains(page, "<style>") {
			t.Errorf("%s has inline script or style", path)
		}
	}
}

func TestDemoStartRefuses(t *testing.T) {
	srv := newServer(t)
	for _, tt := range []struct{ name, contentType, body string }{
		{"NotJSON", "application/x-www-form-urlencoded", "login_hint=demo"},
		{"NoHint", "application/json", `{"login_hint": " ", "binding_message": "x"}`},
		{"UnknownMember", "application/json", `{"login_hint": "demo", "client_secret": "x"}`},
		{"LongMessage", "application/json", `{"login_hint": "demo", "binding_message": "` + strings.Repeat("x", 201) + `"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL+"/demo/api/requests", tt.contentType, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || !strings.Contains(string(b), "invalid_request") {
				t.Errorf("POST = %d %s, want 400 invalid_request", resp.StatusCode, b)
			}
		})
	}
}

func TestDemoUnknownRun(t *testing.T) {
	resp, err := http.Get(newServer(t).URL + "/demo/api/requests/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("GET unknown run = %d, want 404", resp.StatusCode)
	}
}
