// Package metrics owns backchannel's Prometheus collectors. A Metrics,
// made by New on a registry the caller creates (there is no global
// registry), implements the small observer interfaces of httpapi and
// ciba, and watches the counters the notification worker and the device
// hub already keep; those packages never import Prometheus.
//
// Every series is per instance. Counters are summed across instances by
// the query (sum by (…) (rate(…))); nothing here needs coordination.
//
// It imports store, notify and webpush for their types only, and never
// httpapi.
package metrics
