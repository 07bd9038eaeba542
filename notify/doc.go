// Package notify delivers the notifications of ping and push clients
// (CIBA Core §10.2, §10.3): it drains the durable outbox of store.Outbound
// rows that the store writes in the same transaction as each decision, so
// a crash between the decision and the delivery loses nothing.
//
// A Worker claims due rows under a lease, POSTs each to the client's
// notification endpoint through an egress client, and records the
// outcome: delivered, retried later with exponential backoff, or failed.
// Several workers, in one process or many, may share a store; the lease
// keeps them from delivering a row twice while it is in flight.
//
// The package imports store, audit and egress; never httpapi, ciba or a store
// backend.
package notify
