package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"

	"github.com/backchannel/backchannel/ciba"
	"github.com/backchannel/backchannel/clientauth"
	"github.com/backchannel/backchannel/device"
	"github.com/backchannel/backchannel/dpop"
	"github.com/backchannel/backchannel/egress"
	"github.com/backchannel/backchannel/httpapi"
	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/notify"
	"github.com/backchannel/backchannel/registration"
	"github.com/backchannel/backchannel/store"
	"github.com/backchannel/backchannel/store/postgres"
	"github.com/backchannel/backchannel/store/sqlite"
	"github.com/backchannel/backchannel/token"
	"github.com/backchannel/backchannel/webpush"
)

func newServeCommand(env *cliEnv) *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the OpenID Provider",
		Long: `Run the OpenID Provider.

Configuration is layered: defaults, then the YAML file of --config, then
BACKCHANNEL_* environment variables, then flags. --dev runs on 127.0.0.1
with an embedded database in ./backchannel-data, and creates a demo user,
a demo client and a device enrolment code, which it prints.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flags := map[string]any{}
			for flag, key := range map[string]string{"addr": "addr", "issuer": "issuer", "db": "db", "admin-addr": "admin_addr", "dev": "dev", "tls": "tls.dev"} {
				if f := cmd.Flags().Lookup(flag); f.Changed {
					if flag == "dev" || flag == "tls" {
						flags[key] = f.Value.String() == "true"
					} else {
						flags[key] = f.Value.String()
					}
				}
			}
			cfg, err := loadConfig(configPath, env.getenv, flags)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, cmd.Flags().Lookup("addr").Changed || env.getenv("BACKCHANNEL_ADDR") != "", env)
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "YAML configuration file")
	cmd.Flags().String("addr", "", "listen address (default :8080; 127.0.0.1:8080 with --dev)")
	cmd.Flags().String("issuer", "", "issuer identifier, e.g. https://login.example.com")
	cmd.Flags().String("db", "", "database: sqlite:PATH (embedded, the default) or a postgres:// URL")
	cmd.Flags().String("admin-addr", "", "serve the admin API on this address instead of the main listener")
	cmd.Flags().Bool("dev", false, "development mode: 127.0.0.1, embedded database, demo user, client and enrolment code")
	cmd.Flags().Bool("tls", false, "with --dev: serve https with a throwaway CA kept in the data directory (config tls.dev)")
	return cmd
}

// serve runs the server until ctx ends, then shuts it down gracefully.
func serve(ctx context.Context, cfg Config, addrSet bool, env *cliEnv) error {
	if cfg.Dev {
		if !addrSet {
			cfg.Addr = "127.0.0.1:8080"
		}
		if cfg.DB == "" {
			cfg.DB = "sqlite:" + filepath.Join(cfg.DataDir, "backchannel.db")
		}
	}
	if cfg.DB == "" {
		cfg.DB = "sqlite:" + filepath.Join(cfg.DataDir, "backchannel.db")
	}

	// Listen before validating the issuer, so --addr 127.0.0.1:0 works in
	// --dev: the issuer is then derived from the address really bound.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	var mtlsLn net.Listener
	if cfg.TLS.MTLSAddr != "" {
		if mtlsLn, err = net.Listen("tcp", cfg.TLS.MTLSAddr); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.TLS.MTLSAddr, err)
		}
		defer mtlsLn.Close()
		if cfg.Dev && cfg.TLS.MTLSBaseURL == "" {
			cfg.TLS.MTLSBaseURL = "https://" + mtlsLn.Addr().String()
		}
	}
	if cfg.Dev && cfg.Issuer == "" {
		cfg.Issuer = "http://" + devHost(ln.Addr())
		if cfg.TLS.Dev {
			cfg.Issuer = "https://" + devHost(ln.Addr())
		}
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}

	log := newLogger(env.stderr, cfg)
	tlsSetup, err := setupTLS(cfg, log, time.Now())
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg.DB)
	if err != nil {
		return err
	}
	defer st.Close()

	keySet, err := keys.Load(ctx, st, keys.Config{
		Algs: cfg.Keys.Algs,
		// Plus the reload interval: an instance that has not reloaded
		// yet still signs with a key another instance retired.
		MaxTokenLifetime: max(cfg.Tokens.AccessTTL, cfg.Tokens.IDTokenTTL) + keysReloadInterval,
	})
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	trusted, err := loadTrustedIssuers(cfg.CIBA.LoginHintTokenIssuers)
	if err != nil {
		return err
	}

	adminToken := cfg.AdminToken
	generatedToken := false
	if adminToken == "" {
		if adminToken, err = devAdminToken(cfg); err != nil {
			return err
		}
		generatedToken = true
	}

	// Clients choose their notification endpoints and jwks_uri, so every
	// call to them goes through the SSRF guard.
	egressPolicy := egress.Policy{AllowInsecure: cfg.Dev, Allow: cfg.Egress.Allow}
	clientKeys := &keys.ClientKeys{HTTPClient: egress.NewClient(egressPolicy, 10*time.Second)}
	hub := &device.Hub{}
	issuer := &token.Issuer{
		Issuer:            cfg.Issuer,
		Keys:              keySet,
		AccessTokenFormat: cfg.Tokens.AccessTokenFormat,
		AccessTTL:         cfg.Tokens.AccessTTL,
		RefreshTTL:        cfg.Tokens.RefreshTTL,
		IDTokenTTL:        cfg.Tokens.IDTokenTTL,
	}
	worker := &notify.Worker{
		Store:          st,
		HTTP:           egress.NewClient(egressPolicy, cfg.Notify.AttemptTimeout),
		Log:            log,
		AttemptTimeout: cfg.Notify.AttemptTimeout,
		MaxAttempts:    cfg.Notify.MaxAttempts,
		Concurrency:    cfg.Notify.Concurrency,
	}
	svc := &ciba.Service{
		Store:                 st,
		Tokens:                issuer,
		Keys:                  keySet,
		ClientKeys:            clientKeys,
		Issuer:                cfg.Issuer,
		LoginHintTokenIssuers: trusted,
		Limits: ciba.Limits{
			DefaultExpiry:       cfg.CIBA.DefaultExpiry,
			MaxExpiry:           cfg.CIBA.MaxExpiry,
			Interval:            cfg.CIBA.Interval,
			MaxBindingMessage:   cfg.CIBA.MaxBindingMessage,
			MaxUserCodeFailures: cfg.CIBA.MaxUserCodeFailures,
			NotificationWindow:  cfg.Notify.Window,
		},
		// Changed and Queued are set by the wake-up wiring below, which
		// also reaches other instances.
		AuthorizationDetailTypes: cfg.CIBA.AuthorizationDetailsTypes,
	}
	mx := newMetrics(hub, worker)
	svc.Observer = mx
	svc.RequireFAPI = cfg.FAPI.Require
	svc.HideUnknownUsers = cfg.CIBA.HideUnknownUsers
	svc.Fatigue = cfg.fatigue()
	// Embedded SQLite has one instance (its wake-up bus is in-process
	// too): the poll schedule can live in memory, and a poll on time
	// writes nothing. Instances sharing PostgreSQL save every poll, so
	// that slow_down holds across them.
	_, svc.PollScheduleInMemory = st.(*sqlite.Store)
	// Held polls wait on a hub of their own, woken with the devices'
	// (wireWake, listenWake), so that they do not count as device streams.
	pollHub := &device.Hub{}
	svc.LongPoll, svc.Subscribe = cfg.CIBA.LongPoll, pollHub.Subscribe
	var webhookCallback *httpapi.WebhookCallback
	if cfg.Webhook.URL != "" {
		secret, err := cfg.webhookSecret()
		if err != nil {
			return err
		}
		svc.WebhookURL = cfg.Webhook.URL
		worker.Authorize = ciba.WebhookSigner(secret, nil)
		worker.RowTimeout = webhookTimeout(cfg.Webhook.Timeout)
		webhookCallback = &httpapi.WebhookCallback{Secret: secret, CertificateSHA256: cfg.Webhook.CertificateSHA256}
	}
	var pushKey *webpush.Key
	if cfg.Devices.WebPush.Enabled {
		// Made once, in the store, so every instance signs with it.
		if pushKey, err = webpush.LoadKey(ctx, st); err != nil {
			return err
		}
		sender := &webpush.Sender{Store: st, Key: pushKey, Subject: cfg.pushSubject(), Log: log}
		worker.WebPush = sender.Send
		svc.WebPush = true
		mx.WatchWebPush(sender.Stats)
	}
	policy, dynReg, err := registrationSetup(cfg, keySet)
	if err != nil {
		return err
	}
	// RFC 8705: the mutual TLS methods, certificate-bound tokens and the
	// endpoint aliases exist only where client certificates arrive.
	policy.MTLS = cfg.TLS.certificates()
	proofs, err := dpopVerifier(ctx, cfg, st)
	if err != nil {
		return err
	}
	enroller := &device.Enroller{Store: st, TTL: cfg.Devices.EnrolmentTTL, BaseURL: cfg.Issuer}
	passkeys, err := device.NewPasskeys(st, cfg.Issuer, nil)
	if err != nil {
		// Not fatal: approvals work with the device key alone, and only
		// requests that ask for a passkey cannot be approved.
		log.Warn("serving without passkeys", "reason", err.Error())
		passkeys = nil
	}
	deps := httpapi.Deps{
		Log:          log,
		Issuer:       cfg.Issuer,
		Keys:         keySet,
		ClientAuth:   &clientauth.Authenticator{Store: st, Keys: clientKeys, Issuer: cfg.Issuer, ClientCAs: tlsSetup.clientCAs},
		CIBA:         svc,
		Store:        st,
		Hub:          hub,
		DeviceAuth:   &device.Authenticator{Store: st, BaseURL: cfg.Issuer, Passkeys: passkeys},
		Enroller:     enroller,
		Registration: policy,
		Tokens:       &token.Service{Store: st, Issuer: issuer, ResourceServers: cfg.Tokens.ResourceServers},
		AdminToken:   adminToken,
		DPoP:         proofs,

		DynamicRegistration: dynReg,
		MTLSBaseURL:         cfg.TLS.MTLSBaseURL,
		Webhook:             webhookCallback,
		WebPushKey:          pushKey,
	}
	public := func(d httpapi.Deps) http.Handler {
		if tlsSetup.proxy != nil {
			return tlsSetup.proxy(httpapi.New(d))
		}
		return httpapi.New(d)
	}
	if cfg.Dev || cfg.Demo.Enabled {
		demo, err := demoConsole(cfg, tlsSetup.devCA, log)
		if err != nil {
			return err
		}
		deps.Demo = demo
	}
	deps.Observer = mx
	// Wake-ups between the instances sharing a PostgreSQL database.
	bus, runBus := wakeBus(st, log)
	deps.KeysRotated = wireWake(bus, svc, hubs{hub, pollHub}, worker, log)
	if cfg.Metrics.Addr == "" {
		deps.Metrics = mx.Handler() // moves to the admin listener if there is one
	}

	// Handlers see a context that ends when shutdown starts, so
	// long-lived device streams close instead of holding shutdown up.
	baseCtx, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	servers := []*http.Server{}
	listeners := []net.Listener{ln}
	var adminURL string
	if cfg.AdminAddr != "" {
		adminLn, err := net.Listen("tcp", cfg.AdminAddr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.AdminAddr, err)
		}
		defer adminLn.Close()
		adminDeps := deps
		adminDeps.AdminOnly = true
		deps.AdminToken = ""
		deps.Metrics = nil
		servers = append(servers, newHTTPServer(public(deps), log, baseCtx), newHTTPServer(httpapi.New(adminDeps), log, baseCtx))
		listeners = append(listeners, adminLn)
		adminURL = "http://" + adminLn.Addr().String()
	} else {
		servers = append(servers, newHTTPServer(public(deps), log, baseCtx))
		adminURL = cfg.Issuer
	}
	servers[0].TLSConfig = tlsSetup.main
	if mtlsLn != nil {
		// The mutual TLS listener serves the public API, never the
		// admin API.
		mtlsDeps := deps
		mtlsDeps.AdminToken = ""
		srv := newHTTPServer(public(mtlsDeps), log, baseCtx)
		srv.TLSConfig = tlsSetup.mtls
		servers = append(servers, srv)
		listeners = append(listeners, mtlsLn)
	}
	if tlsSetup.devCA != "" {
		fmt.Fprintf(env.stdout, "backchannel: serving https with a --dev certificate; trust its CA %s\n  (Go clients and curl: export SSL_CERT_FILE=%s)\n", tlsSetup.devCA, tlsSetup.devCA)
	}
	if cfg.Metrics.Addr != "" {
		metricsLn, err := net.Listen("tcp", cfg.Metrics.Addr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.Metrics.Addr, err)
		}
		defer metricsLn.Close()
		servers = append(servers, newHTTPServer(metricsHandler(mx, cfg.Metrics.Pprof), log, baseCtx))
		listeners = append(listeners, metricsLn)
	}

	if cfg.Dev {
		secret, err := printDevSetup(ctx, env.stdout, st, enroller, cfg, adminURL, adminToken)
		if err != nil {
			return err
		}
		// The demo client is made anew above; the console uses it. The
		// servers start below, so no request sees the change.
		if deps.Demo != nil && cfg.Demo.ClientID == "" {
			deps.Demo.ClientID, deps.Demo.ClientSecret = demoClientID, secret
		}
	} else if generatedToken {
		fmt.Fprintf(env.stdout, "admin token (generated; set BACKCHANNEL_ADMIN_TOKEN to choose one): %s\n", adminToken)
	}

	// Background work: notification delivery and the expiry of
	// unanswered ping and push requests. Both stop with baseCtx.
	var background sync.WaitGroup
	background.Go(func() {
		if err := worker.Run(baseCtx); err != nil && baseCtx.Err() == nil {
			log.Error("notification worker stopped", "err", err)
		}
	})
	background.Go(func() { expireLoop(baseCtx, svc, log) })
	// The periodic reload stays as a safety net for missed wake-ups.
	background.Go(func() { reloadKeysLoop(baseCtx, keySet, keysReloadInterval, log) })
	listenWake(baseCtx, &background, bus, runBus, hubs{hub, pollHub}, worker, keySet, log)
	background.Go(func() { newPurger(cfg, st, log).Run(baseCtx) })
	defer func() {
		cancelBase()
		background.Wait()
	}()

	errc := make(chan error, len(servers))
	for i, srv := range servers {
		cfg.Server.apply(srv)
		go func() {
			if srv.TLSConfig != nil {
				errc <- srv.ServeTLS(listeners[i], "", "")
				return
			}
			errc <- srv.Serve(listeners[i])
		}()
	}
	log.Info("backchannel serving", "issuer", cfg.Issuer, "addr", ln.Addr().String(), "admin_url", adminURL, "db", redactDSN(cfg.DB), "dev", cfg.Dev)
	fmt.Fprintf(env.stdout, "backchannel: listening on %s (issuer %s)\n", ln.Addr(), cfg.Issuer)
	if mtlsLn != nil {
		log.Info("mutual TLS endpoint aliases serving", "addr", mtlsLn.Addr().String(), "base_url", cfg.TLS.MTLSBaseURL)
		fmt.Fprintf(env.stdout, "backchannel: mutual TLS listening on %s (%s)\n", mtlsLn.Addr(), cfg.TLS.MTLSBaseURL)
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	cancelBase()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		errs = append(errs, srv.Shutdown(shutdownCtx))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// expireLoop notifies the expiry of unanswered ping and push requests,
// checking every second.
func expireLoop(ctx context.Context, svc *ciba.Service, log *slog.Logger) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for {
			n, err := svc.ExpireDue(ctx, 100)
			if err != nil {
				if ctx.Err() == nil {
					log.Error("expire requests", "err", err)
				}
				break
			}
			if n < 100 {
				break
			}
		}
	}
}

func newHTTPServer(h http.Handler, log *slog.Logger, base context.Context) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// No WriteTimeout: device streams stay open for minutes. Handlers
		// bound their own work with the request context.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 32 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:    func(net.Listener) context.Context { return base },
	}
}

func newLogger(w io.Writer, cfg Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level)) // validated
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// openStore opens the backend the DSN's scheme names.
func openStore(ctx context.Context, dsn string) (store.Store, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		s, err := sqlite.Open(ctx, strings.TrimPrefix(dsn, "sqlite:"))
		if err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
		return s, nil
	default:
		// Config.Validate admits only postgres:// and postgresql:// URLs
		// here. The error does not repeat the URL, whose password may be
		// in the query as well as before the host; pgx's own errors name
		// the host, user and database and never the password.
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
		return s, nil
	}
}

// redactDSN hides a password in a database URL.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "sqlite" || u.Opaque != "" {
		if strings.HasPrefix(dsn, "sqlite:") {
			return dsn
		}
		return "(unparsable database URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "redacted")
	}
	q := u.Query()
	for k := range q {
		// libpq and pgx take a password (and sslpassword) as parameters too.
		if strings.Contains(strings.ToLower(k), "password") {
			q.Set(k, "redacted")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// devAdminToken returns a new admin token. With --dev it is kept in the
// data directory, so the commands of a walkthrough keep working across
// restarts.
func devAdminToken(cfg Config) (string, error) {
	path := filepath.Join(cfg.DataDir, "admin-token")
	if cfg.Dev {
		if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
			return strings.TrimSpace(string(b)), nil
		}
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	if cfg.Dev {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return "", err
		}
		if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
			return "", err
		}
	}
	return tok, nil
}

// registrationSetup returns the client registration policy, shared by
// the admin API and dynamic registration, and the dynamic registration
// settings (nil when registration is disabled).
func registrationSetup(cfg Config, ks *keys.Set) (registration.Policy, *httpapi.DynamicRegistration, error) {
	policy := httpapi.DefaultPolicy(ks, cfg.Dev)
	policy.RequireFAPI = cfg.FAPI.Require
	r := cfg.Registration
	if !r.Enabled {
		return policy, nil, nil
	}
	issuers, err := loadTrustedIssuers(r.SoftwareStatementIssuers)
	if err != nil {
		return policy, nil, fmt.Errorf("registration: %w", err)
	}
	if len(issuers) > 0 {
		policy.SoftwareStatementIssuers = map[string]*jose.JSONWebKeySet{}
		for _, ti := range issuers {
			policy.SoftwareStatementIssuers[ti.Issuer] = ti.Keys
		}
	}
	policy.RequireSoftwareStatement = r.RequireSoftwareStatement
	tokens := slices.Clone(r.InitialAccessTokens)
	if r.InitialAccessTokensFile != "" {
		b, err := os.ReadFile(r.InitialAccessTokensFile)
		if err != nil {
			return policy, nil, fmt.Errorf("registration: initial access tokens: %w", err)
		}
		for line := range strings.Lines(string(b)) {
			if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
				if len(t) < 16 {
					return policy, nil, fmt.Errorf("registration: %s: initial access tokens must be at least 16 characters", r.InitialAccessTokensFile)
				}
				tokens = append(tokens, t)
			}
		}
	}
	if !r.Open && len(tokens) == 0 {
		return policy, nil, errors.New("registration: closed registration without initial access tokens admits nobody")
	}
	return policy, &httpapi.DynamicRegistration{Open: r.Open, InitialAccessTokens: tokens}, nil
}

func loadTrustedIssuers(cfgs []TrustedIssuerConfig) ([]ciba.TrustedIssuer, error) {
	var out []ciba.TrustedIssuer
	for _, c := range cfgs {
		b, err := os.ReadFile(c.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("login_hint_token issuer %s: %w", c.Issuer, err)
		}
		set, err := keys.ParseJWKS(b)
		if err != nil {
			return nil, fmt.Errorf("login_hint_token issuer %s: %s: %w", c.Issuer, c.JWKSFile, err)
		}
		out = append(out, ciba.TrustedIssuer{Issuer: c.Issuer, Keys: set})
	}
	return out, nil
}

// dpopVerifier returns the DPoP proof verifier of cfg, or nil when DPoP
// is disabled. Without a configured nonce secret, nonces are keyed by a
// secret derived from the oldest signing key in the database: every
// instance shares the database, so every instance derives the same one.
func dpopVerifier(ctx context.Context, cfg Config, st store.Store) (*dpop.Verifier, error) {
	if !cfg.DPoP.Enabled {
		return nil, nil
	}
	v := &dpop.Verifier{Store: st, Algs: cfg.DPoP.Algs, IATWindow: cfg.DPoP.IATWindow}
	if !cfg.DPoP.Nonces {
		return v, nil
	}
	secret := []byte(cfg.DPoP.NonceSecret)
	if len(secret) == 0 {
		ks, err := st.SigningKeys(ctx)
		if err != nil || len(ks) == 0 {
			return nil, fmt.Errorf("derive the DPoP nonce secret: no signing keys (%v)", err)
		}
		m := hmac.New(sha256.New, ks[len(ks)-1].PrivateJWK)
		m.Write([]byte("backchannel dpop nonce secret"))
		secret = m.Sum(nil)
	}
	v.Nonces = &dpop.NonceSource{Secret: secret, Period: cfg.DPoP.NoncePeriod}
	return v, nil
}

// devHost names a --dev listener for the issuer: a loopback address as
// localhost, because WebAuthn does not accept IP addresses as relying
// party IDs and passkeys need the issuer's host to be one; other
// addresses as they are.
func devHost(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
