// Passkeys in the device app (docs/device-api.md, "Passkeys"): WebAuthn
// credentials with user verification that the device registers for its
// user, so that an approval can prove the user, not only the device.
// The server's options and our answers travel as JSON, with binary
// fields in base64url, the forms of WebAuthn Level 3's toJSON.

export const PASSKEY_ACR = "urn:backchannel:acr:passkey";
const DEVICE_KEY_ACR = "urn:backchannel:acr:device-key";

// needsPasskey mirrors the server's rule (ciba.NeedsPasskey): a request
// needs a passkey when its acr_values ask for one and do not also accept
// the device key alone.
export function needsPasskey(summary) {
  const acr = summary.acr_values ?? [];
  return acr.includes(PASSKEY_ACR) && !acr.includes(DEVICE_KEY_ACR);
}

export const passkeysSupported = () =>
  typeof window.PublicKeyCredential === "function" && !!navigator.credentials;

function fromB64url(s) {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function toB64url(buf) {
  let s = "";
  for (const c of new Uint8Array(buf)) s += String.fromCharCode(c);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// credentialJSON serialises a PublicKeyCredential the way its toJSON
// method does, for browsers that lack it.
function credentialJSON(cred) {
  if (typeof cred.toJSON === "function") return cred.toJSON();
  const r = cred.response;
  const response = { clientDataJSON: toB64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toB64url(r.attestationObject);
    if (typeof r.getTransports === "function") response.transports = r.getTransports();
  } else {
    response.authenticatorData = toB64url(r.authenticatorData);
    response.signature = toB64url(r.signature);
    if (r.userHandle) response.userHandle = toB64url(r.userHandle);
  }
  return {
    id: cred.id, rawId: toB64url(cred.rawId), type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment ?? undefined,
    clientExtensionResults: cred.getClientExtensionResults(),
    response,
  };
}

// createPasskey runs navigator.credentials.create with the server's
// options ({"publicKey": …} as JSON) and returns the new credential as
// JSON for the server.
export async function createPasskey(options) {
  const pk = options.publicKey;
  const publicKey = {
    ...pk,
    challenge: fromB64url(pk.challenge),
    user: { ...pk.user, id: fromB64url(pk.user.id) },
    excludeCredentials: (pk.excludeCredentials ?? []).map((c) => ({ ...c, id: fromB64url(c.id) })),
  };
  const cred = await navigator.credentials.create({ publicKey });
  return credentialJSON(cred);
}

// assertPasskey has the user verify themselves to one of the device's
// passkeys (ids, base64url) over the request's summary digest, and
// returns the assertion as JSON for the decision.
export async function assertPasskey(digest, ids) {
  const cred = await navigator.credentials.get({
    publicKey: {
      challenge: fromB64url(digest),
      rpId: location.hostname,
      allowCredentials: ids.map((id) => ({ type: "public-key", id: fromB64url(id) })),
      userVerification: "required",
      timeout: 120000,
    },
  });
  return credentialJSON(cred);
}
