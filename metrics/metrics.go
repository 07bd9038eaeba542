package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/backchannel/backchannel/notify"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/webpush"
)

const namespace = "backchannel"

// Metrics holds the collectors. Its methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	tokens       *prometheus.CounterVec
	rateLimited  *prometheus.CounterVec

	started      *prometheus.CounterVec
	decided      *prometheus.CounterVec
	expired      *prometheus.CounterVec
	decisionTime *prometheus.HistogramVec
	notMe        *prometheus.CounterVec
}

// New creates the collectors and registers them with reg. It panics if
// reg already holds collectors of the same names, as that is a wiring
// mistake: call it once per registry.
func New(reg *prometheus.Registry) *Metrics {
	m := &Metrics{
		reg: reg,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total",
			Help: "HTTP requests served, by route pattern, method, status and OAuth error code (empty when the response is no OAuth error).",
		}, []string{"route", "method", "status", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route pattern and method. Device event streams are not observed: they stay open for minutes by design.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "tokens_issued_total",
			Help: "Successful token endpoint responses, by grant_type. Push-mode tokens are delivered, not issued here: see backchannel_requests_decided_total{mode=\"push\"}.",
		}, []string{"grant_type"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "rate_limited_total",
			Help: "Requests refused by a rate limit, by the scope of the limit.",
		}, []string{"scope"}),
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "requests_started_total",
			Help: "Backchannel authentication requests accepted, by delivery mode.",
		}, []string{"mode"}),
		decided: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "requests_decided_total",
			Help: "Backchannel authentication requests the user answered, by delivery mode and outcome (approved, denied).",
		}, []string{"mode", "outcome"}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "requests_expired_total",
			Help: "Unanswered ping and push requests the expiry sweep marked expired, by delivery mode. Poll-mode requests are not swept: the client learns expired_token at its next poll.",
		}, []string{"mode"}),
		decisionTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "request_decision_seconds",
			Help:    "Time from a request's initiation to the user's decision, by outcome.",
			Buckets: []float64{1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1800},
		}, []string{"outcome"}),
		notMe: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "reports_not_me_total",
			Help: "Requests the user denied as \"this wasn't me\", by client: a rise means someone is starting requests for users who did not ask (push bombing). Client ids are bounded by registrations.",
		}, []string{"client_id"}),
	}
	reg.MustRegister(m.httpRequests, m.httpDuration, m.tokens, m.rateLimited,
		m.started, m.decided, m.expired, m.decisionTime, m.notMe)
	// These scopes are exported from the start, at 0, so that alerts and
	// dashboards can be written before any limit refuses a request.
	for _, s := range []string{"client", "user", "ip", "hint"} {
		m.rateLimited.WithLabelValues(s)
	}
	return m
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveHTTP counts one HTTP request and its latency. route is the
// ServeMux pattern that matched (never the raw path: paths carry IDs, and
// a label per ID would grow without bound); code is the OAuth error code
// of the response, or "". elapsed < 0 counts the request without
// observing its latency.
func (m *Metrics) ObserveHTTP(route, method string, status int, code string, elapsed time.Duration) {
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(status), code).Inc()
	if elapsed >= 0 {
		m.httpDuration.WithLabelValues(route, method).Observe(elapsed.Seconds())
	}
}

// TokensIssued counts a successful token response for grantType.
func (m *Metrics) TokensIssued(grantType string) {
	m.tokens.WithLabelValues(grantType).Inc()
}

// RateLimited counts a request refused by the rate limit of scope.
func (m *Metrics) RateLimited(scope string) {
	m.rateLimited.WithLabelValues(scope).Inc()
}

// ReportedNotMe counts a denial that the user reported as "this wasn't
// me" for a request of client clientID.
func (m *Metrics) ReportedNotMe(clientID string) {
	m.notMe.WithLabelValues(clientID).Inc()
}

// RequestStarted counts an accepted backchannel authentication request.
func (m *Metrics) RequestStarted(mode store.DeliveryMode) {
	m.started.WithLabelValues(string(mode)).Inc()
}

// RequestDecided counts a user's decision, taken elapsed after the
// request started.
func (m *Metrics) RequestDecided(mode store.DeliveryMode, approved bool, elapsed time.Duration) {
	outcome := "denied"
	if approved {
		outcome = "approved"
	}
	m.decided.WithLabelValues(string(mode), outcome).Inc()
	m.decisionTime.WithLabelValues(outcome).Observe(elapsed.Seconds())
}

// RequestExpired counts an unanswered request that the expiry sweep
// marked expired.
func (m *Metrics) RequestExpired(mode store.DeliveryMode) {
	m.expired.WithLabelValues(string(mode)).Inc()
}

// WatchDeviceStreams exports backchannel_device_streams_open, read from
// open on every scrape (device.Hub.Subscribers). Call it at most once.
func (m *Metrics) WatchDeviceStreams(open func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "device_streams_open",
		Help: "Authentication-device event streams open on this instance.",
	}, func() float64 { return float64(open()) }))
}

// WatchNotifications exports the notification worker's counters, read
// from stats on every scrape (notify.Worker.Stats). Call it at most once.
func (m *Metrics) WatchNotifications(stats func() notify.Stats) {
	m.reg.MustRegister(notificationCollector{
		stats: stats,
		results: prometheus.NewDesc(namespace+"_notifications_total",
			"Ping and push notifications that reached a final outcome: delivered, or failed as rejected (the endpoint refused them), refused (egress refused the endpoint), exhausted (out of attempts), expired (out of time) or gone (a Web Push device or subscription no longer exists).",
			[]string{"result"}, nil),
		attempts: prometheus.NewDesc(namespace+"_notification_attempts_total",
			"Notification delivery attempts (HTTP requests sent or tried).", nil, nil),
		retries: prometheus.NewDesc(namespace+"_notification_retries_total",
			"Failed notification attempts that were rescheduled.", nil, nil),
	})
}

// WatchWebPush exports backchannel_web_push_total{result}: Web Push
// messages by the push service's answer, read from stats on every scrape
// (webpush.Sender.Stats). Call it at most once.
func (m *Metrics) WatchWebPush(stats func() webpush.Stats) {
	desc := prometheus.NewDesc(namespace+"_web_push_total",
		"Web Push messages to authentication devices: sent (the push service accepted them), gone (it answered 404 or 410 and the subscription was removed) or failed (any other answer, or no answer; failed attempts are retried as notifications are).",
		[]string{"result"}, nil)
	m.reg.MustRegister(funcCollector{desc: desc, collect: func(ch chan<- prometheus.Metric) {
		s := stats()
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(s.Sent), "sent")
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(s.Gone), "gone")
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(s.Failed), "failed")
	}})
}

// funcCollector is a collector of one description whose metrics a
// function makes at scrape time.
type funcCollector struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c funcCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c funcCollector) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

// notificationCollector turns notify.Stats into counters at scrape time,
// so the worker keeps its plain atomic counters and knows nothing of
// Prometheus.
type notificationCollector struct {
	stats                      func() notify.Stats
	results, attempts, retries *prometheus.Desc
}

func (c notificationCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.results
	ch <- c.attempts
	ch <- c.retries
}

func (c notificationCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	for _, r := range []struct {
		result string
		n      int64
	}{
		{"delivered", s.Delivered},
		{"rejected", s.FailedRejected},
		{"refused", s.FailedRefused},
		{"exhausted", s.FailedExhausted},
		{"expired", s.FailedExpired},
		{"gone", s.FailedGone},
	} {
		ch <- prometheus.MustNewConstMetric(c.results, prometheus.CounterValue, float64(r.n), r.result)
	}
	ch <- prometheus.MustNewConstMetric(c.attempts, prometheus.CounterValue, float64(s.Attempts))
	ch <- prometheus.MustNewConstMetric(c.retries, prometheus.CounterValue, float64(s.Retried))
}
