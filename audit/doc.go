// Package audit names the steps of a backchannel request's life that the
// server records for operators and auditors (store.AuditEvent), and builds
// those events.
//
// An event says what happened, when, to which request, client, user and
// device. Its detail holds only facts an auditor may read: never an
// auth_req_id, a token, a client_notification_token, an enrolment code,
// key material or a notification payload. The binding_message is not a
// secret (the user is shown it) and is recorded with the request.
//
// Events that accompany a state change are returned in that change's
// store.Effects, so that they commit with it or not at all; others (a
// device being shown a request, a delivery attempt) are appended on their
// own with store.Store.AppendAudit.
//
// The package imports only store.
package audit
