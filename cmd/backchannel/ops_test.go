package main

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPprof checks that metrics.pprof serves Go's profiles on the metrics
// listener, and never on the main one, and that it needs metrics.addr.
func TestPprof(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := ln.Addr().String()
	ln.Close()
	p := startServe(t, map[string]string{
		"BACKCHANNEL_DATA_DIR":      t.TempDir(),
		"BACKCHANNEL_LOG_LEVEL":     "warn",
		"BACKCHANNEL_METRICS_ADDR":  metricsAddr,
		"BACKCHANNEL_METRICS_PPROF": "true",
	}, "--dev", "--addr", "127.0.0.1:0")
	hc := &http.Client{Timeout: 10 * time.Second}
	status := func(u string) int {
		t.Helper()
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/goroutine"} {
		if got := status("http://" + metricsAddr + path); got != http.StatusOK {
			t.Errorf("GET %s on the metrics listener = %d, want 200", path, got)
		}
		if got := status("http://" + p.addr + path); got != http.StatusNotFound {
			t.Errorf("GET %s on the main listener = %d, want 404", path, got)
		}
	}

	cfg, err := loadConfig("", func(k string) string {
		return map[string]string{"BACKCHANNEL_METRICS_PPROF": "true"}[k]
	}, map[string]any{"dev": true})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "metrics.pprof needs metrics.addr") {
		t.Errorf("Validate() with metrics.pprof but no metrics.addr = %v, want it to say pprof needs metrics.addr", err)
	}
}
