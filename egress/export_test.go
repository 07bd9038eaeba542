package egress

import "net/http"

// Transport returns the *http.Transport under c, a client from NewClient,
// so that tests can trust a test CA and inspect its settings.
func Transport(c *http.Client) *http.Transport { return c.Transport.(*schemeCheck).next }
