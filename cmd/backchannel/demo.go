package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/backchannel/backchannel/web"
)

// demoConsole returns the demo console's server half (web.Demo) for
// serve. With --dev the demo client's credentials are filled in once
// printDevSetup has made them. With --dev --tls the console's HTTP client
// trusts the dev CA in caFile, since it calls the server's own https
// endpoints like any other client.
func demoConsole(cfg Config, caFile string, log *slog.Logger) (*web.Demo, error) {
	d := &web.Demo{Issuer: cfg.Issuer, ClientID: cfg.Demo.ClientID, ClientSecret: cfg.Demo.ClientSecret, Log: log}
	if caFile == "" {
		return d, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("demo console: no certificate in the --dev CA file " + caFile)
	}
	d.HTTPClient = &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return d, nil
}
