// Package wake carries wake-ups between the parts of backchannel that
// wait for changes: device streams, pollers and the notification worker.
// A wake-up names a topic ("device", "outbox", "keys") and a key within
// it (a subject, or "" for the whole topic); it carries no data and never
// a secret, so a receiver re-reads what it needs from the store.
//
// Local is the in-process Bus of a single instance. The PostgreSQL
// backend (store/postgres) carries the same wake-ups between instances
// with LISTEN/NOTIFY and fans them out through a Local.
//
// Package wake imports only the standard library.
package wake
