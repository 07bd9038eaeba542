package httpapi

import (
	"net/http"

	"github.com/backchannel/backchannel/web"
)

// addRoutes registers the whole HTTP surface.
func addRoutes(mux *http.ServeMux, d Deps) {
	if d.AdminToken != "" {
		admin := func(h http.Handler) http.Handler { return requireAdmin(d.AdminToken, d.Log, h) }
		mux.Handle("POST /admin/v1/clients", admin(handleCreateClient(d.Store, d.Registration, d.now, d.Log)))
		mux.Handle("GET /admin/v1/clients", admin(handleListClients(d.Store, d.Log)))
		mux.Handle("GET /admin/v1/clients/{id}", admin(handleGetClient(d.Store, d.Log)))
		mux.Handle("DELETE /admin/v1/clients/{id}", admin(handleDeleteClient(d.Store, d.Log)))
		mux.Handle("POST /admin/v1/users", admin(handleCreateUser(d.Store, d.now, d.Log)))
		mux.Handle("GET /admin/v1/users", admin(handleListUsers(d.Store, d.Log)))
		mux.Handle("GET /admin/v1/users/{sub}", admin(handleGetUser(d.Store, d.Log)))
		mux.Handle("DELETE /admin/v1/users/{sub}", admin(handleDeleteUser(d.Store, d.Log)))
		mux.Handle("POST /admin/v1/users/{sub}/unlock", admin(handleUnlockUser(d.Store, d.Log)))
		mux.Handle("POST /admin/v1/enrolments", admin(handleAdminCreateEnrolment(d.Enroller, d.Log)))
		mux.Handle("GET /admin/v1/devices", admin(handleAdminDevices(d.Store, d.Log)))
		mux.Handle("DELETE /admin/v1/devices/{id}", admin(handleAdminRevokeDevice(d.Store, d.now, d.Log)))
		mux.Handle("GET /admin/v1/keys", admin(handleListKeys(d.Keys)))
		mux.Handle("POST /admin/v1/keys/rotate", admin(handleRotateKeys(d.Keys, d.KeysRotated, d.Log)))
		mux.Handle("GET /admin/v1/audit", admin(handleAdminAudit(d.Store, d.Log)))
		mux.Handle("/admin/", admin(http.HandlerFunc(notFound)))
	}
	mux.Handle("GET /healthz", handleHealth(d.Store))
	mux.Handle("GET /readyz", handleReady(d.Store, d.Keys, d.Log))
	if d.Metrics != nil {
		mux.Handle("GET /metrics", d.Metrics)
	}
	if d.AdminOnly {
		return
	}

	mux.Handle("GET /.well-known/openid-configuration", handleDiscovery(newMetadata(d)))
	mux.Handle("GET /jwks", handleJWKS(d.Keys))
	mux.Handle("POST /bc-authorize", handleBackchannelAuth(d.ClientAuth, d.CIBA, endpoint(d.Issuer, "/bc-authorize"), d.Log))
	mux.Handle("POST /token", handleToken(d.ClientAuth, grants(d), newProofChecker(d, "/token"), endpoint(d.Issuer, "/token"), d.Log))
	if d.Tokens != nil {
		mux.Handle("GET /userinfo", handleUserInfo(d.Tokens, newProofChecker(d, "/userinfo"), d.Log))
		mux.Handle("POST /userinfo", handleUserInfo(d.Tokens, newProofChecker(d, "/userinfo"), d.Log))
		mux.Handle("OPTIONS /userinfo", handleUserInfoPreflight())
		mux.Handle("POST /introspect", handleIntrospect(d.ClientAuth, d.Tokens, endpoint(d.Issuer, "/introspect"), d.Log))
		mux.Handle("POST /revoke", handleRevoke(d.ClientAuth, d.Tokens, endpoint(d.Issuer, "/revoke"), d.Log))
	}

	if d.DynamicRegistration != nil {
		rg := newRegistrar(d)
		mux.Handle("POST /register", rg.register())
		mux.Handle("GET /register/{client_id}", rg.read())
		mux.Handle("PUT /register/{client_id}", rg.update())
		mux.Handle("DELETE /register/{client_id}", rg.remove())
	}

	device := func(h http.Handler) http.Handler { return requireDevice(d.DeviceAuth, d.Log, h) }
	if d.WebPushKey != nil {
		mux.Handle("GET /device/v1/push", device(handlePushKey(d.WebPushKey)))
		mux.Handle("PUT /device/v1/push", device(handleSavePush(d.Store, d.Log)))
		mux.Handle("DELETE /device/v1/push", device(handleDeletePush(d.Store, d.Log)))
	}
	mux.Handle("POST /device/v1/enrol", handleEnrol(d.Enroller, d.Log))
	mux.Handle("GET /device/v1/requests", device(handleDeviceRequests(d.CIBA, d.Hub, d.Log)))
	mux.Handle("POST /device/v1/requests/{id}/decision", requireDeviceDeferred(d.DeviceAuth, d.Log, handleDecision(d.CIBA, d.Log)))
	mux.Handle("GET /device/v1/device", device(handleDeviceSelf(d.Store, d.now, d.Log)))
	mux.Handle("DELETE /device/v1/device", device(handleDeviceSelf(d.Store, d.now, d.Log)))
	mux.Handle("GET /device/v1/passkeys", device(handlePasskeys(d.Store, d.Log)))
	mux.Handle("POST /device/v1/passkeys/options", device(handlePasskeyOptions(d.Store, d.Log)))
	mux.Handle("POST /device/v1/passkeys", device(handlePasskeyCreate(d.Log)))
	mux.Handle("DELETE /device/v1/passkeys/{id}", device(handlePasskeyDelete(d.Store, d.Log)))

	// The authentication-device web app and, when configured, the demo
	// console (package web).
	mux.Handle("GET /device", web.DeviceApp())
	mux.Handle("GET /device/{file}", web.DeviceApp())
	if d.Demo != nil {
		mux.Handle("GET /demo", web.DemoPages())
		mux.Handle("GET /demo/{file}", web.DemoPages())
		mux.Handle("POST /demo/api/requests", d.Demo.Start())
		mux.Handle("GET /demo/api/requests/{id}", d.Demo.Get())
	}
	if d.Webhook != nil {
		mux.Handle("POST /webhook/v1/requests/{id}/decision", handleWebhookDecision(d.Webhook, d.CIBA, d.Store, d.now, d.Log))
	}
}
