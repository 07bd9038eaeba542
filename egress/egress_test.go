package egress_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/egress"
)

// listener is a bare TCP listener that tells whether anyone connected.
type listener struct{ l *net.TCPListener }

// listen listens on addr ("127.0.0.1:0", "[::1]:0"); it returns nil when
// the address family is unavailable.
func listen(t *testing.T, addr string) *listener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil
	}
	t.Cleanup(func() { l.Close() })
	return &listener{l.(*net.TCPListener)}
}

func (l *listener) port() string {
	return strconv.Itoa(l.l.Addr().(*net.TCPAddr).Port)
}

// connected reports whether a connection reached the listener. The kernel
// completes the handshake and queues the connection whether or not anyone
// calls Accept, so a connection made earlier is found here.
func (l *listener) connected(t *testing.T) bool {
	t.Helper()
	l.l.SetDeadline(time.Now().Add(200 * time.Millisecond))
	c, err := l.l.Accept()
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func get(c *http.Client, url string) (*http.Response, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp, err
}

// TestRefusedAddresses dials each refused class by a literal IP URL. The
// standard library dials IPv4-mapped IPv6 literals as IPv4, so refusals
// of those name the IPv4 class.
func TestRefusedAddresses(t *testing.T) {
	v4 := listen(t, "127.0.0.1:0")
	v6 := listen(t, "[::1]:0")
	v6port := "443"
	if v6 != nil {
		v6port = v6.port()
	}
	c := egress.NewClient(egress.Policy{}, 5*time.Second)
	tests := []struct {
		url       string
		wantClass string
		lis       *listener // the local listener the URL points at, if any
	}{
		{"https://127.0.0.1:" + v4.port(), "loopback", v4},
		{"https://[::ffff:127.0.0.1]:" + v4.port(), "loopback", v4},
		{"https://127.1.2.3", "loopback", nil},
		{"https://[::1]:" + v6port, "loopback", v6},
		{"https://0.0.0.0:" + v4.port(), "unspecified", v4},
		{"https://0.1.2.3", "this-network", nil},
		{"https://[::]", "unspecified", nil},
		{"https://10.0.0.1", "private", nil},
		{"https://172.16.0.1", "private", nil},
		{"https://172.31.255.254", "private", nil},
		{"https://192.168.1.1", "private", nil},
		{"https://100.64.0.1", "CGNAT", nil},
		{"https://169.254.169.254", "cloud metadata", nil},
		{"https://169.254.1.1", "link-local", nil},
		{"https://[fe80::1]", "link-local", nil},
		{"https://[fd00::1]", "unique-local", nil},
		{"https://[fc00::1]", "unique-local", nil},
		{"https://[fd00:ec2::254]", "cloud metadata", nil},
		{"https://224.0.0.1", "multicast", nil},
		{"https://[ff02::1]", "multicast", nil},
		{"https://255.255.255.255", "broadcast", nil},
		{"https://240.0.0.1", "reserved", nil},
		{"https://192.0.0.8", "IETF protocol assignments", nil},
		{"https://198.18.0.1", "benchmarking", nil},
		{"https://192.0.2.1", "documentation", nil},
		{"https://198.51.100.1", "documentation", nil},
		{"https://203.0.113.1", "documentation", nil},
		{"https://[2001:db8::1]", "documentation", nil},
		{"https://[::ffff:10.0.0.1]", "private", nil},
		{"https://[::ffff:169.254.169.254]", "cloud metadata", nil},
		{"https://[::127.0.0.1]", "IPv4-compatible", nil},
		{"https://[64:ff9b::127.0.0.1]", "NAT64 loopback", nil},
		{"https://[64:ff9b::169.254.169.254]", "NAT64 cloud metadata", nil},
		{"https://[2002:7f00:1::1]", "6to4 loopback", nil},
		{"https://[2002:a9fe:a9fe::1]", "6to4 cloud metadata", nil},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := get(c, tt.url)
			if !errors.Is(err, egress.ErrRefused) {
				t.Fatalf("Get(%s) error = %v, want %v", tt.url, err, egress.ErrRefused)
			}
			if !strings.Contains(err.Error(), tt.wantClass) {
				t.Errorf("Get(%s) error = %q, want it to name %q", tt.url, err, tt.wantClass)
			}
			if tt.lis != nil && tt.lis.connected(t) {
				t.Errorf("Get(%s) connected to the listener before refusing", tt.url)
			}
		})
	}
}

func TestRefusesHostNameResolvingToLoopback(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	c := egress.NewClient(egress.Policy{}, 5*time.Second)
	_, err := get(c, "https://localhost:"+l.port())
	if !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("Get(https://localhost) error = %v, want %v", err, egress.ErrRefused)
	}
	if l.connected(t) {
		t.Error("Get(https://localhost) connected before refusing")
	}
}

func TestRefusesPlainHTTP(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	// Even an allowed address is refused over http.
	c := egress.NewClient(egress.Policy{Allow: []string{"127.0.0.1/32"}}, 5*time.Second)
	for _, url := range []string{"http://127.0.0.1:" + l.port(), "http://example.com/cb"} {
		_, err := get(c, url)
		if !errors.Is(err, egress.ErrRefused) {
			t.Errorf("Get(%s) error = %v, want %v", url, err, egress.ErrRefused)
		}
	}
	if l.connected(t) {
		t.Error("an http request connected")
	}
}

func TestAllowInsecure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	c := egress.NewClient(egress.Policy{AllowInsecure: true}, 5*time.Second)
	resp, err := get(c, srv.URL)
	if err != nil {
		t.Fatalf("Get(%s) error = %v", srv.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("Get(%s) status = %d, want 200", srv.URL, resp.StatusCode)
	}
}

// tlsServer starts an httptest TLS server on 127.0.0.1 and returns it with
// a TLS config that trusts it under the name "example.com", one of the
// names in its certificate.
func tlsServer(t *testing.T) (*httptest.Server, *tls.Config) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	return srv, &tls.Config{RootCAs: roots, ServerName: "example.com", MinVersion: tls.VersionTLS12}
}

func TestAllow(t *testing.T) {
	srv, tlsConfig := tlsServer(t)
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	tests := []struct {
		name    string
		allow   []string
		url     string
		refused bool
	}{
		{"NothingAllowed", nil, srv.URL, true},
		{"CIDR", []string{"127.0.0.1/32"}, srv.URL, false},
		{"WiderCIDR", []string{"10.0.0.0/8", "127.0.0.0/8"}, srv.URL, false},
		{"SingleAddress", []string{"127.0.0.1"}, srv.URL, false},
		{"OtherCIDR", []string{"127.0.0.2/32"}, srv.URL, true},
		{"HostName", []string{"LocalHost."}, "https://localhost:" + port, false},
		{"HostNameDoesNotAllowAddress", []string{"localhost"}, srv.URL, true},
		{"OtherHostName", []string{"example.com"}, "https://localhost:" + port, true},
		{"InvalidEntryIgnored", []string{"127.0.0.1/33"}, srv.URL, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := egress.NewClient(egress.Policy{Allow: tt.allow}, 5*time.Second)
			egress.Transport(c).TLSClientConfig = tlsConfig
			resp, err := get(c, tt.url)
			if tt.refused {
				if !errors.Is(err, egress.ErrRefused) {
					t.Errorf("Get(%s) error = %v, want %v", tt.url, err, egress.ErrRefused)
				}
				return
			}
			if err != nil {
				t.Fatalf("Get(%s) error = %v", tt.url, err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Errorf("Get(%s) status = %d, want 200", tt.url, resp.StatusCode)
			}
		})
	}
}

func TestNoRedirects(t *testing.T) {
	var targetHits atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/from", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/to", http.StatusFound)
	})
	mux.HandleFunc("/to", func(w http.ResponseWriter, r *http.Request) { targetHits.Add(1) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	c := egress.NewClient(egress.Policy{AllowInsecure: true}, 5*time.Second)
	resp, err := c.Post(srv.URL+"/from", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("Post error = %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("Post status = %d, want %d", resp.StatusCode, http.StatusFound)
	}
	if n := targetHits.Load(); n != 0 {
		t.Errorf("redirect target hit %d times, want 0", n)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-release // headers are out; the body never ends
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	c := egress.NewClient(egress.Policy{AllowInsecure: true}, 200*time.Millisecond)
	start := time.Now()
	_, err := get(c, srv.URL)
	if err == nil {
		t.Fatal("Get of a body that never ends succeeded")
	}
	if errors.Is(err, egress.ErrRefused) {
		t.Errorf("Get error = %v, want a timeout, not a refusal", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Get took %v with a 200ms timeout", d)
	}
}

func TestTransportSettings(t *testing.T) {
	tr := egress.Transport(egress.NewClient(egress.Policy{}, time.Second))
	if tr.Proxy != nil {
		t.Error("Transport.Proxy is set; a proxy would dial past the address check")
	}
	if v := tr.TLSClientConfig.MinVersion; v < tls.VersionTLS12 {
		t.Errorf("TLS MinVersion = %#x, want at least TLS 1.2", v)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		allow   []string
		wantBad []string // entries the error must name
	}{
		{"Empty", nil, nil},
		{"Good", []string{"10.1.2.0/24", "127.0.0.1/32", "fd00::/8", "192.168.1.7", "::1", "api.example.com", "Internal_Host.corp."}, nil},
		{"Bad", []string{
			"10.1.2.3/24", "10.0.0.0/33", "", "not a host", "https://x.example", "-bad.example",
			"x..example", "fe80::1%eth0", "10.0.0.0/8",
		}, []string{
			`"10.1.2.3/24"`, `"10.0.0.0/33"`, `""`, `"not a host"`, `"https://x.example"`, `"-bad.example"`,
			`"x..example"`, `"fe80::1%eth0"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := egress.Policy{Allow: tt.allow}.Validate()
			if len(tt.wantBad) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors naming %v", tt.wantBad)
			}
			for _, bad := range tt.wantBad {
				if !strings.Contains(err.Error(), bad) {
					t.Errorf("Validate() = %v, want it to name %s", err, bad)
				}
			}
			if got, want := strings.Count(err.Error(), "\n")+1, len(tt.wantBad); got != want {
				t.Errorf("Validate() reported %d problems, want %d:\n%v", got, want, err)
			}
		})
	}
}

func TestReadLimited(t *testing.T) {
	tests := []struct {
		in      string
		n       int64
		want    string
		tooLong bool
	}{
		{"", 4, "", false},
		{"abc", 4, "abc", false},
		{"abcd", 4, "abcd", false},
		{"abcde", 4, "", true},
		{"a", 0, "", true},
	}
	for _, tt := range tests {
		got, err := egress.ReadLimited(strings.NewReader(tt.in), tt.n)
		if tt.tooLong {
			if !errors.Is(err, egress.ErrTooLarge) {
				t.Errorf("ReadLimited(%q, %d) error = %v, want %v", tt.in, tt.n, err, egress.ErrTooLarge)
			}
			continue
		}
		if err != nil {
			t.Errorf("ReadLimited(%q, %d) error = %v", tt.in, tt.n, err)
			continue
		}
		if diff := cmp.Diff(tt.want, string(got)); diff != "" {
			t.Errorf("ReadLimited(%q, %d) mismatch (-want +got):\n%s", tt.in, tt.n, diff)
		}
	}
}

// TestKeepsConnectionsOfConcurrentRequests checks that a host sent many
// requests at once (a relying party's pings from every delivery slot of
// the notification worker) keeps its connections for the next ones,
// rather than paying a connection per request.
func TestKeepsConnectionsOfConcurrentRequests(t *testing.T) {
	const concurrent = 48
	var opened atomic.Int32
	release := make(chan struct{})
	var arrived sync.WaitGroup
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			arrived.Done()
			<-release // all requests in flight at once
		}
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := egress.NewClient(egress.Policy{AllowInsecure: true}, 5*time.Second)
	wave := func(path string) {
		var wg sync.WaitGroup
		for range concurrent {
			wg.Go(func() {
				resp, err := get(c, srv.URL+path)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		if path == "/hold" {
			arrived.Wait()
			close(release)
		}
		wg.Wait()
	}
	arrived.Add(concurrent)
	wave("/hold")
	first := opened.Load()
	wave("/again")
	wave("/again")
	if n := opened.Load() - first; n > 0 {
		t.Errorf("%d concurrent requests opened %d connections, then the next %d opened %d more; want them to reuse the first", concurrent, first, 2*concurrent, n)
	}
}
