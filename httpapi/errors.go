package httpapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/backchannel/backchannel/oauth"
)

// writeError writes err as an OAuth error response. Any error that is not
// an *oauth.Error is a server fault: it is logged, and the client only
// learns that the server failed.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var oe *oauth.Error
	if !errors.As(err, &oe) {
		log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "err", err)
		oe = &oauth.Error{Code: oauth.ServerError}
	} else {
		attrs := []any{"path", r.URL.Path, "code", oe.Code}
		if oe.Cause != nil {
			attrs = append(attrs, "cause", oe.Cause.Error())
		}
		log.Log(r.Context(), levelFor(oe.Code), "oauth error", attrs...)
	}
	noteError(r, oe.Code)
	oauth.WriteError(w, oe)
}

// levelFor keeps polling outcomes out of the logs: they are the normal
// course of a CIBA poll, not failures.
func levelFor(c oauth.Code) slog.Level {
	switch c {
	case oauth.AuthorizationPending, oauth.SlowDown:
		return slog.LevelDebug
	case oauth.ServerError:
		return slog.LevelError
	}
	return slog.LevelInfo
}
