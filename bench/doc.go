// Package bench is backchannel's load tool: it drives a running OpenID
// Provider over HTTP with concurrent simulated relying parties and
// authentication devices, and reports throughput, latency per step,
// errors by code and the server's CPU and RSS (from /proc).
//
// It drives two targets with the same workloads: backchannel, whose users,
// clients and devices it creates through the admin API and whose
// approvals are real signed decisions of device/agent, and the
// node-oidc-provider peer of ../shared/peers/node-oidc-provider, whose
// approval is its test route.
//
// It talks to servers only over HTTP and imports only the device agent and
// the shared vocabulary (ciba.Summary) from this module; it must not import
// httpapi or a store.
package bench
