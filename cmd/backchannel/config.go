package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"

	"github.com/backchannel/backchannel/dpop"
	"github.com/backchannel/backchannel/egress"
	"github.com/backchannel/backchannel/keys"
	"github.com/backchannel/backchannel/mtls"
)

// Config is the whole configuration of `backchannel serve`, layered:
// defaults, then the YAML file, then BACKCHANNEL_* environment variables,
// then flags. Each key's environment variable is BACKCHANNEL_ followed by
// its path in upper case with "_" for "." (ciba.interval →
// BACKCHANNEL_CIBA_INTERVAL); list values are comma-separated.
type Config struct {
	Addr       string `koanf:"addr"`        // listen address; default :8080 (127.0.0.1:8080 with --dev)
	AdminAddr  string `koanf:"admin_addr"`  // separate admin listener; empty serves /admin/ on Addr
	Issuer     string `koanf:"issuer"`      // issuer identifier; https outside --dev
	DB         string `koanf:"db"`          // sqlite:PATH (default) or postgres://…
	AdminToken string `koanf:"admin_token"` // generated and printed when empty
	Dev        bool   `koanf:"dev"`
	DataDir    string `koanf:"data_dir"` // where --dev keeps its database; default ./backchannel-data

	Log struct {
		Level  string `koanf:"level"`  // debug, info (default), warn, error
		Format string `koanf:"format"` // json (default) or text
	} `koanf:"log"`

	Keys struct {
		Algs []string `koanf:"algs"` // signing algs, default first; default [ES256]
	} `koanf:"keys"`

	Tokens struct {
		// AccessTokenFormat is "opaque" (default: random, stored hashed)
		// or "jwt" (RFC 9068, typ at+jwt).
		AccessTokenFormat string        `koanf:"access_token_format"`
		AccessTTL         time.Duration `koanf:"access_ttl"`   // default 10m
		RefreshTTL        time.Duration `koanf:"refresh_ttl"`  // default 720h
		IDTokenTTL        time.Duration `koanf:"id_token_ttl"` // default 10m
		// ResourceServers are client IDs of resource servers, which may
		// introspect every access token (RFC 7662 §4), not only their own.
		ResourceServers []string `koanf:"resource_servers"`
	} `koanf:"tokens"`

	// DPoP configures DPoP proofs (RFC 9449) at the token and userinfo
	// endpoints.
	DPoP struct {
		Enabled   bool          `koanf:"enabled"`    // default true
		Algs      []string      `koanf:"algs"`       // proof algs; default ES256, PS256, RS256, EdDSA
		IATWindow time.Duration `koanf:"iat_window"` // how far a proof's iat may be from now; default 60s
		// Nonces makes server-provided nonces mandatory in proofs (RFC
		// 9449 §8, §9); default false.
		Nonces bool `koanf:"nonces"`
		// NonceSecret keys the stateless nonces: at least 32 characters,
		// the same on every instance. Empty derives one from the signing
		// keys in the database, which every instance shares.
		NonceSecret string        `koanf:"nonce_secret"`
		NoncePeriod time.Duration `koanf:"nonce_period"` // a nonce lives one to two periods; default 5m
	} `koanf:"dpop"`

	CIBA struct {
		DefaultExpiry time.Duration `koanf:"default_expiry"` // default 5m
		MaxExpiry     time.Duration `koanf:"max_expiry"`     // default 30m
		Interval      time.Duration `koanf:"interval"`       // default 5s
		// LongPoll holds an on-time poll of a pending request open until
		// the request is decided or expires, for at most this long
		// (ciba.Service.LongPoll); default 0, off; at most 60s.
		LongPoll            time.Duration `koanf:"long_poll"`
		MaxBindingMessage   int           `koanf:"max_binding_message"`    // characters; default 64
		MaxUserCodeFailures int           `koanf:"max_user_code_failures"` // default 5
		// HideUnknownUsers answers an unknown hint, or a user with no
		// device, with a decoy auth_req_id that only ever expires, instead
		// of unknown_user_id or access_denied (ciba.Service); default false.
		HideUnknownUsers bool `koanf:"hide_unknown_users"`
		// AuthorizationDetailsTypes are the RFC 9396 authorization_details
		// types accepted; none means authorization_details is refused.
		AuthorizationDetailsTypes []string `koanf:"authorization_details_types"`
		// LoginHintTokenIssuers are trusted issuers of login_hint_tokens.
		LoginHintTokenIssuers []TrustedIssuerConfig `koanf:"login_hint_token_issuers"`
		// Approval-fatigue protection (ciba.Fatigue); 0 turns a limit off.
		MaxPendingPerUser       int     `koanf:"max_pending_per_user"`        // default 5
		MaxPendingPerClientUser int     `koanf:"max_pending_per_client_user"` // default 2
		ClientRate              float64 `koanf:"client_rate"`                 // requests/s per client; default 10
		ClientBurst             int     `koanf:"client_burst"`                // default 50
		HintRate                float64 `koanf:"hint_rate"`                   // requests/s per user; default 0.1
		HintBurst               int     `koanf:"hint_burst"`                  // default 5
		PollRate                float64 `koanf:"poll_rate"`                   // token requests/s per auth_req_id; default 1
		PollBurst               int     `koanf:"poll_burst"`                  // default 5
		// NumberMatching makes the user pick the client's matching_number
		// among decoys on the device; default false.
		NumberMatching bool `koanf:"number_matching"`
	} `koanf:"ciba"`

	// Webhook sends every request to the deployment's own authentication
	// system and takes its decisions back (docs/webhook.md). The URL is
	// called through the SSRF guard: allow-list it in egress.allow unless
	// it is public, or run --dev.
	Webhook struct {
		URL        string `koanf:"url"`
		Secret     string `koanf:"secret"`      // HMAC key, at least 32 characters
		SecretFile string `koanf:"secret_file"` // or a file holding it
		// CertificateSHA256 admits decision callbacks over mutual TLS from
		// the client certificate of this x5t#S256 thumbprint, unsigned.
		CertificateSHA256 string `koanf:"certificate_sha256"`
		// Timeout bounds each notification attempt; default (0) and at
		// most notify.attempt_timeout.
		Timeout time.Duration `koanf:"timeout"`
	} `koanf:"webhook"`

	Devices struct {
		EnrolmentTTL time.Duration `koanf:"enrolment_ttl"` // default 10m
		// WebPush sends each new request to the devices whose app
		// subscribed (package webpush), through the egress guard.
		WebPush struct {
			Enabled bool `koanf:"enabled"` // default true
			// Subject is the VAPID contact the push services may write
			// to (RFC 8292 §2.1): mailto:… or https://…. Default: the
			// issuer when it is https, else mailto:backchannel@localhost.
			Subject string `koanf:"subject"`
		} `koanf:"web_push"`
	} `koanf:"devices"`

	// Demo serves the demo console at /demo (web.Demo): always with
	// --dev, where it uses the demo client; otherwise only when enabled,
	// with a registered poll-mode client's credentials. It starts
	// requests for anyone who reaches it: keep it off the internet.
	Demo struct {
		Enabled      bool   `koanf:"enabled"`
		ClientID     string `koanf:"client_id"`
		ClientSecret string `koanf:"client_secret"`
	} `koanf:"demo"`

	// Notify configures ping and push delivery.
	Notify struct {
		AttemptTimeout time.Duration `koanf:"attempt_timeout"` // per attempt; default 10s
		MaxAttempts    int           `koanf:"max_attempts"`    // default 8
		Concurrency    int           `koanf:"concurrency"`     // parallel deliveries; default 64
		Window         time.Duration `koanf:"window"`          // how long a notification is retried; default 10m
	} `koanf:"notify"`

	// Egress guards outbound calls to client-chosen URLs (notification
	// endpoints, jwks_uri): https only, and no loopback, private,
	// link-local or metadata addresses, except those listed in Allow
	// (CIDRs or host names). --dev allows everything.
	Egress struct {
		Allow []string `koanf:"allow"`
	} `koanf:"egress"`

	// Housekeeping purges what is no longer needed.
	Housekeeping struct {
		Interval time.Duration `koanf:"interval"` // between purges; default 1m
		// Retention is how long requests, tokens, enrolments and
		// finished notifications are kept after they expired; default 24h.
		Retention time.Duration `koanf:"retention"`
		// AuditRetention is how long audit events are kept; default
		// 2160h (90 days); 0 keeps them forever.
		AuditRetention time.Duration `koanf:"audit_retention"`
		Batch          int           `koanf:"batch"` // records of each kind per transaction; default 500
	} `koanf:"housekeeping"`

	// Metrics configures the Prometheus endpoint, GET /metrics. It is
	// unauthenticated, and served on admin_addr when that is set, else on
	// addr, unless Addr gives it a plain-http listener of its own.
	Metrics struct {
		Addr string `koanf:"addr"`
		// Pprof adds Go's profiles (/debug/pprof/) to the metrics.addr
		// listener. They reveal memory contents and cost CPU while
		// taken, so only that operator-only listener may serve them.
		Pprof bool `koanf:"pprof"`
	} `koanf:"metrics"`

	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"` // default 15s

	// Server bounds what one connection may cost (limits.go).
	Server ServerConfig `koanf:"server"`

	// TLS configures https and where client certificates come from
	// (RFC 8705); see tlsdev.go for the --dev CA.
	TLS TLSConfig `koanf:"tls"`

	// Registration configures dynamic client registration (RFC 7591)
	// and management (RFC 7592) at /register.
	Registration struct {
		Enabled bool `koanf:"enabled"` // default false
		// Open admits registrations without an initial access token.
		Open bool `koanf:"open"`
		// InitialAccessTokens admit registrations when Open is false;
		// InitialAccessTokensFile adds one token per line from a file.
		InitialAccessTokens     []string `koanf:"initial_access_tokens"`
		InitialAccessTokensFile string   `koanf:"initial_access_tokens_file"`
		// SoftwareStatementIssuers are trusted issuers of software
		// statements (RFC 7591 §2.3).
		SoftwareStatementIssuers []TrustedIssuerConfig `koanf:"software_statement_issuers"`
		// RequireSoftwareStatement refuses registrations without one.
		RequireSoftwareStatement bool `koanf:"require_software_statement"`
	} `koanf:"registration"`

	// FAPI holds the FAPI-CIBA switch.
	FAPI struct {
		// Require applies the FAPI-CIBA profile to every client, at
		// registration (admin API and /register) and on every request,
		// not only to clients registered with "profile": "fapi-ciba".
		Require bool `koanf:"require"`
	} `koanf:"fapi"`
}

// TLSConfig is the tls: block. Without cert_file and key_file (or
// --tls with --dev) serve listens on plain http, as behind a
// TLS-terminating proxy.
type TLSConfig struct {
	CertFile string `koanf:"cert_file"` // PEM certificate chain, leaf first; set with key_file
	KeyFile  string `koanf:"key_file"`  // PEM private key of cert_file
	// ClientCAFile holds the PEM CA certificates whose client
	// certificates tls_client_auth accepts (RFC 8705 §2.1).
	ClientCAFile string `koanf:"client_ca_file"`
	// Dev (flag --tls, --dev only) serves https with a certificate from
	// a throwaway CA kept in data_dir/tls.
	Dev bool `koanf:"dev"`
	// MTLSAddr is a second https listener, asking for client
	// certificates, for the mutual TLS endpoint aliases (RFC 8705 §5);
	// the main listener then asks for none. Empty: the main listener
	// asks.
	MTLSAddr string `koanf:"mtls_addr"`
	// MTLSBaseURL is the public https URL of MTLSAddr (derived from the
	// address with --dev), or of a proxy's mutual TLS host.
	MTLSBaseURL string `koanf:"mtls_base_url"`
	// TrustedProxies are the CIDRs (or addresses) of TLS-terminating
	// proxies whose ClientCertHeader is believed; from any other peer the
	// header is ignored.
	TrustedProxies []string `koanf:"trusted_proxies"`
	// ClientCertHeader carries the client certificate from a trusted
	// proxy, URL-encoded PEM as nginx's $ssl_client_escaped_cert; default
	// X-Client-Cert.
	ClientCertHeader string `koanf:"client_cert_header"`
}

// terminates reports whether serve terminates TLS itself.
func (t TLSConfig) terminates() bool { return t.CertFile != "" || t.Dev }

// certificates reports whether client certificates reach the server,
// through its own TLS or a trusted proxy.
func (t TLSConfig) certificates() bool { return t.terminates() || len(t.TrustedProxies) > 0 }

// TrustedIssuerConfig names an issuer of login_hint_tokens and its keys.
type TrustedIssuerConfig struct {
	Issuer   string `koanf:"issuer"`
	JWKSFile string `koanf:"jwks_file"` // a JWK Set file of its public keys
}

func defaults() map[string]any {
	return map[string]any{
		"addr":                        ":8080",
		"db":                          "",
		"data_dir":                    "backchannel-data",
		"log.level":                   "info",
		"log.format":                  "json",
		"keys.algs":                   []string{"ES256"},
		"tokens.access_token_format":  "opaque",
		"tokens.access_ttl":           10 * time.Minute,
		"tokens.refresh_ttl":          720 * time.Hour,
		"tokens.id_token_ttl":         10 * time.Minute,
		"tokens.resource_servers":     []string{},
		"dpop.enabled":                true,
		"dpop.algs":                   dpop.DefaultAlgs(),
		"dpop.iat_window":             dpop.DefaultIATWindow,
		"dpop.nonces":                 false,
		"dpop.nonce_secret":           "",
		"dpop.nonce_period":           dpop.DefaultNoncePeriod,
		"ciba.default_expiry":         5 * time.Minute,
		"ciba.max_expiry":             30 * time.Minute,
		"ciba.interval":               5 * time.Second,
		"ciba.long_poll":              time.Duration(0),
		"ciba.max_binding_message":    64,
		"ciba.max_user_code_failures": 5,
		"ciba.hide_unknown_users":     false,
		"devices.enrolment_ttl":       10 * time.Minute,
		"notify.attempt_timeout":      10 * time.Second,
		"notify.max_attempts":         8,
		"notify.concurrency":          64,
		"notify.window":               10 * time.Minute,
		"egress.allow":                []string{},
		"shutdown_timeout":            15 * time.Second,
		"server.read_header_timeout":  10 * time.Second,
		"server.read_timeout":         30 * time.Second,
		"server.idle_timeout":         2 * time.Minute,
		"server.max_header_bytes":     32 << 10,
		"issuer":                      "",
		"admin_addr":                  "",
		"admin_token":                 "",
		"dev":                         false,
		"tls.cert_file":               "",
		"tls.key_file":                "",
		"tls.client_ca_file":          "",
		"tls.dev":                     false,
		"tls.mtls_addr":               "",
		"tls.mtls_base_url":           "",
		"tls.trusted_proxies":         []string{},
		"tls.client_cert_header":      mtls.DefaultHeader,

		"registration.enabled":                    false,
		"registration.open":                       false,
		"registration.initial_access_tokens":      []string{},
		"registration.initial_access_tokens_file": "",
		"registration.require_software_statement": false,
		"fapi.require":                            false,

		"housekeeping.interval":        time.Minute,
		"housekeeping.retention":       24 * time.Hour,
		"housekeeping.audit_retention": 90 * 24 * time.Hour,
		"housekeeping.batch":           500,
		"metrics.addr":                 "",
		"metrics.pprof":                false,

		"ciba.max_pending_per_user":        5,
		"ciba.max_pending_per_client_user": 2,
		"ciba.client_rate":                 10.0,
		"ciba.client_burst":                50,
		"ciba.poll_rate":                   1.0,
		"ciba.poll_burst":                  5,
		"ciba.hint_rate":                   0.1,
		"ciba.hint_burst":                  5,
		"ciba.number_matching":             false,
		"webhook.url":                      "",
		"webhook.secret":                   "",
		"webhook.secret_file":              "",
		"webhook.certificate_sha256":       "",
		"webhook.timeout":                  time.Duration(0),
		"devices.web_push.enabled":         true,
		"devices.web_push.subject":         "",
	}
}

// envKeys are the keys settable from the environment.
var envKeys = []string{
	"addr", "admin_addr", "issuer", "db", "admin_token", "dev", "data_dir",
	"log.level", "log.format", "keys.algs", "egress.allow",
	"tokens.access_token_format", "tokens.access_ttl", "tokens.refresh_ttl", "tokens.id_token_ttl",
	"tokens.resource_servers", "dpop.enabled", "dpop.algs", "dpop.iat_window", "dpop.nonces", "dpop.nonce_secret", "dpop.nonce_period",
	"ciba.default_expiry", "ciba.max_expiry", "ciba.interval", "ciba.long_poll", "ciba.max_binding_message", "ciba.max_user_code_failures",
	"ciba.max_pending_per_user", "ciba.max_pending_per_client_user", "ciba.client_rate", "ciba.client_burst", "ciba.poll_rate", "ciba.poll_burst",
	"ciba.hint_rate", "ciba.hint_burst", "ciba.number_matching",
	"webhook.url", "webhook.secret", "webhook.secret_file", "webhook.certificate_sha256", "webhook.timeout",
	"devices.enrolment_ttl", "devices.web_push.enabled", "devices.web_push.subject", "shutdown_timeout",
	"demo.enabled", "demo.client_id", "demo.client_secret",
	"ciba.authorization_details_types",
	"server.read_header_timeout", "server.read_timeout", "server.idle_timeout", "server.max_header_bytes",
	"ciba.hide_unknown_users",
	"notify.attempt_timeout", "notify.max_attempts", "notify.concurrency", "notify.window",
	"housekeeping.interval", "housekeeping.retention", "housekeeping.audit_retention", "housekeeping.batch",
	"metrics.addr",
	"metrics.pprof",
	"tls.cert_file", "tls.key_file", "tls.client_ca_file", "tls.dev", "tls.mtls_addr", "tls.mtls_base_url",
	"tls.trusted_proxies", "tls.client_cert_header",
	"registration.enabled", "registration.open", "registration.initial_access_tokens",
	"registration.initial_access_tokens_file", "registration.require_software_statement", "fapi.require",
}

// loadConfig layers the configuration. flags holds the flags the user
// set, by config key.
func loadConfig(path string, getenv func(string) string, flags map[string]any) (Config, error) {
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(defaults(), "."), nil); err != nil {
		return Config{}, err
	}
	if path != "" {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("read config %s: %w", path, err)
		}
	}
	env := map[string]any{}
	for _, key := range envKeys {
		name := "BACKCHANNEL_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		if v := getenv(name); v != "" {
			if key == "registration.initial_access_tokens" || key == "keys.algs" || key == "egress.allow" || key == "tls.trusted_proxies" || key == "tokens.resource_servers" || key == "dpop.algs" || key == "ciba.authorization_details_types" {
				env[key] = strings.Split(v, ",")
			} else {
				env[key] = v
			}
		}
	}
	if err := k.Load(confmap.Provider(env, "."), nil); err != nil {
		return Config{}, err
	}
	if err := k.Load(confmap.Provider(flags, "."), nil); err != nil {
		return Config{}, err
	}
	var c Config
	if err := k.Unmarshal("", &c); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// validPushSubject reports whether s is a VAPID contact: a mailto: URI
// with an address, or an absolute https URL.
func validPushSubject(s string) bool {
	if addr, ok := strings.CutPrefix(s, "mailto:"); ok {
		_, domain, found := strings.Cut(addr, "@")
		return found && domain != ""
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != ""
}

// pushSubject is the VAPID contact: the configured one, or the issuer
// when it is https, which outside --dev it is.
func (c *Config) pushSubject() string {
	switch {
	case c.Devices.WebPush.Subject != "":
		return c.Devices.WebPush.Subject
	case strings.HasPrefix(c.Issuer, "https://"):
		return c.Issuer
	}
	return "mailto:backchannel@localhost"
}

// Validate reports every problem of c at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("addr %q is not host:port", c.Addr)
	}
	if c.AdminAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
			bad("admin_addr %q is not host:port", c.AdminAddr)
		}
	}
	if s := c.Devices.WebPush.Subject; s != "" && !validPushSubject(s) {
		bad("devices.web_push.subject %q must be a mailto: address or an https URL (RFC 8292 §2.1)", s)
	}
	if c.Demo.Enabled && !c.Dev && (c.Demo.ClientID == "" || c.Demo.ClientSecret == "") {
		bad("demo.enabled needs demo.client_id and demo.client_secret outside --dev")
	}
	if c.Issuer == "" {
		bad("issuer is required outside --dev (e.g. https://login.example.com)")
	} else if u, err := url.Parse(c.Issuer); err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		bad("issuer %q must be an absolute URL without query or fragment (OIDC Discovery §3)", c.Issuer)
	} else if u.Scheme != "https" && !(c.Dev && u.Scheme == "http") {
		bad("issuer %q must use https (plain http only with --dev)", c.Issuer)
	} else if u.Scheme != "https" && c.TLS.terminates() {
		bad("issuer %q must use https when serve terminates TLS", c.Issuer)
	}
	errs = append(errs, c.TLS.validate(c.Dev)...)
	if !strings.HasPrefix(c.DB, "sqlite:") && !strings.HasPrefix(c.DB, "postgres://") && !strings.HasPrefix(c.DB, "postgresql://") {
		bad("db %q must be sqlite:PATH or a postgres:// URL", c.DB)
	}
	if len(c.AdminToken) > 0 && len(c.AdminToken) < 16 {
		bad("admin_token must be at least 16 characters")
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		bad("log.level %q must be debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		bad("log.format %q must be json or text", c.Log.Format)
	}
	if len(c.Keys.Algs) == 0 {
		bad("keys.algs must name at least one alg")
	}
	for _, a := range c.Keys.Algs {
		if !slices.Contains(keys.SigningAlgs(), a) {
			bad("keys.algs: %q is not supported (supported: %s)", a, strings.Join(keys.SigningAlgs(), ", "))
		}
	}
	for name, d := range map[string]time.Duration{
		"tokens.access_ttl": c.Tokens.AccessTTL, "tokens.refresh_ttl": c.Tokens.RefreshTTL, "tokens.id_token_ttl": c.Tokens.IDTokenTTL,
		"ciba.default_expiry": c.CIBA.DefaultExpiry, "ciba.max_expiry": c.CIBA.MaxExpiry, "ciba.interval": c.CIBA.Interval,
		"devices.enrolment_ttl": c.Devices.EnrolmentTTL, "shutdown_timeout": c.ShutdownTimeout,
		"notify.attempt_timeout": c.Notify.AttemptTimeout, "notify.window": c.Notify.Window,
		"server.read_header_timeout": c.Server.ReadHeaderTimeout, "server.read_timeout": c.Server.ReadTimeout,
		"server.idle_timeout": c.Server.IdleTimeout,
	} {
		if d <= 0 {
			bad("%s must be a positive duration", name)
		}
	}
	if err := (egress.Policy{Allow: c.Egress.Allow}).Validate(); err != nil {
		bad("egress.allow: %v", err)
	}
	if c.DPoP.Enabled {
		if len(c.DPoP.Algs) == 0 {
			bad("dpop.algs must name at least one alg")
		}
		for _, a := range c.DPoP.Algs {
			if !slices.Contains(keys.SigningAlgs(), a) {
				bad("dpop.algs: %q is not supported (supported: %s)", a, strings.Join(keys.SigningAlgs(), ", "))
			}
		}
		if c.DPoP.IATWindow <= 0 || c.DPoP.IATWindow > 10*time.Minute {
			bad("dpop.iat_window must be a positive duration of at most 10m")
		}
		if c.DPoP.NoncePeriod <= 0 {
			bad("dpop.nonce_period must be a positive duration")
		}
		if c.DPoP.NonceSecret != "" && len(c.DPoP.NonceSecret) < dpop.MinNonceSecret {
			bad("dpop.nonce_secret must be at least %d characters", dpop.MinNonceSecret)
		}
	}
	if c.Tokens.AccessTokenFormat != "opaque" && c.Tokens.AccessTokenFormat != "jwt" {
		bad("tokens.access_token_format %q must be opaque or jwt", c.Tokens.AccessTokenFormat)
	}
	if c.Notify.MaxAttempts < 1 || c.Notify.MaxAttempts > 100 {
		bad("notify.max_attempts must be 1 to 100")
	}
	if c.Notify.Concurrency < 1 || c.Notify.Concurrency > 1024 {
		bad("notify.concurrency must be 1 to 1024")
	}
	if c.CIBA.Interval > 0 && c.CIBA.Interval%time.Second != 0 {
		bad("ciba.interval must be whole seconds (CIBA Core §7.3 sends it in seconds)")
	}
	if c.CIBA.LongPoll < 0 || c.CIBA.LongPoll > time.Minute {
		// Past a minute, proxies and load balancers cut idle requests.
		bad("ciba.long_poll must be 0 (off) to 60s")
	}
	if c.CIBA.DefaultExpiry > c.CIBA.MaxExpiry {
		bad("ciba.default_expiry must not exceed ciba.max_expiry")
	}
	if c.CIBA.MaxBindingMessage < 1 || c.CIBA.MaxBindingMessage > 1024 {
		bad("ciba.max_binding_message must be 1 to 1024")
	}
	if c.CIBA.MaxUserCodeFailures < 1 {
		bad("ciba.max_user_code_failures must be at least 1")
	}
	if c.Metrics.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Addr); err != nil {
			bad("metrics.addr %q is not host:port", c.Metrics.Addr)
		}
	}
	if c.Metrics.Pprof && c.Metrics.Addr == "" {
		bad("metrics.pprof needs metrics.addr: profiles are served only on that listener")
	}
	if c.Housekeeping.Interval <= 0 || c.Housekeeping.Retention <= 0 {
		bad("housekeeping.interval and housekeeping.retention must be positive durations")
	}
	if c.Housekeeping.AuditRetention < 0 {
		bad("housekeeping.audit_retention must not be negative (0 keeps audit events forever)")
	}
	if c.Housekeeping.Batch < 1 || c.Housekeeping.Batch > 100000 {
		bad("housekeeping.batch must be 1 to 100000")
	}
	for i, ti := range c.CIBA.LoginHintTokenIssuers {
		if ti.Issuer == "" || ti.JWKSFile == "" {
			bad("ciba.login_hint_token_issuers[%d] needs issuer and jwks_file", i)
		}
	}
	errs = append(errs, c.validateFatigue()...)
	errs = append(errs, c.validateRegistration()...)
	return errors.Join(errs...)
}

// validateRegistration checks the registration block.
func (c *Config) validateRegistration() []error {
	var errs []error
	r := c.Registration
	if !r.Enabled {
		return nil
	}
	if !r.Open && len(r.InitialAccessTokens) == 0 && r.InitialAccessTokensFile == "" {
		errs = append(errs, errors.New("registration: set open: true, or initial_access_tokens or initial_access_tokens_file"))
	}
	for i, t := range r.InitialAccessTokens {
		if len(t) < 16 {
			errs = append(errs, fmt.Errorf("registration.initial_access_tokens[%d] must be at least 16 characters", i))
		}
	}
	for i, ti := range r.SoftwareStatementIssuers {
		if ti.Issuer == "" || ti.JWKSFile == "" {
			errs = append(errs, fmt.Errorf("registration.software_statement_issuers[%d] needs issuer and jwks_file", i))
		}
	}
	if r.RequireSoftwareStatement && len(r.SoftwareStatementIssuers) == 0 {
		errs = append(errs, errors.New("registration.require_software_statement needs software_statement_issuers"))
	}
	return errs
}

// validate reports the problems of the tls: block; dev is --dev.
func (t TLSConfig) validate(dev bool) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad("tls.cert_file and tls.key_file must be set together")
	}
	if t.Dev && !dev {
		bad("tls.dev (--tls) makes a throwaway CA and needs --dev; use tls.cert_file and tls.key_file")
	}
	if t.Dev && t.CertFile != "" {
		bad("tls.dev (--tls) and tls.cert_file exclude each other")
	}
	if _, err := mtls.ParsePrefixes(t.TrustedProxies); err != nil {
		bad("tls.trusted_proxies: %v", err)
	}
	if !validHeaderName(t.ClientCertHeader) {
		bad("tls.client_cert_header %q is not an HTTP header name", t.ClientCertHeader)
	}
	if t.ClientCAFile != "" && !t.certificates() {
		bad("tls.client_ca_file needs client certificates: set tls.cert_file and tls.key_file, or tls.trusted_proxies")
	}
	if t.MTLSAddr != "" {
		if _, _, err := net.SplitHostPort(t.MTLSAddr); err != nil {
			bad("tls.mtls_addr %q is not host:port", t.MTLSAddr)
		}
		if !t.terminates() {
			bad("tls.mtls_addr needs tls.cert_file and tls.key_file (or --tls with --dev)")
		}
		if t.MTLSBaseURL == "" && !dev {
			bad("tls.mtls_addr needs tls.mtls_base_url, its public URL")
		}
	}
	if t.MTLSBaseURL != "" {
		if u, err := url.Parse(t.MTLSBaseURL); err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad("tls.mtls_base_url %q must be an https URL without query or fragment", t.MTLSBaseURL)
		}
		if t.MTLSAddr == "" && len(t.TrustedProxies) == 0 {
			bad("tls.mtls_base_url needs tls.mtls_addr, or tls.trusted_proxies for a proxy's mutual TLS host")
		}
	}
	return errs
}

// validHeaderName reports whether s is an HTTP field name (RFC 9110
// §5.1: a token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}
