package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"

	"github.com/backchannel/backchannel/client"
)

// loginFlags are the flags of `backchannel login`.
type loginFlags struct {
	issuer, clientID, clientSecret string
	keyFile, keyID, authMethod     string
	loginHint, bindingMessage      string
	scope, acrValues, userCode     string
	requestedExpiry                time.Duration
	json                           bool
	mode, listen, notifyPath       string
}

// Token delivery modes of `backchannel login` (CIBA Core §5).
const (
	modePoll = "poll"
	modePing = "ping"
	modePush = "push"
)

// shutdownTimeout bounds how long login waits for the notification
// listener's connections to finish once it has its answer.
const shutdownTimeout = 5 * time.Second

func newLoginCommand(env *cliEnv) *cobra.Command {
	var f loginFlags
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign a user in as a relying party with CIBA poll, ping or push mode",
		Long: `login acts as a relying party: it sends a backchannel authentication
request for the user named by --login-hint, waits while the user approves
it on their authentication device, then prints the tokens and the verified
ID token's claims. Ctrl-C cancels.

--mode poll (the default) polls the token endpoint. --mode ping and
--mode push serve the client notification endpoint on --listen ADDR at
--notify-path (default /cb) and wait for the OP's notification: in ping
mode login then fetches the tokens from the token endpoint, in push mode
the OP delivers them and login verifies them. For these modes the client
must be registered with that backchannel_token_delivery_mode and with a
backchannel_client_notification_endpoint pointing at the listener: with
--listen 127.0.0.1:9090, that is http://127.0.0.1:9090/cb (a loopback
endpoint, which only an OP started with serve --dev accepts).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return login(cmd.Context(), env, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.issuer, "issuer", "", "the OP's issuer URL (env BACKCHANNEL_ISSUER)")
	fl.StringVar(&f.clientID, "client-id", "", "client ID (env BACKCHANNEL_CLIENT_ID)")
	fl.StringVar(&f.clientSecret, "client-secret", "", "client secret (env BACKCHANNEL_CLIENT_SECRET)")
	fl.StringVar(&f.keyFile, "key-file", "", "private key for private_key_jwt, as PEM or a JWK")
	fl.StringVar(&f.keyID, "key-id", "", "kid of the private key (default: the JWK's kid)")
	fl.StringVar(&f.authMethod, "auth-method", "", "client authentication: client_secret_basic, client_secret_post, client_secret_jwt or private_key_jwt (default: private_key_jwt with --key-file, else client_secret_basic)")
	fl.StringVar(&f.loginHint, "login-hint", "", "the user to sign in: sub, username, email or phone number")
	fl.StringVar(&f.bindingMessage, "binding-message", "", "short message shown on both devices")
	fl.StringVar(&f.scope, "scope", "openid", "space-separated scopes")
	fl.StringVar(&f.acrValues, "acr-values", "", "space-separated requested ACR values")
	fl.StringVar(&f.userCode, "user-code", "", "the user's user code, if the OP asks for one")
	fl.DurationVar(&f.requestedExpiry, "requested-expiry", 0, "requested lifetime of the request, e.g. 2m")
	fl.BoolVar(&f.json, "json", false, "print JSON")
	fl.StringVar(&f.mode, "mode", modePoll, "token delivery mode: poll, ping or push")
	fl.StringVar(&f.listen, "listen", "", "address to serve the notification endpoint on, e.g. 127.0.0.1:9090 (ping and push modes)")
	fl.StringVar(&f.notifyPath, "notify-path", "/cb", "path of the notification endpoint on --listen (ping and push modes)")
	return cmd
}

// login runs `backchannel login`.
func login(ctx context.Context, env *cliEnv, f loginFlags) error {
	cfg, err := f.clientConfig(env)
	if err != nil {
		return err
	}
	c, err := client.New(ctx, cfg)
	if err != nil {
		return err
	}
	if modes := c.Metadata().BackchannelTokenDeliveryModesSupported; len(modes) > 0 && !slices.Contains(modes, f.mode) {
		return fmt.Errorf("the OP does not support %s mode (it supports %s)", f.mode, strings.Join(modes, ", "))
	}
	req := client.AuthRequest{
		Scopes:          strings.Fields(f.scope),
		LoginHint:       f.loginHint,
		BindingMessage:  f.bindingMessage,
		UserCode:        f.userCode,
		ACRValues:       strings.Fields(f.acrValues),
		RequestedExpiry: f.requestedExpiry,
	}

	var tokens *client.Tokens
	if f.mode == modePoll {
		started, err := initiate(ctx, env, c, req, f)
		if err != nil {
			return err
		}
		if tokens, err = c.Poll(ctx, started); err != nil {
			return loginError("token request", err)
		}
	} else if tokens, err = loginNotified(ctx, env, c, req, f); err != nil {
		return err
	}

	if f.json {
		return printJSON(env.stdout, loginOutput{
			AccessToken:   tokens.AccessToken,
			TokenType:     tokens.TokenType,
			ExpiresIn:     int64(tokens.ExpiresIn / time.Second),
			RefreshToken:  tokens.RefreshToken,
			IDToken:       tokens.IDToken,
			Scope:         tokens.Scope,
			IDTokenClaims: tokens.Claims.Claims,
		})
	}
	return printLogin(env.stdout, tokens)
}

// initiate sends the backchannel authentication request and tells the
// user what to do.
func initiate(ctx context.Context, env *cliEnv, c *client.Client, req client.AuthRequest, f loginFlags) (client.Started, error) {
	started, err := c.Initiate(ctx, req)
	if err != nil {
		return client.Started{}, loginError("backchannel authentication request", err)
	}
	msg := "Approve the sign-in request on your device"
	if f.bindingMessage != "" {
		msg += fmt.Sprintf(" showing %q", f.bindingMessage)
	}
	fmt.Fprintf(env.stderr, "%s. It expires in %v (at %s). Waiting…\n",
		msg, started.ExpiresIn, started.ExpiresAt.Format(time.TimeOnly))
	return started, nil
}

// loginNotified runs login in ping or push mode: it serves the client
// notification endpoint on f.listen while it waits for the OP's
// notification (CIBA Core §10.2, §10.3), and shuts the listener down
// before it returns.
func loginNotified(ctx context.Context, env *cliEnv, c *client.Client, req client.AuthRequest, f loginFlags) (tokens *client.Tokens, err error) {
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return nil, fmt.Errorf("notification endpoint: %w", err)
	}
	recv := c.NewReceiver()
	endpoint := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != f.notifyPath {
			http.NotFound(w, r)
			return
		}
		recv.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: endpoint, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if serr := srv.Shutdown(sctx); serr != nil && err == nil {
			err = fmt.Errorf("notification endpoint: shut down: %w", serr)
		}
		if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = fmt.Errorf("notification endpoint: %w", serr)
		}
	}()
	fmt.Fprintf(env.stderr, "Listening for %s notifications on http://%s%s\n", f.mode, ln.Addr(), f.notifyPath)

	tok, err := client.NewNotificationToken()
	if err != nil {
		return nil, err
	}
	req.ClientNotificationToken = tok
	p := recv.Expect(tok) // before Initiate: the OP may notify before we read its answer
	defer p.Cancel()
	started, err := initiate(ctx, env, c, req, f)
	if err != nil {
		return nil, err
	}
	tokens, err = p.Wait(ctx, started)
	if err != nil {
		return nil, loginError("notification", err)
	}
	if tokens.Pushed {
		fmt.Fprintln(env.stderr, "Tokens delivered by push.")
	} else {
		fmt.Fprintln(env.stderr, "Tokens fetched from the token endpoint after a ping.")
	}
	return tokens, nil
}

// clientConfig builds the relying party's configuration from the flags
// and the environment, reporting every problem at once.
func (f loginFlags) clientConfig(env *cliEnv) (client.Config, error) {
	orEnv := func(v, key string) string {
		if v == "" {
			v = env.getenv(key)
		}
		return v
	}
	cfg := client.Config{
		Issuer:       orEnv(f.issuer, "BACKCHANNEL_ISSUER"),
		ClientID:     orEnv(f.clientID, "BACKCHANNEL_CLIENT_ID"),
		ClientSecret: orEnv(f.clientSecret, "BACKCHANNEL_CLIENT_SECRET"),
		AuthMethod:   f.authMethod,
		KeyID:        f.keyID,
	}
	var problems []error
	if cfg.Issuer == "" {
		problems = append(problems, errors.New("no issuer: pass --issuer or set BACKCHANNEL_ISSUER"))
	}
	if cfg.ClientID == "" {
		problems = append(problems, errors.New("no client ID: pass --client-id or set BACKCHANNEL_CLIENT_ID"))
	}
	if f.loginHint == "" {
		problems = append(problems, errors.New("no user: pass --login-hint"))
	}
	switch f.mode {
	case modePoll:
		if f.listen != "" {
			problems = append(problems, errors.New("--listen is for --mode ping or push; poll mode needs no notification endpoint"))
		}
	case modePing, modePush:
		if f.listen == "" {
			problems = append(problems, fmt.Errorf("--mode %s needs --listen ADDR for the notification endpoint, e.g. --listen 127.0.0.1:9090", f.mode))
		}
		if !strings.HasPrefix(f.notifyPath, "/") {
			problems = append(problems, fmt.Errorf("--notify-path %q does not start with /", f.notifyPath))
		}
	default:
		problems = append(problems, fmt.Errorf("--mode %q is not poll, ping or push", f.mode))
	}
	if f.keyFile != "" {
		key, kid, alg, err := loadLoginKey(f.keyFile)
		if err != nil {
			problems = append(problems, err)
		}
		cfg.PrivateKey, cfg.SigningAlg = key, alg
		if cfg.KeyID == "" {
			cfg.KeyID = kid
		}
		if cfg.AuthMethod == "" {
			cfg.AuthMethod = client.AuthPrivateKey
		}
	} else if cfg.ClientSecret == "" {
		problems = append(problems, errors.New("no client credentials: pass --client-secret (or set BACKCHANNEL_CLIENT_SECRET) or --key-file"))
	}
	return cfg, errors.Join(problems...)
}

// loadLoginKey reads a private key from a PEM file (PKCS #8, SEC 1 or
// PKCS #1) or a JWK, and returns it with the JWK's kid and alg, if any.
func loadLoginKey(name string) (crypto.Signer, string, string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, "", "", fmt.Errorf("read key file: %w", err)
	}
	if block, _ := pem.Decode(b); block != nil {
		var key any
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			err = fmt.Errorf("PEM block %q is not a private key", block.Type)
		}
		if err != nil {
			return nil, "", "", fmt.Errorf("key file %s: %w", name, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, "", "", fmt.Errorf("key file %s: %T cannot sign", name, key)
		}
		return signer, "", "", nil
	}
	var jwk jose.JSONWebKey
	if err := json.Unmarshal(b, &jwk); err != nil {
		return nil, "", "", fmt.Errorf("key file %s is neither PEM nor a JWK: %w", name, err)
	}
	signer, ok := jwk.Key.(crypto.Signer)
	if !ok || jwk.IsPublic() {
		return nil, "", "", fmt.Errorf("key file %s does not hold a private signing key", name)
	}
	return signer, jwk.KeyID, jwk.Algorithm, nil
}

// loginError turns the errors a user meets into plain sentences.
func loginError(step string, err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return errors.New("login cancelled")
	case client.ErrorCode(err) == client.AccessDenied:
		return errors.New("the user denied the request")
	case client.ErrorCode(err) == client.ExpiredToken:
		return errors.New("the request expired before the user approved it; run login again")
	}
	return fmt.Errorf("%s: %w", step, err)
}

// loginOutput is the --json output of `backchannel login`.
type loginOutput struct {
	AccessToken   string         `json:"access_token"`
	TokenType     string         `json:"token_type"`
	ExpiresIn     int64          `json:"expires_in"`
	RefreshToken  string         `json:"refresh_token"`
	IDToken       string         `json:"id_token"`
	Scope         string         `json:"scope"`
	IDTokenClaims map[string]any `json:"id_token_claims"`
}

// printLogin writes a readable summary of tokens.
func printLogin(w io.Writer, t *client.Tokens) error {
	id := t.Claims
	fmt.Fprintf(w, "Signed in as %s\n", id.Subject)
	if !id.AuthTime.IsZero() {
		fmt.Fprintf(w, "  authenticated at  %s\n", id.AuthTime.Local().Format(time.RFC3339))
	}
	if id.ACR != "" {
		fmt.Fprintf(w, "  acr               %s\n", id.ACR)
	}
	if len(id.AMR) > 0 {
		fmt.Fprintf(w, "  amr               %s\n", strings.Join(id.AMR, " "))
	}
	fmt.Fprintf(w, "\nAccess token (%s", t.TokenType)
	if t.ExpiresIn > 0 {
		fmt.Fprintf(w, ", expires in %v", t.ExpiresIn)
	}
	fmt.Fprintf(w, "):\n  %s\n", t.AccessToken)
	if t.RefreshToken != "" {
		fmt.Fprintf(w, "Refresh token:\n  %s\n", t.RefreshToken)
	}
	if t.Scope != "" {
		fmt.Fprintf(w, "Scope: %s\n", t.Scope)
	}
	fmt.Fprintf(w, "ID token:\n  %s\n\nID token claims:\n", t.IDToken)
	return printJSON(w, id.Claims)
}
