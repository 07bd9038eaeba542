// Package httpapi serves backchannel's HTTP APIs: the OAuth and OpenID
// endpoints, the device API and the admin API. It parses and
// authenticates; ciba decides; store persists. routes.go lists the whole
// HTTP surface. Nothing below httpapi imports it.
package httpapi
