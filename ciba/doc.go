// Package ciba is the protocol core of backchannel: it validates
// backchannel authentication requests (CIBA Core §7), runs a request's
// state machine (pending → approved | denied → redeemed, or expired),
// decides polling outcomes (interval and slow_down) and redemption. It
// has no net/http handlers and no SQL: it decides, and store applies the
// decision atomically.
package ciba
