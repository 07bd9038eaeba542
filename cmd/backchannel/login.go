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
	"os"
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
}

func newLoginCommand(env *cliEnv) *cobra.Command {
	var f loginFlags
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign a user in as a relying party with CIBA poll mode",
		Long: `login acts as a relying party: it sends a backchannel authentication
request for the user named by --login-hint, waits while the user approves
it on their authentication device, then prints the tokens and the verified
ID token's claims. Ctrl-C cancels.`,
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
	started, err := c.Initiate(ctx, client.AuthRequest{
		Scopes:          strings.Fields(f.scope),
		LoginHint:       f.loginHint,
		BindingMessage:  f.bindingMessage,
		UserCode:        f.userCode,
		ACRValues:       strings.Fields(f.acrValues),
		RequestedExpiry: f.requestedExpiry,
	})
	if err != nil {
		return loginError("backchannel authentication request", err)
	}
	msg := "Approve the sign-in request on your device"
	if f.bindingMessage != "" {
		msg += fmt.Sprintf(" showing %q", f.bindingMessage)
	}
	fmt.Fprintf(env.stderr, "%s. It expires in %v (at %s). Waiting…\n",
		msg, started.ExpiresIn, started.ExpiresAt.Format(time.TimeOnly))

	tokens, err := c.Poll(ctx, started)
	if err != nil {
		return loginError("token request", err)
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
