// Package store defines the records backchannel keeps and the Store
// interface that each backend implements (store/sqlite today,
// store/postgres later). It imports no database driver and nothing else
// from this module; store/storetest is the conformance suite every backend
// must pass.
package store
