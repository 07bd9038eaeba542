// Package webhook signs and verifies the messages of the webhook channel
// (docs/webhook.md): the notifications backchannel POSTs to a
// deployment's own authentication system, and the decisions that system
// reports back. Both carry a Backchannel-Signature header with an
// HMAC-SHA256 (RFC 2104) over the timestamp and the body.
//
// It imports only the standard library.
package webhook
