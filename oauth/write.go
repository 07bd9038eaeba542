package oauth

import (
	"encoding/json"
	"net/http"
)

// WriteJSON writes v as a JSON response with status. Every response of an
// OAuth endpoint carries tokens or secrets, so none may be cached
// (RFC 6749 §5.1).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only a programming error gets here: every response type is
		// marshalable.
		b = []byte(`{"error":"server_error"}`)
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// errorBody is the JSON error response of RFC 6749 §5.2.
type errorBody struct {
	Error       Code   `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// WriteError writes e as an OAuth error response. A 401 for
// invalid_client carries a WWW-Authenticate challenge (RFC 6749 §5.2).
func WriteError(w http.ResponseWriter, e *Error) {
	status := e.HTTPStatus()
	if status == http.StatusUnauthorized && e.Code == InvalidClient {
		w.Header().Set("WWW-Authenticate", `Basic realm="backchannel"`)
	}
	desc := e.Description
	if e.Code == ServerError && desc == "" {
		desc = "the server could not complete the request"
	}
	WriteJSON(w, status, errorBody{Error: e.Code, Description: desc})
}
