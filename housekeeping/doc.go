// Package housekeeping removes what the server no longer needs: requests,
// tokens, single-use keys, enrolments and delivered or failed
// notifications some time after they expired, and audit events past
// their retention. It decides only when; store.Store.Purge decides what,
// in bounded batches so no transaction holds locks for long.
//
// It imports store, never httpapi or a store backend.
package housekeeping
