package keys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/backchannel/backchannel/store"
)

const (
	// DefaultClientKeysTTL is how long a fetched JWK Set is used when
	// ClientKeys.TTL is zero.
	DefaultClientKeysTTL = 5 * time.Minute
	// MinRefetchInterval is the least time between two fetches of one
	// jwks_uri made by Refresh, and the time a failed fetch is remembered,
	// so that tokens naming unknown kids cannot make us hammer a client's
	// server.
	MinRefetchInterval = 30 * time.Second
	// MaxJWKSBytes caps a fetched JWK Set; real sets are a few KiB.
	MaxJWKSBytes = 256 << 10
	// fetchTimeout bounds one fetch, whatever the HTTP client allows.
	fetchTimeout = 10 * time.Second
)

// ErrNoClientKeys is returned for a client registered with neither jwks
// nor jwks_uri.
var ErrNoClientKeys = errors.New("keys: client has no jwks or jwks_uri")

// ClientKeys resolves a client's public keys from its inline jwks or its
// jwks_uri (RFC 7591 §2), caching fetched sets per URI. Concurrent
// fetches of one URI are collapsed into one. The zero value is ready to
// use; a ClientKeys must not be copied after first use.
//
// Whether a jwks_uri may point at loopback or private addresses is not
// decided here: production wiring passes an HTTPClient whose dialer
// refuses them.
type ClientKeys struct {
	// HTTPClient fetches jwks_uri. Defaults to a client with a 10 s
	// timeout that follows no redirects.
	HTTPClient *http.Client
	// TTL is how long a fetched set is used before Keys fetches it again.
	// Defaults to DefaultClientKeysTTL.
	TTL time.Duration
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time

	mu sync.Mutex
	// cache holds one entry per jwks_uri ever fetched. Entries are small
	// and clients few, so nothing evicts them; if registrations churn,
	// the upgrade path is dropping entries unused for a few TTLs.
	cache map[string]*cachedSet
}

// cachedSet is the fetch state of one jwks_uri.
type cachedSet struct {
	set       *jose.JSONWebKeySet // last good set, or nil
	fetchedAt time.Time           // when set was fetched
	triedAt   time.Time           // when the last fetch started
	err       error               // error of the last fetch, if it failed
	inflight  *fetchCall          // the fetch running now, or nil
}

// fetchCall is one fetch that concurrent callers wait for.
type fetchCall struct {
	done chan struct{}
	set  *jose.JSONWebKeySet
	err  error
}

// Keys returns cl's public keys: its inline jwks if it has one, else the
// set at its jwks_uri, fetched at most once per TTL. A fetch that failed
// less than MinRefetchInterval ago is not retried; its error is returned
// again. The returned set is shared and must not be modified.
func (c *ClientKeys) Keys(ctx context.Context, cl store.Client) (*jose.JSONWebKeySet, error) {
	return c.keys(ctx, cl, false)
}

// Refresh refetches cl's jwks_uri, for instance when a JWT names a kid
// the cached set lacks (RFC 7591 §2: clients rotate keys by publishing
// new ones at their jwks_uri). Refetches are rate limited to one per
// MinRefetchInterval per URI; within that interval Refresh returns the
// cached set (or the last fetch's error). A client with inline jwks has
// nothing to refetch: Refresh returns those keys.
func (c *ClientKeys) Refresh(ctx context.Context, cl store.Client) (*jose.JSONWebKeySet, error) {
	return c.keys(ctx, cl, true)
}

func (c *ClientKeys) keys(ctx context.Context, cl store.Client, refresh bool) (*jose.JSONWebKeySet, error) {
	inline := len(bytes.TrimSpace(cl.JWKS)) > 0 && string(bytes.TrimSpace(cl.JWKS)) != "null"
	switch {
	case inline && cl.JWKSURI != "":
		// RFC 7591 §2: jwks and jwks_uri MUST NOT both be present.
		return nil, errors.New("keys: client has both jwks and jwks_uri")
	case inline:
		return ParseJWKS(cl.JWKS)
	case cl.JWKSURI == "":
		return nil, ErrNoClientKeys
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	uri := cl.JWKSURI
	now := c.now()

	c.mu.Lock()
	if c.cache == nil {
		c.cache = map[string]*cachedSet{}
	}
	e := c.cache[uri]
	if e == nil {
		e = &cachedSet{}
		c.cache[uri] = e
	}
	call := e.inflight
	if call == nil {
		recent := !e.triedAt.IsZero() && now.Sub(e.triedAt) < MinRefetchInterval
		fresh := now.Sub(e.fetchedAt) < c.ttl()
		switch {
		case recent && e.err != nil:
			err := e.err
			c.mu.Unlock()
			return nil, err
		case e.set != nil && (refresh && recent || !refresh && fresh):
			set := e.set
			c.mu.Unlock()
			return set, nil
		}
		call = &fetchCall{done: make(chan struct{})}
		e.inflight = call
		e.triedAt = now
		// The fetch outlives the caller that started it, for the
		// other callers waiting on it; fetchTimeout bounds it.
		go c.fetch(context.WithoutCancel(ctx), uri, e, call)
	}
	c.mu.Unlock()

	select {
	case <-call.done:
		return call.set, call.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fetch fetches uri into e and completes call.
func (c *ClientKeys) fetch(ctx context.Context, uri string, e *cachedSet, call *fetchCall) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	set, err := c.get(ctx, uri)
	if err != nil {
		err = fmt.Errorf("fetch jwks_uri %s: %w", uri, err)
	}

	c.mu.Lock()
	e.inflight = nil
	e.err = err
	if err == nil {
		e.set = set
		e.fetchedAt = c.now()
	}
	c.mu.Unlock()

	call.set, call.err = set, err
	close(call.done)
}

// get GETs uri and parses the body as a public JWK Set.
func (c *ClientKeys) get(ctx context.Context, uri string) (*jose.JSONWebKeySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	// RFC 7517 §8.5 registers application/jwk-set+json; most servers
	// send application/json.
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return nil, fmt.Errorf("content type %q is not JSON", resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > MaxJWKSBytes {
		return nil, fmt.Errorf("body larger than %d bytes", MaxJWKSBytes)
	}
	return ParseJWKS(body)
}

func (c *ClientKeys) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return &http.Client{
		Timeout: fetchTimeout,
		// A jwks_uri is registered metadata; a redirect would send us to
		// a place nobody registered.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (c *ClientKeys) ttl() time.Duration {
	if c.TTL > 0 {
		return c.TTL
	}
	return DefaultClientKeysTTL
}

func (c *ClientKeys) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
