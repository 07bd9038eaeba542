package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/backchannel/backchannel/metrics"
	"github.com/backchannel/backchannel/notify"
	"github.com/backchannel/backchannel/store"
)

func TestWatchNotifications(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	stats := notify.Stats{Attempts: 9, Delivered: 4, Retried: 3, FailedRejected: 1, FailedExpired: 1}
	m.WatchNotifications(func() notify.Stats { return stats })
	want := `
# HELP backchannel_notification_attempts_total Notification delivery attempts (HTTP requests sent or tried).
# TYPE backchannel_notification_attempts_total counter
backchannel_notification_attempts_total 9
# HELP backchannel_notification_retries_total Failed notification attempts that were rescheduled.
# TYPE backchannel_notification_retries_total counter
backchannel_notification_retries_total 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"backchannel_notification_attempts_total", "backchannel_notification_retries_total"); err != nil {
		t.Error(err)
	}
	for result, want := range map[string]float64{"delivered": 4, "rejected": 1, "refused": 0, "exhausted": 0, "expired": 1} {
		if got := gathered(t, reg, "backchannel_notifications_total", "result", result); got != want {
			t.Errorf("backchannel_notifications_total{result=%q} = %v, want %v", result, got, want)
		}
	}
	stats.Delivered = 5 // read again at every scrape
	if got := gathered(t, reg, "backchannel_notifications_total", "result", "delivered"); got != 5 {
		t.Errorf("after another delivery: delivered = %v, want 5", got)
	}
}

func TestRequestLifecycle(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	m.WatchDeviceStreams(func() int { return 3 })
	m.RequestStarted(store.Ping)
	m.RequestStarted(store.Ping)
	m.RequestDecided(store.Ping, false, 12*time.Second)
	m.RequestExpired(store.Ping)
	for _, tt := range []struct {
		name, label, value string
		want               float64
	}{
		{"backchannel_requests_started_total", "mode", "ping", 2},
		{"backchannel_requests_decided_total", "outcome", "denied", 1},
		{"backchannel_requests_expired_total", "mode", "ping", 1},
		{"backchannel_device_streams_open", "", "", 3},
		{"backchannel_rate_limited_total", "scope", "user", 0},
	} {
		if got := gathered(t, reg, tt.name, tt.label, tt.value); got != tt.want {
			t.Errorf("%s{%s=%q} = %v, want %v", tt.name, tt.label, tt.value, got, tt.want)
		}
	}
}

// gathered returns the value of the series of name whose label is value
// (any series when label is ""); -1 if there is none.
func gathered(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			match := label == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					match = true
				}
			}
			if !match {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}
