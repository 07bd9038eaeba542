package bench

import (
	"bytes"
	"context"
	"errors"
	"image/color"
	"image/png"
	"net"
	"os"
	"sync/atomic"
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

func TestWriteChart(t *testing.T) {
	var results []*Result
	for _, c := range []int{8, 16, 64} {
		for i, target := range []string{"backchannel", "peer"} {
			l := &Latencies{}
			l.add(time.Duration(c*(i+1)) * time.Millisecond)
			results = append(results, &Result{Target: target, Workload: Poll, Concurrency: c,
				Elapsed: time.Second, Flows: int64(100 * c * (2 - i)), Steps: map[string]*Latencies{"flow": l}})
		}
	}
	var buf bytes.Buffer
	if err := WriteChart(&buf, results, Poll); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("WriteChart wrote no PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 960 || b.Dy() != 360 {
		t.Errorf("chart size = %v, want 960×360", b.Size())
	}
	seen := map[color.RGBA]bool{}
	for y := range img.Bounds().Dy() {
		for x := range img.Bounds().Dx() {
			r, g, b, a := img.At(x, y).RGBA()
			seen[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}] = true
		}
	}
	if !seen[colourBackchannel] || !seen[colourPeer] {
		t.Errorf("chart has backchannel's colour %v, the peer's %v; want both", seen[colourBackchannel], seen[colourPeer])
	}
	if err := WriteChart(&buf, results, Ping); err == nil {
		t.Errorf("WriteChart of a workload without results = nil, want an error")
	}
}

// countingTarget completes every flow at once, counting them.
type countingTarget struct{ flows atomic.Int64 }

func (*countingTarget) name() string { return "counting" }
func (c *countingTarget) flow(context.Context, Workload, int, *recorder) error {
	c.flows.Add(1)
	return nil
}
func (*countingTarget) pendingSetup(context.Context, int) ([]string, time.Duration, error) {
	return nil, 0, nil
}
func (*countingTarget) poll(context.Context, string, *recorder) (string, time.Duration, error) {
	return "", 0, nil
}
func (*countingTarget) close() {}

// TestRate checks that --rate paces the flows: instant flows would run
// millions of times a second in closed loops.
func TestRate(t *testing.T) {
	tg := &countingTarget{}
	res, err := run(t.Context(), tg, Config{Workload: Poll, Concurrency: 8, Duration: 2 * time.Second, Rate: 200})
	if err != nil && !errors.Is(err, context.Canceled) { // run ends by canceling its own context
		t.Fatal(err)
	}
	if got := res.FlowsPerSec(); got < 150 || got > 250 {
		t.Errorf("flows/s at --rate 200 = %.0f, want about 200", got)
	}
}
