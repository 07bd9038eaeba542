package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startLimitedServer serves h as serve does (newHTTPServer), with limits
// applied, on a loopback port.
func startLimitedServer(t *testing.T, limits ServerConfig) string {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv := newHTTPServer(h, slog.New(slog.DiscardHandler), context.Background())
	limits.apply(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestServerConfigFromEnv(t *testing.T) {
	env := map[string]string{"BACKCHANNEL_SERVER_READ_HEADER_TIMEOUT": "250ms", "BACKCHANNEL_SERVER_MAX_HEADER_BYTES": "8192"}
	cfg, err := loadConfig("", func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := ServerConfig{ReadHeaderTimeout: 250 * time.Millisecond, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 8192}
	if cfg.Server != want {
		t.Errorf("Server = %+v, want %+v", cfg.Server, want)
	}
}

// TestSlowlorisCut sends a request's headers one byte at a time, slower
// than the read header timeout allows: the server must close the
// connection instead of waiting for the rest.
func TestSlowlorisCut(t *testing.T) {
	t.Parallel()
	addr := startLimitedServer(t, ServerConfig{ReadHeaderTimeout: 300 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	closed := make(chan time.Time, 1)
	go func() {
		io.Copy(io.Discard, conn) // returns when the server closes
		closed <- time.Now()
	}()
	start := time.Now()
	headers := "GET /healthz HTTP/1.1\r\nHost: op.example\r\nX-Slow: " + strings.Repeat("a", 100) + "\r\n\r\n"
	sent := 0
	for i := range len(headers) {
		select {
		case at := <-closed:
			if d := at.Sub(start); d > 2*time.Second {
				t.Fatalf("connection closed after %v, want about the 300ms read header timeout", d)
			}
			if sent >= len(headers) {
				t.Fatal("the whole request was sent before the server closed the connection")
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
		if _, err := conn.Write([]byte{headers[i]}); err != nil {
			return // the server closed the connection
		}
		sent++
	}
	t.Fatalf("the server read %d header bytes over %v without closing the connection", sent, time.Since(start))
}

// TestOversizedHeaderRefused sends headers larger than max_header_bytes:
// the server answers 431 without calling the handler.
func TestOversizedHeaderRefused(t *testing.T) {
	t.Parallel()
	addr := startLimitedServer(t, ServerConfig{MaxHeaderBytes: 4 << 10})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	// net/http allows 4 KiB of slack over MaxHeaderBytes.
	go io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: op.example\r\nX-Big: "+strings.Repeat("a", 16<<10)+"\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status = %d, want 431", resp.StatusCode)
	}
}

// TestDefaultServerLimits checks serve's defaults bound every
// connection.
func TestDefaultServerLimits(t *testing.T) {
	srv := newHTTPServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler), context.Background())
	ServerConfig{}.apply(srv)
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 1<<20 {
		t.Errorf("newHTTPServer limits = header %v, read %v, idle %v, %d header bytes; want all set and bounded",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
}
