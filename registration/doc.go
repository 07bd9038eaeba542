// Package registration turns client metadata documents (RFC 7591 with the
// CIBA Core §4 fields) into validated store.Client records and back. The
// admin API and dynamic registration (RFC 7591, RFC 7592) share its rules.
//
// Validate applies the server's Policy and, for clients with
// "profile": "fapi-ciba" or when Policy.RequireFAPI is set, the
// client rules of the FAPI-CIBA profile (fapi.go). ParseRequest reads a
// dynamic registration request, ignoring members it does not know, and
// verifies its software statement (RFC 7591 §2.3) against the trusted
// issuers of the Policy.
package registration
