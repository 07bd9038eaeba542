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
		if tooBig := bodyTooLarge(err); tooBig != nil {
			return nil, tooBig
		}
		return nil, oauth.Errorf(oauth.InvalidRequest, "the body could not be read").WithCause(err)
	}
	return body, nil
}

// bodyTooLarge returns the answer to a body cut off by
// http.MaxBytesReader (413 invalid_request), or nil if err is another
// error.
func bodyTooLarge(err error) error {
	var tooBig *http.MaxBytesError
	if !errors.As(err, &tooBig) {
		return nil
	}
	return oauth.Errorf(oauth.InvalidRequest, "the body is larger than %d bytes", tooBig.Limit).WithStatus(http.StatusRequestEntityTooLarge)
}
