package main

import (
	"net/http"
	"time"
)

// ServerConfig bounds what one connection may cost, so that a client that
// sends slowly (slowloris) or sends too much cannot hold a listener's
// resources. There is no write timeout: device streams stay open for
// minutes, and handlers bound their own work with the request context.
type ServerConfig struct {
	// ReadHeaderTimeout is how long a client has to send the request
	// line and headers; default 10s.
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout"`
	// ReadTimeout is how long a client has to send a whole request,
	// body included; default 30s.
	ReadTimeout time.Duration `koanf:"read_timeout"`
	// IdleTimeout is how long a keep-alive connection may wait for its
	// next request; default 2m.
	IdleTimeout time.Duration `koanf:"idle_timeout"`
	// MaxHeaderBytes bounds the request line and headers; larger ones
	// get 431. Default 32 KiB.
	MaxHeaderBytes int `koanf:"max_header_bytes"`
}

// apply sets the limits on s; zero fields keep newHTTPServer's defaults.
func (c ServerConfig) apply(s *http.Server) {
	if c.ReadHeaderTimeout > 0 {
		s.ReadHeaderTimeout = c.ReadHeaderTimeout
	}
	if c.ReadTimeout > 0 {
		s.ReadTimeout = c.ReadTimeout
	}
	if c.IdleTimeout > 0 {
		s.IdleTimeout = c.IdleTimeout
	}
	if c.MaxHeaderBytes > 0 {
		s.MaxHeaderBytes = c.MaxHeaderBytes
	}
}
