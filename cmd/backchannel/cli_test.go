package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildBinary builds the real backchannel binary once per test run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "backchannel-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "backchannel")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", &buildError{out: string(out), err: err}
	}
	return bin, nil
})

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// devServer is `backchannel serve --dev` running as a process.
type devServer struct {
	issuer, adminToken, clientSecret, code string
	stdout                                 *lockedBuffer
	stderr                                 *lockedBuffer // the server's log
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startDevServer runs serve --dev on a free port in dir and waits until
// it answers /healthz.
func startDevServer(t *testing.T, bin, dir string) *devServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	cmd := exec.CommandContext(ctx, bin, "serve", "--dev", "--addr", "127.0.0.1:0")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BACKCHANNEL_ADMIN_TOKEN=")
	out := &lockedBuffer{}
	cmd.Stdout = out
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			// Wait reports the canceled context even when the process
			// exited cleanly; the exit code is what counts.
			if err != nil && cmd.ProcessState.ExitCode() != 0 {
				t.Errorf("serve exited with %v on SIGINT; stderr:\n%s", err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Error("serve did not shut down within 20 s of SIGINT")
		}
	})
	listening := regexp.MustCompile(`listening on \S+ \(issuer (\S+)\)`)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := listening.FindStringSubmatch(out.String()); m != nil {
			s := &devServer{issuer: m[1], stdout: out, stderr: &stderr}
			s.adminToken = field(t, out.String(), `admin token\s+(\S+)`)
			s.clientSecret = field(t, out.String(), `client_secret\s+(\S+)`)
			s.code = field(t, out.String(), `device enrolment code\s+(\S+)`)
			resp, err := http.Get(s.issuer + "/healthz")
			if err == nil && resp.StatusCode == 200 {
				resp.Body.Close()
				return s
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start; stdout:\n%s\nstderr:\n%s", out.String(), stderr.String())
		}
	}
}

func field(t *testing.T, s, pattern string) string {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("serve --dev output has no %s:\n%s", pattern, s)
	}
	return m[1]
}

// runBin runs the binary to completion and returns its stdout.
func runBin(t *testing.T, bin, dir string, env []string, stdin string, args ...string) string {
	t.Helper()
	out, err := tryBin(t, bin, dir, env, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tryBin is runBin for other goroutines than the test's: it returns the
// failure instead of ending the test.
func tryBin(t *testing.T, bin, dir string, env []string, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("backchannel %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// TestCLIFlow drives the whole poll flow through the real binary, as the
// README's walkthrough does: serve --dev, admin commands, a terminal
// device that approves, and login.
func TestCLIFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	srv := startDevServer(t, bin, dir)
	admin := []string{"BACKCHANNEL_ADMIN_URL=" + srv.issuer, "BACKCHANNEL_ADMIN_TOKEN=" + srv.adminToken}

	// A client and a user of our own, through the admin commands.
	client := decodeJSON(t, runBin(t, bin, dir, admin,
		`{"client_name": "Okinawa Call Centre", "grant_types": ["urn:openid:params:grant-type:ciba", "refresh_token"]}`,
		"client", "create", "--file", "-", "--json"))
	clientID, _ := client["client_id"].(string)
	secret, _ := client["client_secret"].(string)
	if clientID == "" || len(secret) < 43 { // 256 bits in base64url
		t.Fatalf("client create printed %v", client)
	}
	runBin(t, bin, dir, admin, `{"sub": "u-1001", "email": "hana@example.jp", "name": "Hana Sato"}`, "user", "create", "--file", "-")
	enrol := decodeJSON(t, runBin(t, bin, dir, admin, "", "device", "enroll", "--user", "u-1001", "--json"))
	code, _ := enrol["code"].(string)
	if code == "" || !strings.HasPrefix(enrol["url"].(string), srv.issuer) || !strings.HasPrefix(enrol["qr_png"].(string), "data:image/png;base64,") {
		t.Fatalf("device enroll printed %v", enrol)
	}
	// Without --json the link is also drawn as a QR code for the phone.
	if text := runBin(t, bin, dir, admin, "", "device", "enroll", "--user", "u-1001"); !strings.Contains(text, "or scan it:") || !strings.Contains(text, "█") {
		t.Errorf("device enroll printed no QR code:\n%s", text)
	}

	// The user's phone: register, then approve what it is shown.
	runBin(t, bin, dir, nil, "", "device", "register", "--server", srv.issuer, "--code", code, "--key-file", "phone.json")
	type result struct {
		out string
		err error
	}
	watchOut := make(chan result, 1)
	go func() {
		out, err := tryBin(t, bin, dir, nil, "", "device", "watch", "--key-file", "phone.json", "--approve", "--once")
		watchOut <- result{out, err}
	}()

	login := decodeJSON(t, runBin(t, bin, dir, nil, "", "login", "--issuer", srv.issuer,
		"--client-id", clientID, "--client-secret", secret, "--login-hint", "hana@example.jp",
		"--binding-message", "Order 1234", "--scope", "openid profile email", "--json"))
	claims, _ := login["id_token_claims"].(map[string]any)
	if claims["sub"] != "u-1001" || claims["name"] != "Hana Sato" || claims["aud"] != clientID {
		t.Errorf("login ID token claims = %v", claims)
	}
	for _, name := range []string{"access_token", "refresh_token", "id_token"} {
		if s, _ := login[name].(string); s == "" {
			t.Errorf("login printed no %s", name)
		}
	}
	select {
	case r := <-watchOut:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if !strings.Contains(r.out, "Order 1234") {
			t.Errorf("device watch output does not show the binding message:\n%s", r.out)
		}
	case <-time.After(time.Minute):
		t.Fatal("device watch --once did not finish")
	}

	// The README's demo path: the demo client and enrolment code.
	runBin(t, bin, dir, nil, "", "device", "register", "--server", srv.issuer, "--code", srv.code, "--key-file", "demo.json")
	go func() {
		out, err := tryBin(t, bin, dir, nil, "", "device", "watch", "--key-file", "demo.json", "--approve", "--once")
		watchOut <- result{out, err}
	}()
	demo := decodeJSON(t, runBin(t, bin, dir, nil, "", "login", "--issuer", srv.issuer,
		"--client-id", "demo-client", "--client-secret", srv.clientSecret, "--login-hint", "demo", "--json"))
	if claims, _ := demo["id_token_claims"].(map[string]any); claims["sub"] != "demo-user" {
		t.Errorf("demo login claims = %v", demo["id_token_claims"])
	}
	if r := <-watchOut; r.err != nil {
		t.Fatal(r.err)
	}
}

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, s)
	}
	return m
}

// TestCLINotifyModes runs login --mode ping and --mode push through the
// real binary against device watch --approve.
func TestCLINotifyModes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	srv := startDevServer(t, bin, dir)
	admin := []string{"BACKCHANNEL_ADMIN_URL=" + srv.issuer, "BACKCHANNEL_ADMIN_TOKEN=" + srv.adminToken}
	runBin(t, bin, dir, nil, "", "device", "register", "--server", srv.issuer, "--code", srv.code, "--key-file", "phone.json")

	for _, mode := range []string{"ping", "push"} {
		t.Run(mode, func(t *testing.T) {
			addr := freeAddr(t)
			client := decodeJSON(t, runBin(t, bin, dir, admin, fmt.Sprintf(
				`{"client_name": "Shop %s", "grant_types": ["urn:openid:params:grant-type:ciba", "refresh_token"],
				  "backchannel_token_delivery_mode": %q, "backchannel_client_notification_endpoint": "http://%s/cb"}`, mode, mode, addr),
				"client", "create", "--file", "-", "--json"))
			watch := make(chan error, 1)
			go func() {
				_, err := tryBin(t, bin, dir, nil, "", "device", "watch", "--key-file", "phone.json", "--approve", "--once")
				watch <- err
			}()
			out := decodeJSON(t, runBin(t, bin, dir, nil, "", "login", "--issuer", srv.issuer,
				"--client-id", client["client_id"].(string), "--client-secret", client["client_secret"].(string),
				"--login-hint", "demo", "--mode", mode, "--listen", addr, "--json"))
			if claims, _ := out["id_token_claims"].(map[string]any); claims["sub"] != "demo-user" {
				t.Errorf("login --mode %s claims = %v", mode, out["id_token_claims"])
			}
			if mode == "push" {
				claims, _ := out["id_token_claims"].(map[string]any)
				if claims["urn:openid:params:jwt:claim:auth_req_id"] == nil {
					t.Errorf("pushed ID token has no auth_req_id claim: %v", claims)
				}
			}
			if err := <-watch; err != nil {
				t.Fatal(err)
			}
		})
	}
}
