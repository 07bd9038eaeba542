// Package web holds the pages backchannel serves to people, embedded in
// the binary: the authentication-device web app at /device (a PWA that
// enrols a WebCrypto key and answers requests over the device API,
// docs/device-api.md) and the demo console at /demo, which plays a
// call-centre relying party against the server's own endpoints.
//
// The pages are plain JavaScript with no build step and fetch nothing
// from elsewhere; every response carries a strict Content-Security-Policy.
// web imports client (the demo console is a real relying party) and
// oauth; it never imports httpapi, ciba or store.
package web
