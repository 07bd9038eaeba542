// Package device is the server side of the authentication-device channel
// (the "authentication device" of CIBA Core §1): it enrols a device's
// P-256 key with a single-use code, authenticates each device API call by
// a signature of that key, verifies the device's signed decisions, and
// wakes the device streams of a user when that user's requests change.
//
// It decides nothing about requests (package ciba does) and serves no
// HTTP (package httpapi does). It imports store, ciba and oauth, never
// httpapi. Its errors are *oauth.Error values where their protocol meaning
// is known. Package device/agent is the other end: the device side.
package device
