// Package oauth holds backchannel's OAuth vocabulary: error codes, the
// *Error type with its HTTP status, the JSON and error response writers,
// and strict form parsing. It imports only the standard library.
package oauth
