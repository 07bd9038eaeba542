// Package webpush sends Web Push messages (RFC 8030) to authentication
// devices, so that a phone whose app is closed or asleep still shows a
// new request: it keeps the server's VAPID key (RFC 8292), validates the
// push subscriptions devices save, builds the message of a request, and
// sends the outbox rows of kind Web Push for notify.Worker, encrypted
// with RFC 8291 (aes128gcm) by github.com/SherClockHolmes/webpush-go.
//
// A message holds only what the notification shows: the request's
// device-facing reference, the client's name, the binding message and
// the expiry; never an auth_req_id or a token.
//
// It imports store, notify and oauth; never ciba, httpapi or a store
// backend.
package webpush
