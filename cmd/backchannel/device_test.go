package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/ciba"
)

// adminCall is one call the fake admin API received.
type adminCall struct {
	Method, Path, Auth, Body string
}

// fakeAdmin serves canned admin API responses by "METHOD path" and
// records the calls. The admin handlers themselves are tested in
// httpapi; this checks what the commands send and print.
func fakeAdmin(t *testing.T, responses map[string]string) (*httptest.Server, *[]adminCall) {
	t.Helper()
	var calls []adminCall
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls = append(calls, adminCall{r.Method, r.URL.RequestURI(), r.Header.Get("Authorization"), string(b)})
		resp, ok := responses[r.Method+" "+r.URL.RequestURI()]
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"not_found","error_description":"no such device"}`)
			return
		}
		if resp == "" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, resp)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func runDevice(t *testing.T, adminURL, stdin string, args ...string) (string, error) {
	t.Helper()
	env := map[string]string{"BACKCHANNEL_ADMIN_URL": adminURL, "BACKCHANNEL_ADMIN_TOKEN": "tok"}
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), append([]string{"device"}, args...), func(k string) string { return env[k] },
		strings.NewReader(stdin), &stdout, &stderr)
	return stdout.String(), err
}

func TestDeviceEnroll(t *testing.T) {
	const enrolment = `{"code":"abcd","url":"https://op.example/device#enrol=abcd","expires_at":"2030-01-02T03:04:05Z"}`
	srv, calls := fakeAdmin(t, map[string]string{"POST /admin/v1/enrolments": enrolment})

	out, err := runDevice(t, srv.URL, "", "enroll", "--user", "alice", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("enroll --json printed %q: %v", out, err)
	}
	want := map[string]any{"code": "abcd", "url": "https://op.example/device#enrol=abcd", "expires_at": "2030-01-02T03:04:05Z"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("enroll --json (-want +got):\n%s", diff)
	}
	wantCall := adminCall{"POST", "/admin/v1/enrolments", "Bearer tok", `{"subject":"alice"}`}
	if diff := cmp.Diff([]adminCall{wantCall}, *calls); diff != "" {
		t.Errorf("admin calls (-want +got):\n%s", diff)
	}

	out, err = runDevice(t, srv.URL, "", "enroll", "--user", "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"    abcd\n", "https://op.example/device#enrol=abcd", "register --server https://op.example --code abcd"} {
		if !strings.Contains(out, s) {
			t.Errorf("enroll printed\n%s\nwant it to contain %q", out, s)
		}
	}
	if _, err := runDevice(t, srv.URL, "", "enroll"); err == nil || !strings.Contains(err.Error(), "--user is required") {
		t.Errorf("enroll without --user = %v, want an error", err)
	}
}

func TestDeviceListAndRevoke(t *testing.T) {
	srv, calls := fakeAdmin(t, map[string]string{
		"GET /admin/v1/devices?subject=al+ice": `{"devices":[
			{"device_id":"d1","subject":"al ice","name":"phone\u001b[2J","created_at":"2030-01-02T03:04:05Z"},
			{"device_id":"d2","subject":"al ice","name":"tablet","created_at":"2030-01-02T03:04:05Z","revoked_at":"2030-01-03T03:04:05Z"}]}`,
		"DELETE /admin/v1/devices/d1": "",
	})
	out, err := runDevice(t, srv.URL, "", "list", "--user", "al ice")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "d1 ") || !strings.Contains(lines[1], "active") ||
		!strings.Contains(lines[2], "revoked") || strings.Contains(out, "\x1b") {
		t.Errorf("list printed\n%s\nwant a header, d1 active and d2 revoked, without escape sequences", out)
	}
	out, err = runDevice(t, srv.URL, "", "list", "--user", "al ice", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var devs []map[string]any
	if err := json.Unmarshal([]byte(out), &devs); err != nil || len(devs) != 2 {
		t.Errorf("list --json printed %q, want a JSON array of 2 devices", out)
	}

	out, err = runDevice(t, srv.URL, "", "revoke", "d1")
	if err != nil || out != "revoked device d1\n" {
		t.Errorf("revoke d1 = %q, %v, want revoked device d1", out, err)
	}
	_, err = runDevice(t, srv.URL, "", "revoke", "nope")
	if err == nil || !strings.Contains(err.Error(), "not_found") {
		t.Errorf("revoke nope = %v, want the server's not_found", err)
	}
	if n := len(*calls); n != 4 {
		t.Errorf("admin calls = %d, want 4", n)
	}
}

func TestDeviceCommandErrors(t *testing.T) {
	key := filepath.Join(t.TempDir(), "device.json")
	if err := os.WriteFile(key, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"watch without a mode", []string{"watch", "--key-file", key}, "exactly one of"},
		{"watch with two modes", []string{"watch", "--key-file", key, "--approve", "--deny"}, "exactly one of"},
		{"watch with all modes", []string{"watch", "--key-file", key, "--approve", "--deny", "--interactive"}, "exactly one of"},
		{"watch without a key file", []string{"watch", "--approve"}, "--key-file is required"},
		{"watch with a bad key file", []string{"watch", "--approve", "--key-file", key}, "key"},
		{"register without flags", []string{"register"}, "--server is required"},
		{"register over an existing key", []string{"register", "--server", "https://op.example", "--code", "c", "--key-file", key}, "exists"},
		{"register with an http server", []string{"register", "--server", "http://op.example", "--code", "c", "--key-file", key + ".new"}, "loopback"},
		{"list without admin URL", []string{"list", "--user", "alice"}, "no admin URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runDevice(t, "", "", tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("device %s = %v, want an error about %q", strings.Join(tt.args, " "), err, tt.want)
			}
		})
	}
}

func TestShowRequest(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s := ciba.Summary{
		RequestID: "r1", ClientName: "Smart\x1b[31m TV", BindingMessage: "TV 4711",
		Scopes: []string{"openid", "profile"}, ExpiresAt: now.Add(5 * time.Minute).Unix(),
	}
	var b bytes.Buffer
	showRequest(&b, s, now)
	out := b.String()
	for _, want := range []string{"║   TV 4711   ║", "Access:   openid profile", "(in 5m0s)", "Smart\uFFFD[31m TV asks"} {
		if !strings.Contains(out, want) {
			t.Errorf("showRequest printed\n%s\nwant it to contain %q", out, want)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("showRequest passed an escape sequence through:\n%q", out)
	}
	if got := printable("a\u202Eb\tc"); got != "a\uFFFDb\uFFFDc" {
		t.Errorf("printable = %q, want the bidi override and tab replaced", got)
	}
}

func TestAsk(t *testing.T) {
	tests := []struct {
		in      string
		want    bool
		wantErr bool
	}{
		{"y\n", true, false},
		{"YES\n", true, false},
		{"maybe\nn\n", false, false},
		{"no", false, false}, // the last line needs no newline
		{"", false, true},
		{"maybe\n", false, true},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		got, err := ask(bufio.NewReader(strings.NewReader(tt.in)), &out)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ask(%q) = %v, %v, want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
