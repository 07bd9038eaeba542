package httpapi

import (
	"errors"
	"io"
	"net/http"

	"github.com/backchannel/backchannel/oauth"
)

// readLimited reads r's body, at most limit bytes: a larger body is
// invalid_request with 413, a body that cannot be read invalid_request.
func readLimited(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, oauth.Errorf(oauth.InvalidRequest, "the body is larger than %d bytes", limit).WithStatus(http.StatusRequestEntityTooLarge)
		}
		return nil, oauth.Errorf(oauth.InvalidRequest, "the body could not be read").WithCause(err)
	}
	return body, nil
}
