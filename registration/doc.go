// Package registration turns client metadata documents (RFC 7591 with the
// CIBA Core §4 fields) into validated store.Client records and back. The
// admin API uses it today; dynamic registration will use the same rules.
package registration
