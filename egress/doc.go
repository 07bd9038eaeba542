// Package egress makes outbound HTTP requests to URLs that clients chose
// (backchannel_client_notification_endpoint, jwks_uri), which are
// therefore an attacker's choice: a plain guard against server-side
// request forgery (SSRF).
//
// A client from NewClient speaks only https, never follows redirects,
// ignores proxy settings from the environment, and checks every address
// at dial time, after name resolution, so that a host name that resolves
// (or later re-resolves, as in DNS rebinding) to a loopback, private,
// link-local, metadata or otherwise special address is refused before a
// connection is made. Every refusal wraps ErrRefused.
//
// The package imports only the standard library; nothing of this module.
package egress
