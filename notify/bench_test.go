package notify_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/backchannel/backchannel/notify"
	"github.com/backchannel/backchannel/store"
)

// BenchmarkDeliver measures throughput: b.N queued rows drained through a
// local receiver, from Run's start until the last outcome is recorded.
func BenchmarkDeliver(b *testing.B) {
	st := openStore(b)
	rc := newReceiver(b, nil)
	now := time.Now()
	for range b.N {
		queue(b, st, now, store.Outbound{Endpoint: rc.URL})
	}
	w := &notify.Worker{Store: st, HTTP: devClient()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	b.ResetTimer()
	go w.Run(ctx)
	for w.Stats().Delivered < int64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	if s := w.Stats(); s.Failed != 0 || s.Retried != 0 {
		b.Fatalf("Stats() = %+v, want only deliveries", s)
	}
}

// BenchmarkWakeToDelivery measures the latency the decision path sees:
// from Wake, just after the row is committed, to the receiver's handler.
func BenchmarkWakeToDelivery(b *testing.B) {
	st := openStore(b)
	rc := newReceiver(b, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	w := &notify.Worker{Store: st, HTTP: devClient(), PollInterval: time.Hour}
	start(b, w)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		queue(b, st, time.Now(), store.Outbound{Endpoint: rc.URL})
		b.StartTimer()
		woken := time.Now()
		w.Wake()
		<-rc.arrived
		lat = append(lat, time.Since(woken))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
