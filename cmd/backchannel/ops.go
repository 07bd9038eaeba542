package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/backchannel/backchannel/device"
	"github.com/backchannel/backchannel/housekeeping"
	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/metrics"
	"github.com/backchannel/backchannel/notify"
	"github.com/backchannel/backchannel/store"
)

// keysReloadInterval is how often serve re-reads the signing keys, to
// pick up a rotation made through another instance. keys.Config's
// MaxTokenLifetime covers it: a retired key stays published far longer.
const keysReloadInterval = 30 * time.Second

// newMetrics returns the server's metrics on a registry of their own,
// with the Go runtime and process collectors, watching hub's streams and
// worker's deliveries.
func newMetrics(hub *device.Hub, worker *notify.Worker) *metrics.Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	m.WatchDeviceStreams(hub.Subscribers)
	m.WatchNotifications(worker.Stats)
	return m
}

// metricsHandler serves /metrics, and with withPprof Go's profiles
// under /debug/pprof/, for the metrics.addr listener.
func metricsHandler(m *metrics.Metrics, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	if withPprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// reloadKeysLoop re-reads the signing keys every interval until ctx
// ends, so a rotation made on one instance reaches the others.
func reloadKeysLoop(ctx context.Context, ks *keys.Set, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := ks.Reload(ctx); err != nil && ctx.Err() == nil {
			// The keys loaded before stay in use.
			log.Error("reload signing keys", "err", err)
		}
	}
}

// newPurger returns the housekeeping of cfg.
func newPurger(cfg Config, st store.Store, log *slog.Logger) *housekeeping.Purger {
	return &housekeeping.Purger{
		Store:          st,
		Log:            log,
		Interval:       cfg.Housekeeping.Interval,
		Retention:      cfg.Housekeeping.Retention,
		AuditRetention: cfg.Housekeeping.AuditRetention,
		Batch:          cfg.Housekeeping.Batch,
	}
}
