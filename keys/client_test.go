package keys_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	gocmp "github.com/google/go-cmp/cmp"

	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/store"
)

// jwksServer serves a client's JWK Set and counts the fetches.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int32

	mu      sync.Mutex
	body    string
	status  int
	ctype   string
	release chan struct{} // when set, requests wait for it to close
}

func newJWKSServer(t *testing.T, body string) *jwksServer {
	t.Helper()
	s := &jwksServer{body: body, status: http.StatusOK, ctype: "application/json"}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, status, ctype, release := s.body, s.status, s.ctype, s.release
		s.mu.Unlock()
		if release != nil {
			<-release
		}
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(body string, status int, ctype string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.status, s.ctype = body, status, ctype
}

// publicSet returns the JSON of a JWK Set with one new P-256 key of kid.
func publicSet(t *testing.T, kid string) string {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ec.Public(), KeyID: kid, Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func setKids(t *testing.T, set *jose.JSONWebKeySet, err error) []string {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error %v", err)
	}
	return kidsOf(set)
}

func TestClientKeysInline(t *testing.T) {
	t.Parallel()
	inline := json.RawMessage(publicSet(t, "inline"))
	tests := []struct {
		name     string
		client   store.Client
		wantKids []string
		wantErr  error // nil: any error when wantKids is nil
	}{
		{"inline jwks", store.Client{ID: "c", JWKS: inline}, []string{"inline"}, nil},
		{"neither", store.Client{ID: "c"}, nil, keys.ErrNoClientKeys},
		{"null jwks", store.Client{ID: "c", JWKS: json.RawMessage("null")}, nil, keys.ErrNoClientKeys},
		{"both", store.Client{ID: "c", JWKS: inline, JWKSURI: "https://c.example/jwks"}, nil, nil},
		{"inline private key", store.Client{ID: "c", JWKS: json.RawMessage(`{"keys":[{"kty":"oct","k":"AAAA"}]}`)}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ck keys.ClientKeys
			for _, fn := range []func(context.Context, store.Client) (*jose.JSONWebKeySet, error){ck.Keys, ck.Refresh} {
				got, err := fn(t.Context(), tt.client)
				if tt.wantKids == nil {
					if err == nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
						t.Errorf("Keys = %v, %v; want error %v", got, err, tt.wantErr)
					}
					continue
				}
				if diff := gocmp.Diff(tt.wantKids, setKids(t, got, err)); diff != "" {
					t.Errorf("Keys kids diff (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestClientKeysCacheTTLAndRefresh(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, publicSet(t, "k1"))
	clk := newClock()
	ck := &keys.ClientKeys{TTL: 5 * time.Minute, Now: clk.Now}
	cl := store.Client{ID: "c", JWKSURI: srv.URL + "/jwks"}

	steps := []struct {
		name     string
		advance  time.Duration
		serve    string // new body before the step, if not ""
		refresh  bool
		wantKid  string
		wantHits int32
	}{
		{"first fetch", 0, "", false, "k1", 1},
		{"cached", 10 * time.Second, "", false, "k1", 1},
		{"cached despite new keys", 0, publicSet(t, "k2"), false, "k1", 1},
		{"refresh rate limited", 19 * time.Second, "", true, "k1", 1},
		{"refresh after 30 s", time.Second, "", true, "k2", 2},
		{"refresh again at once", 0, publicSet(t, "k3"), true, "k2", 2},
		{"keys still cached", 4 * time.Minute, "", false, "k2", 2},
		{"ttl expired", time.Minute, "", false, "k3", 3},
	}
	for _, st := range steps {
		clk.Add(st.advance)
		if st.serve != "" {
			srv.set(st.serve, http.StatusOK, "application/json")
		}
		fn := ck.Keys
		if st.refresh {
			fn = ck.Refresh
		}
		got, err := fn(t.Context(), cl)
		if diff := gocmp.Diff([]string{st.wantKid}, setKids(t, got, err)); diff != "" {
			t.Errorf("%s: kids diff (-want +got):\n%s", st.name, diff)
		}
		if h := srv.hits.Load(); h != st.wantHits {
			t.Errorf("%s: server hits = %d, want %d", st.name, h, st.wantHits)
		}
	}
}

func TestClientKeysFailedFetchIsRemembered(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, "oops")
	srv.set("oops", http.StatusInternalServerError, "text/plain")
	clk := newClock()
	ck := &keys.ClientKeys{Now: clk.Now}
	cl := store.Client{ID: "c", JWKSURI: srv.URL}

	if _, err := ck.Keys(t.Context(), cl); err == nil {
		t.Fatal("Keys with a failing jwks_uri = nil error")
	}
	srv.set(publicSet(t, "k1"), http.StatusOK, "application/json")
	clk.Add(10 * time.Second)
	if _, err := ck.Keys(t.Context(), cl); err == nil {
		t.Error("Keys 10 s after a failed fetch = nil error, want the remembered error")
	}
	if _, err := ck.Refresh(t.Context(), cl); err == nil {
		t.Error("Refresh 10 s after a failed fetch = nil error, want the remembered error")
	}
	if h := srv.hits.Load(); h != 1 {
		t.Errorf("server hits = %d, want 1", h)
	}
	clk.Add(20 * time.Second)
	got, err := ck.Keys(t.Context(), cl)
	if diff := gocmp.Diff([]string{"k1"}, setKids(t, got, err)); diff != "" {
		t.Errorf("Keys 30 s after a failed fetch: kids diff (-want +got):\n%s", diff)
	}
}

func TestClientKeysRefusesBadResponses(t *testing.T) {
	t.Parallel()
	good := publicSet(t, "k1")
	tests := []struct {
		name   string
		body   string
		status int
		ctype  string
	}{
		{"not found", good, http.StatusNotFound, "application/json"},
		{"server error", good, http.StatusInternalServerError, "application/json"},
		{"no content", "", http.StatusNoContent, "application/json"},
		{"html", good, http.StatusOK, "text/html"},
		{"no content type", good, http.StatusOK, ""},
		{"not json", "<keys/>", http.StatusOK, "application/json"},
		{"private key", `{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}]}`, http.StatusOK, "application/json"},
		{"oversized", `{"keys":[],"pad":"` + strings.Repeat("a", keys.MaxJWKSBytes) + `"}`, http.StatusOK, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newJWKSServer(t, tt.body)
			srv.set(tt.body, tt.status, tt.ctype)
			var ck keys.ClientKeys
			if got, err := ck.Keys(t.Context(), store.Client{ID: "c", JWKSURI: srv.URL}); err == nil {
				t.Errorf("Keys = %d keys, want error", len(got.Keys))
			}
		})
	}
}

func TestClientKeysAcceptsJWKSetContentType(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, "")
	srv.set(publicSet(t, "k1"), http.StatusOK, "application/jwk-set+json; charset=utf-8")
	var ck keys.ClientKeys
	got, err := ck.Keys(t.Context(), store.Client{ID: "c", JWKSURI: srv.URL})
	if diff := gocmp.Diff([]string{"k1"}, setKids(t, got, err)); diff != "" {
		t.Errorf("kids diff (-want +got):\n%s", diff)
	}
}

func TestClientKeysFollowsNoRedirect(t *testing.T) {
	t.Parallel()
	target := newJWKSServer(t, publicSet(t, "k1"))
	redirector := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	t.Cleanup(redirector.Close)
	var ck keys.ClientKeys
	if _, err := ck.Keys(t.Context(), store.Client{ID: "c", JWKSURI: redirector.URL}); err == nil {
		t.Error("Keys through a redirect = nil error, want error")
	}
	if h := target.hits.Load(); h != 0 {
		t.Errorf("redirect target was fetched %d times, want 0", h)
	}
}

func TestClientKeysCollapsesConcurrentFetches(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, publicSet(t, "k1"))
	release := make(chan struct{})
	srv.mu.Lock()
	srv.release = release
	srv.mu.Unlock()
	var ck keys.ClientKeys
	cl := store.Client{ID: "c", JWKSURI: srv.URL}

	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			set, err := ck.Keys(t.Context(), cl)
			if err == nil && len(set.Keys) != 1 {
				err = errors.New("wrong set")
			}
			errs <- err
		})
	}
	// Let the callers pile up behind the first fetch, then answer it.
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Keys = %v", err)
		}
	}
	if h := srv.hits.Load(); h != 1 {
		t.Errorf("server hits = %d, want 1 for %d concurrent callers", h, n)
	}
}

func TestClientKeysWaiterHonoursContext(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, publicSet(t, "k1"))
	release := make(chan struct{})
	srv.mu.Lock()
	srv.release = release
	srv.mu.Unlock()
	defer close(release)
	var ck keys.ClientKeys
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := ck.Keys(ctx, store.Client{ID: "c", JWKSURI: srv.URL})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Keys with an expiring context = %v, want DeadlineExceeded", err)
	}
}
