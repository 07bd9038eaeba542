// Package agent is the device side of the device API: what an
// authentication device (the terminal device of `backchannel device`, and
// the tests) runs. It discovers the device API from the server's OpenID
// configuration, enrols a new P-256 key with an enrolment code, signs
// every call with that key, follows the user's pending requests, and
// signs approve or deny decisions over what it showed.
//
// It talks to the server only over HTTP, through an injected
// *http.Client, and imports nothing server-side but the shared
// vocabulary of packages ciba (Summary), device (message types) and oauth
// (errors).
package agent
