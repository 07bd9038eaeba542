package httpapi

import (
	"encoding/json"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/backchannel/backchannel/oauth"
	"github.com/backchannel/backchannel/store"
)

// Bounds of an audit query.
const (
	maxAuditLimit = 10000 // events per JSON answer
	auditPage     = 1000  // events per store read of a JSON lines export
)

// auditDoc is an audit event as the admin API shows it.
type auditDoc struct {
	ID        string          `json:"id"`
	At        time.Time       `json:"at"`
	Kind      string          `json:"kind"`
	RequestID string          `json:"request_id,omitempty"`
	ClientID  string          `json:"client_id,omitempty"`
	Subject   string          `json:"sub,omitempty"`
	DeviceID  string          `json:"device_id,omitempty"`
	Detail    json.RawMessage `json:"detail,omitempty"`
}

func docFromAudit(e store.AuditEvent) auditDoc {
	return auditDoc{ID: e.ID, At: e.At, Kind: e.Kind, RequestID: e.RequestID, ClientID: e.ClientID,
		Subject: e.Subject, DeviceID: e.DeviceID, Detail: e.Detail}
}

// handleAdminAudit serves GET /admin/v1/audit?request=REF|user=SUB|client=ID
// [&since=RFC3339][&limit=N]: the audit trail of a request, a user or a
// client, oldest first, as {"events": […]} (at most limit events,
// default 1000), or, for Accept: application/x-ndjson or format=jsonl,
// as JSON lines: every matching event unless limit is given, read from
// the store a page at a time, for export.
func handleAdminAudit(st store.Store, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := parseAuditQuery(r)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		if !wantsJSONLines(r) {
			events, err := st.AuditEvents(r.Context(), q)
			if err != nil {
				writeError(w, r, log, err)
				return
			}
			out := make([]auditDoc, len(events))
			for i, e := range events {
				out[i] = docFromAudit(e)
			}
			oauth.WriteJSON(w, http.StatusOK, map[string]any{"events": out})
			return
		}
		exportAudit(w, r, st, q, log)
	})
}

// parseAuditQuery reads the query parameters of an audit query.
func parseAuditQuery(r *http.Request) (store.AuditQuery, error) {
	p := r.URL.Query()
	q := store.AuditQuery{RequestID: p.Get("request"), Subject: p.Get("user"), ClientID: p.Get("client")}
	if q.RequestID == "" && q.Subject == "" && q.ClientID == "" {
		return q, oauth.Errorf(oauth.InvalidRequest, "one of the request, user and client parameters is required")
	}
	if s := p.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return q, oauth.Errorf(oauth.InvalidRequest, "since must be an RFC 3339 time")
		}
		q.Since = t.UTC()
	}
	if s := p.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxAuditLimit {
			return q, oauth.Errorf(oauth.InvalidRequest, "limit must be a number from 1 to %d", maxAuditLimit)
		}
		q.Limit = n
	}
	return q, nil
}

// wantsJSONLines reports whether r asks for JSON lines.
func wantsJSONLines(r *http.Request) bool {
	if f := r.URL.Query().Get("format"); f == "jsonl" || f == "ndjson" {
		return true
	}
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && (mt == "application/x-ndjson" || mt == "application/jsonl") && params["q"] != "0" {
			return true
		}
	}
	return false
}

// exportAudit writes the events q selects as JSON lines. Without a limit
// it reads page after page, each from the time of the last event sent,
// skipping the events of that time already sent, so an export of any
// size holds each event once and never the whole trail in memory.
func exportAudit(w http.ResponseWriter, r *http.Request, st store.Store, q store.AuditQuery, log *slog.Logger) {
	ctx := r.Context()
	remaining := q.Limit        // 0: all
	sentAt := map[string]bool{} // the IDs sent with the time of the last event sent
	var last time.Time
	started := false
	for {
		q.Limit = auditPage + len(sentAt)
		if remaining > 0 {
			q.Limit = min(auditPage, remaining) + len(sentAt)
		}
		events, err := st.AuditEvents(ctx, q)
		if err != nil {
			if !started {
				writeError(w, r, log, err)
				return
			}
			// The status is sent; cutting the stream short is all that is
			// left to tell the reader.
			log.ErrorContext(ctx, "audit export", "err", err)
			panic(http.ErrAbortHandler)
		}
		if !started {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		for _, e := range events {
			if e.At.Equal(last) && sentAt[e.ID] {
				continue
			}
			b, err := json.Marshal(docFromAudit(e))
			if err != nil {
				log.ErrorContext(ctx, "audit export", "err", err)
				panic(http.ErrAbortHandler)
			}
			if _, err := w.Write(append(b, '\n')); err != nil {
				return // the reader went away
			}
			if !e.At.Equal(last) {
				last, sentAt = e.At, map[string]bool{}
			}
			sentAt[e.ID] = true
			if remaining > 0 {
				if remaining--; remaining == 0 {
					return
				}
			}
		}
		// Each read asks for the events of the last instant already sent
		// on top of a page, so a full read always holds new events.
		if len(events) < q.Limit {
			return // the trail is exhausted
		}
		q.Since = last
	}
}
