package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backchannel/backchannel/mtls/mtlstest"
)

const tlsTestAdminToken = "tls-test-admin-token-0123456789"

// inProcess is `backchannel serve` run in this process by run.
type inProcess struct {
	stdout, stderr *lockedBuffer
	addr, issuer   string
	mtlsAddr       string
}

// startServe runs serve with args and environment env until the test
// ends, and waits until it listens.
func startServe(t *testing.T, env map[string]string, args ...string) *inProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	p := &inProcess{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve"}, args...), func(k string) string { return env[k] }, strings.NewReader(""), p.stdout, p.stderr)
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v; stderr:\n%s", err, p.stderr.String())
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop within 20 s")
		}
	}
	t.Cleanup(stop)
	listening := regexp.MustCompile(`listening on (\S+) \(issuer (\S+)\)`)
	mtlsListening := regexp.MustCompile(`mutual TLS listening on (\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := listening.FindStringSubmatch(p.stdout.String()); m != nil {
			p.addr, p.issuer = m[1], m[2]
			if m := mtlsListening.FindStringSubmatch(p.stdout.String()); m != nil {
				p.mtlsAddr = m[1]
			}
			return p
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve exited: %v\nstdout:\n%s\nstderr:\n%s", err, p.stdout.String(), p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start; stdout:\n%s\nstderr:\n%s", p.stdout.String(), p.stderr.String())
		}
	}
}

// trusting returns a client that trusts the CAs in caFile and presents
// certs.
func trusting(t *testing.T, caFile string, certs ...tls.Certificate) *http.Client {
	t.Helper()
	b, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("%s holds no certificates", caFile)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs},
	}}
}

func getJSON(t *testing.T, hc *http.Client, u string) map[string]any {
	t.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return m
}

// call sends a JSON (admin) or form request and returns status and body.
func call(t *testing.T, hc *http.Client, method, u string, body any, header http.Header) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case nil:
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// asksForCertificate reports whether the TLS listener at addr asks the
// client for a certificate (a CertificateRequest in the handshake).
func asksForCertificate(t *testing.T, caFile, addr string) bool {
	t.Helper()
	asked := false
	hc := trusting(t, caFile)
	hc.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		asked = true
		return &tls.Certificate{}, nil
	}
	resp, err := hc.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return asked
}

func TestServeDevTLS(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"BACKCHANNEL_DATA_DIR": dir, "BACKCHANNEL_LOG_LEVEL": "warn"}
	p := startServe(t, env, "--dev", "--tls", "--addr", "127.0.0.1:0")
	caFile := filepath.Join(dir, "tls", "ca.pem")
	if !strings.HasPrefix(p.issuer, "https://localhost:") {
		t.Errorf("issuer = %q, want https://localhost:PORT", p.issuer)
	}
	if !strings.Contains(p.stdout.String(), "SSL_CERT_FILE="+caFile) {
		t.Errorf("output does not point at the CA %s:\n%s", caFile, p.stdout.String())
	}
	hc := trusting(t, caFile)
	meta := getJSON(t, hc, p.issuer+"/.well-known/openid-configuration")
	if meta["issuer"] != p.issuer {
		t.Errorf("discovery issuer = %v, want %s", meta["issuer"], p.issuer)
	}
	methods, _ := meta["token_endpoint_auth_methods_supported"].([]any)
	if !slices.Contains(methods, any("tls_client_auth")) || !slices.Contains(methods, any("self_signed_tls_client_auth")) {
		t.Errorf("token_endpoint_auth_methods_supported = %v, want the mutual TLS methods", methods)
	}
	aliases, _ := meta["mtls_endpoint_aliases"].(map[string]any)
	if aliases["token_endpoint"] != meta["token_endpoint"] {
		t.Errorf("mtls_endpoint_aliases = %v, want the normal endpoints", aliases)
	}
	if !asksForCertificate(t, caFile, p.addr) {
		t.Error("the --dev TLS listener does not ask for client certificates")
	}

	// FAPI 1.0 Advanced §8.5: TLS 1.2 or later, AEAD suites only.
	pool := trusting(t, caFile).Transport.(*http.Transport).TLSClientConfig.RootCAs
	for _, tt := range []struct {
		name     string
		min, max uint16
		suite    uint16 // 0: Go's defaults
		ok       bool
	}{
		{"TLS 1.3", tls.VersionTLS13, tls.VersionTLS13, 0, true},
		{"TLS 1.2 AES-GCM", tls.VersionTLS12, tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, true},
		{"TLS 1.2 ChaCha20", tls.VersionTLS12, tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, false},
		{"TLS 1.2 CBC", tls.VersionTLS12, tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, false},
		{"TLS 1.1", tls.VersionTLS10, tls.VersionTLS11, 0, false},
	} {
		cfg := &tls.Config{RootCAs: pool, MinVersion: tt.min, MaxVersion: tt.max}
		if tt.suite != 0 {
			cfg.CipherSuites = []uint16{tt.suite}
		}
		conn, err := tls.Dial("tcp", p.addr, cfg)
		if err == nil {
			conn.Close()
		}
		if (err == nil) != tt.ok {
			t.Errorf("%s handshake error = %v, want success %v", tt.name, err, tt.ok)
		}
	}

	// The CA and certificate are kept across restarts.
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, "tls", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ca, cert := read("ca.pem"), read("server.pem")
	if info, err := os.Stat(filepath.Join(dir, "tls", "ca-key.pem")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("ca-key.pem: %v, mode %v; want 0600", err, info.Mode().Perm())
	}
	t.Run("restart", func(t *testing.T) {
		// A second server on the same data directory, as after a restart.
		p2 := startServe(t, env, "--dev", "--tls", "--addr", "127.0.0.1:0")
		if !bytes.Equal(read("ca.pem"), ca) || !bytes.Equal(read("server.pem"), cert) {
			t.Error("restart made a new CA or server certificate")
		}
		resp, err := trusting(t, caFile).Get(p2.issuer + "/healthz")
		if err != nil {
			t.Fatalf("the old CA does not verify the restarted server: %v", err)
		}
		resp.Body.Close()
	})
}

// writePEM writes cert's chain and key as PEM files in dir.
func writePEM(t *testing.T, dir, name string, cert tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	var chain []byte
	for _, der := range cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(certFile, chain, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestServeTLSFilesAndMTLSListener serves https from configured files,
// with the mutual TLS endpoint aliases on a listener of their own.
func TestServeTLSFilesAndMTLSListener(t *testing.T) {
	dir := t.TempDir()
	serverCA, clientCA := mtlstest.NewCA(t, "Server CA"), mtlstest.NewCA(t, "Client CA")
	certFile, keyFile := writePEM(t, dir, "server", serverCA.Server(t))
	serverCAFile, clientCAFile := filepath.Join(dir, "server-ca.pem"), filepath.Join(dir, "client-ca.pem")
	os.WriteFile(serverCAFile, serverCA.PEM(), 0o600)
	os.WriteFile(clientCAFile, clientCA.PEM(), 0o600)
	p := startServe(t, map[string]string{
		"BACKCHANNEL_ISSUER":             "https://op.example",
		"BACKCHANNEL_DB":                 "sqlite:" + filepath.Join(dir, "bc.db"),
		"BACKCHANNEL_ADMIN_TOKEN":        tlsTestAdminToken,
		"BACKCHANNEL_LOG_LEVEL":          "warn",
		"BACKCHANNEL_TLS_CERT_FILE":      certFile,
		"BACKCHANNEL_TLS_KEY_FILE":       keyFile,
		"BACKCHANNEL_TLS_CLIENT_CA_FILE": clientCAFile,
		"BACKCHANNEL_TLS_MTLS_ADDR":      "127.0.0.1:0",
		"BACKCHANNEL_TLS_MTLS_BASE_URL":  "https://mtls.op.example:8443",
	}, "--addr", "127.0.0.1:0")
	if p.mtlsAddr == "" {
		t.Fatalf("no mutual TLS listener in the output:\n%s", p.stdout.String())
	}
	main, mtlsURL := "https://"+p.addr, "https://"+p.mtlsAddr
	hc := trusting(t, serverCAFile)

	meta := getJSON(t, hc, main+"/.well-known/openid-configuration")
	aliases, _ := meta["mtls_endpoint_aliases"].(map[string]any)
	if meta["token_endpoint"] != "https://op.example/token" || aliases["token_endpoint"] != "https://mtls.op.example:8443/token" ||
		aliases["backchannel_authentication_endpoint"] != "https://mtls.op.example:8443/bc-authorize" {
		t.Errorf("token_endpoint %v, mtls_endpoint_aliases %v; want the aliases on mtls.op.example:8443", meta["token_endpoint"], aliases)
	}
	if asksForCertificate(t, serverCAFile, p.addr) {
		t.Error("the main listener asks for client certificates although the aliases have their own")
	}
	if !asksForCertificate(t, serverCAFile, p.mtlsAddr) {
		t.Error("the mutual TLS listener does not ask for client certificates")
	}

	admin := http.Header{"Authorization": {"Bearer " + tlsTestAdminToken}}
	status, client := call(t, hc, http.MethodPost, main+"/admin/v1/clients", map[string]any{
		"grant_types":                []string{"urn:openid:params:grant-type:ciba"},
		"token_endpoint_auth_method": "tls_client_auth",
		"tls_client_auth_san_dns":    "rp.example.com",
	}, admin)
	if status != http.StatusCreated {
		t.Fatalf("create client = %d %v", status, client)
	}
	if status, _ := call(t, hc, http.MethodGet, mtlsURL+"/admin/v1/clients", nil, admin); status != http.StatusNotFound {
		t.Errorf("admin API on the mutual TLS listener = %d, want 404", status)
	}
	rpCert := clientCA.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "rp"}, DNSNames: []string{"rp.example.com"}})
	form := url.Values{"client_id": {client["client_id"].(string)}, "scope": {"openid"}, "login_hint": {"nobody"}}
	// Authenticated, the request reaches CIBA, which knows no such user.
	if status, body := call(t, trusting(t, serverCAFile, rpCert), http.MethodPost, mtlsURL+"/bc-authorize", form, nil); status != http.StatusBadRequest || body["error"] != "unknown_user_id" {
		t.Errorf("bc-authorize with the client certificate = %d %v, want 400 unknown_user_id", status, body)
	}
	// The main listener never asked for the certificate.
	if status, body := call(t, trusting(t, serverCAFile, rpCert), http.MethodPost, main+"/bc-authorize", form, nil); status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("bc-authorize on the main listener = %d %v, want 401 invalid_client", status, body)
	}
}

// TestServeTrustedProxy serves plain http behind a TLS-terminating proxy
// that passes client certificates in X-Client-Cert.
func TestServeTrustedProxy(t *testing.T) {
	dir := t.TempDir()
	clientCA := mtlstest.NewCA(t, "Client CA")
	clientCAFile := filepath.Join(dir, "client-ca.pem")
	os.WriteFile(clientCAFile, clientCA.PEM(), 0o600)
	env := map[string]string{
		"BACKCHANNEL_ISSUER":              "https://op.example",
		"BACKCHANNEL_DB":                  "sqlite:" + filepath.Join(dir, "bc.db"),
		"BACKCHANNEL_ADMIN_TOKEN":         tlsTestAdminToken,
		"BACKCHANNEL_TLS_CLIENT_CA_FILE":  clientCAFile,
		"BACKCHANNEL_TLS_TRUSTED_PROXIES": "127.0.0.1/32,::1",
	}
	p := startServe(t, env, "--addr", "127.0.0.1:0")
	if !strings.Contains(p.stderr.String(), "TLS is expected to be terminated in front of backchannel") {
		t.Errorf("no log line about TLS terminated by a proxy; stderr:\n%s", p.stderr.String())
	}
	base := "http://" + p.addr
	meta := getJSON(t, http.DefaultClient, base+"/.well-known/openid-configuration")
	methods, _ := meta["token_endpoint_auth_methods_supported"].([]any)
	aliases, _ := meta["mtls_endpoint_aliases"].(map[string]any)
	if !slices.Contains(methods, any("tls_client_auth")) || aliases["token_endpoint"] != "https://op.example/token" || meta["tls_client_certificate_bound_access_tokens"] != true {
		t.Errorf("discovery behind a proxy: methods %v, aliases %v, bound tokens %v", methods, aliases, meta["tls_client_certificate_bound_access_tokens"])
	}
	admin := http.Header{"Authorization": {"Bearer " + tlsTestAdminToken}}
	status, client := call(t, http.DefaultClient, http.MethodPost, base+"/admin/v1/clients", map[string]any{
		"grant_types":                []string{"urn:openid:params:grant-type:ciba"},
		"token_endpoint_auth_method": "tls_client_auth",
		"tls_client_auth_subject_dn": "CN=rp,O=Example",
	}, admin)
	if status != http.StatusCreated {
		t.Fatalf("create client = %d %v", status, client)
	}
	rpCert := clientCA.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "rp", Organization: []string{"Example"}}})
	form := url.Values{"client_id": {client["client_id"].(string)}, "scope": {"openid"}, "login_hint": {"nobody"}}
	for _, tt := range []struct {
		name   string
		header string
		status int
		code   string
	}{
		{"proxy passes the certificate", url.PathEscape(string(mtlstest.PEM(rpCert.Leaf))), http.StatusBadRequest, "unknown_user_id"},
		{"proxy passes a malformed header", "garbage", http.StatusUnauthorized, "invalid_client"},
		{"no header", "", http.StatusUnauthorized, "invalid_client"},
	} {
		h := http.Header{}
		if tt.header != "" {
			h.Set("X-Client-Cert", tt.header)
		}
		if status, body := call(t, http.DefaultClient, http.MethodPost, base+"/bc-authorize", form, h); status != tt.status || body["error"] != tt.code {
			t.Errorf("%s: bc-authorize = %d %v, want %d %s", tt.name, status, body, tt.status, tt.code)
		}
	}
	if !strings.Contains(p.stderr.String(), "ignoring malformed client certificate header") {
		t.Errorf("no warning for the malformed header; stderr:\n%s", p.stderr.String())
	}
}

func TestConfigValidateTLS(t *testing.T) {
	tests := []struct {
		name  string
		flags map[string]any
		want  string // in the error; "" for a valid config
	}{
		{"plain http behind a proxy", map[string]any{}, ""},
		{"files", map[string]any{"tls.cert_file": "c.pem", "tls.key_file": "k.pem"}, ""},
		{"cert without key", map[string]any{"tls.cert_file": "c.pem"}, "tls.cert_file and tls.key_file must be set together"},
		{"key without cert", map[string]any{"tls.key_file": "k.pem"}, "tls.cert_file and tls.key_file must be set together"},
		{"dev TLS outside --dev", map[string]any{"tls.dev": true}, "needs --dev"},
		{"dev TLS with files", map[string]any{"dev": true, "tls.dev": true, "tls.cert_file": "c.pem", "tls.key_file": "k.pem"}, "exclude each other"},
		{"http issuer with TLS", map[string]any{"dev": true, "issuer": "http://127.0.0.1:8080", "tls.dev": true}, "must use https when serve terminates TLS"},
		{"bad proxy", map[string]any{"tls.trusted_proxies": []string{"10.0.0.0/8", "proxy.example"}}, `"proxy.example" is not a CIDR`},
		{"bad header", map[string]any{"tls.client_cert_header": "X Client Cert"}, "tls.client_cert_header"},
		{"client CAs without certificates", map[string]any{"tls.client_ca_file": "ca.pem"}, "tls.client_ca_file needs client certificates"},
		{"client CAs behind a proxy", map[string]any{"tls.client_ca_file": "ca.pem", "tls.trusted_proxies": []string{"10.0.0.1"}}, ""},
		{"mtls listener without TLS", map[string]any{"tls.mtls_addr": "127.0.0.1:8443", "tls.mtls_base_url": "https://mtls.example"}, "tls.mtls_addr needs tls.cert_file"},
		{"mtls listener without URL", map[string]any{"tls.cert_file": "c.pem", "tls.key_file": "k.pem", "tls.mtls_addr": "127.0.0.1:8443"}, "needs tls.mtls_base_url"},
		{"mtls listener bad address", map[string]any{"tls.cert_file": "c.pem", "tls.key_file": "k.pem", "tls.mtls_addr": "8443", "tls.mtls_base_url": "https://mtls.example"}, "is not host:port"},
		{"mtls URL not https", map[string]any{"tls.cert_file": "c.pem", "tls.key_file": "k.pem", "tls.mtls_addr": "127.0.0.1:8443", "tls.mtls_base_url": "http://mtls.example"}, "must be an https URL"},
		{"mtls URL alone", map[string]any{"tls.mtls_base_url": "https://mtls.example"}, "needs tls.mtls_addr, or tls.trusted_proxies"},
		{"mtls URL of a proxy", map[string]any{"tls.mtls_base_url": "https://mtls.example", "tls.trusted_proxies": []string{"10.0.0.1"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flags := map[string]any{"issuer": "https://op.example", "db": "sqlite:x.db"}
			for k, v := range tt.flags {
				flags[k] = v
			}
			cfg, err := loadConfig("", func(string) string { return "" }, flags)
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
