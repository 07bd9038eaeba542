package bench

import (
	"net"
	"os"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	var l Latencies
	for i := 100; i >= 1; i-- {
		l.add(time.Duration(i) * time.Millisecond)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.9, 90 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}} {
		if got := l.Quantile(tt.q); got != tt.want {
			t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	var empty Latencies
	if got := empty.Quantile(0.99); got != 0 {
		t.Errorf("Quantile of no samples = %v, want 0", got)
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestProc finds this test's own listener by its port and reads the
// process's CPU time and RSS.
func TestProc(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	pid, err := PIDByPort(port)
	if err != nil {
		t.Fatalf("PIDByPort(%d) = %v", port, err)
	}
	if pid != os.Getpid() {
		t.Errorf("PIDByPort(%d) = %d, want %d", port, pid, os.Getpid())
	}
	s, err := readProc(pid)
	if err != nil {
		t.Fatalf("readProc(%d) = %v", pid, err)
	}
	if s.RSSKiB <= 0 {
		t.Errorf("readProc(%d).RSSKiB = %d, want > 0", pid, s.RSSKiB)
	}
}
