// Package client is backchannel's Go relying-party library: the one
// library surface the project promises. A relying party uses it to start
// a Client-Initiated Backchannel Authentication (CIBA Core 1.0) request,
// poll the token endpoint until the user has answered on their
// authentication device, and verify the ID token it receives.
//
// A Client discovers the OpenID Provider from its issuer identifier
// (OpenID Connect Discovery 1.0 §4) and never hard-codes endpoint paths.
// It authenticates to the backchannel authentication endpoint and the
// token endpoint with client_secret_basic, client_secret_post,
// client_secret_jwt or private_key_jwt (OIDC Core §9, RFC 7523).
//
// A typical relying party:
//
//	c, err := client.New(ctx, client.Config{Issuer: iss, ClientID: id, ClientSecret: secret})
//	started, err := c.Initiate(ctx, client.AuthRequest{LoginHint: "alice", BindingMessage: "W4SX"})
//	tokens, err := c.Poll(ctx, started) // tokens.Claims holds the verified ID token
//
// In ping and push modes (CIBA Core §10.2, §10.3) the OP calls the
// client's notification endpoint instead; a Receiver serves it:
//
//	recv := c.NewReceiver() // serve it at backchannel_client_notification_endpoint
//	tok, err := client.NewNotificationToken()
//	p := recv.Expect(tok) // before Initiate, so an early notification is kept
//	defer p.Cancel()
//	started, err := c.Initiate(ctx, client.AuthRequest{LoginHint: "alice", ClientNotificationToken: tok})
//	tokens, err := p.Wait(ctx, started) // redeems after a ping; verifies a push
//
// The package imports only the standard library and go-jose; it must not
// import any other package of this module, so relying parties get no
// server code with it.
package client
